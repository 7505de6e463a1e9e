#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-bench, llama-quantize) from the llama.cpp vendored in the
# PyPI sdist of llama-cpp-python, with native CPU features, for side-by-side benchmarks.
# Prints the directory holding the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
root=.cache/llama-cpp-python-$version
bin=$root/build/bin
if [[ -x $bin/llama-bench && -x $bin/llama-quantize ]]; then echo "$bin"; exit 0; fi
mkdir -p .cache/sdist
if ! ls .cache/sdist/llama_cpp_python-"$version".tar.gz >/dev/null 2>&1; then
  python3 -m pip download --quiet --no-deps --no-binary=:all: -d .cache/sdist "llama-cpp-python==$version" >&2
fi
rm -rf "$root.src" && mkdir -p "$root.src"
tar -xzf .cache/sdist/llama_cpp_python-"$version".tar.gz -C "$root.src" --strip-components=1
cmake -S "$root.src/vendor/llama.cpp" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$root/build" --config Release -j "$(nproc)" --target llama-bench llama-quantize >&2
echo "$bin"
