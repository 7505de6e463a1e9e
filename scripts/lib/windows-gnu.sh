# The x86_64-pc-windows-gnu cross build on Linux (MinGW-w64), sourced by scripts/check-windows.sh
# and scripts/test-windows.sh so that both share one build in target/windows.
#
# `xgen_windows_toolchain` installs the Rust target and Debian's mingw-w64 when missing;
# `xgen_windows_env` exports what cargo, the cc crate, CMake and bindgen need.

xgen_windows_target=x86_64-pc-windows-gnu

xgen_windows_toolchain() {
  if ! rustup target list --installed | grep -qx "$xgen_windows_target"; then
    rustup target add "$xgen_windows_target" >&2
  fi
  if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1; then
    local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mingw-w64 >&2
  fi
}

xgen_windows_env() {
  local root=$PWD
  # The posix thread model: llama.cpp uses std::thread and std::mutex. MinGW-w64 10's headers
  # (Debian 12) lack THREAD_POWER_THROTTLING_STATE, which ggml's CPU backend (C) uses when built
  # for Windows 8 or later (to keep Windows 11 from parking its threads' cores), so the C files
  # are compiled for the Windows 7 API level, which leaves that block out (MSVC's SDK on CI has
  # it); the C++ files keep MinGW's default, Windows 10 (cpp-httplib needs it). The define goes
  # through a small wrapper: llama-cpp-sys-2's CMake build does not pass CFLAGS on.
  local wrappers=$root/.cache/mingw-win7
  mkdir -p "$wrappers"
  printf '#!/bin/sh\nexec x86_64-w64-mingw32-gcc-posix -D_WIN32_WINNT=0x0601 "$@"\n' \
    >"$wrappers/x86_64-w64-mingw32-gcc.tmp"
  chmod +x "$wrappers/x86_64-w64-mingw32-gcc.tmp"
  mv "$wrappers/x86_64-w64-mingw32-gcc.tmp" "$wrappers/x86_64-w64-mingw32-gcc"
  export CC_x86_64_pc_windows_gnu=$wrappers/x86_64-w64-mingw32-gcc
  export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++-posix
  # The linker of the same (posix) thread model as the C++ code (Debian's default
  # x86_64-w64-mingw32-gcc is the win32 one). The runtimes are linked in statically
  # (.cargo/config.toml).
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc-posix
  # bindgen's libclang, targeting Windows, needs the compiler's own headers (stdbool.h) and
  # MinGW's C headers.
  local gcc_include
  gcc_include=$(dirname "$(x86_64-w64-mingw32-gcc-posix -print-libgcc-file-name)")/include
  export BINDGEN_EXTRA_CLANG_ARGS_x86_64_pc_windows_gnu="-I$gcc_include -I/usr/x86_64-w64-mingw32/include"
  export CARGO_TARGET_DIR=$root/target/windows
}
