#!/usr/bin/env bash
# Builds xgen-desk and packages it with cargo-packager (packaging/Packager.toml).
#
#   scripts/package.sh [--profile release|dev] [--formats deb,appimage,app,dmg,nsis]
#                      [--features metal|cuda|vulkan] [--no-build]
#
# --profile  the Cargo profile whose binary is packaged (default release: optimized with LTO,
#            what people install; `dev` packages target/debug, which is also optimized here,
#            for quick checks of the packaging itself).
# --formats  installer formats (default: deb on Linux, app,dmg on macOS, nsis on Windows);
#            `appimage` is built by scripts/package-appimage.sh, the rest by cargo-packager.
# --features GPU backend(s) to build in (comma-separated); default CPU only.
# --no-build package the binary already built for the profile.
#
# The Windows setup .exe (nsis) is made by scripts/package-nsis.sh with the project's own NSIS
# script (cargo-packager's NSIS format downloads plugins from GitHub when it runs off Windows,
# so only this one can be built and proven on Linux too: scripts/test-windows.sh).
# Uses `cargo packager` when installed (`cargo install cargo-packager --locked`); on Linux x86-64
# without it, runs the same tool from its prebuilt Node-API build on npm
# (@crabnebula/packager-linux-x64-gnu), cached in .cache/packager. Prints the packages' paths.
# XGEN_DESK_OS and XGEN_DESK_DRY_RUN (scripts/lib/os.sh) show what it would do on another OS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh

PACKAGER_NPM_VERSION=0.11.2
python=$(xgen_python)
os=$(xgen_os)
profile=release
formats=""
build=1
features=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --formats) formats="$2"; shift 2 ;;
    --features) IFS=, read -ra list <<<"$2"; for f in "${list[@]}"; do features+=(--features "xgen-desk/$f"); done; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "package: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) bin_dir=target/release; cargo_profile=(--release) ;;
  dev|debug) bin_dir=target/debug; cargo_profile=() ;;
  *) bin_dir="target/$profile"; cargo_profile=(--profile "$profile") ;;
esac
if [[ -z "$formats" ]]; then
  case "$os" in
    macos) formats=app,dmg ;;
    windows) formats=nsis ;;
    *) formats=deb ;;
  esac
fi
# The AppImage and the setup .exe are made by scripts of their own; cargo-packager makes the
# others.
appimage=0
nsis=0
packager_formats=$("$python" -c 'import sys; print(",".join(f for f in sys.argv[1].split(",") if f and f not in ("appimage", "nsis")))' "$formats")
[[ ",$formats," == *,appimage,* ]] && appimage=1
[[ ",$formats," == *,nsis,* ]] && nsis=1

if [[ $build -eq 1 ]]; then
  # The OCR models are built into the binary (ocr-models/build.rs): fetched and checked first,
  # and XGEN_DESK_REQUIRE_OCR_MODELS makes a build without them fail, so that no installer
  # ships a program that cannot read scans. --workspace: the same feature resolution as the
  # tests, so llama.cpp is built once; without the test kit, whose fault injection must never
  # reach an installer.
  scripts/fetch-ocr-models.sh
  XGEN_DESK_REQUIRE_OCR_MODELS=1 xgen_run cargo build --workspace --exclude xgen-testkit ${cargo_profile[@]+"${cargo_profile[@]}"} ${features[@]+"${features[@]}"}
fi
binary="$bin_dir/xgen-desk"
[[ -x "$binary" || -x "$binary.exe" || "${XGEN_DESK_DRY_RUN:-}" == 1 ]] \
  || { echo "package: no binary at $binary (build it or drop --no-build)" >&2; exit 1; }

# The package version must be the crate's, and the release profile uses the file as it is;
# other profiles get a copy of it (as JSON) that points at their binary directory. On x86-64
# Linux, llama.cpp's shared libraries and its four CPU builds (the list the build
# wrote to xgen-desk-libs.txt) go in as resources: the .deb puts them in /usr/lib/xgen-desk,
# where the binary looks (its rpath, cpu/src/modules.rs).
config=$("$python" - "$bin_dir" "$os" <<'PY'
import json, os, sys, tomllib
bin_dir, os_name = sys.argv[1], sys.argv[2]
cargo = tomllib.load(open("Cargo.toml", "rb"))
crate_version = cargo["workspace"]["package"]["version"]
config = tomllib.load(open("packaging/Packager.toml", "rb"))
if config["version"] != crate_version:
    sys.exit(f"package: packaging/Packager.toml has version {config['version']}, "
             f"Cargo.toml {crate_version}: make them equal")
libs_list = os.path.join(bin_dir, "xgen-desk-libs.txt")
libs = []
if os_name == "linux" and os.path.isfile(libs_list):
    libs = [line.strip() for line in open(libs_list) if line.strip()]
if libs:
    config["resources"] = [{"src": f"{bin_dir}/{name}", "target": name} for name in libs]
if bin_dir == config["binaries-dir"] and not libs:
    print("packaging/Packager.toml")
else:
    config["binaries-dir"] = bin_dir
    if bin_dir != "target/release":
        config["out-dir"] = config["out-dir"] + "/" + bin_dir.split("/")[-1]
    print(json.dumps(config))
PY
)

run_packager() {
  if [[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]]; then
    xgen_run cargo packager "$@"
    return
  fi
  if cargo packager --version >/dev/null 2>&1; then
    cargo packager "$@"
    return
  fi
  if [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] && ! command -v npm >/dev/null \
    && command -v apt-get >/dev/null; then
    # Node runs the packager's prebuilt module; Debian's nodejs/npm are enough.
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if [[ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]] || ! command -v npm >/dev/null; then
    echo "package: install cargo-packager first: cargo install cargo-packager --locked" >&2
    exit 1
  fi
  local dir=.cache/packager/$PACKAGER_NPM_VERSION
  local module=$dir/package/packager.linux-x64-gnu.node
  if [[ ! -f "$module" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@crabnebula/packager-linux-x64-gnu@$PACKAGER_NPM_VERSION" >/dev/null \
      && tar xzf crabnebula-packager-linux-x64-gnu-$PACKAGER_NPM_VERSION.tgz)
  fi
  PACKAGER_NODE="$PWD/$module" node -e '
    const packager = require(process.env.PACKAGER_NODE);
    (async () => {
      try {
        await packager.cli(process.argv.slice(1), "cargo-packager");
      } catch (e) {
        console.error(`cargo-packager: ${e.message || e}`);
        process.exit(1);
      }
    })();' -- "$@"
}

if [[ -n "$packager_formats" ]]; then
  run_packager -c "$config" --formats "$packager_formats" >&2
fi
if [[ $appimage -eq 1 ]]; then
  xgen_run scripts/package-appimage.sh --profile "$profile" --no-build >/dev/null
fi
out_dir=$("$python" -c 'import json, sys, tomllib
c = sys.argv[1]
print(json.loads(c)["out-dir"] if c.startswith("{") else tomllib.load(open(c, "rb"))["out-dir"])' "$config")
if [[ $nsis -eq 1 ]]; then
  xgen_run scripts/package-nsis.sh --binary "$binary.exe" --out-dir "$out_dir" >/dev/null
fi
[[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]] && exit 0
find "$out_dir" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.AppImage' -o -name '*.dmg' \
  -o -name "*.exe" -o -name "*.msi" \) -print
