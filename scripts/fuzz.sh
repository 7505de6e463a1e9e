#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another. Two fuzz crates:
#   fuzz/         the document readers (DOCX, HTML, Markdown, text, chunker): light, builds fast;
#   fuzz/models/  GGUF reader, memory planner, PyTorch unpickler, checkpoint config: links
#                 llama.cpp, whose ASAN build takes long the first time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target starts from its saved corpus (<crate>/corpus/<target>/, kept small in git) and
# grows a working corpus in <crate>/work/<target>/ (not in git). A crash, a panic, an input
# slower than 10 s or one that needs more than 2 GiB is kept in <crate>/artifacts/<target>/;
# after the bug is fixed, keep that file there: the regular tests replay it
# (tests/integration/fuzz_replay.rs, quantize/tests/suite/fuzz_replay.rs, tests/integration/plan.rs).
# Needs a nightly toolchain; installs it and cargo-fuzz when they are missing.
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

# target -> crate directory
declare -A dir_of
for crate in fuzz fuzz/models; do
    while read -r target; do
        dir_of[$target]=$crate
    done < <(cargo +nightly fuzz list --fuzz-dir "$crate")
done

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=("${!dir_of[@]}")
fi

failed=()
for target in "${targets[@]}"; do
    crate=${dir_of[$target]:-}
    [[ -n $crate ]] || { echo "fuzz: no target $target" >&2; exit 2; }
    mkdir -p "$crate/work/$target" "$crate/corpus/$target" "$crate/artifacts/$target"
    echo "== $target ($crate): ${seconds} s"
    if ! cargo +nightly fuzz run --fuzz-dir "$crate" "$target" "$crate/work/$target" \
        "$crate/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found inputs that fail in: ${failed[*]} (see <crate>/artifacts/)" >&2
    exit 1
fi
echo "all targets ran ${seconds} s without a failure"
