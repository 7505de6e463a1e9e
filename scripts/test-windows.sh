#!/usr/bin/env bash
# The Windows build, proven on Linux under Wine: builds the workspace for x86_64-pc-windows-gnu
# (MinGW-w64, scripts/lib/windows-gnu.sh), runs its tests as Windows programs under Wine
# (unit tests; document readers; the isolated reader with its job object; the data-directory
# lock; the state cache; the hub downloader against the loopback mock hub; the planner; the
# engine with the test model), compares a greedy summary of the Windows build with the Linux
# build's, then makes the setup .exe (scripts/package-nsis.sh, Debian's makensis), installs
# it silently for the user, checks the Start-menu shortcut, the file associations in
# HKCU\Software\Classes and the installed files, runs the installed `xgen-desk.exe --version` and a
# CLI summary, opens the window under Xvfb (Wine's OpenGL on Mesa) for a screenshot
# (target/packages/windows-screenshot.png), uninstalls, and checks that every installed file
# and registry key is gone while the user's data stays.
#
#   scripts/test-windows.sh [--skip-tests] [--skip-installer]
#
# XGEN_DESK_BIN names a Linux build of the same commit for the summary comparison (else it is
# built here, in target/debug).
#
# Installs what it needs on Debian/Ubuntu (the Rust target, mingw-w64, wine64, nsis, X11
# tools) and fetches a Windows Python for one test's fixture (scripts/fetch-windows-python.sh).
# Its own target directory (target/windows) and Wine prefix (target/windows/wine), both kept for
# the next run. Not part of scripts/test.sh (a cold run builds llama.cpp twice: for
# Windows and, for the comparison, for Linux): CI runs it as a job of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/lib/os.sh
source scripts/lib/windows-gnu.sh

run_tests=1
run_installer=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --skip-tests) run_tests=0; shift ;;
    --skip-installer) run_installer=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "test-windows: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { echo "test-windows: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
phase_started=$started
phases=()
phase() { # records how long the last phase took
  local now
  now=$(date +%s)
  phases+=("$1 $(( now - phase_started )) s")
  phase_started=$now
}

[[ "$(xgen_os)" == linux ]] || fail "runs on Linux (Windows runs scripts/test.sh itself)"
scripts/setup-deps.sh
scripts/fetch-test-models.sh
# The OCR models the build embeds, as in the product's installer (a fresh clone has none: the
# build would leave OCR out, and the program would say so).
scripts/fetch-ocr-models.sh
model=$PWD/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
xgen_windows_toolchain
missing=()
for tool in wine:wine wine64:wine64 makensis:nsis xwininfo:x11-utils xprop:x11-utils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x /usr/lib/wine/wine64 && ${tool%%:*} == wine64 ]] \
    || missing+=("${tool##*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >&2
fi
xgen_windows_env
target=$xgen_windows_target
python=$(xgen_python)
exe_dir=$CARGO_TARGET_DIR/$target/debug

# Wine (scripts/lib/windows-gnu.sh), as cargo's runner for the Windows target: `cargo test
# --target x86_64-pc-windows-gnu` runs the test programs under it.
xgen_wine_prefix
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
# A Windows Python on the Windows programs' PATH (Wine adds WINEPATH to it): a hub test writes
# its PyTorch fixture with Python (scripts/fetch-windows-python.sh says why this one).
windows_python=$(scripts/fetch-windows-python.sh)
WINEPATH=$(winepath -w "$windows_python" 2>/dev/null)
export WINEPATH
say "$(wine --version)"
phase setup

# 1. Build the tests and the program they run, which also goes into the installer, as
#    scripts/test.sh's .deb round trip packages the program its tests built (a build without
#    the test kit would compile most crates a second time, with other features).
cargo test --workspace --target "$target" --no-run
[[ -f "$exe_dir/xgen-desk.exe" ]] || fail "no $exe_dir/xgen-desk.exe"
# Nothing of MinGW beside it: its runtimes are linked in (scripts/lib/windows-gnu.sh).
mingw_dlls=$(x86_64-w64-mingw32-objdump -p "$exe_dir/xgen-desk.exe" | sed -n 's/.*DLL Name: //p' \
  | grep -iE '^lib|mingw|pthread' | grep -viE '^lib(llama|ggml)' || true)
[[ -z "$mingw_dlls" ]] || fail "xgen-desk.exe needs MinGW's DLLs: $mingw_dlls"
# llama.cpp's DLLs and the CPU modules beside it (cpu/build.rs lists them) import Windows' own
# DLLs and each other, nothing of MinGW either (scripts/lib/mingw-lib-prefix.cmake).
libs_list=$exe_dir/xgen-desk-libs.txt
[[ -f "$libs_list" ]] || fail "no $libs_list: the CPU modules were not built"
for module in sse42 haswell skylakex cascadelake; do
  grep -qx "ggml-cpu-$module.dll" "$libs_list" || fail "$libs_list lists no ggml-cpu-$module.dll"
done
while read -r lib; do
  [[ -n "$lib" ]] || continue
  [[ -f "$exe_dir/$lib" ]] || fail "$lib (listed in $libs_list) is not in $exe_dir"
  foreign=$(x86_64-w64-mingw32-objdump -p "$exe_dir/$lib" | sed -n 's/.*DLL Name: //p' \
    | grep -viE '^(kernel32|advapi32|user32|msvcrt|ws2_32|bcrypt|ntdll|shell32|ole32|api-ms-win-.*)\.dll$' \
    | grep -vixF -f "$libs_list" || true)
  [[ -z "$foreign" ]] || fail "$lib needs DLLs that are neither Windows' nor ours: $foreign"
done <"$libs_list"
# The program imports only DLLs of that list (an import missing from it would stop the installed
# program before main).
unlisted=$(x86_64-w64-mingw32-objdump -p "$exe_dir/xgen-desk.exe" | sed -n 's/.*DLL Name: //p' \
  | grep -iE '^lib(llama|ggml)' | grep -vixF -f "$libs_list" || true)
[[ -z "$unlisted" ]] || fail "xgen-desk.exe imports DLLs that $libs_list does not list: $unlisted"
say "beside xgen-desk.exe: $(tr '\n' ' ' <"$libs_list")($( (cd "$exe_dir" && xargs du -cb <"$libs_list") | tail -n 1 | cut -f1) bytes)"
phase build

# 2. The tests, as Windows programs.
passed=0
if [[ $run_tests -eq 1 ]]; then
  log=$(mktemp)
  run() { # cargo test ... under Wine; adds up what passed
    local status=0
    cargo test --target "$target" "$@" 2>&1 | tee -a "$log" >&2 || status=$?
    ((status == 0)) || fail "cargo test --target $target $*"
  }
  # Every unit test of the three crates.
  run --workspace --lib
  # The integration tests of the parts a Windows user runs through (see the module list in
  # tests/integration/main.rs): document readers, hostile files and the isolated reader,
  # the state cache, the hub downloader, the stores and the data-directory lock, the planner,
  # the engine, summaries, the model check in a child process, the CLI.
  # The hostile files first, on their own: their children have time limits, and a process
  # starts slowly under Wine; beside the engine tests on a loaded machine, a reader went past
  # its 32 s and a `cmd` child past the test's 20 s.
  run --test integration -- hostile::
  run --test integration -- \
    documents:: pdf:: fuzz_replay:: state_cache:: hub:: stores:: plan:: \
    engine:: summarize:: check:: cli:: xgen:: cpu::
  # The CPU levels (cpu/tests): the choice for real processors' extension sets, a level the
  # processor lacks refused, and every level this processor runs picking the same top tokens.
  run --workspace --test choice --test levels
  passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
  failed=$(awk '/^test result:/ { n += $6 } END { print n + 0 }' "$log")
  rm -f "$log"
  ((failed == 0)) || fail "$failed Windows tests failed"
  say "$passed Windows tests passed under Wine"
  phase tests
fi

# 3. The same greedy summary from the Linux and the Windows build of this commit.
work=$(mktemp -d)
cleanup_work() { wineserver -k 2>/dev/null || true; rm -rf "$work"; }
trap cleanup_work EXIT
printf '%s\n' "The town council met on Monday night." \
  "It approved a new bicycle lane on Main Street and delayed the library budget until March." \
  "Residents spoke for and against the lane for two hours." >"$work/notes.txt"
summary_args=(--ctx 2048 --max-tokens 64 --greedy --drafts off --threads 2 --quiet)
# XGEN_DESK_BIN: a Linux build of this commit made already (the same code as the Windows build's).
linux_bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || (unset CARGO_TARGET_DIR; cargo build --bin xgen-desk)
linux=$("$linux_bin" summarize "$work/notes.txt" --model "$model" "${summary_args[@]}" 2>"$work/linux.log") \
  || { cat "$work/linux.log" >&2; fail "the Linux summary failed"; }
windows=$(XGEN_DESK_HOME=$(winepath -w "$work/home") wine "$exe_dir/xgen-desk.exe" \
  summarize "$(winepath -w "$work/notes.txt")" --model "$(winepath -w "$model")" "${summary_args[@]}" \
  2>"$work/windows.log" | tr -d '\r') || { cat "$work/windows.log" >&2; fail "the Windows summary failed"; }
[[ -n "${windows//[[:space:]]/}" ]] || fail "empty Windows summary"
if [[ "$linux" == "$windows" ]]; then
  say "greedy summary identical on Linux and Windows: $windows"
else
  say "Linux:   $linux"
  say "Windows: $windows"
  fail "the Windows build's greedy summary differs from the Linux build's"
fi
phase "summary comparison"

if [[ $run_installer -eq 1 ]]; then
  # 4. The setup .exe with the program the tests ran, installed, used and removed.
  setup=$(scripts/package-nsis.sh --binary "$exe_dir/xgen-desk.exe")
  file "$setup" | grep -q 'PE32+ executable (GUI) x86-64' || fail "the setup is not a 64-bit Windows program: $(file "$setup")"
  # The installed program must choose the CPU level the Linux build chooses on this processor.
  linux_level=$("$linux_bin" --version | sed -n 's/^CPU code: \([^ ]*\) (.*/\1/p')
  [[ -n "$linux_level" ]] || fail "the Linux build's --version names no CPU level"
  scripts/test-windows-installer.sh --setup "$setup" --program "$exe_dir/xgen-desk.exe" \
    --cpu-level "$linux_level"
  phase installer
fi

say "passed in $(( $(date +%s) - started )) s (${phases[*]})"
