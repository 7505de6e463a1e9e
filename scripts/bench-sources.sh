#!/usr/bin/env bash
# Answers you can check (`sources`), on the real texts of tests/texts (their sources and licences
# in tests/texts/README.md):
#  1. evidence recall: questions about a 60K-token document (The Jargon File, entries A to C, as
#     pages of 3000 characters), each read with XGen's tokenizer and an 8K context less a
#     512-token reply; a hit when the passage that answers it (tests/texts/jargon-questions.tsv)
#     is among those read. Printed for the questions used while designing and those held out;
#  2. page accuracy: every 5th sentence of a document, as one bulleted reply, whose best source
#     is on its page;
#  3. changed claims: each figure, date and name of every 2nd sentence changed in turn, checked
#     alone: the share flagged; and the originals checked alone: the share falsely flagged;
#  4. alignment time: a 1K-token reply against 8K- and 60K-token documents (one thread; the
#     document is indexed once, its time printed beside).
# Targets (issue 19): recall >= 0.9, page accuracy >= 0.95, changed flagged >= 0.9 with
# faithful flagged <= 0.05, alignment under 200 ms at 8K and under 2 s at 60K tokens.
#
#   scripts/bench-sources.sh [--verbose] [--json] [--ctx N] [--reply-tokens N]
set -euo pipefail
cd "$(dirname "$0")/.."
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
"$dev" bench-sources "$@"
