#!/usr/bin/env bash
# Builds llama.cpp's own tools from the llama.cpp vendored in the PyPI sdist of
# llama-cpp-python (fetched once into .cache/sdist, then used offline). The llama-cpp-sys-2
# crate xgen-desk links ships llama.cpp without the tools' sources, so this is the nearest
# packaged llama.cpp that has them.
#
#   scripts/llama-cpp-tools.sh [bench [LEVEL]]
#                                        llama-bench and llama-quantize, for side-by-side
#                                        benchmarks; prints the directory holding them. LEVEL:
#                                        native (the default: every CPU feature of this machine,
#                                        AMX left out, and the compiler's tuning for it), or one
#                                        of xgen-desk's x86-64 levels (baseline, v3, avx512,
#                                        avx512-vnni): built with exactly the instruction sets of
#                                        llama.cpp's CPU build of that level (sse42, haswell,
#                                        skylakex, cascadelake), the code xgen-desk runs there and
#                                        llama.cpp's own releases ship
#   scripts/llama-cpp-tools.sh server    llama-server alone (Release, x86-64-v3 on x86-64: one of
#                                        xgen-desk's CPU levels, portable), for the tests and
#                                        benchmarks of the remote engine; prints the binary's path
#                                        (.cache/llama-server-VERSION/bin/llama-server, .exe on
#                                        Windows)
#
# Each build is cached under .cache/ and reused while its binaries exist. With
# XGEN_DESK_DRY_RUN=1 the download and build commands are printed, not run (scripts/lib/os.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
what=${1:-bench}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
root=.cache/llama-cpp-python-$version
src=$root.src/vendor/llama.cpp
exe=
[[ $(xgen_os) == windows ]] && exe=.exe
jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

extract() {
  [[ -f $src/CMakeLists.txt && -f $src/tools/server/CMakeLists.txt ]] && return
  mkdir -p .cache/sdist
  if ! ls .cache/sdist/llama_cpp_python-"$version".tar.gz >/dev/null 2>&1; then
    xgen_run "$(xgen_python)" -m pip download --quiet --no-deps --no-binary=:all: \
      -d .cache/sdist "llama-cpp-python==$version" >&2
  fi
  xgen_run rm -rf "$root.src"
  xgen_run mkdir -p "$root.src"
  xgen_run tar -xzf .cache/sdist/llama_cpp_python-"$version".tar.gz -C "$root.src" \
    --strip-components=1
}

common_flags=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF)

# The binary `name` built under `build`: bin/ with one-configuration generators (Make, Ninja),
# bin/Release/ with Visual Studio's; copied to bin/ so that callers find it in one place.
place() {
  local build=$1 name=$2
  if [[ ! -f $build/bin/$name$exe && -f $build/bin/Release/$name$exe ]]; then
    xgen_run cp "$build/bin/Release/$name$exe" "$build/bin/$name$exe"
  fi
}

case $what in
  bench)
    level=${2:-native}
    case $level in
      native)
        # Every extension this processor has, except AMX where it has it. llama.cpp's AMX
        # matrix products crashed at the first Q4_K product on a machine that reported AMX (see
        # cpu/src/amx.rs); xgen-desk ships no AMX build either, so the reference leaves it out.
        build=$root/build
        cpu=(-DGGML_NATIVE=ON)
        if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
          build=$root/build-noamx
          cpu+=("-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
            "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
        fi
        ;;
      baseline | v3 | avx512 | avx512-vnni)
        if [[ $(uname -m) != x86_64 ]]; then
          echo "CPU level $level is x86-64's; this machine is $(uname -m): use native" >&2
          exit 2
        fi
        # The instruction sets of llama.cpp's CPU build of the level (ggml/src/CMakeLists.txt,
        # GGML_CPU_ALL_VARIANTS: sse42, haswell, skylakex, cascadelake), each switch set
        # explicitly: with GGML_NATIVE off, llama.cpp turns the AVX2 generation on by default.
        build=$root/build-$level
        on=(SSE42)
        [[ $level != baseline ]] && on+=(AVX F16C FMA AVX2 BMI2)
        [[ $level == avx512* ]] && on+=(AVX512)
        [[ $level == avx512-vnni ]] && on+=(AVX512_VNNI)
        cpu=(-DGGML_NATIVE=OFF)
        for switch in SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 \
          AVX_VNNI AMX_TILE AMX_INT8 AMX_BF16; do
          value=OFF
          [[ " ${on[*]} " == *" $switch "* ]] && value=ON
          cpu+=("-DGGML_$switch=$value")
        done
        ;;
      *)
        echo "usage: $0 bench [native|baseline|v3|avx512|avx512-vnni]" >&2
        exit 2
        ;;
    esac
    bin=$build/bin
    # (A dry run shows the build even where one is cached.)
    if [[ ${XGEN_DESK_DRY_RUN:-} != 1 && -x $bin/llama-bench$exe && -x $bin/llama-quantize$exe ]]; then
      echo "$bin"
      exit 0
    fi
    extract
    xgen_run cmake -S "$src" -B "$build" "${common_flags[@]}" "${cpu[@]}" \
      -DLLAMA_BUILD_SERVER=OFF >&2
    xgen_run cmake --build "$build" --config Release -j "$jobs" \
      --target llama-bench llama-quantize >&2
    place "$build" llama-bench
    place "$build" llama-quantize
    echo "$bin"
    ;;
  server)
    build=.cache/llama-server-$version
    server=$build/bin/llama-server$exe
    if [[ -x $server ]]; then echo "$server"; exit 0; fi
    extract
    cpu=(-DGGML_NATIVE=ON)
    if [[ $(uname -m) == x86_64 ]]; then
      # xgen-desk's `v3` level (AVX2, FMA, F16C, BMI2): the same binary runs on every machine
      # the tests run on, so a cached build can move between them.
      cpu=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
        -DGGML_BMI2=ON -DGGML_SSE42=ON)
    fi
    # No web UI (it would be fetched from the network); the HTTP API is all the tests use.
    xgen_run cmake -S "$src" -B "$build" "${common_flags[@]}" "${cpu[@]}" -DLLAMA_BUILD_SERVER=ON \
      -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >&2
    xgen_run cmake --build "$build" --config Release -j "$jobs" --target llama-server >&2
    place "$build" llama-server
    echo "$server"
    ;;
  *)
    echo "usage: $0 [bench [LEVEL]|server]" >&2
    exit 2
    ;;
esac
