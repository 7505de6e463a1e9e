#!/usr/bin/env bash
# Parts of a long document in parallel on an inference server: the ~50K-token synthetic document
# of scripts/bench-long.sh summarized through llama-server on loopback, first with 1 slot, then
# with 4 slots (-np 4, continuous batching), each slot with the same context, so both runs read
# the same parts: total time, model calls and coverage.
#
#   scripts/bench-parallel.sh [MODEL.gguf] [CONTEXT_PER_SLOT] [TOKENS]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model), 8192 tokens per slot, 50000
# tokens. llama-server is built by scripts/llama-cpp-tools.sh server (cached in .cache/).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
ctx=${2:-8192}
tokens=${3:-50000}
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
pid=
stop_server() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}
trap 'stop_server; rm -f "$log"' EXIT

echo "== $model, $ctx tokens per slot, $(nproc) threads, ~$tokens-token document"
for slots in 1 4; do
  "$server" -m "$model" --host 127.0.0.1 --port "$port" -t "$(nproc)" -np "$slots" \
    -c $((ctx * slots)) --no-warmup >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "$url/health" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "-- llama-server -np $slots -c $((ctx * slots))"
  "$dev" bench-summarize --server "$url" --tokens "$tokens" --max-tokens 128
  stop_server
done
