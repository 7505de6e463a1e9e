#!/usr/bin/env bash
# What the four builds of llama.cpp's CPU code cost to build and to ship: configures llama.cpp's
# CMake as cpu/build.rs does (the llama.cpp llama-cpp-sys-2 vendors, GGML_CPU_ALL_VARIANTS,
# Release) in a scratch folder, builds ggml-base and then each module alone, one compiler job at
# a time, and prints the CPU seconds (user + system) and the wall time of each step and each
# module's size. The CPU seconds are what a cold `scripts/test.sh` pays on top of the one
# llama.cpp build it had before (ggml-base again, and three modules more than the one CPU
# backend llama.cpp used to carry); divide by the build machine's cores for the wall time.
#
#   scripts/bench-cpu-build.sh [VARIANT ...]    (default: sse42 haswell skylakex cascadelake)
set -euo pipefail
cd "$(dirname "$0")/.."
variants=("$@")
((${#variants[@]})) || variants=(sse42 haswell skylakex cascadelake)
manifest=$(cargo metadata --format-version 1 --locked --offline 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(next(p["manifest_path"] for p in m["packages"] if p["name"] == "llama-cpp-sys-2"))')
src=$(dirname "$manifest")/llama.cpp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# LABEL COMMAND...: runs it quietly, prints its CPU seconds (user + system) and wall seconds.
timed() {
  local label=$1 user sys wall
  shift
  /usr/bin/time -o "$work/time" -f '%U %S %e' "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  read -r user sys wall <"$work/time"
  awk -v l="$label" -v u="$user" -v s="$sys" -v w="$wall" \
    'BEGIN { printf "%-22s %7.0f CPU-s %7.0f s wall\n", l, u + s, w }'
}
echo "llama.cpp: $src; load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
timed configure cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_CURL=OFF
timed ggml-base cmake --build "$work/build" --target ggml-base -j 1
for variant in "${variants[@]}"; do
  timed "ggml-cpu-$variant" cmake --build "$work/build" --target "ggml-cpu-$variant" -j 1
  printf '%-22s %8s\n' "  size" "$(du -h "$work/build/bin/libggml-cpu-$variant.so" | cut -f1)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
