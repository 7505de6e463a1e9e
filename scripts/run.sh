#!/usr/bin/env bash
# Builds (release) and opens the desktop app; arguments are passed on (e.g. `summarize FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
# The OCR models are built into the binary (docs/ocr.md); without them scans are refused.
scripts/fetch-ocr-models.sh
cargo run --release --bin xgen-desk -- "$@"
