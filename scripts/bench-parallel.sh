#!/usr/bin/env bash
# Parts of a long document in parallel on an inference server: the ~50K-token synthetic document
# of scripts/bench-long.sh summarized through llama-server on loopback, first with 1 slot, then
# with 4 slots (-np 4, continuous batching), each slot with the same context, so both runs read
# the same parts: total time, model calls and coverage. ROUNDS rounds (default 3), the slot count
# that goes first alternating from round to round; each run and the medians are printed.
#
#   scripts/bench-parallel.sh [MODEL.gguf] [CONTEXT_PER_SLOT] [TOKENS] [ROUNDS]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model), 8192 tokens per slot, 50000
# tokens. llama-server is built by scripts/llama-cpp-tools.sh server (cached in .cache/).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
ctx=${2:-8192}
tokens=${3:-50000}
rounds=${4:-3}
if [[ $rounds -lt 3 ]]; then echo "ROUNDS must be 3 or more (medians)" >&2; exit 2; fi
source scripts/lib/bench.sh
if [[ -z $model ]]; then
  scripts/fetch-test-models.sh
  model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
fi
server=$(scripts/llama-cpp-tools.sh server)
dev=${XGEN_DEV_BIN:-${CARGO_TARGET_DIR:-target}/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
port=${XGEN_BENCH_PORT:-18431}
url=http://127.0.0.1:$port
log=$(mktemp)
runs=$(mktemp)
pid=
stop_server() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}
trap 'stop_server; rm -f "$log" "$runs"' EXIT

echo "== $model, $ctx tokens per slot, $(nproc) threads, ~$tokens-token document, $rounds rounds; CPU: $(bench_cpu)"
one_run() {
  local slots=$1
  "$server" -m "$model" --host 127.0.0.1 --port "$port" -t "$(nproc)" -np "$slots" \
    -c $((ctx * slots)) --no-warmup >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "$url/health" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  local figures
  figures=$("$dev" bench-summarize --json --server "$url" --tokens "$tokens" --max-tokens 128)
  stop_server
  echo "{\"slots\": $slots, \"load\": \"$(bench_load)\", \"run\": $figures}" >>"$runs"
  echo "-- llama-server -np $slots -c $((ctx * slots)): $figures" >&2
}
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then one_run 1; one_run 4; else one_run 4; one_run 1; fi
done
python3 - "$runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'slots':>5} {'total s (median)':>17} {'calls':>6} {'coverage':>9}   each run (load average)")
for slots in (1, 4):
    mine = [r for r in runs if r["slots"] == slots]
    total = statistics.median(r["run"]["total_secs"] for r in mine)
    last = mine[-1]["run"]
    print(f"{slots:>5} {total:>17.2f} {last['model_calls']:>6} {last['coverage_percent']:>8.0f}%   "
          + ", ".join(f"{r['run']['total_secs']:.1f} s ({r['load']})" for r in mine))
one = [r["run"]["total_secs"] for r in runs if r["slots"] == 1]
four = [r["run"]["total_secs"] for r in runs if r["slots"] == 4]
print(f"4 slots against 1: {statistics.median(a / b for a, b in zip(one, four)):.2f}x faster (median of the rounds)")
PY
