#!/usr/bin/env bash
# Proves the Linux installer: builds the .deb, installs it with dpkg, opens the installed app
# under Xvfb and takes a screenshot, runs `xgen-desk --version` and a CLI summary with the test
# model, uninstalls, and checks that every installed file is gone. Needs root or sudo.
#
#   scripts/package-deb-test.sh [--profile release|dev] [--no-build]
#
# --profile  which binary goes in the package (default release, what people install; `dev`
#            reuses target/debug, optimized here too, to check the packaging without the 20-minute
#            release build). --no-build packages the binary already built for that profile.
#
# Leaves the screenshot in target/packages/screenshot.png. Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
started=$(date +%s)

package_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) package_args+=(--profile "$2"); shift 2 ;;
    --no-build) package_args+=(--no-build); shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "package-deb-test: unknown argument $1" >&2; exit 2 ;;
  esac
done

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
say() { echo "package-deb-test: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

scripts/setup-deps.sh
missing=()
for tool in xwininfo:x11-utils desktop-file-validate:desktop-file-utils; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
scripts/fetch-test-models.sh
model=$PWD/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
[[ -f "$model" ]] || fail "test model $model missing"

work=$(mktemp -d)
installed=0
cleanup() {
  if [[ $installed -eq 1 ]]; then $sudo dpkg --purge xgen-desk >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build the package.
deb=$(scripts/package.sh --formats deb "${package_args[@]}" | grep '\.deb$' | head -n 1)
[[ -f "$deb" ]] || fail "no .deb was produced"
say "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package | grep -qx xgen-desk || fail "package name is not xgen-desk"
crate_version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
[[ "$(dpkg-deb --field "$deb" Version)" == "$crate_version" ]] || fail "package version differs from Cargo.toml's $crate_version"

# 2. Install it (a leftover from an earlier run is removed first).
if dpkg-query -W xgen-desk >/dev/null 2>&1; then $sudo dpkg --purge xgen-desk >/dev/null; fi
installed=1
if ! $sudo dpkg -i "$deb" >/dev/null; then
  say "installing missing dependencies"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -f -y -qq >/dev/null
fi
dpkg-query -W -f='${Status}' xgen-desk | grep -q "install ok installed" || fail "dpkg did not install xgen-desk"
mapfile -t files < <(dpkg -L xgen-desk | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
say "installed ${#files[@]} files"
[[ "$(command -v xgen-desk)" == /usr/bin/xgen-desk ]] || fail "xgen-desk is not /usr/bin/xgen-desk on PATH"
desktop=/usr/share/applications/xgen-desk.desktop
[[ -f "$desktop" ]] || fail "no desktop entry"
desktop-file-validate "$desktop" || fail "desktop entry does not validate"
for mime in text/plain text/markdown application/pdf \
  application/vnd.openxmlformats-officedocument.wordprocessingml.document text/html; do
  grep -q "^MimeType=.*$mime;" "$desktop" || fail "desktop entry does not open $mime"
done
[[ -f /usr/share/icons/hicolor/256x256/apps/xgen-desk.png ]] || fail "no 256x256 icon"

# 3. --version and a CLI summary with the installed binary; data goes to a scratch home.
export XGEN_DESK_HOME="$work/home"
# shellcheck source=scripts/lib/app-smoke.sh
source scripts/lib/app-smoke.sh
smoke_version /usr/bin/xgen-desk
smoke_summary "$model" /usr/bin/xgen-desk

# 4. The desktop app under Xvfb, opened on a document as a file manager would: its window
#    appears, then a screenshot.
smoke_window target/packages/screenshot.png /usr/bin/xgen-desk

# 5. Uninstall: the package and every file it installed are gone.
$sudo dpkg --purge xgen-desk >/dev/null
installed=0
if dpkg-query -W -f='${Status}' xgen-desk 2>/dev/null | grep -q installed; then fail "still installed"; fi
left=0
for f in "${files[@]}"; do [[ -e "$f" ]] && { say "left behind: $f"; left=1; }; done
[[ $left -eq 0 ]] || fail "files left after uninstall"
command -v xgen-desk >/dev/null && fail "xgen-desk still on PATH"
xgen_cpu_seconds
say "passed in $(( $(date +%s) - started )) s, of which $xgen_cpu s of CPU"
