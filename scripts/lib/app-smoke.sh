# Checks an installed xgen-desk the way a person would use it; sourced by the installer tests
# (scripts/package-deb-test.sh, scripts/package-appimage-test.sh). Each function takes the
# command that starts the app as its trailing arguments, and fails the script (through `fail`,
# which the caller defines) at the first thing that is wrong. The caller also sets `work` (a
# scratch directory) and exports XGEN_DESK_HOME.

# `--version` prints "xgen-desk <the crate's version>", then the CPU code it loaded.
smoke_version() {
  local crate_version version
  crate_version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
  version=$("$@" --version) || fail "--version failed: $version"
  [[ "$(head -n 1 <<<"$version")" == "xgen-desk $crate_version" ]] || fail "--version printed '$version'"
  [[ "$(sed -n 2p <<<"$version")" == "CPU code: "* ]] || fail "--version names no CPU code: '$version'"
  say "$version"
}

# The four builds of llama.cpp's CPU code are installed in the folder $1 (x86-64), and each loads
# from there: forced with XGEN_DESK_CPU, every level this processor runs is the one `--version`
# reports, and every level it lacks is refused, never run.
smoke_cpu_levels() {
  local dir=$1 variant level version ran=0
  shift
  for variant in sse42 haswell skylakex cascadelake; do
    [[ -f "$dir/libggml-cpu-$variant.so" ]] || fail "no libggml-cpu-$variant.so in $dir"
  done
  for level in baseline v3 avx512 avx512-vnni; do
    if version=$(XGEN_DESK_CPU=$level "$@" --version 2>&1); then
      grep -q "^CPU code: $level (.*forced by XGEN_DESK_CPU" <<<"$version" \
        || fail "XGEN_DESK_CPU=$level ran another level: $version"
      ran=$((ran + 1))
    else
      grep -q "XGEN_DESK_CPU=$level is refused: this processor lacks" <<<"$version" \
        || fail "XGEN_DESK_CPU=$level failed: $version"
    fi
  done
  ((ran >= 1)) || fail "no CPU level runs here"
  say "CPU code: the 4 builds are in $dir; $ran of them run on this processor"
}

# A CLI summary of a short text with the test model ($1), greedy, is not empty.
smoke_summary() {
  local model=$1 summary
  shift
  printf '%s\n' "The town council met on Monday night." \
    "It approved a new bicycle lane on Main Street and delayed the library budget until March." \
    "Residents spoke for and against the lane for two hours." >"$work/notes.txt"
  summary=$("$@" summarize "$work/notes.txt" --model "$model" --ctx 2048 \
    --max-tokens 48 --greedy --threads 2 2>"$work/summarize.log") \
    || { cat "$work/summarize.log" >&2; fail "summarize failed"; }
  [[ -n "${summary//[[:space:]]/}" ]] || fail "empty summary"
  say "summary: $summary"
}

# The desktop app under Xvfb, opened on a document as a file manager would ($work/notes.txt,
# written by smoke_summary): its window appears with its 512x512 icon, then a screenshot goes
# to $1. The app runs in a session of its own, so that a launcher in front of it (the
# AppImage runtime) is stopped together with it.
smoke_window() {
  local shot=$1 display xvfb_pid app_pid window="" window_id colors
  shift
  # Xvfb picks a free display (others may run on this machine) and writes its number once it
  # accepts connections.
  rm -f "$work/display"
  Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$work/display" >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 300); do [[ -s "$work/display" ]] && break; sleep 0.1; done
  [[ -s "$work/display" ]] || { kill "$xvfb_pid" 2>/dev/null || true; fail "Xvfb did not start within 30 s"; }
  display=":$(head -n 1 "$work/display")"
  DISPLAY=$display setsid "$@" "$work/notes.txt" >"$work/app.log" 2>&1 &
  app_pid=$!
  smoke_stop() {
    kill -TERM -- "-$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  }
  for _ in $(seq 300); do
    kill -0 "$app_pid" 2>/dev/null || { smoke_stop; cat "$work/app.log" >&2; fail "the app exited"; }
    window=$(DISPLAY=$display xwininfo -root -tree | grep -i '"xgen-desk"' | head -n 1 || true)
    [[ -n "$window" ]] && break
    sleep 0.1
  done
  [[ -n "$window" ]] || { smoke_stop; cat "$work/app.log" >&2; fail "no xgen-desk window within 30 s"; }
  say "window:$window"
  window_id=$(awk '{print $1}' <<<"$window")
  DISPLAY=$display xprop -id "$window_id" -f _NET_WM_ICON 32c _NET_WM_ICON | grep -q '= 512, 512,' \
    || { smoke_stop; fail "the window has no 512x512 icon"; }
  sleep 2 # let it draw its first frames
  mkdir -p "$(dirname "$shot")"
  DISPLAY=$display import -window root "$shot"
  smoke_stop
  colors=$(convert "$shot" -format '%k' info:)
  [[ "$colors" -gt 10 ]] || fail "screenshot has $colors colours: nothing was drawn"
  say "screenshot: $shot ($colors colours)"
}
