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
  # The linker: MinGW's GCC of the same (posix) thread model as the C++ code (Debian's default
  # x86_64-w64-mingw32-gcc is the win32 one), through a wrapper that links the C++ runtime and
  # OpenMP's runtime in: rustc passes llama-cpp-sys-2's `-lstdc++ -lgomp` after
  # `-Wl,-Bdynamic`, which `-static` (.cargo/config.toml) does not undo, and the .exe would
  # need libstdc++-6.dll and libgomp-1.dll beside it (the MSVC build needs no such DLL).
  local linker=$root/.cache/mingw-link/x86_64-w64-mingw32-gcc
  mkdir -p "${linker%/*}"
  cat >"$linker.tmp" <<'SH'
#!/usr/bin/env bash
args=()
for arg in "$@"; do
  case "$arg" in
    -lstdc++) args+=(-l:libstdc++.a) ;;
    -lgomp) args+=(-l:libgomp.a) ;;
    *) args+=("$arg") ;;
  esac
done
exec x86_64-w64-mingw32-gcc-posix "${args[@]}"
SH
  chmod +x "$linker.tmp"
  mv "$linker.tmp" "$linker"
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=$linker
  # ggml's libraries with the "lib" prefix llama-cpp-sys-2 looks for (see the file).
  export CMAKE_PROJECT_INCLUDE=$root/scripts/lib/mingw-lib-prefix.cmake
  # bindgen's libclang, targeting Windows, needs the compiler's own headers (stdbool.h) and
  # MinGW's C headers.
  local gcc_include
  gcc_include=$(dirname "$(x86_64-w64-mingw32-gcc-posix -print-libgcc-file-name)")/include
  export BINDGEN_EXTRA_CLANG_ARGS_x86_64_pc_windows_gnu="-I$gcc_include -I/usr/x86_64-w64-mingw32/include"
  export CARGO_TARGET_DIR=$root/target/windows
  # A llama.cpp configured before that include (by an older check-windows.sh) is configured
  # again: llama-cpp-sys-2 reconfigures only a build tree without a CMakeCache.txt, and cargo
  # runs its build script again only when the script's fingerprint is gone.
  # So is one whose DLLs need MinGW's runtime DLLs (linked before mingw-lib-prefix.cmake linked
  # them in).
  local out
  for out in "$CARGO_TARGET_DIR"/*/*/build/llama-cpp-sys-2-*/out; do
    local stale=0 dll
    [[ -f "$out/lib/ggml.a" && ! -f "$out/lib/libggml.a" ]] && stale=1
    for dll in "$out"/bin/*.dll; do
      [[ -f "$dll" ]] || continue
      x86_64-w64-mingw32-objdump -p "$dll" | grep -qiE 'DLL Name: (libgomp|libstdc|libgcc_s|libwinpthread)' && stale=1
    done
    if ((stale)); then
      local unit=${out%/out}
      rm -f "$out/build/CMakeCache.txt"
      rm -rf "${unit%/build/*}/.fingerprint/${unit##*/}"
    fi
  done
}

# A Wine prefix for the Windows build in $WINEPREFIX (default target/windows/wine), made when
# missing: 64-bit only (Debian's wine64 has no 32-bit half), without Mono and Gecko (their
# installers would ask to download), Wine's own messages off. Wine 8 lacks
# bcryptprimitives.dll, which every Rust program needs: a stand-in goes into its system32
# (scripts/lib/wine-bcryptprimitives.c).
xgen_wine_prefix() {
  local root=$PWD
  export WINEPREFIX=${WINEPREFIX:-$root/target/windows/wine} WINEARCH=win64 WINEDEBUG=-all
  export WINEDLLOVERRIDES="mscoree,mshtml="
  if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
    echo "wine: creating the prefix $WINEPREFIX" >&2
    # Wine makes the prefix's folder but not its parents (a fresh clone has no target/windows).
    mkdir -p "$WINEPREFIX"
    wineboot --init >/dev/null 2>&1 || true
    wineserver -w
    [[ -f "$WINEPREFIX/system.reg" ]] || { echo "wine: wineboot made no prefix in $WINEPREFIX" >&2; return 1; }
  fi
  local system32=$WINEPREFIX/drive_c/windows/system32
  if [[ ! -f "$system32/bcryptprimitives.dll" || "$root/scripts/lib/wine-bcryptprimitives.c" -nt "$system32/bcryptprimitives.dll" ]]; then
    local def
    def=$(mktemp --suffix=.def)
    printf 'LIBRARY bcryptprimitives\nEXPORTS\nProcessPrng\n' >"$def"
    x86_64-w64-mingw32-gcc -shared -O2 -Wall -o "$system32/bcryptprimitives.dll" \
      "$root/scripts/lib/wine-bcryptprimitives.c" "$def" -ladvapi32
    rm -f "$def"
  fi
}
