#!/usr/bin/env bash
# Long documents on the real engine: a synthetic ~8K-token document read in one pass (prefill
# tok/s, time to first token, total) and a 50K-token one through map-reduce (total time, model
# calls, coverage). Greedy, summaries of at most 128 tokens.
#
#   scripts/bench-long.sh [MODEL.gguf] [extra xgen-desk flags, e.g. --threads 4]
#
# With no model, SmolLM2-135M-Instruct Q4_1 (the test model) at an 8192-token context.
# XGEN_DESK_BIN picks an already built binary; otherwise the dev build (optimized for the
# crate and llama.cpp, see Cargo.toml) is used, so no release build is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
[[ $# -gt 0 ]] && shift
if [[ -z $model ]]; then
  scripts/fetch-test-models.sh
  model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
fi
bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --workspace --quiet
# The developer commands live in the test kit (xgen-dev), not in the shipped binary.
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
"$dev" bench-summarize --model "$model" --ctx 8192 --tokens 7500,50000 --max-tokens 128 "$@"
