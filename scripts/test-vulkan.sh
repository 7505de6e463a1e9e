#!/usr/bin/env bash
# Builds xgen-desk with llama.cpp's Vulkan backend and runs the tests that need a Vulkan device
# (tests/integration/vulkan.rs) on Mesa's lavapipe, a Vulkan driver that runs on the CPU, so
# that the GPU code paths run for real on a machine without a GPU: the planner and
# `xgen-desk plan` see the device and its memory; SmolLM2 follows the CPU's greedy words with all
# layers, half the layers and no layer on the device; more layers than fit are refused with
# the numbers; without a Vulkan driver the model runs on the CPU and the app says so; drafts in
# auto mode leave the summary as plain decoding writes it on the device.
#
#   scripts/test-vulkan.sh [cargo test arguments...]
#
# The build has its own target directory (target/vulkan): the CPU build's llama.cpp stays as it
# is. A cold build compiles llama.cpp and its Vulkan shaders once; later runs only our crates.
# Debian/Ubuntu only (scripts/setup-vulkan.sh installs what the build needs); not part of
# scripts/test.sh: CI runs it as a job of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup-deps.sh
scripts/fetch-test-models.sh
sdk=$(scripts/setup-vulkan.sh)
export VULKAN_SDK=$sdk CMAKE_PREFIX_PATH=$sdk
export CARGO_TARGET_DIR=$PWD/target/vulkan
lavapipe=$(ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null | head -n 1)
[[ -n "$lavapipe" ]] || { echo "test-vulkan: no lavapipe driver (mesa-vulkan-drivers)" >&2; exit 1; }
export VK_ICD_FILENAMES=$lavapipe
cargo build --workspace --features xgen-desk/vulkan --bin xgen-desk
built=$(date +%s)
# ggml's Vulkan backend skips devices of type CPU unless asked for them by index: lavapipe is
# device 0 as the only driver, and the tests check that it is lavapipe they got. (Set for the
# tests only: llama-cpp-sys-2 passes GGML_* variables to CMake, so one set during the build
# would rebuild llama.cpp whenever it changes.)
GGML_VK_VISIBLE_DEVICES=0 cargo test --workspace --features xgen-desk/vulkan --test integration vulkan:: \
  -- --test-threads=1 --nocapture "$@"
echo "test-vulkan: passed: build $(( built - started )) s, tests $(( $(date +%s) - built )) s" >&2
