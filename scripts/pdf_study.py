#!/usr/bin/env python3
"""The PDF reader on real documents nobody here wrote (driven by scripts/pdf-study.sh).

  pdf_study.py select  ROOT OUT_DIR          pick the corpus from unpacked Debian packages
  pdf_study.py reference STUDY_DIR PDF2TXT   reference text from pdfminer.six (cached)
  pdf_study.py run STUDY_DIR NAME -- CMD...   run a reader (CMD FILE OUT) on every file
  pdf_study.py table STUDY_DIR NAME...       the table, and a CSV per reader

A reader is any command `CMD PDF OUT.txt` that writes the text to OUT.txt and exits 0, or
prints its error on stderr and exits non-zero. Every run has a wall-clock limit and an
address-space limit, so one file that crashes, hangs or eats memory costs only its own row.
"""

import collections
import csv
import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import unicodedata

# Files over this size are left out: pdfminer.six (the reference, in pure Python) needs
# minutes for them, and they add pages, not kinds of PDF.
MAX_BYTES = 8 * 1024 * 1024
# A package with many PDFs (the TeX Live documentation) gives an even spread of this many.
PER_PACKAGE = 30
# The same manual in several languages is one kind of PDF: a few are enough.
PER_PACKAGE_SMALL = {"live-manual-pdf": 6}
TIMEOUT_S = int(os.environ.get("PDF_STUDY_TIMEOUT", "60"))
MEMORY_BYTES = int(os.environ.get("PDF_STUDY_MEMORY_MIB", "4096")) * 1024 * 1024
REFERENCE_TIMEOUT_S = 900
# A file whose reference text has fewer words than this says nothing about recall.
MIN_REFERENCE_WORDS = 50


def select(root, out_dir):
    """Copies (and un-gzips) a deterministic spread of each package's PDFs into out_dir,
    one copy per distinct content, and writes out_dir/../files.tsv (package, name, sha)."""
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    seen = set()
    for package in sorted(os.listdir(root)):
        candidates = []
        for dirpath, _, names in os.walk(os.path.join(root, package)):
            for name in names:
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not re.search(r"\.pdf(\.gz)?$", name, re.I):
                    continue
                candidates.append(path)
        candidates.sort()
        picked = []
        for path in candidates:
            data = open(path, "rb").read()
            if path.endswith(".gz"):
                data = gzip.decompress(data)
            if len(data) > MAX_BYTES or not data.startswith(b"%PDF-"):
                continue
            sha = hashlib.sha256(data).hexdigest()[:16]
            if sha in seen:
                continue
            seen.add(sha)
            picked.append((path, data, sha))
        limit = PER_PACKAGE_SMALL.get(package, PER_PACKAGE)
        if len(picked) > limit:
            step = len(picked) / limit
            picked = [picked[int(i * step)] for i in range(limit)]
        for path, data, sha in picked:
            name = re.sub(r"\.gz$", "", os.path.basename(path))
            with open(os.path.join(out_dir, f"{sha}.pdf"), "wb") as f:
                f.write(data)
            rows.append((package, name, sha))
    with open(os.path.join(os.path.dirname(out_dir.rstrip("/")), "files.tsv"), "w") as f:
        for row in rows:
            f.write("\t".join(row) + "\n")
    print(f"{len(rows)} PDFs from {len({r[0] for r in rows})} packages", file=sys.stderr)


def files(study):
    with open(os.path.join(study, "files.tsv")) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def run_limited(cmd, timeout):
    """Runs cmd under the limits; returns (status, seconds, stderr tail)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limits
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    err = err.decode("utf-8", "replace").strip().splitlines()
    tail = err[-1][:300] if err else ""
    if proc.returncode < 0:
        return f"crash:{signal.Signals(-proc.returncode).name}", seconds, tail
    if proc.returncode == 101:  # a Rust panic that escaped
        return "crash:panic", seconds, tail
    if proc.returncode != 0:
        return "error", seconds, tail
    return "ok", seconds, tail


def reference(study, pdf2txt):
    out_dir = os.path.join(study, "reference")
    os.makedirs(out_dir, exist_ok=True)
    for package, name, sha in files(study):
        out = os.path.join(out_dir, f"{sha}.txt")
        if os.path.exists(out) or os.path.exists(out + ".failed"):
            continue
        tmp = out + ".tmp"
        status, seconds, tail = run_limited(
            [pdf2txt, "-o", tmp, os.path.join(study, "pdfs", f"{sha}.pdf")],
            REFERENCE_TIMEOUT_S,
        )
        if status == "ok":
            os.replace(tmp, out)
        else:
            with open(out + ".failed", "w") as f:
                f.write(f"{status} {tail}\n")
        print(f"reference {status:8} {seconds:7.1f}s {package}/{name}", file=sys.stderr)


def run(study, reader, cmd):
    out_dir = os.path.join(study, "out", reader)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    results = {}
    for package, name, sha in files(study):
        out = os.path.join(out_dir, f"{sha}.txt")
        status, seconds, tail = run_limited(
            cmd + [os.path.join(study, "pdfs", f"{sha}.pdf"), out], TIMEOUT_S
        )
        results[sha] = {"status": status, "seconds": round(seconds, 3), "message": tail}
        print(f"{reader} {status:12} {seconds:6.2f}s {package}/{name} {tail[:120]}", file=sys.stderr)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def words(text):
    """Words as a reader of the text would see them: NFKC (ligatures such as 'fi' become two
    letters), case-folded, runs of letters and digits."""
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def recall(ours, ref):
    """Multiset recall: each reference word counts as many times as it occurs, and is found
    as many times as our text has it. A set would call a page that we lost entirely 'found'
    when its words occur elsewhere in the document; a multiset does not."""
    ref_counts = collections.Counter(ref)
    our_counts = collections.Counter(ours)
    total = sum(ref_counts.values())
    found = sum(min(n, our_counts[w]) for w, n in ref_counts.items())
    return found / total if total else None


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def outcome(status, message):
    """crash, timeout, empty (no text layer), over-limit (more text than xgen-desk accepts),
    error (any other refusal) or ok."""
    if status.startswith("crash") or status == "timeout":
        return status.split(":")[0]
    if status == "ok":
        return "ok"
    if "no text layer" in message:
        return "empty"
    if "characters of text; at most" in message:
        return "over-limit"
    return "error"


def table(study, readers):
    rows = files(study)
    print(
        "| reader | files | crashes | timeouts | errors | empty | over text limit "
        "| median s/file | p90 s/file | median recall | p10 recall | files with recall < 0.9 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for reader in readers:
        out_dir = os.path.join(study, "out", reader)
        with open(os.path.join(out_dir, "results.json")) as f:
            results = json.load(f)
        counts = collections.Counter()
        seconds, recalls = [], []
        detail = []
        for package, name, sha in rows:
            r = results.get(sha, {"status": "missing", "seconds": 0, "message": ""})
            kind = outcome(r["status"], r["message"])
            ours = read(os.path.join(out_dir, f"{sha}.txt")) if kind == "ok" else ""
            ours_words = words(ours or "")
            if kind == "ok" and not ours_words:
                kind = "empty"
            counts[kind] += 1
            seconds.append(r["seconds"])
            ref_text = read(os.path.join(study, "reference", f"{sha}.txt"))
            value = None
            # Recall is measured where the reference has text, and where xgen-desk did not
            # refuse the file by design (over the text limit): a crash, timeout, error or
            # empty result where the reference found words counts as recall 0.
            if ref_text is not None and kind != "over-limit":
                # pdfminer writes "(cid:N)" for a glyph it cannot map to Unicode: a
                # placeholder, not a word of the document.
                ref_words = words(re.sub(r"\(cid:\d+\)", " ", ref_text))
                if len(ref_words) >= MIN_REFERENCE_WORDS:
                    value = recall(ours_words, ref_words)
                    recalls.append(value)
            detail.append(
                [package, name, sha, kind, r["seconds"],
                 "" if value is None else f"{value:.4f}", r["message"]]
            )
        with open(os.path.join(study, f"{reader}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["package", "file", "sha", "outcome", "seconds", "recall", "message"])
            w.writerows(detail)
        print(
            f"| {reader} | {len(rows)} | {counts['crash']} | {counts['timeout']} "
            f"| {counts['error']} | {counts['empty']} | {counts['over-limit']} "
            f"| {statistics.median(seconds):.2f} | {percentile(seconds, 0.9):.2f} "
            f"| {statistics.median(recalls):.4f} | {percentile(recalls, 0.1):.4f} "
            f"| {sum(1 for v in recalls if v < 0.9)} of {len(recalls)} |"
        )


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "select":
        select(*args)
    elif command == "reference":
        reference(*args)
    elif command == "run":
        split = args.index("--")
        run(args[0], args[1], args[split + 1:])
    elif command == "table":
        table(args[0], args[1:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
