#!/usr/bin/env bash
# Portability vs speed of the CPU build: llama-bench (from the llama.cpp vendored in
# llama-cpp-python's sdist) built three ways — baseline x86-64 (SSE2), x86-64-v3 (AVX2, FMA,
# F16C, BMI2: what xgen-desk's release builds target) and native — on the same GGUF, in ROUNDS
# rounds (default 3) whose order rotates (each build goes first once in three), with medians.
#   scripts/bench-cpu-variants.sh [MODEL.gguf] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
native_bin=$(scripts/llama-cpp-tools.sh)
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
rounds=${2:-3}
if [[ $rounds -lt 3 ]]; then echo "ROUNDS must be 3 or more (medians)" >&2; exit 2; fi
source scripts/lib/bench.sh
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
echo "== $model, $(nproc) threads, $rounds rounds; CPU: $(bench_cpu); load average $(bench_load)"
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
variants=(x86-64 x86-64-v3 native)
for ((round = 0; round < rounds; round++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    variant=${variants[$(((i + round) % ${#variants[@]}))]}
    "${bins[$variant]}/llama-bench" -m "$model" -p 512 -n 128 -r 3 -t "$(nproc)" -o json 2>/dev/null |
      python3 -c "import json,sys; print(json.dumps({'variant': sys.argv[1], 'load': sys.argv[2], 'runs': json.load(sys.stdin)}))" \
        "$variant" "$(bench_load)" >>"$runs"
  done
done
python3 - "$runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'build':<10} {'pp512 t/s':>10} {'tg128 t/s':>10}   each round pp / tg")
for variant in ("x86-64", "x86-64-v3", "native"):
    mine = [r for r in runs if r["variant"] == variant]
    pp = [next(x["avg_ts"] for x in r["runs"] if x["n_gen"] == 0) for r in mine]
    tg = [next(x["avg_ts"] for x in r["runs"] if x["n_gen"] > 0) for r in mine]
    print(f"{variant:<10} {statistics.median(pp):>10.1f} {statistics.median(tg):>10.1f}   "
          + ", ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(pp, tg)))
print("load average per run: " + " | ".join(r["load"] for r in runs))
PY
