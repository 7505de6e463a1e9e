#!/usr/bin/env bash
# Engine speed against llama.cpp's own llama-bench, on the same GGUF and machine, in one run.
# Prints pp (prompt) and tg (generation) tok/s for both and the ratio engine / llama-bench.
#
#   scripts/bench.sh [--xgen] [--cpu-levels] [--reps N] [--rounds N] [MODEL.gguf ...]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model). --xgen adds an XGen-7B-shaped
# Q4_K_M GGUF (random weights, XGen's exact dimensions and vocabulary), generated on demand into
# .cache/bench (about 13.8 GB of F16 on the way, 4.2 GB kept). xgen-desk runs the build of
# llama.cpp's CPU code it chooses for this processor (its --version says which); llama-bench is
# built for this processor (native, AMX left out). --cpu-levels then runs each level this
# processor runs (XGEN_DESK_CPU=baseline, v3, avx512, avx512-vnni), one round of --level-reps
# (default 1) each beside llama-bench: on XGen-7B with 2 cores the baseline takes ~20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3; rounds=3; xgen=0; cpu_levels=0; level_reps=1; models=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --xgen) xgen=1; shift ;;
    --cpu-levels) cpu_levels=1; shift ;;
    --level-reps) level_reps=$2; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
scripts/setup-deps.sh
if [[ ${#models[@]} -eq 0 ]]; then
  scripts/fetch-test-models.sh
  models=(.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)
fi
tools=$(scripts/llama-cpp-tools.sh)
# XGEN_DESK_BIN picks an already built binary (its llama.cpp must be an optimized build).
bin=${XGEN_DESK_BIN:-target/release/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --release --quiet --bin xgen-desk
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
threads=$(python3 -c 'import os; print(len({l.split(":")[1].strip() for l in open("/proc/cpuinfo") if l.startswith("core id")} or {0}) * max(1, len({l.split(":")[1].strip() for l in open("/proc/cpuinfo") if l.startswith("physical id")})))' 2>/dev/null || nproc)
# This machine's speed drifts by several percent from minute to minute, so the two engines take
# turns: `rounds` alternating rounds of `reps` repetitions each, and the median per-round ratio.
echo "xgen-desk $("$bin" --version | sed -n 's/^CPU code: //p')"
for model in "${models[@]}"; do
  echo "== $model ($threads threads, $rounds rounds x $reps repetitions, alternating)"
  results=()
  for ((round = 1; round <= rounds; round++)); do
    results+=("$("$bin" bench --json -m "$model" -p 512 -n 128 -r "$reps" -t "$threads" --ctx 1024)")
    results+=("$("$tools/llama-bench" -m "$model" -p 512 -n 128 -r "$reps" -t "$threads" -o json 2>/dev/null)")
  done
  python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
rows = {"pp512": [], "tg128": []}
for ours, theirs in zip(runs[0::2], runs[1::2]):
    ref = {("pp" if r["n_gen"] == 0 else "tg"): r["avg_ts"] for r in theirs}
    rows["pp512"].append((ours["pp_tok_s"], ref["pp"]))
    rows["tg128"].append((ours["tg_tok_s"], ref["tg"]))
print(f"{'test':<7} {'xgen-desk tok/s':>16} {'llama-bench tok/s':>18} {'ratio (median)':>15}   per round")
for name, pairs in rows.items():
    a = statistics.median(p[0] for p in pairs); b = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    print(f"{name:<7} {a:>16.2f} {b:>18.2f} {ratio:>14.3f}x   " + " ".join(f"{p[0] / p[1]:.2f}" for p in pairs))
last = runs[-2]
build = runs[-1][0].get("build_commit", "?")
print(f"TTFT (pp512 + 1 token): {last['ttft_secs']:.3f} s; peak RSS {last['peak_rss_bytes'] / 2**20:.0f} MiB; llama-bench build {build}")
PY
  if [[ $cpu_levels -eq 1 ]]; then
    # Each build of the CPU code this processor runs (a level it lacks is refused by --version),
    # each beside a llama-bench run of the same length.
    levels=()
    for level in baseline v3 avx512 avx512-vnni; do
      XGEN_DESK_CPU=$level "$bin" --version >/dev/null 2>&1 && levels+=("$level")
    done
    echo "-- CPU levels: ${levels[*]} ($level_reps repetition(s) each, beside llama-bench)"
    results=()
    for level in "${levels[@]}"; do
      results+=("$(XGEN_DESK_CPU=$level "$bin" bench --json -m "$model" -p 512 -n 128 -r "$level_reps" -t "$threads" --ctx 1024)")
      results+=("$("$tools/llama-bench" -m "$model" -p 512 -n 128 -r "$level_reps" -t "$threads" -o json 2>/dev/null)")
    done
    python3 - "${results[@]}" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:]]
print(f"{'level':<12} {'pp512 tok/s':>12} {'vs llama-bench':>15} {'tg128 tok/s':>12} {'vs llama-bench':>15}")
for ours, theirs in zip(runs[0::2], runs[1::2]):
    ref = {("pp" if r["n_gen"] == 0 else "tg"): r["avg_ts"] for r in theirs}
    print(f"{ours['cpu_variant']:<12} {ours['pp_tok_s']:>12.2f} {ours['pp_tok_s'] / ref['pp']:>14.3f}x "
          f"{ours['tg_tok_s']:>12.2f} {ours['tg_tok_s'] / ref['tg']:>14.3f}x")
PY
  fi
done
