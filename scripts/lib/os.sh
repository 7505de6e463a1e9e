# What the scripts need to know about the system they run on; sourced by scripts/*.sh.
#
# XGEN_DESK_OS=linux|macos|windows overrides what `uname` says, and XGEN_DESK_DRY_RUN=1 makes
# `xgen_run` print commands instead of running them: tests/integration/scripts.rs runs the
# scripts CI runs on macOS and Windows that way on Linux, to prove the branches those runners
# take.

# linux, macos or windows.
xgen_os() {
  if [[ -n "${XGEN_DESK_OS:-}" ]]; then
    case "$XGEN_DESK_OS" in
      linux|macos|windows) echo "$XGEN_DESK_OS"; return ;;
      *) echo "XGEN_DESK_OS must be linux, macos or windows, not $XGEN_DESK_OS" >&2; return 1 ;;
    esac
  fi
  case "$(uname -s)" in
    Darwin) echo macos ;;
    MINGW*|MSYS*|CYGWIN*|Windows_NT) echo windows ;;
    *) echo linux ;;
  esac
}

# The Python 3.11+ to use (for tomllib): `python3`, else `python` (Windows runners and the
# python.org installer have only `python`, and `python3` there may be the Store's stub, which
# exists but does not run).
xgen_python() {
  local candidate
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  echo "needs Python 3.11 or newer as python3 or python" >&2
  return 1
}

# Runs a command, or with XGEN_DESK_DRY_RUN=1 prints it ("would run: ...") on stderr.
xgen_run() {
  if [[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]]; then
    echo "would run: $*" >&2
  else
    "$@"
  fi
}

# Sets $xgen_cpu to the CPU seconds (user + system) the calling script and the children it
# waited for used so far. Call it directly, not in $(...): a subshell counts only its own.
xgen_cpu_seconds() {
  local file
  file=$(mktemp)
  times >"$file"
  xgen_cpu=$(awk '{ for (i = 1; i <= NF; i++) { split($i, t, "m"); sub("s", "", t[2]); total += t[1] * 60 + t[2] } }
    END { printf "%.0f", total }' "$file")
  rm -f "$file"
}
