#!/usr/bin/env bash
# Proves that `--features cuda` compiles without a GPU or an installed CUDA toolkit: the CUDA 13
# compiler, runtime and headers come from NVIDIA's PyPI wheels (nvidia-cuda-nvcc, nvidia-nvvm,
# nvidia-cuda-crt, nvidia-cuda-runtime, nvidia-cuda-cccl; cuBLAS headers from nvidia-cublas),
# unpacked into .cache/cuda, then `cargo check --features cuda` compiles all of llama.cpp's
# CUDA kernels for one GPU architecture in its own target directory (target/cuda).
#
#   scripts/check-cuda.sh [--arch 89]
#
# `cargo check` runs llama.cpp's CMake build in full (every .cu file through nvcc) but does not
# link the final binary: the wheels have no static cuBLAS, which that link needs. VMM (the CUDA
# driver API's virtual memory) is off (GGML_CUDA_NO_VMM), as the driver library is not in the
# wheels either. Takes tens of minutes on two cores; not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

arch=89
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "check-cuda: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] \
  || { echo "check-cuda: the CUDA wheels used here are for Linux x86-64" >&2; exit 1; }
scripts/setup-deps.sh

cuda_version=13.2.86
cublas_version=13.3.0.5
cache=$PWD/.cache/cuda
toolkit=$cache/root/nvidia/cu13
if [[ "$(cat "$cache/version" 2>/dev/null)" != "$cuda_version $cublas_version" || ! -x "$toolkit/bin/nvcc" ]]; then
  echo "check-cuda: fetching the CUDA $cuda_version wheels into $cache" >&2
  rm -rf "$cache/root" "$cache/wheels"
  mkdir -p "$cache/wheels" "$cache/root"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$cache/wheels" \
    "nvidia-cuda-nvcc==$cuda_version" "nvidia-nvvm==$cuda_version" "nvidia-cuda-crt==$cuda_version" \
    "nvidia-cuda-runtime==$cuda_version" "nvidia-cuda-cccl==$cuda_version" "nvidia-cublas==$cublas_version"
  python3 - "$cache/wheels" "$cache/root" <<'PY'
import pathlib, sys, zipfile
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if not info.filename.startswith("nvidia/"):
                continue
            target = pathlib.Path(sys.argv[2]) / info.filename
            z.extract(info, sys.argv[2])
            # Wheels keep the Unix mode in the upper 16 bits; nvcc, ptxas and cicc must run.
            mode = info.external_attr >> 16
            if mode:
                target.chmod(mode & 0o777)
PY
  # CMake's FindCUDAToolkit looks for the unversioned names a toolkit install has.
  for lib in cudart cublas cublasLt; do
    ln -sf "lib$lib.so.13" "$toolkit/lib/lib$lib.so"
  done
  echo "$cuda_version $cublas_version" >"$cache/version"
  rm -rf "$cache/wheels"
fi
"$toolkit/bin/nvcc" --version | tail -n 2 >&2

export CUDA_PATH=$toolkit CUDAToolkit_ROOT=$toolkit
export CMAKE_CUDA_COMPILER=$toolkit/bin/nvcc CMAKE_CUDA_ARCHITECTURES=$arch GGML_CUDA_NO_VMM=ON
export PATH=$toolkit/bin:$PATH
export CARGO_TARGET_DIR=$PWD/target/cuda
cargo check --workspace --features xgen-desk/cuda
# The build script really compiled the CUDA backend: its static library is there.
lib=$(find "$CARGO_TARGET_DIR" -name 'libggml-cuda.a' -print -quit)
[[ -n "$lib" ]] || { echo "check-cuda: FAILED: no libggml-cuda.a was built" >&2; exit 1; }
objects=$(ar t "$lib" | grep -c '\.o$')
echo "check-cuda: passed in $(( $(date +%s) - started )) s: $lib ($objects objects, sm_$arch)" >&2
