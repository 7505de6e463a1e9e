#!/usr/bin/env bash
# Weights-pipeline benchmarks, printed as figures:
#  1. quantizing an XGen-7B-shaped F16 GGUF (random weights, real dimensions, 13.8 GB, generated
#     on demand into .cache/bench) to Q4_K_M: time and peak RSS, xgen-desk vs llama-quantize,
#     taking turns (the one that goes first alternating from round to round), medians;
#  2. converting a >= 2 GB XGen-shaped safetensors checkpoint, then the same as PyTorch .bin
#     shards, to F16 GGUF: time and peak RSS of each run and their medians
#     (bounded: the converter streams tensor by tensor).
# Needs about 38 GB free in .cache/bench. XGEN_DESK_BIN picks an already built binary.
#
#   scripts/bench-quantize.sh [--rounds N]      (default 3; each quantization takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
rounds=3
if [[ ${1:-} == --rounds ]]; then rounds=$2; fi
if [[ $rounds -lt 3 ]]; then echo "--rounds must be 3 or more (medians)" >&2; exit 2; fi
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
# The median of the numbers given.
median() { python3 -c 'import statistics, sys; print(statistics.median(float(a) for a in sys.argv[1:]))' "$@"; }
echo "CPU: $(bench_cpu); load average $(bench_load)"

f16=$dir/xgen-7b-shaped.F16.gguf
if [[ ! -f $f16 ]]; then
  read -r secs _ < <(measure "$dev" make-xgen7b-shaped "$f16")
  echo "generated $f16 ($(du -h "$f16" | cut -f1)) in ${secs}s"
fi
ours_s=(); ours_kib=(); ref_s=(); ref_kib=()
quantize_ours() { measure "$bin" quantize "$f16" "$dir/xgen-7b-shaped.Q4_K_M.gguf" --type q4_k_m -t "$threads"; }
quantize_ref() { measure "$tools/llama-quantize" "$f16" "$dir/ref.Q4_K_M.gguf" Q4_K_M "$threads"; }
echo "quantize XGen-7B-shaped F16 -> Q4_K_M, $threads threads, $rounds rounds (odd: xgen-desk first)"
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then
    read -r s kib < <(quantize_ours); ours_s+=("$s"); ours_kib+=("$kib")
    read -r s kib < <(quantize_ref); ref_s+=("$s"); ref_kib+=("$kib")
  else
    read -r s kib < <(quantize_ref); ref_s+=("$s"); ref_kib+=("$kib")
    read -r s kib < <(quantize_ours); ours_s+=("$s"); ours_kib+=("$kib")
  fi
  printf '  round %d: xgen-desk %8ss %6s GiB   llama-quantize %8ss %6s GiB   (load average %s)\n' "$round" \
    "${ours_s[-1]}" "$(gib "${ours_kib[-1]}")" "${ref_s[-1]}" "$(gib "${ref_kib[-1]}")" "$(bench_load)"
done
cmp -s "$dir/xgen-7b-shaped.Q4_K_M.gguf" "$dir/ref.Q4_K_M.gguf" && same="identical bytes" || same="different bytes"
echo "  output: $same; $(du -h "$dir/ref.Q4_K_M.gguf" | cut -f1)"
printf '  %-15s median %8ss  peak RSS %6s GiB\n' xgen-desk "$(median "${ours_s[@]}")" "$(gib "$(median "${ours_kib[@]}")")" \
  llama-quantize "$(median "${ref_s[@]}")" "$(gib "$(median "${ref_kib[@]}")")"
python3 - "${#ours_s[@]}" "${ours_s[@]}" "${ref_s[@]}" "${ours_kib[@]}" "${ref_kib[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1]); v = [float(a) for a in sys.argv[2:]]
ours_s, ref_s, ours_kib, ref_kib = v[:n], v[n:2 * n], v[2 * n:3 * n], v[3 * n:]
time = statistics.median(a / b for a, b in zip(ours_s, ref_s))
rss = statistics.median(a / b for a, b in zip(ours_kib, ref_kib))
print(f"  time ratio {time:.2f}x, RSS ratio {rss:.2f}x (medians of the rounds' ratios)")
PY
rm -f "$dir/ref.Q4_K_M.gguf"

ckpt=$dir/xgen-shaped-2.5g
if [[ ! -f $ckpt/config.json ]]; then
  "$dev" make-tiny-checkpoint "$ckpt" --hidden 2048 --intermediate 5504 --layers 8 --heads 16
fi
# Converts the checkpoint in $1 `rounds` times; prints each run and the medians.
convert_runs() {
  local ckpt=$1 what=$2 secs=() kibs=() s kib
  for ((round = 1; round <= rounds; round++)); do
    read -r s kib < <(measure "$bin" convert "$ckpt" "$dir/converted.F16.gguf")
    secs+=("$s"); kibs+=("$kib")
    rm -f "$dir/converted.F16.gguf"
  done
  echo "convert $(du -sh "$ckpt" | cut -f1) $what -> F16 GGUF: median ${secs[*]:+$(median "${secs[@]}")}s, peak RSS $(gib "$(median "${kibs[@]}")") GiB (runs: ${secs[*]} s; load average $(bench_load))"
}
convert_runs "$ckpt" "safetensors checkpoint (mapped shard pages count towards RSS)"

# The same checkpoint as PyTorch .bin shards (torch's zip format, written without torch).
binckpt=$dir/xgen-shaped-2.5g-bin
[[ -f $binckpt/pytorch_model.bin.index.json ]] || python3 quantize/tests/suite/torch_bin.py "$ckpt" "$binckpt"
convert_runs "$binckpt" "PyTorch .bin checkpoint"
