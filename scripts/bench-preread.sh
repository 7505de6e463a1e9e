#!/usr/bin/env bash
# Reading ahead: the time to the first word of a summary of an ~8K-token document when Summarize
# is clicked 10 s and 30 s after the document arrived and once reading ahead finished, against a
# cold read (no reading ahead). Each click runs on a fresh engine with an empty state cache.
# Prints the table, the JSON figures and each TTFT as a fraction of the cold one (target: the
# click after reading finished within 1/20 of cold).
#
#   scripts/bench-preread.sh [--xgen] [MODEL.gguf] [DOC_TOKENS] [CLICKS] [extra xgen-dev flags]
#
# Default: SmolLM2-135M-Instruct Q4_1 (the test model), 7500 tokens, clicks cold,10,30,finished.
# --xgen: the XGen-7B-shaped Q4_K_M (random weights, XGen's dimensions and vocabulary), made in
# .cache/bench on demand (13.8 GB F16 on the way, deleted once quantized). Threads: one per
# physical core (the engine's default). XGEN_DEV_BIN / XGEN_DESK_BIN pick built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
xgen=0
[[ ${1:-} == --xgen ]] && { xgen=1; shift; }
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
if [[ $xgen -eq 1 ]]; then
  model=.cache/bench/xgen-7b-shaped.Q4_K_M.gguf
  if [[ ! -f $model ]]; then
    bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
    [[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-desk
    mkdir -p .cache/bench
    "$dev" make-xgen7b-shaped .cache/bench/xgen-7b-shaped.F16.gguf
    "$bin" quantize .cache/bench/xgen-7b-shaped.F16.gguf "$model" --type q4_k_m
    rm -f .cache/bench/xgen-7b-shaped.F16.gguf
  fi
else
  model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
  [[ $# -gt 0 ]] && shift
  [[ -f $model ]] || scripts/fetch-test-models.sh
fi
tokens=${1:-7500}
[[ $# -gt 0 ]] && shift
clicks=${1:-cold,10,30,finished}
[[ $# -gt 0 ]] && shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "load: $(uptime | sed 's/.*load average/load average/')"
"$dev" bench-preread -m "$model" --doc-tokens "$tokens" --clicks "$clicks" \
  --cache-dir "$dir/cache" "$@" | tee "$dir/out.txt"
tail -n 1 "$dir/out.txt" > "$dir/figures.json"
python3 - "$dir/figures.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
print(f"{f['model']}: {f['document_tokens']}-token document, context {f['n_ctx']}, "
      f"{f['threads']} threads, batch {f['n_batch']}; {f.get('plan') or 'no plan'}")
runs = {r["click"]: r for r in f["runs"]}
cold = runs.get("cold")
for r in f["runs"]:
    line = (f"  {r['click']:<9} read ahead {r['read_at_click']:>5}/{r['document_prefix_tokens']} tokens "
            f"in {r['read_ahead_secs']:6.1f} s; TTFT {r['ttft_secs']:8.3f} s "
            f"(waited {r['wait_secs']:.3f} s for the batch under way, read {r['prompt_evaluated']} tokens)")
    if cold and r is not cold:
        line += f" = 1/{cold['ttft_secs'] / r['ttft_secs']:.1f} of cold"
    print(line)
fin = runs.get("finished")
if cold and fin:
    ok = fin["ttft_secs"] * 20 <= cold["ttft_secs"]
    print(f"target (finished within 1/20 of cold): {'met' if ok else 'NOT met'} "
          f"({cold['ttft_secs'] / fin['ttft_secs']:.1f}x faster)")
PY
