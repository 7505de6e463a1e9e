#!/usr/bin/env bash
# Engine speed against llama.cpp's own llama-bench, fairly: the same GGUF and machine, and
# llama-bench run with the settings the engine uses (the memory planner's KV cache precision,
# flash attention and memory mapping, the same batch, a context of the same size, a thread per
# physical core, which is also the most the engine's `auto` threads use). The two programs take
# turns, the one that goes first alternating from round to round, and every figure is a median
# over the rounds. Prints pp (prompt) and tg (generation) tok/s for both, the ratio engine /
# llama-bench per round, the threads the engine ran with, the CPU features of both builds and
# the load average before and after.
#
#   scripts/bench.sh [--xgen] [--cpu-levels] [--reps N] [--rounds N] [--threads auto|N]
#                    [--reference level|native] [MODEL.gguf ...]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model). --xgen adds an XGen-7B-shaped
# Q4_K_M GGUF (random weights, XGen's exact dimensions and vocabulary), generated on demand into
# .cache/bench (about 13.8 GB of F16 on the way, 4.2 GB kept). --threads sets the engine's
# threads (default auto, as the app and the CLI run); llama-bench always gets one per core.
# xgen-desk runs the build of llama.cpp's CPU code it chooses for this processor (its --version
# says which). --cpu-levels then runs each level this processor runs (XGEN_DESK_CPU=baseline,
# v3, avx512, avx512-vnni) the same way, beside llama-bench: on XGen-7B with 2 cores the
# baseline takes a long time (about 20 minutes a round).
#
# llama-bench is built from the llama.cpp of the llama-cpp-python sdist (scripts/llama-cpp-tools.sh)
# for the CPU level xgen-desk chose (--reference level, the default): the instruction sets of
# llama.cpp's own CPU build of that level, which is what xgen-desk runs and what llama.cpp's
# releases ship; on a machine of the best level xgen-desk has, that is the best build for it.
# --reference native builds it with -march=native instead: the same instruction sets on an AVX2
# machine without AVX-512, plus the compiler's tuning for this exact processor, which no
# portable build has (docs/cpu.md measures the difference).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
reps=3; rounds=3; xgen=0; cpu_levels=0; models=(); engine_threads=auto; reference=level
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) engine_threads=$2; shift 2 ;;
    --xgen) xgen=1; shift ;;
    --cpu-levels) cpu_levels=1; shift ;;
    --reference) reference=$2; bench_reference_check "$2"; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
if [[ $rounds -lt 3 ]]; then echo "--rounds must be 3 or more (medians)" >&2; exit 2; fi
scripts/setup-deps.sh
if [[ ${#models[@]} -eq 0 ]]; then
  scripts/fetch-test-models.sh
  models=(.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)
fi
# XGEN_DESK_BIN picks an already built binary (its llama.cpp must be an optimized build).
bin=${XGEN_DESK_BIN:-target/release/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --release --quiet --bin xgen-desk
tools=$(bench_reference_tools "$bin" "$reference")
# The developer commands live in the test kit (xgen-dev), not in the shipped binary.
dev=${XGEN_DEV_BIN:-target/release/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --release --quiet --bin xgen-dev
if [[ $xgen -eq 1 ]]; then
  q4=.cache/bench/xgen-7b-shaped.Q4_K_M.gguf
  if [[ ! -f $q4 ]]; then
    mkdir -p .cache/bench
    "$dev" make-xgen7b-shaped .cache/bench/xgen-7b-shaped.F16.gguf
    "$bin" quantize .cache/bench/xgen-7b-shaped.F16.gguf "$q4" --type q4_k_m
    rm -f .cache/bench/xgen-7b-shaped.F16.gguf
  fi
  models+=("$q4")
fi
echo "CPU: $(bench_cpu); $(bench_physical_cores) physical cores"
echo "xgen-desk $("$bin" --version | tail -n 1)"
echo "llama-bench build: $(llama_build_features "$tools")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in "${models[@]}"; do
  echo "== $model: $rounds rounds x $reps repetitions, alternating; load average $(bench_load)"
  out=$work/$(basename "$model").jsonl
  bench_rounds "$out" "$model" "$rounds" "$reps" "$engine_threads"
  python3 scripts/lib/bench_compare.py table "$out"
  if [[ $cpu_levels -eq 1 ]]; then
    for level in baseline v3 avx512 avx512-vnni; do
      # A level this processor lacks is refused before anything runs.
      if ! XGEN_DESK_CPU=$level "$bin" --version >/dev/null 2>&1; then
        echo "-- CPU level $level: not run (this processor lacks it)"
        continue
      fi
      echo "-- CPU level $level (XGEN_DESK_CPU=$level); load average $(bench_load)"
      out=$work/$(basename "$model").$level.jsonl
      XGEN_DESK_CPU=$level bench_rounds "$out" "$model" "$rounds" "$reps" "$engine_threads"
      python3 scripts/lib/bench_compare.py table "$out"
    done
  fi
done
