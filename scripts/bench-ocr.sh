#!/usr/bin/env bash
# OCR on real printed pages whose text is known: pages of PDFs from Debian's documentation
# packages that have a text layer are drawn as images by poppler's pdftoppm (150 and 300 dpi;
# at 300 dpi also turned by 90 degrees and skewed by 3), packed as image-only PDFs (img2pdf),
# read by `xgen-desk extract --json` (OCR, in one process per PDF), and compared with the
# page's own text layer (pdftotext): word recall, character error rate, seconds per page and
# peak memory. Targets (issue 21): recall >= 0.95 at 300 dpi and >= 0.90 at 150 dpi on clean
# pages, <= 10 s a page on 2 cores, < 1.5 GiB peak.
#   scripts/bench-ocr.sh            # XGEN_DESK_BIN=path to use a built binary
# Installs poppler-utils, netpbm, img2pdf and time with apt-get when missing (Debian/Ubuntu);
# everything else lives in .cache/bench-ocr/.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.cache/bench-ocr
mkdir -p "$work/debs" "$work/root" "$work/pages"

need=()
for tool in pdftoppm:poppler-utils pamflip:netpbm pnmrotate:netpbm img2pdf:img2pdf /usr/bin/time:time; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The pages: running text set by TeX (graphviz's guides: Times with code in Courier) and by
# groff (the mom macros' manual), one column, printed clean; and figure pages (graph drawings
# whose labels are one or two letters), reported apart: the targets are for clean text.
(
  cd "$work/debs"
  for p in graphviz-doc groff; do
    compgen -G "${p}_*.deb" >/dev/null || apt-get download -q "$p" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get download -q "$p" >/dev/null; }
  done
)
for deb in "$work"/debs/*.deb; do
  name=$(basename "$deb" | cut -d_ -f1)
  [[ -d $work/root/$name ]] || dpkg -x "$deb" "$work/root/$name"
done
docs=$work/root/graphviz-doc/usr/share/doc/graphviz/pdf
mom=$work/root/groff/usr/share/doc/groff-base/examples/mom
# "file page kind": kind is text or figure.
pages=(
  "$docs/dotguide.pdf.gz 2 text" "$docs/dotguide.pdf.gz 12 text" "$docs/dotguide.pdf.gz 24 text"
  "$mom/typesetting.pdf.gz 2 text"
  "$docs/neatoguide.pdf.gz 3 figure" "$docs/neatoguide.pdf.gz 7 figure"
)

bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --quiet --bin xgen-desk

# Each page: its text layer, and image-only PDFs of it in every variant.
: >"$work/kinds.tsv"
for entry in "${pages[@]}"; do
  read -r src page kind <<<"$entry"
  base=$(basename "$src" .pdf.gz)-p$page
  printf '%s\t%s\n' "$base" "$kind" >>"$work/kinds.tsv"
  [[ -f $work/pages/$base.pdf ]] || gzip -dc "$src" >"$work/pages/$base.pdf"
  [[ -f $work/pages/$base.txt ]] || pdftotext -f "$page" -l "$page" "$work/pages/$base.pdf" "$work/pages/$base.txt"
  for dpi in 150 300; do
    out=$work/pages/$base-$dpi
    [[ -f $out.pgm ]] || pdftoppm -r "$dpi" -f "$page" -l "$page" -singlefile -gray "$work/pages/$base.pdf" "$out"
    [[ -f $out-straight.pdf ]] || { pnmtopng "$out.pgm" >"$out-straight.png" && img2pdf --imgsize "${dpi}dpi" -o "$out-straight.pdf" "$out-straight.png"; }
    if [[ $dpi == 300 ]]; then
      [[ -f $out-turned.pdf ]] || { pamflip -r90 "$out.pgm" | pnmtopng >"$out-turned.png" && img2pdf --imgsize "${dpi}dpi" -o "$out-turned.pdf" "$out-turned.png"; }
      [[ -f $out-skewed.pdf ]] || { pnmrotate -background=white 3 "$out.pgm" | pnmtopng >"$out-skewed.png" && img2pdf --imgsize "${dpi}dpi" -o "$out-skewed.pdf" "$out-skewed.png"; }
    fi
  done
done

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results=$work/results.tsv
: >"$results"
: >"$work/scores.tsv"
for pdf in "$work"/pages/*-{150,300}-*.pdf; do
  variant=$(basename "$pdf" .pdf)
  base=${variant%-*-*}
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$bin" extract --json "$pdf" >"$work/out.json" 2>"$work/err.txt" || {
    echo "error: $variant: $(tail -n 1 "$work/err.txt")" >&2
    continue
  }
  read -r seconds kib <"$work/time.txt"
  printf '%s\t%s\t%s\t%s\t%s\n' "$variant" "$work/pages/$base.txt" "$work/out.json" "$seconds" "$kib" >>"$results"
  kind=$(awk -F'\t' -v b="$base" '$1 == b { print $2 }' "$work/kinds.tsv")
  [[ -n $kind ]] || continue # a page left in the cache from an older page list
  python3 - "$work/pages/$base.txt" "$work/out.json" "$variant" "$seconds" "$kib" "$kind" >>"$work/scores.tsv" <<'PY'
import json, re, sys, unicodedata
from collections import Counter
ref_path, out_path, variant, seconds, kib, kind = sys.argv[1:]
norm = lambda s: unicodedata.normalize("NFKC", s)
ref = norm(open(ref_path, encoding="utf-8", errors="replace").read())
out = json.load(open(out_path))
hyp = norm(out["text"])
words = lambda s: Counter(re.findall(r"\w+", s.casefold()))
r, h = words(ref), words(hyp)
recall = sum(min(n, h[w]) for w, n in r.items()) / max(1, sum(r.values()))
# Character error rate: edit distance over the reference's length, both with every run of
# whitespace as one space (line breaks and layout are not the recogniser's to match).
a = " ".join(ref.split())
b = " ".join(hyp.split())
previous = list(range(len(b) + 1))
for i, ca in enumerate(a, 1):
    current = [i] + [0] * len(b)
    for j, cb in enumerate(b, 1):
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
    previous = current
cer = previous[-1] / max(1, len(a))
print(f"{kind}\t{variant}\t{recall:.3f}\t{cer:.3f}\t{seconds}\t{int(kib) / 1024:.0f}")
PY
done
python3 - "$work/scores.tsv" <<'PY'
import sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
titles = {
    "text": "clean text pages (the targets: recall >= 0.95 at 300 dpi, >= 0.90 at 150 dpi)",
    "figure": "figure pages (graph drawings with short labels; no target)",
}
for kind in ("text", "figure"):
    mine = [r[1:] for r in rows if r[0] == kind]
    if not mine:
        continue
    print(titles[kind])
    print(f"{'page':<34} {'recall':>7} {'CER':>6} {'s/page':>7} {'peak MiB':>9}")
    groups = defaultdict(list)
    for variant, recall, cer, seconds, mib in mine:
        print(f"{variant:<34} {recall:>7} {cer:>6} {float(seconds):>7.1f} {mib:>9}")
        # The variant is the name's last two parts: 300-straight, 150-straight, 300-turned, ...
        groups["-".join(variant.split("-")[-2:])].append(
            (float(recall), float(cer), float(seconds), float(mib)))
    print()
    print(f"{'variant':<14} {'pages':>5} {'mean recall':>11} {'min recall':>10} {'mean CER':>8} {'mean s/page':>11} {'max s/page':>10} {'peak MiB':>9}")
    for key in sorted(groups):
        g = groups[key]
        n = len(g)
        print(f"{key:<14} {n:>5} {sum(x[0] for x in g)/n:>11.3f} {min(x[0] for x in g):>10.3f} {sum(x[1] for x in g)/n:>8.3f} {sum(x[2] for x in g)/n:>11.1f} {max(x[2] for x in g):>10.1f} {max(x[3] for x in g):>9.0f}")
    print()
PY
rm -f "$work/scores.tsv" "$work/kinds.tsv"
echo "machine: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
