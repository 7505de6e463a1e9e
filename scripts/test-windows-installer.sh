#!/usr/bin/env bash
# Proves the Windows setup .exe the way a user meets it: installs it silently for the current
# user (`/S`), checks the Start-menu shortcut, the Settings > Apps entry, the file associations
# in HKCU\Software\Classes and the installed files, runs the installed `xgen-desk.exe --version`
# and a CLI summary with the test model, opens the window on a document with the command
# Explorer's "Open with xgen-desk" runs (and, on Linux, takes a screenshot), checks that llama.cpp's
# DLLs and the CPU modules are installed beside the program, that `--version` names the CPU level
# chosen, that the baseline level runs when forced and a level above the chosen one is refused,
# uninstalls with the
# command Settings runs, and checks that every installed file and registry key is gone, that
# another program's associations are as they were, and that the user's data stayed.
#
#   scripts/test-windows-installer.sh --setup SETUP.exe [--program xgen-desk.exe]
#                                     [--screenshot PATH] [--cpu-level LEVEL]
#
# --setup       the installer (scripts/package-nsis.sh makes it)
# --program     the program the installer should have put in place (compared byte for byte)
# --screenshot  where the window's screenshot goes (Linux; default
#               target/packages/windows-screenshot.png)
# --cpu-level   the CPU level the installed program must choose (baseline, v3, avx512,
#               avx512-vnni; scripts/test-windows.sh passes the Linux build's choice on the same
#               processor); without it, any level chosen for this processor
#
# On Windows (CI's runner, Git Bash) it runs the programs directly; on Linux under Wine
# (scripts/test-windows.sh runs it there), in $WINEPREFIX (default target/windows/wine,
# created when missing), with the window on Xvfb. Changes the user's HKCU\Software\Classes only
# by what the installer does and undoes, plus two keys of a made-up program it removes again.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/lib/os.sh

setup=""
program=""
shot=target/packages/windows-screenshot.png
cpu_level=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --setup) setup="$2"; shift 2 ;;
    --program) program="$2"; shift 2 ;;
    --screenshot) shot="$2"; shift 2 ;;
    --cpu-level) cpu_level="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "test-windows-installer: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "test-windows-installer: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[[ -f "$setup" ]] || fail "no installer at '$setup' (--setup)"
setup=$(cd "$(dirname "$setup")" && pwd)/$(basename "$setup")
os=$(xgen_os)
python=$(xgen_python)
scripts/fetch-test-models.sh
model=$PWD/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
crate_version=$("$python" -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')

# How to run a Windows program, and paths between the two worlds.
case "$os" in
  windows)
    # Git Bash would turn `reg`'s /s, /ve and /f into paths.
    export MSYS2_ARG_CONV_EXCL='*' MSYS_NO_PATHCONV=1
    win() { "$@"; }
    settle() { :; }
    win_path() { cygpath -w "$1"; }
    unix_path() { cygpath -u "$1"; }
    win_env() { unix_path "$(printenv "$1")"; }
    ;;
  linux)
    source scripts/lib/windows-gnu.sh
    xgen_wine_prefix
    win() { wine "$@"; }
    # Waits until every program of the prefix has ended (an uninstaller goes on as a copy of
    # itself in %TEMP% after the one started returns).
    settle() { wineserver -w; }
    win_path() { winepath -w "$1" 2>/dev/null; }
    unix_path() { winepath -u "$1" 2>/dev/null; }
    win_env() { unix_path "$(wine cmd /c echo "%$1%" 2>/dev/null | tr -d '\r')"; }
    ;;
  *) fail "runs on Windows or, under Wine, on Linux" ;;
esac
reg_query() { win reg query "$@" 2>/dev/null | tr -d '\r'; }
classes_export() { # HKCU\Software\Classes as `reg export` writes it, into $1
  rm -f "$1"
  win reg export 'HKCU\Software\Classes' "$(win_path "$1")" /y >/dev/null 2>&1 || true
  [[ -f "$1" ]] || : >"$1"
}

work=$(mktemp -d)
xvfb_pid=""
cleanup() {
  win reg delete 'HKCU\Software\Classes\OtherReader.pdf' /f >/dev/null 2>&1 || true
  win reg delete 'HKCU\Software\Classes\.pdf\OpenWithProgids' /v OtherReader.pdf /f >/dev/null 2>&1 || true
  if [[ -n "$xvfb_pid" ]]; then
    wineserver -k 2>/dev/null || true
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if [[ "$os" == linux ]]; then
  # The display comes before any Wine program: Wine's desktop (explorer.exe) belongs to the
  # first program of the prefix's wineserver, and one started without a display creates no
  # windows for the programs after it, whatever their DISPLAY says (CreateWindowExW fails, and
  # eframe words it "Found no glutin configs matching the template ... OS Error 14007"). So a
  # wineserver left from before (without this display) is stopped first. Xvfb picks a free
  # display; Wine draws through its X11 driver, OpenGL on Mesa (llvmpipe).
  wineserver -k 2>/dev/null || true
  Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$work/display" >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 300); do [[ -s "$work/display" ]] && break; sleep 0.1; done
  [[ -s "$work/display" ]] || fail "Xvfb did not start within 30 s"
  export DISPLAY=":$(head -n 1 "$work/display")"
fi

local_app_data=$(win_env LOCALAPPDATA)
app_data=$(win_env APPDATA)
[[ -d "$local_app_data" && -d "$app_data" ]] || fail "no %LOCALAPPDATA% or %APPDATA%"
install_dir=$local_app_data/Programs/xgen-desk
shortcut="$app_data/Microsoft/Windows/Start Menu/Programs/xgen-desk.lnk"
uninstall_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\xgen-desk'
# The user's data: what the app writes, which uninstalling leaves alone.
data_dirs=("$app_data/xgen-desk" "$local_app_data/xgen-desk")
data_sums() { find "${data_dirs[@]}" -type f -exec sha256sum {} + 2>/dev/null | sort || true; }
# Files of the user's folders, but %TEMP% (where Wine and NSIS work).
user_files() { find "$(dirname "$app_data")/.." -path '*/Temp' -prune -o -type f -print 2>/dev/null | sort; }

# 1. A clean slate: an earlier install is removed first (its data is a test's, not a person's);
#    then another program's associations, which must be the same after the uninstall.
if reg_query "$uninstall_key" >/dev/null; then
  say "removing an earlier install"
  win "$(win_path "$install_dir/uninstall.exe")" /S >/dev/null 2>&1 || true
  settle
  for _ in $(seq 100); do [[ -e "$install_dir/xgen-desk.exe" ]] || break; sleep 0.2; done
fi
if [[ "$os" == linux ]]; then rm -rf "${data_dirs[@]}"; fi
win reg add 'HKCU\Software\Classes\.pdf\OpenWithProgids' /v OtherReader.pdf /d "" /f >/dev/null
win reg add 'HKCU\Software\Classes\OtherReader.pdf\shell\open\command' /ve /d 'C:\Other\reader.exe "%1"' /f >/dev/null
classes_export "$work/classes-before.reg"
# The default program of .txt: the (Default) value's data, empty when there is none (the key
# itself may not exist before the install, and `reg query /ve` words a missing value otherwise).
txt_default() { reg_query 'HKCU\Software\Classes\.txt' /ve | sed -n 's/.*REG_SZ *//p' | grep -vx '(value not set)' || true; }
txt_default=$(txt_default)
user_files >"$work/files-before"

# 2. Install silently, for this user.
say "installing $setup ($(du -h "$setup" | cut -f1))"
win "$(win_path "$setup")" /S || fail "the setup exited with $?"
settle
[[ -f "$install_dir/xgen-desk.exe" ]] || fail "no $install_dir/xgen-desk.exe"
if [[ -n "$program" ]]; then
  cmp -s "$program" "$install_dir/xgen-desk.exe" || fail "the installed xgen-desk.exe is not $program"
fi
[[ -f "$install_dir/uninstall.exe" ]] || fail "no uninstaller"
[[ -f "$shortcut" ]] || fail "no Start-menu shortcut at $shortcut"
# The shortcut starts the installed program: the path in its link information.
"$python" - "$shortcut" "$(win_path "$install_dir/xgen-desk.exe")" <<'PY' || fail "the shortcut does not start the installed program"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x4c\0\0\0", "not a shell link"
flags = struct.unpack_from("<I", data, 20)[0]
at = 76
if flags & 1:  # HasLinkTargetIDList
    at += 2 + struct.unpack_from("<H", data, at)[0]
assert flags & 2, "no link information"
info = data[at:]
base = struct.unpack_from("<I", info, 16)[0]
path = info[base:info.index(b"\0", base)].decode("latin-1")
print(f"test-windows-installer: the shortcut starts {path}", file=sys.stderr)
sys.exit(path.lower() != sys.argv[2].lower())
PY
# llama.cpp's DLLs and the CPU modules, beside the program (the list cpu/build.rs writes beside
# the program the installer was made from), the same files.
if [[ -n "$program" ]]; then
  libs_list=$(dirname "$program")/xgen-desk-libs.txt
  [[ -f "$libs_list" ]] || fail "no $libs_list beside $program"
  for module in ggml-cpu-sse42.dll ggml-cpu-haswell.dll ggml-cpu-skylakex.dll ggml-cpu-cascadelake.dll; do
    grep -qx "$module" "$libs_list" || fail "$libs_list does not list the CPU module $module"
  done
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    [[ -f "$install_dir/$lib" ]] || fail "$lib is not installed beside xgen-desk.exe"
    cmp -s "$(dirname "$program")/$lib" "$install_dir/$lib" || fail "the installed $lib is not the built one"
  done <"$libs_list"
  say "installed beside xgen-desk.exe: $(tr '\n' ' ' <"$libs_list")"
fi
mapfile -t installed < <(find "$install_dir" -type f | sort)
installed+=("$shortcut")
say "installed ${#installed[@]} files: ${installed[*]##*/}"

# 3. The Settings > Apps entry, and each association packaging/Packager.toml lists.
entry=$(reg_query "$uninstall_key") || fail "no $uninstall_key"
grep -q 'DisplayName *REG_SZ *xgen-desk$' <<<"$entry" || fail "no DisplayName: $entry"
grep -q "DisplayVersion *REG_SZ *$crate_version$" <<<"$entry" || fail "DisplayVersion is not $crate_version: $entry"
exe_win=$(win_path "$install_dir/xgen-desk.exe")
extensions=$("$python" -c 'import tomllib; print(" ".join(e for a in tomllib.load(open("packaging/Packager.toml", "rb"))["file-associations"] for e in a["extensions"]))')
for ext in $extensions; do
  reg_query "HKCU\\Software\\Classes\\.$ext\\OpenWithProgids" | grep -q "xgen-desk\\.$ext" \
    || fail ".$ext does not list xgen-desk under Open with"
  command=$(reg_query "HKCU\\Software\\Classes\\xgen-desk.$ext\\shell\\open\\command" /ve) \
    || fail "no open command for .$ext"
  grep -qiF "\"$exe_win\" \"%1\"" <<<"$command" || fail "the open command of .$ext is not the installed program: $command"
done
[[ "$(txt_default)" == "$txt_default" ]] || fail ".txt's default program changed"
reg_query 'HKCU\Software\Classes\.pdf\OpenWithProgids' | grep -q OtherReader.pdf || fail "the other reader's .pdf entry is gone"
say "shortcut, Settings entry and the associations of $(wc -w <<<"$extensions") extensions checked"

# 4. The installed program: its version, and a CLI summary with its data in the user's folders.
# The second line names the CPU level chosen for this processor (docs/cpu.md).
cpu_version() { # `xgen-desk.exe --version` with XGEN_DESK_CPU=$1 (unset when empty)
  if [[ -n "$1" ]]; then
    XGEN_DESK_CPU=$1 win "$install_dir/xgen-desk.exe" --version 2>&1 | tr -d '\r'
  else
    (unset XGEN_DESK_CPU; win "$install_dir/xgen-desk.exe" --version 2>&1 | tr -d '\r')
  fi
}
version_started=$(date +%s%N)
version=$(cpu_version "") || fail "--version failed: $version"
version_ms=$(( ($(date +%s%N) - version_started) / 1000000 ))
[[ "$(head -n 1 <<<"$version")" == "xgen-desk $crate_version" ]] || fail "--version printed '$version'"
cpu_line=$(sed -n 2p <<<"$version")
[[ "$cpu_line" =~ ^CPU\ code:\ (baseline|v3|avx512|avx512-vnni)\ \(.*\),\ chosen\ for\ this\ processor ]] \
  || fail "--version names no CPU level chosen for this processor: '$version'"
chosen=${BASH_REMATCH[1]}
[[ -z "$cpu_level" || "$chosen" == "$cpu_level" ]] || fail "the installed program chose $chosen, not $cpu_level: $cpu_line"
say "$(tr '\n' ' ' <<<"$version")($version_ms ms)"
# The baseline, forced, loads from the installed folder; a level above the chosen one is refused.
forced=$(cpu_version baseline) || fail "XGEN_DESK_CPU=baseline failed: $forced"
grep -q '^CPU code: baseline (.*forced by XGEN_DESK_CPU' <<<"$forced" || fail "XGEN_DESK_CPU=baseline: $forced"
levels=(baseline v3 avx512 avx512-vnni)
for i in "${!levels[@]}"; do
  [[ "${levels[$i]}" == "$chosen" ]] || continue
  above=${levels[$((i + 1))]:-}
  if [[ -n "$above" ]]; then
    refused=$(cpu_version "$above") && fail "XGEN_DESK_CPU=$above ran on a processor that runs $chosen: $refused"
    grep -q "XGEN_DESK_CPU=$above is refused: this processor lacks" <<<"$refused" || fail "XGEN_DESK_CPU=$above: $refused"
    say "XGEN_DESK_CPU=baseline runs installed; XGEN_DESK_CPU=$above is refused"
  fi
done
printf '%s\n' "The town council met on Monday night." \
  "It approved a new bicycle lane on Main Street and delayed the library budget until March." \
  "Residents spoke for and against the lane for two hours." >"$work/notes.txt"
summary=$(win "$install_dir/xgen-desk.exe" summarize "$(win_path "$work/notes.txt")" \
  --model "$(win_path "$model")" --ctx 2048 --max-tokens 48 --greedy --threads 2 \
  2>"$work/summarize.log" | tr -d '\r') || { cat "$work/summarize.log" >&2; fail "the installed program's summary failed"; }
[[ -n "${summary//[[:space:]]/}" ]] || fail "empty summary"
say "summary: $summary"

# 5. The window, opened on the document with the command Explorer runs for "Open with".
open_command=$(reg_query 'HKCU\Software\Classes\xgen-desk.txt\shell\open\command' /ve | sed -n 's/.*REG_SZ *//p')
[[ "$open_command" =~ ^\"([^\"]+)\"\ \"%1\"$ ]] || fail "the open command is not '\"PROGRAM\" \"%1\"': $open_command"
app_exe=${BASH_REMATCH[1]}
win "$app_exe" "$(win_path "$work/notes.txt")" >"$work/app.log" 2>&1 &
app_pid=$!
stop_app() {
  if [[ "$os" == linux ]]; then
    wineserver -k 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
  else
    taskkill //F //IM xgen-desk.exe >/dev/null 2>&1 || taskkill /F /IM xgen-desk.exe >/dev/null 2>&1 || true
    wait "$app_pid" 2>/dev/null || true
  fi
}
window=""
for _ in $(seq 600); do
  kill -0 "$app_pid" 2>/dev/null || { stop_app; cat "$work/app.log" >&2; fail "the app exited"; }
  if [[ "$os" == linux ]]; then
    window=$(xwininfo -root -tree | grep '"xgen-desk"' | head -n 1 || true)
  else
    window=$(powershell -NoProfile -Command \
      "(Get-Process xgen-desk -ErrorAction SilentlyContinue | Where-Object MainWindowTitle -eq 'xgen-desk').MainWindowTitle" \
      2>/dev/null | tr -d '\r' || true)
  fi
  [[ -n "$window" ]] && break
  sleep 0.1
done
[[ -n "$window" ]] || { stop_app; cat "$work/app.log" >&2; fail "no xgen-desk window within 60 s"; }
say "window: $window"
if [[ "$os" == linux ]]; then
  window_id=$(awk '{print $1}' <<<"$window")
  # The icon comes a moment after the window (winit sets it once the window exists; Wine
  # passes it on to X as _NET_WM_ICON).
  icon=""
  for _ in $(seq 200); do
    icon=$(xprop -id "$window_id" _NET_WM_ICON 2>/dev/null | grep '_NET_WM_ICON(CARDINAL) = ' || true)
    [[ -n "$icon" ]] && break
    sleep 0.1
  done
  [[ -n "$icon" ]] || { stop_app; fail "the window has no icon 20 s after it opened"; }
  sleep 5 # its first frames, drawn by software OpenGL
  # A program started like this gets a console window of its own on Windows (Wine's is an X
  # window titled with the program's path): the app lets go of it, and the document reader it
  # starts has none. The title is the first quoted name in xwininfo's tree (the second,
  # xgen-desk.exe, is the class of every window of the app).
  consoles=$(xwininfo -root -tree | grep -iE '^ *0x[0-9a-f]+ "[^"]*xgen-desk\.exe' || true)
  [[ -z "$consoles" ]] || { stop_app; fail "console windows beside the app: $consoles"; }
  mkdir -p "$(dirname "$shot")"
  import -window root "$shot"
  colors=$(convert "$shot" -format '%k' info:)
  [[ "$colors" -gt 10 ]] || { stop_app; fail "the screenshot has $colors colours: nothing was drawn"; }
  say "screenshot: $shot ($colors colours)"
fi
stop_app
data=$(data_sums)
[[ -n "$data" ]] || fail "the app wrote no data in ${data_dirs[*]}"
say "user data: $(wc -l <<<"$data") files"

# 6. Uninstall with the command Settings > Apps runs silently.
quiet=$(sed -n 's/.*QuietUninstallString *REG_SZ *//p' <<<"$entry")
[[ "$quiet" =~ ^\"([^\"]+)\"\ /S$ ]] || fail "QuietUninstallString is not '\"PROGRAM\" /S': $quiet"
win "${BASH_REMATCH[1]}" /S || fail "the uninstaller exited with $?"
settle
for _ in $(seq 150); do [[ -e "$install_dir" ]] || break; sleep 0.2; done
left=0
for f in "${installed[@]}" "$install_dir"; do [[ -e "$f" ]] && { say "left behind: $f"; left=1; }; done
((left == 0)) || fail "files left after the uninstall"
reg_query "$uninstall_key" >/dev/null && fail "the Settings entry is still there"
classes_export "$work/classes-after.reg"
diff "$work/classes-before.reg" "$work/classes-after.reg" >&2 \
  || fail "HKCU\\Software\\Classes is not as it was before the install"
[[ "$(data_sums)" == "$data" ]] || fail "the user's data changed in the uninstall"
if [[ "$os" == linux ]]; then
  # Nothing else is new in the user's folders (on Windows, other programs write there too).
  user_files >"$work/files-after"
  new=$(comm -13 "$work/files-before" "$work/files-after" | grep -v -e '/AppData/Roaming/xgen-desk/' -e '/AppData/Local/xgen-desk/' || true)
  [[ -z "$new" ]] || fail "files left in the user's folders: $new"
fi
say "uninstalled: every installed file and registry key is gone, the user's data stayed"
say "passed in $(( $(date +%s) - started )) s"
