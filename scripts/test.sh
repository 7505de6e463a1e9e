#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, the test model, llama-server, every
# test, then the .deb installer round trip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/fetch-test-models.sh
# llama-server for the remote-engine tests (built once from the llama-cpp-python sdist, cached).
scripts/llama-cpp-tools.sh server >/dev/null
cargo test --workspace --no-fail-fast "$@"
# The Linux installer: package the binary the tests just built, install it with dpkg, run it
# (window under Xvfb, --version, a CLI summary), uninstall.
scripts/package-deb-test.sh --profile dev --no-build
