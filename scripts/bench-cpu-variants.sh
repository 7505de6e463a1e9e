#!/usr/bin/env bash
# Portability vs speed of the CPU build: llama-bench (from the llama.cpp vendored in
# llama-cpp-python's sdist) built three ways — baseline x86-64 (SSE2), x86-64-v3 (AVX2, FMA,
# F16C, BMI2: what xgen-desk's release builds target) and native — on the same GGUF.
#   scripts/bench-cpu-variants.sh [MODEL.gguf]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
native_bin=$(scripts/llama-cpp-tools.sh)
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
[[ -f $model ]] || scripts/fetch-test-models.sh
src=$(dirname "$(dirname "$native_bin")").src/vendor/llama.cpp
off="-DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF -DGGML_SSE42=OFF -DGGML_AVX_VNNI=OFF"
v3="-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_SSE42=ON"
declare -A flags=([x86-64]="$off" [x86-64-v3]="$v3")
declare -A bins=([native]="$native_bin")
for variant in x86-64 x86-64-v3; do
  build=.cache/llama-bench-$variant
  if [[ ! -x $build/bin/llama-bench ]]; then
    # shellcheck disable=SC2086
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF ${flags[$variant]} \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
    cmake --build "$build" -j "$(nproc)" --target llama-bench >/dev/null
  fi
  bins[$variant]=$build/bin
done
echo "== $model, $(nproc) threads"
printf '%-10s %12s %12s\n' build pp512 tg128
for variant in x86-64 x86-64-v3 native; do
  "${bins[$variant]}/llama-bench" -m "$model" -p 512 -n 128 -r 3 -t "$(nproc)" -o json 2>/dev/null |
    python3 -c "import json,sys; r=json.load(sys.stdin); print(f'{sys.argv[1]:<10} ' + ' '.join(f'{x[\"avg_ts\"]:>9.1f} t/s' for x in r))" "$variant"
done
