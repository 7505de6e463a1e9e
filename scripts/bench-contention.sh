#!/usr/bin/env bash
# Speed on a busy computer. Another program is played by plain busy loops (`while :; do :;
# done` in child shells) that this script starts and stops; under each condition the engine
# (its default `auto` threads) and llama-bench (a thread per physical core, the settings the
# engine uses: see scripts/bench.sh) take turns, the first alternating from round to round:
#
#   quiet                 no busy loop
#   one core busy         one busy loop
#   half the cores busy   one busy loop per two physical cores (skipped where that is one)
#
# Then a real task: a one-pass summary of a synthetic ~4K-token document (greedy, at most 128
# tokens), quiet and with one core busy, alternating; and once with the threads fixed at one per
# core (`--threads N`, what every peer does) with one core busy, for comparison. Prints every
# figure with the load average, the CPU features of both builds, and the issue's targets:
# with one core busy the engine's generation at least 8x llama-bench's and its prompt reading at
# least 1.0x; quiet at least 0.97x on both; the busy summary at most 2x the quiet one.
#
#   scripts/bench-contention.sh [--rounds N] [--reps N] [--doc-tokens N] [--no-summary]
#                               [--reference level|native] [MODEL.gguf]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model). llama-bench is built for the CPU
# level the engine runs, or with -march=native (--reference: see scripts/bench.sh). Run it on an
# otherwise quiet machine: other programs' load is part of what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
rounds=3; reps=3; doc_tokens=4000; summary=1; model=; reference=level
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --doc-tokens) doc_tokens=$2; shift 2 ;;
    --no-summary) summary=0; shift ;;
    --reference) reference=$2; bench_reference_check "$2"; shift 2 ;;
    *) model=$1; shift ;;
  esac
done
if [[ $rounds -lt 3 ]]; then echo "--rounds must be 3 or more (medians)" >&2; exit 2; fi
scripts/setup-deps.sh
if [[ -z $model ]]; then
  scripts/fetch-test-models.sh
  model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
fi
bin=${XGEN_DESK_BIN:-target/release/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --release --quiet --bin xgen-desk
tools=$(bench_reference_tools "$bin" "$reference")
dev=${XGEN_DEV_BIN:-target/release/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --release --quiet --bin xgen-dev
work=$(mktemp -d)
trap 'busy_stop; rm -rf "$work"' EXIT

cores=$(bench_physical_cores)
echo "CPU: $(bench_cpu); $cores physical cores, $(nproc) logical"
echo "llama-bench build: $(llama_build_features "$tools")"
echo "model: $model; $rounds rounds x $reps repetitions per condition; load average $(bench_load)"
conditions=("quiet:0" "one core busy:1")
half=$((cores / 2))
if ((half > 1)); then
  conditions+=("half the cores busy:$half")
else
  echo "(half the cores busy is one busy core on this machine: the row above)"
fi
for condition in "${conditions[@]}"; do
  name=${condition%%:*}; loops=${condition##*:}
  echo
  echo "== $name ($loops busy loop(s)); load average $(bench_load)"
  busy_start "$loops"
  bench_rounds "$work/busy$loops.jsonl" "$model" "$rounds" "$reps" auto
  busy_stop
  python3 scripts/lib/bench_compare.py table "$work/busy$loops.jsonl"
done

if ((summary)); then
  echo
  echo "== one-pass summary of a ~$doc_tokens-token document (greedy, at most 128 tokens)"
  summarize() {
    "$dev" bench-summarize --json -m "$model" --tokens "$doc_tokens" --max-tokens 128 "$@"
  }
  for ((round = 1; round <= rounds; round++)); do
    # Odd rounds quiet first, even rounds busy first.
    for order in 0 1; do
      if (((round + order) % 2 == 1)); then
        summarize | sed "s/^/{\"condition\": \"quiet\", \"load\": \"$(bench_load)\", \"run\": /; s/\$/}/" >>"$work/summary.jsonl"
      else
        busy_start 1
        summarize | sed "s/^/{\"condition\": \"one core busy\", \"load\": \"$(bench_load)\", \"run\": /; s/\$/}/" >>"$work/summary.jsonl"
        busy_stop
      fi
    done
  done
  busy_start 1
  summarize --threads "$cores" | sed "s/^/{\"condition\": \"one core busy, --threads $cores fixed\", \"load\": \"$(bench_load)\", \"run\": /; s/\$/}/" >>"$work/summary.jsonl"
  busy_stop
fi

python3 - "$work" "$summary" <<'PY'
import json, os, statistics, subprocess, sys
work, summary = sys.argv[1], sys.argv[2] == "1"
def medians(name):
    out = subprocess.run([sys.executable, "scripts/lib/bench_compare.py", "medians", os.path.join(work, name)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)
quiet, busy = medians("busy0.jsonl"), medians("busy1.jsonl")
if summary:
    runs = [json.loads(l) for l in open(os.path.join(work, "summary.jsonl")) if l.strip()]
    print(f"{'condition':<34} {'total s':>8} {'TTFT s':>7} {'prefill tok/s':>14} {'gen tok/s':>10}   threads   load average")
    for r in runs:
        s = r["run"]
        print(f"{r['condition']:<34} {s['total_secs']:>8.2f} {s['ttft_secs']:>7.2f} {s['prefill_tok_per_sec']:>14.1f} "
              f"{s['generation_tok_per_sec']:>10.1f}   {'; '.join(s['threads'])}   {r['load']}")
    total = lambda c: statistics.median(r["run"]["total_secs"] for r in runs if r["condition"] == c)
    summary_ratio = total("one core busy") / total("quiet")
print()
print("targets (medians):")
def check(what, value, target, at_least=True):
    ok = value >= target if at_least else value <= target
    print(f"  {what:<58} {value:>7.2f}x  target {'>=' if at_least else '<='} {target}x  {'met' if ok else 'NOT MET'}")
check("one core busy: generation, engine / llama-bench", busy["tg128"]["ratio"], 8.0)
check("one core busy: prompt reading, engine / llama-bench", busy["pp512"]["ratio"], 1.0)
check("quiet: generation, engine / llama-bench", quiet["tg128"]["ratio"], 0.97)
check("quiet: prompt reading, engine / llama-bench", quiet["pp512"]["ratio"], 0.97)
if summary:
    check(f"summary: one core busy / quiet (total time)", summary_ratio, 2.0, at_least=False)
PY
echo "load average at the end: $(bench_load)"
