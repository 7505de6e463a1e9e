#!/usr/bin/env bash
# Compiles the workspace for Windows (x86_64-pc-windows-gnu) on Linux: every `cfg(windows)` branch
# (job objects and their memory limit for child processes, peak working set, hard links in
# the download cache, the data-directory lock, paths) goes through rustc and clippy against
# windows-sys, and llama.cpp through MinGW-w64's GCC. `cargo clippy` does not link: the
# product's Windows build is MSVC on CI's runner; this proves the Windows code compiles, free of
# lints, before that runner does.
#
#   scripts/check-windows.sh
#
# Installs the Rust target (rustup) and mingw-w64 (Debian) when missing; its own target
# directory (target/windows). About 10 minutes on two cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
[[ "$(uname -s)" == Linux ]] || { echo "check-windows: runs on Linux" >&2; exit 1; }
scripts/setup-deps.sh
source scripts/lib/windows-gnu.sh
xgen_windows_toolchain
xgen_windows_env
target=$xgen_windows_target
# Lints as scripts/test.sh runs them on the Windows runner: a warning in Windows-only code
# fails there.
cargo clippy --target "$target" --workspace --all-targets -- -D warnings
echo "check-windows: passed in $(( $(date +%s) - started )) s" >&2
