#!/usr/bin/env bash
# Document state cache: an ~8K-token document read cold by SmolLM2 (its KV state saved to disk),
# then a follow-up question answered from the live KV cache and, in a fresh engine, from the
# on-disk state. Prints the JSON figures and the TTFT ratios (target: >= 20x faster than cold).
#   [THREADS=N] scripts/bench-doc-cache.sh [MODEL.gguf] [DOC_TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tokens=${2:-8000}
[[ -f $model ]] || scripts/fetch-test-models.sh
bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --quiet --bin xgen-desk
# The developer commands live in the test kit (xgen-dev), not in the shipped binary.
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$dev" bench-doc-cache -m "$model" --doc-tokens "$tokens" --cache-dir "$dir" \
  -t "${THREADS:-$(nproc)}" --kv f16 | tee "$dir/figures.json"
python3 - "$dir/figures.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
cold, live, disk = f["cold"], f["live_follow_up"], f["disk_follow_up"]
print(f"document + question: {f['prompt_tokens']} tokens; cold prefill "
      f"{cold['prompt_evaluated'] / cold['prefill_secs']:.1f} tok/s, TTFT {cold['ttft_secs']:.2f} s, "
      f"total {f['cold_total_secs']:.2f} s")
for name, t in (("live cache", live), ("disk state", disk)):
    print(f"follow-up from {name}: TTFT {t['ttft_secs']:.3f} s ({t['prompt_evaluated']} tokens read, "
          f"{t['prompt_restored']} restored in {t.get('restore_secs', 0):.3f} s) -> "
          f"{cold['ttft_secs'] / t['ttft_secs']:.0f}x faster than cold")
print(f"state on disk: {f['state_bytes'] / 2**20:.0f} MiB; model reload {f['reload_secs']:.2f} s")
PY
