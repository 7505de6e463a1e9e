#!/usr/bin/env bash
# Runs every fuzz target (fuzz/Cargo.toml) for SECONDS each (default 60), one after another.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target starts from its saved corpus (fuzz/corpus/<target>/, kept small in git) and grows
# a working corpus in fuzz/work/<target>/ (not in git). A crash, a panic, an input slower than
# 10 s or one that needs more than 2 GiB is kept in fuzz/artifacts/<target>/; after the bug is
# fixed, keep that file there: the regular tests replay it (tests/integration/fuzz_replay.rs).
# Needs a nightly toolchain; installs cargo-fuzz when it is missing.
set -euo pipefail

seconds="${1:-60}"
shift || true
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/work/$target" "fuzz/corpus/$target" "fuzz/artifacts/$target"
    echo "== $target: ${seconds} s"
    if ! cargo +nightly fuzz run "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found inputs that fail in: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "all targets ran ${seconds} s without a failure"
