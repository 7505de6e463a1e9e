#!/usr/bin/env bash
# Weights-pipeline benchmarks, printed as figures:
#  1. quantizing an XGen-7B-shaped F16 GGUF (random weights, real dimensions, 13.8 GB, generated
#     on demand into .cache/bench) to Q4_K_M: time and peak RSS, xgen-desk vs llama-quantize;
#  2. converting a >= 2 GB XGen-shaped safetensors checkpoint, then the same as PyTorch .bin
#     shards, to F16 GGUF: time and peak RSS
#     (bounded: the converter streams tensor by tensor).
# Needs about 38 GB free in .cache/bench. XGEN_DESK_BIN picks an already built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
tools=$(scripts/llama-cpp-tools.sh)
bin=${XGEN_DESK_BIN:-target/release/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --release --quiet --bin xgen-desk
# The developer commands live in the test kit (xgen-dev), not in the shipped binary.
dev=${XGEN_DEV_BIN:-target/release/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --release --quiet --bin xgen-dev
threads=$(nproc)
dir=.cache/bench
mkdir -p "$dir"

# Runs a command under GNU time; prints "wall_seconds max_rss_kib".
measure() {
  local log; log=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$log" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$log" >&2; exit 1; }
  tail -n 1 "$log"; rm -f "$log"
}
gib() { python3 -c "print(f'{$1 / 2**20:.2f}')"; }

f16=$dir/xgen-7b-shaped.F16.gguf
if [[ ! -f $f16 ]]; then
  read -r secs _ < <(measure "$dev" make-xgen7b-shaped "$f16")
  echo "generated $f16 ($(du -h "$f16" | cut -f1)) in ${secs}s"
fi
read -r ours_s ours_kib < <(measure "$bin" quantize "$f16" "$dir/xgen-7b-shaped.Q4_K_M.gguf" --type q4_k_m -t "$threads")
read -r ref_s ref_kib < <(measure "$tools/llama-quantize" "$f16" "$dir/ref.Q4_K_M.gguf" Q4_K_M "$threads")
cmp -s "$dir/xgen-7b-shaped.Q4_K_M.gguf" "$dir/ref.Q4_K_M.gguf" && same="identical bytes" || same="different bytes"
echo "quantize XGen-7B-shaped F16 -> Q4_K_M, $threads threads ($same; $(du -h "$dir/ref.Q4_K_M.gguf" | cut -f1))"
printf '  %-15s %8ss  peak RSS %6s GiB\n' xgen-desk "$ours_s" "$(gib "$ours_kib")" llama-quantize "$ref_s" "$(gib "$ref_kib")"
python3 -c "print(f'  time ratio {$ours_s / $ref_s:.3f}x, RSS ratio {$ours_kib / $ref_kib:.3f}x')"
rm -f "$dir/ref.Q4_K_M.gguf"

ckpt=$dir/xgen-shaped-2.5g
if [[ ! -f $ckpt/config.json ]]; then
  "$dev" make-tiny-checkpoint "$ckpt" --hidden 2048 --intermediate 5504 --layers 8 --heads 16
fi
read -r conv_s conv_kib < <(measure "$bin" convert "$ckpt" "$dir/xgen-shaped-2.5g.F16.gguf")
echo "convert $(du -sh "$ckpt" | cut -f1) safetensors checkpoint -> F16 GGUF: ${conv_s}s, peak RSS $(gib "$conv_kib") GiB (mapped shard pages count towards RSS)"
rm -f "$dir/xgen-shaped-2.5g.F16.gguf"

# The same checkpoint as PyTorch .bin shards (torch's zip format, written without torch).
binckpt=$dir/xgen-shaped-2.5g-bin
[[ -f $binckpt/pytorch_model.bin.index.json ]] || python3 quantize/tests/suite/torch_bin.py "$ckpt" "$binckpt"
read -r bconv_s bconv_kib < <(measure "$bin" convert "$binckpt" "$dir/xgen-shaped-2.5g-bin.F16.gguf")
echo "convert $(du -sh "$binckpt" | cut -f1) PyTorch .bin checkpoint -> F16 GGUF: ${bconv_s}s, peak RSS $(gib "$bconv_kib") GiB"
rm -f "$dir/xgen-shaped-2.5g-bin.F16.gguf"
