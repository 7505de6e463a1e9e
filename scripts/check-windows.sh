#!/usr/bin/env bash
# Compiles the workspace for Windows (x86_64-pc-windows-gnu) on Linux: every `cfg(windows)` branch
# (job objects and their memory limit for child processes, peak working set, hard links in
# the download cache, the data-directory lock, paths) goes through rustc and clippy against
# windows-sys, and llama.cpp through MinGW-w64's GCC. `cargo clippy` does not link: the
# product's Windows build is MSVC on CI's runner; this proves the Windows code compiles, free of
# lints, before that runner does.
#
#   scripts/check-windows.sh
#
# Installs the Rust target (rustup) and mingw-w64 (Debian) when missing; its own target
# directory (target/windows). About 10 minutes on two cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
[[ "$(uname -s)" == Linux ]] || { echo "check-windows: runs on Linux" >&2; exit 1; }
scripts/setup-deps.sh
target=x86_64-pc-windows-gnu
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1; then
  sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mingw-w64 >&2
fi
# The posix thread model: llama.cpp uses std::thread and std::mutex. MinGW-w64 10's headers
# (Debian 12) lack THREAD_POWER_THROTTLING_STATE, which ggml's CPU backend (C) uses when built
# for Windows 8 or later (to keep Windows 11 from parking its threads' cores), so the C files
# are compiled for the Windows 7 API level, which leaves that block out (MSVC's SDK on CI has
# it); the C++ files keep MinGW's default, Windows 10 (cpp-httplib needs it). The define goes
# through a small wrapper: llama-cpp-sys-2's CMake build does not pass CFLAGS on.
wrappers=$PWD/.cache/mingw-win7
mkdir -p "$wrappers"
printf '#!/bin/sh\nexec x86_64-w64-mingw32-gcc-posix -D_WIN32_WINNT=0x0601 "$@"\n' \
  >"$wrappers/x86_64-w64-mingw32-gcc"
chmod +x "$wrappers/x86_64-w64-mingw32-gcc"
export CC_x86_64_pc_windows_gnu=$wrappers/x86_64-w64-mingw32-gcc
export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++-posix
# bindgen's libclang, targeting Windows, needs the compiler's own headers (stdbool.h) and
# MinGW's C headers.
gcc_include=$(dirname "$(x86_64-w64-mingw32-gcc-posix -print-libgcc-file-name)")/include
export BINDGEN_EXTRA_CLANG_ARGS_x86_64_pc_windows_gnu="-I$gcc_include -I/usr/x86_64-w64-mingw32/include"
export CARGO_TARGET_DIR=$PWD/target/windows
# Lints as scripts/test.sh runs them on the Windows runner: a warning in Windows-only code
# fails there.
cargo clippy --target "$target" --workspace --all-targets -- -D warnings
echo "check-windows: passed in $(( $(date +%s) - started )) s" >&2
