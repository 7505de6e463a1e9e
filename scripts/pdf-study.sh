#!/usr/bin/env bash
# The PDF reader on real documents nobody here wrote (docs/pdf-study.md): PDFs from Debian's
# documentation packages, read by xgen-desk's reader (examples/pdf_text.rs) one process per
# file under a time and memory limit, compared word for word with pdfminer.six.
#   scripts/pdf-study.sh            # everything: corpus, reference, our run, the table
#   PDF_STUDY_TIMEOUT=60 PDF_STUDY_MEMORY_MIB=4096 scripts/pdf-study.sh
# Everything it fetches or makes lives in .cache/pdf-study/ (not in git); the corpus and the
# reference text are kept between runs, our run is redone every time.
set -euo pipefail
cd "$(dirname "$0")/.."
study=.cache/pdf-study
packages=(
  # TeX Live documentation: pdfTeX, XeTeX and LuaTeX output, many fonts and encodings.
  texlive-latex-base-doc texlive-latex-recommended-doc texlive-fonts-recommended-doc
  texlive-humanities-doc texlive-metapost-doc
  # Other producers: Texinfo, DocBook/FOP, ReportLab, Prawn, Doxygen, dblatex, ...
  python-reportlab-doc ruby-prawn-doc docbook-xsl-doc-pdf live-manual-pdf r-doc-pdf
  why3-doc-pdf ghostscript-doc auto-multiple-choice-doc-pdf siscone-doc-pdf gri-pdf-doc
  freefem-doc camlidl-doc c++-annotations-pdf
)

mkdir -p "$study/debs" "$study/root"
(
  cd "$study/debs"
  updated=
  for p in "${packages[@]}"; do
    compgen -G "${p}_*.deb" >/dev/null && continue
    if ! apt-get download -q "$p" >/dev/null 2>&1; then
      [[ -n $updated ]] || { apt-get update -qq; updated=1; }
      apt-get download -q "$p" >/dev/null
    fi
  done
)
for deb in "$study"/debs/*.deb; do
  name=$(basename "$deb" | cut -d_ -f1)
  [[ -d $study/root/$name ]] || dpkg -x "$deb" "$study/root/$name"
done
[[ -f $study/files.tsv ]] || python3 scripts/pdf_study.py select "$study/root" "$study/pdfs"

if [[ ! -x $study/venv/bin/pdf2txt.py ]]; then
  python3 -m venv "$study/venv"
  "$study/venv/bin/pip" install -q pdfminer.six==20260107
fi
python3 scripts/pdf_study.py reference "$study" "$study/venv/bin/pdf2txt.py"

cargo build --quiet --workspace --example pdf_text
cp "${CARGO_TARGET_DIR:-target}/debug/examples/pdf_text" "$study/pdf_text"
RUST_BACKTRACE=0 python3 scripts/pdf_study.py run "$study" xgen-desk -- "$study/pdf_text"
python3 scripts/pdf_study.py table "$study" xgen-desk
echo "per file: $study/xgen-desk.csv" >&2
