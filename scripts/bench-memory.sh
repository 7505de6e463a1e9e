#!/usr/bin/env bash
# Peak RSS against the memory planner's estimate, one process per KV precision: the model is
# planned, loaded at the context, and FILL tokens are read.
#   [THREADS=N] scripts/bench-memory.sh [MODEL.gguf] [CTX] [FILL]
# Default: the XGen-7B-shaped Q4_K_M (generate it with `scripts/bench.sh --xgen`) at 8192.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/bench/xgen-7b-shaped.Q4_K_M.gguf}
ctx=${2:-8192}
fill=${3:-512}
bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --quiet --bin xgen-desk
# The developer commands live in the test kit (xgen-dev), not in the shipped binary.
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
printf '%-6s %12s %12s %7s %9s  %s\n' kv estimate peak_rss ratio load_s plan
for kv in f16 q8_0 q4_0; do
  "$dev" bench-memory -m "$model" --ctx "$ctx" --kv "$kv" --fill "$fill" -t "${THREADS:-$(nproc)}" |
    python3 -c '
import json, sys
f = json.loads(sys.stdin.read()); kv = sys.argv[1]
est, rss = f["estimate_bytes"], f["peak_rss_bytes"]
print(f"{kv:<6} {est / 2**30:9.2f} GiB {rss / 2**30:9.2f} GiB {est / rss:7.3f} {f[\"load_secs\"]:9.1f}  {f[\"plan\"]}")
' "$kv"
done
