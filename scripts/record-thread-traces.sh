#!/usr/bin/env bash
# Records the step-time traces the thread policy's unit tests replay
# (src/engine/threads/traces/): every thread count in turn, step after step, on SmolLM2, through
# phases with busy loops that xgen-dev starts and stops:
#
#   tokens-quiet.txt      generation, nothing else running          (60 s)
#   tokens-busy.txt       generation, one busy loop                 (60 s)
#   tokens-appear.txt     generation, a busy loop appearing and going away twice (75 s)
#   batches-appear.txt    512-token batches, the same phases        (120 s)
#
# The unit tests replay two sets: `shared-machine/` (recorded while other builds kept a 2-core
# machine busy) and `quiet-machine/` (nothing else running; the traces say the load average they
# started at). Name the set to write, then `cargo test --lib engine::threads` replays it.
#
#   scripts/record-thread-traces.sh --out src/engine/threads/traces/quiet-machine [MODEL.gguf]
set -euo pipefail
cd "$(dirname "$0")/.."
out=; model=
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    *) model=$1; shift ;;
  esac
done
[[ -n $out ]] || { echo "usage: $0 --out DIR [MODEL.gguf]" >&2; exit 2; }
if [[ -z $model ]]; then
  scripts/fetch-test-models.sh
  model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
fi
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
mkdir -p "$out"
"$dev" record-threads -m "$model" --work tokens --phases quiet:60 --out "$out/tokens-quiet.txt"
"$dev" record-threads -m "$model" --work tokens --phases busy1:60 --out "$out/tokens-busy.txt"
"$dev" record-threads -m "$model" --work tokens \
  --phases quiet:15,busy1:15,quiet:15,busy1:15,quiet:15 --out "$out/tokens-appear.txt"
"$dev" record-threads -m "$model" --work batches \
  --phases quiet:30,busy1:30,quiet:30,busy1:30 --out "$out/batches-appear.txt"
wc -l "$out"/*.txt
