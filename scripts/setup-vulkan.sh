#!/usr/bin/env bash
# Prepares what a `--features vulkan` build needs on Debian 12 and prints the directory to use
# as VULKAN_SDK (and CMAKE_PREFIX_PATH):
#   - glslc, spirv-headers and Mesa's Vulkan drivers (lavapipe: a Vulkan device that runs on
#     the CPU) from the system's own Debian 12 archive;
#   - the Vulkan headers and loader (libvulkan-dev, libvulkan1; 1.4.309 when written) from
#     Debian 13, trixie: Debian
#     12's 1.3.239 headers lack types llama.cpp's Vulkan code uses (vk::LayerSettingEXT and
#     others) without a version guard. They are fetched with a private apt configuration (the
#     system's sources stay as they are) and unpacked with `dpkg -x` into .cache/vulkan/root.
#
#   VULKAN_SDK=$(scripts/setup-vulkan.sh)
#
# Idempotent: a second run only checks. On a system without apt-get it prints nothing and
# fails (install the Vulkan SDK from LunarG and set VULKAN_SDK yourself).
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD/.cache/vulkan
sdk=$root/sdk

command -v apt-get >/dev/null && command -v dpkg >/dev/null \
  || { echo "setup-vulkan: needs apt-get and dpkg (Debian/Ubuntu); elsewhere install the Vulkan SDK and set VULKAN_SDK" >&2; exit 1; }

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
missing=()
# debian-archive-keyring: Ubuntu (CI) needs it to check the Debian 13 archive.
for pkg in glslc spirv-headers mesa-vulkan-drivers libvulkan1 debian-archive-keyring; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup-vulkan: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f "$sdk/include/vulkan/vulkan.hpp" || ! -e "$sdk/lib/libvulkan.so" || ! -f "$root/version" ]]; then
  echo "setup-vulkan: fetching libvulkan-dev from Debian 13 into $root" >&2
  rm -rf "$root"
  mkdir -p "$root/apt/etc" "$root/apt/state/lists/partial" "$root/apt/cache/archives/partial" "$root/debs"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [[ -f $keyring ]] || { echo "setup-vulkan: no $keyring (apt-get install debian-archive-keyring)" >&2; exit 1; }
  echo "deb [signed-by=$keyring] http://deb.debian.org/debian trixie main" >"$root/apt/etc/sources.list"
  apt_private=(-o "Dir::Etc::SourceList=$root/apt/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State=$root/apt/state" -o "Dir::Cache=$root/apt/cache" -o Debug::NoLocking=1
    -o Acquire::Languages=none -o APT::Sandbox::User=root -o APT::Get::List-Cleanup=false)
  apt-get "${apt_private[@]}" update -qq >&2
  # Whatever trixie has now (a pinned version would vanish with its next point release); the
  # check below makes sure the headers are new enough.
  (cd "$root/debs" && apt-get "${apt_private[@]}" download -qq libvulkan-dev libvulkan1 >&2)
  for deb in "$root"/debs/*.deb; do dpkg -x "$deb" "$root/root"; done
  # The layout VULKAN_SDK and CMake's FindVulkan expect: include/ and lib/ side by side.
  mkdir -p "$sdk"
  ln -s ../root/usr/include "$sdk/include"
  ln -s ../root/usr/lib/x86_64-linux-gnu "$sdk/lib"
  dpkg-deb --field "$root"/debs/libvulkan-dev_*.deb Version >"$root/version"
  rm -rf "$root/apt"
fi
grep -q 'LayerSettingEXT' "$sdk/include/vulkan/vulkan_structs.hpp" \
  || { echo "setup-vulkan: $sdk has Vulkan headers without vk::LayerSettingEXT (too old for llama.cpp)" >&2; exit 1; }
echo "setup-vulkan: libvulkan-dev $(cat "$root/version") in $sdk" >&2
echo "$sdk"
