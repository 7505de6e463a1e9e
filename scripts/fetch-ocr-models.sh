#!/usr/bin/env bash
# Fetches the OCR models that are built into xgen-desk: PaddleOCR's PP-OCRv6 small text detector
# and recogniser and the text direction classifier, as ONNX, from the PyPI package rapidocr
# 3.10.0 (Apache-2.0; 27 MB wheel, 32 MB of models), each checked by sha256, into
# .cache/ocr-models/ where ocr-models/build.rs embeds them. Needs only Python and pip (the
# checksums are computed in Python: macOS has no sha256sum). Run before building; the build
# says when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
python=$(xgen_python)

dest=.cache/ocr-models
version=3.10.0
models=(
  "PP-OCRv6_det_small.onnx 090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"
  "PP-OCRv6_rec_small.onnx 6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
  "ch_ppocr_mobile_v2.0_cls_mobile.onnx e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"
)

check() {
  "$python" - "$dest" "${models[@]}" <<'PY'
import hashlib, os, sys
dest = sys.argv[1]
for entry in sys.argv[2:]:
    name, sha = entry.split()
    path = os.path.join(dest, name)
    if not os.path.isfile(path):
        sys.exit(1)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha:
        sys.exit(1)
PY
}
check && exit 0

mkdir -p "$dest" .cache/wheels
xgen_run "$python" -m pip download --quiet --no-deps --only-binary=:all: -d .cache/wheels "rapidocr==$version"
[[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]] && exit 0
"$python" - "$dest" "$version" "${models[@]}" <<'PY'
import glob, os, shutil, sys, zipfile
dest, version = sys.argv[1], sys.argv[2]
wheel = sorted(glob.glob(f".cache/wheels/rapidocr-{version}-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    for entry in sys.argv[3:]:
        name = entry.split()[0]
        with z.open(f"rapidocr/models/{name}") as src, open(os.path.join(dest, name + ".part"), "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(os.path.join(dest, name + ".part"), os.path.join(dest, name))
    # The models' licence and attribution notice travels with them.
    with z.open(f"rapidocr-{version}.dist-info/licenses/MODEL_LICENSES.md") as src, open(os.path.join(dest, "MODEL_LICENSES.md"), "wb") as out:
        shutil.copyfileobj(src, out)
PY
if ! check; then
  echo "fetch-ocr-models: the models in $dest do not have the expected sha256" >&2
  exit 1
fi
# The build script looks for the files when it runs: make it run again.
touch ocr-models/build.rs
echo "fetch-ocr-models: $dest ready" >&2
