#!/usr/bin/env bash
# Proves the AppImage: builds it (scripts/package-appimage.sh), checks what is inside (AppRun,
# desktop entry with the file types, icons, the bundled libgomp), checks the oldest glibc it
# needs, then runs it as a person would, with `--appimage-extract-and-run` (containers have no
# FUSE): `--version`, a CLI summary with the test model, and the window under Xvfb with a
# screenshot (target/packages/appimage-screenshot.png).
#
#   scripts/package-appimage-test.sh [--profile release|dev] [--no-build]
#
# --profile and --no-build as for scripts/package-appimage.sh (test.sh packages the dev binary
# it already built). Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
started=$(date +%s)

# The newest glibc symbol version the binary may need: README's "runs on" line says what this
# means (Debian 12, Ubuntu 22.04, Fedora 36 and later). A change that raises it fails here.
max_glibc=2.35
# Libraries the binary links (ldd); anything more must be bundled or named in the README.
expected_libs="libc.so.6 libgcc_s.so.1 libgomp.so.1 libm.so.6 libstdc++.so.6"

package_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) package_args+=(--profile "$2"); shift 2 ;;
    --no-build) package_args+=(--no-build); shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "package-appimage-test: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "package-appimage-test: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

scripts/setup-deps.sh
missing=()
for tool in xwininfo:x11-utils desktop-file-validate:desktop-file-utils mksquashfs:squashfs-tools; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
scripts/fetch-test-models.sh
model=$PWD/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
[[ -f "$model" ]] || fail "test model $model missing"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The runtime extracts into $TMPDIR/appimage_extracted_*: keep that inside the scratch dir.
export TMPDIR=$work

# 1. Build it.
appimage=$(scripts/package-appimage.sh "${package_args[@]}" | tail -n 1)
[[ -f "$appimage" && -x "$appimage" ]] || fail "no AppImage was produced"
[[ "$(basename "$appimage")" =~ ^xgen-desk_[0-9.]+_x86_64\.AppImage$ ]] || fail "unexpected name $appimage"
say "package: $appimage ($(du -h "$appimage" | cut -f1))"

# 2. What is inside.
(cd "$work" && "$OLDPWD/$appimage" --appimage-extract >/dev/null) || fail "--appimage-extract failed"
root=$work/squashfs-root
[[ -x "$root/AppRun" && -x "$root/usr/bin/xgen-desk" ]] || fail "no AppRun or usr/bin/xgen-desk"
[[ -f "$root/usr/lib/libgomp.so.1" ]] || fail "libgomp is not bundled"
[[ -f "$root/xgen-desk.png" && -e "$root/.DirIcon" ]] || fail "no icon at the AppDir's root"
[[ -f "$root/usr/share/icons/hicolor/512x512/apps/xgen-desk.png" ]] || fail "no 512x512 icon"
desktop-file-validate "$root/xgen-desk.desktop" || fail "desktop entry does not validate"
for mime in text/plain text/markdown application/pdf \
  application/vnd.openxmlformats-officedocument.wordprocessingml.document text/html; do
  grep -q "^MimeType=.*$mime;" "$root/xgen-desk.desktop" || fail "desktop entry does not open $mime"
done
libs=$(ldd "$root/usr/bin/xgen-desk" | awk '$1 ~ /\.so/ && $1 !~ /^(linux-vdso|\/)/ { print $1 }' | sort | tr '\n' ' ')
[[ "${libs% }" == "$expected_libs" ]] || fail "the binary links '$libs', expected '$expected_libs'"
glibc=$(objdump -T "$root/usr/bin/xgen-desk" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
[[ "$(printf '%s\n%s\n' "$glibc" "$max_glibc" | sort -V | tail -n 1)" == "$max_glibc" ]] \
  || fail "the binary needs glibc $glibc, newer than the $max_glibc the README promises"
say "links $libs(libgomp bundled); needs glibc >= $glibc"
rm -rf "$root"

# 3. Run it as a person would; data goes to a scratch home.
export XGEN_DESK_HOME="$work/home"
# shellcheck source=scripts/lib/app-smoke.sh
source scripts/lib/app-smoke.sh
run=("$PWD/$appimage" --appimage-extract-and-run)
smoke_version "${run[@]}"
smoke_summary "$model" "${run[@]}"
smoke_window target/packages/appimage-screenshot.png "${run[@]}"
xgen_cpu_seconds
say "passed in $(( $(date +%s) - started )) s, of which $xgen_cpu s of CPU"
