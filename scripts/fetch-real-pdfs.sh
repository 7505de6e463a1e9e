#!/usr/bin/env bash
# Fetches the real PDFs the document tests read (tests/integration/real_pdfs.rs): files that
# ordinary tools wrote and that xgen-desk once refused or crashed on, from the Debian packages
# that ship them (downloaded from Debian's pool, unpacked in Python, so that macOS and
# Windows need no apt) and from pypdf's source distribution on PyPI (its test files). Each
# file is checked by sha256 and cached in .cache/real-pdfs; the downloads stay in
# .cache/debs and .cache/sdist (16 MB in all). Needs only Python and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh
python=$(xgen_python)

dest=.cache/real-pdfs
pypdf=7.1.1
# name | sha256 of the PDF | where it comes from: a Debian package (pool path, sha256 of the
# .deb, the file inside it) or pypdf's sdist (the file inside it).
files=(
  # Graphviz's guides: dvips + Acrobat Distiller 3, bitmap Type 3 fonts, and offsets that no
  # longer match the bytes ("couldn't parse input: invalid file trailer").
  "dottyguide.pdf|2a0e0789c3132a9c205453545a7f24c86dc9096711f585b007871718010d965f|deb|pool/main/g/graphviz/graphviz-doc_2.42.2-7+deb12u1_all.deb|7239f310587c7ae772bdb3775eeddb2bd82a2c2c3c4326578b906a667c439474|./usr/share/doc/graphviz/pdf/dottyguide.pdf.gz"
  "leftyguide.pdf|bda501e5a165d17c646f478c4362aa6f490e135dca3a0de4a86241b8ffa713d9|deb|pool/main/g/graphviz/graphviz-doc_2.42.2-7+deb12u1_all.deb|7239f310587c7ae772bdb3775eeddb2bd82a2c2c3c4326578b906a667c439474|./usr/share/doc/graphviz/pdf/leftyguide.pdf.gz"
  # groff's mom example: a picture written by ImageMagick ("Object load error" before).
  "penguin.pdf|564a521995ae8a647ff9664c701759fa055655827d844db63bdf35cc706fb8f9|deb|pool/main/g/groff/groff_1.22.4-10_amd64.deb|c30d56dad45ab7fe8d57f545381203297b23fabd7475e5acd133f15dcaef2355|./usr/share/doc/groff-base/examples/mom/penguin.pdf.gz"
  # CAM::PDF's JPEG template: placeholder operators that panic pdf-extract.
  "crunchjpg_tmpl.pdf|a6c6fcf7539974495ad9830080141bdcbd7ff971b2c7a4fa4a4b41919afd95d4|deb|pool/main/libc/libcam-pdf-perl/libcam-pdf-perl_1.60-5_all.deb|fa6a283431ea4efe27bc5184337f4dfd70db5d1b600ad025727c43c8fb2fea32|./usr/share/libcam-pdf-perl/crunchjpg_tmpl.pdf"
  # pypdf's regression file for its issue 301: a scan with a LEAD OCR text layer whose
  # ToUnicode streams have wrong lengths (a panic in pdf-extract before).
  "issue-301.pdf|4b520440a1c6dbaf6ad2a7488d17c71a8a32a2828ba8343b07189d1cd7835926|sdist|pypdf-$pypdf/resources/issue-301.pdf"
  # pypdf's test of the ' and " text operators, with a damaged table.
  "toy.pdf|d2cd320073569add23340433b6958eb01019dbf3e5bf615bb3ece593ef76e3f8|sdist|pypdf-$pypdf/resources/toy.pdf"
)

check() {
  "$python" - "$dest" "${files[@]}" <<'PY'
import hashlib, os, sys
dest = sys.argv[1]
for entry in sys.argv[2:]:
    name, sha = entry.split("|")[:2]
    path = os.path.join(dest, name)
    if not os.path.isfile(path):
        sys.exit(1)
    with open(path, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != sha:
            sys.exit(1)
PY
}
check && exit 0

mkdir -p "$dest" .cache/debs .cache/sdist
xgen_run "$python" -m pip download --quiet --no-deps --no-binary=:all: -d .cache/sdist "pypdf==$pypdf"
[[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]] && exit 0
"$python" - "$dest" "$pypdf" "${files[@]}" <<'PY'
import gzip, hashlib, io, os, sys, tarfile, urllib.request

dest, pypdf = sys.argv[1], sys.argv[2]
POOL = "https://deb.debian.org/debian/"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def deb(pool_path, sha):
    """The .deb's bytes, downloaded once into .cache/debs and checked."""
    path = os.path.join(".cache/debs", os.path.basename(pool_path))
    if os.path.isfile(path):
        with open(path, "rb") as f:
            data = f.read()
        if sha256(data) == sha:
            return data
    with urllib.request.urlopen(POOL + pool_path, timeout=120) as response:
        data = response.read()
    if sha256(data) != sha:
        sys.exit(f"fetch-real-pdfs: {POOL + pool_path} does not have the expected sha256 {sha}")
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.replace(path + ".part", path)
    return data


def deb_member(data, member):
    """A file from the .deb's data.tar.xz (a .deb is an ar archive)."""
    if not data.startswith(b"!<arch>\n"):
        sys.exit("fetch-real-pdfs: not a .deb")
    at = 8
    while at + 60 <= len(data):
        header = data[at : at + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[at + 60 : at + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                return tar.extractfile(member).read()
        at += 60 + size + (size & 1)
    sys.exit("fetch-real-pdfs: the .deb has no data.tar")


def sdist_member(member):
    with tarfile.open(f".cache/sdist/pypdf-{pypdf}.tar.gz") as tar:
        return tar.extractfile(member).read()


for entry in sys.argv[3:]:
    name, sha, kind, *source = entry.split("|")
    out = os.path.join(dest, name)
    if os.path.isfile(out):
        with open(out, "rb") as f:
            if sha256(f.read()) == sha:
                continue
    if kind == "deb":
        pool_path, deb_sha, member = source
        data = deb_member(deb(pool_path, deb_sha), member)
    else:
        data = sdist_member(source[0])
    if entry.endswith(".gz"):
        data = gzip.decompress(data)
    if sha256(data) != sha:
        sys.exit(f"fetch-real-pdfs: {name} does not have the expected sha256 {sha}")
    with open(out + ".part", "wb") as f:
        f.write(data)
    os.replace(out + ".part", out)
PY
echo "fetch-real-pdfs: $dest ready" >&2
