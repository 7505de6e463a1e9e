#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, the test model, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/fetch-test-models.sh
cargo test --workspace --no-fail-fast "$@"
