#!/usr/bin/env bash
# Installs the system packages xgen-desk needs to build, test and take screenshots on
# Debian/Ubuntu: cmake and libclang (llama.cpp and its bindings), X11/GL (the window), Xvfb and
# ImageMagick (headless screenshots), fontconfig and a font (the characters egui's own fonts
# lack come from the system's fonts), Python with pip (fetching the test model from PyPI), GNU
# time (the benchmark scripts' peak memory figures).
# Installs only what is missing; does nothing on macOS and Windows (CI's runners have what
# the build needs: Xcode's tools, MSVC and CMake) or on other Linux distributions.
set -euo pipefail
source "$(dirname "$0")/lib/os.sh"

packages=(
  build-essential cmake pkg-config libclang-dev
  libx11-dev libxcursor-dev libxrandr-dev libxi-dev libxkbcommon-dev libxkbcommon-x11-0
  libgl1-mesa-dev libgl1-mesa-dri libegl1 libwayland-dev
  xvfb xauth imagemagick xdotool
  libfontconfig1 fonts-dejavu-core
  python3 python3-pip time
)

os=$(xgen_os)
if [[ "$os" != linux ]]; then
  echo "setup-deps: nothing to install on $os" >&2
  exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-deps: not a Debian-like system; install cmake, libclang, X11/GL headers and python3-pip yourself" >&2
  exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# A Python that already has pip (pyenv, say) makes python3-pip unnecessary.
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == python3 || "$pkg" == python3-pip ]] || filtered+=("$pkg")
  done
  missing=("${filtered[@]}")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "setup-deps: installing ${missing[*]}" >&2
xgen_run $sudo apt-get update -qq
xgen_run env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
