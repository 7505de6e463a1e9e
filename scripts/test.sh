#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages (Debian/Ubuntu), the test model, the
# OCR models and the real PDFs, llama-server (built once, cached), formatting and lints, every test, then on
# Linux the installer round trips of the binary the tests just built: the .deb (installed with
# dpkg, run, removed) and the AppImage (run without installing). On macOS and Windows CI's
# `package` job builds their installers; no Linux installer is tried.
#
#   scripts/test.sh [cargo test arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
os=$(xgen_os)
echo "test: $os" >&2
scripts/setup-deps.sh
scripts/fetch-test-models.sh
# The OCR models the build embeds (ocr-models/build.rs): PaddleOCR's ONNX files from the PyPI
# wheel rapidocr (27 MB, cached in .cache/wheels), before anything is built.
scripts/fetch-ocr-models.sh
# Real PDFs that ordinary tools wrote and that the reader once refused (Debian's pool and
# pypdf's sdist, 16 MB of downloads, cached in .cache/real-pdfs): tests/integration/real_pdfs.rs.
scripts/fetch-real-pdfs.sh
# llama-server for the remote-engine tests: built once from the llama.cpp of the
# llama-cpp-python sdist (the llama-cpp-sys-2 crate ships llama.cpp without the server's
# sources), cached in .cache/llama-server-*: about 13 CPU-minutes the first time.
xgen_run scripts/llama-cpp-tools.sh server >/dev/null
# Formatting and lints first: cheap (clippy reuses llama.cpp's build) and what review expects.
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
xgen_run cargo fmt --all --check
xgen_run cargo clippy --workspace --all-targets -- -D warnings
# The docs' links (the lint table denies broken ones); reuses clippy's checked dependencies.
xgen_run cargo doc --workspace --no-deps
# The output is kept, so that the failures can be printed again last: a log read from its end
# (CI shows the tail) then starts with what failed, not with the later test targets' output.
# All of it goes to stderr, where the other steps' output goes.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
xgen_run cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" >&2 || status=$?
if ((status != 0)); then
  echo "test: FAILED (exit $status); the failures again:" >&2
  awk '/^failures:$/ { on = 1 } on { print } /^test result:/ { on = 0 }' "$log" \
    | grep -Ev '^(llama|graph|sched|ggml|load)[a-z_]*[:(]' | tail -n 200 >&2
  exit "$status"
fi
if [[ "$os" == linux ]]; then
  # Package the binary the tests just built (target/debug, optimized here), so that no second
  # build of llama.cpp is needed.
  xgen_run scripts/package-deb-test.sh --profile dev --no-build
  xgen_run scripts/package-appimage-test.sh --profile dev --no-build
else
  echo "test: no Linux installer round trip on $os" >&2
fi
