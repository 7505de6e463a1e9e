#!/usr/bin/env bash
# Drafts from the document (prompt-lookup decoding, `Sampling::drafts`):
#  1. on SmolLM2, greedy summaries and document questions ("What does the document say about X?
#     Quote it.") with and without drafts: generation tok/s, acceptance, drafted and kept tokens
#     per verify step, and how many replies came out identical (drafts verify in batches, whose
#     arithmetic differs slightly from single tokens: near-ties can go the other way);
#  2. what a verify batch of k+1 tokens costs against one token (k = 1, 2, 4, 8), timed on
#     llama.cpp directly, on the XGen-7B-shaped Q4_K_M with --xgen (the bandwidth-bound case;
#     made in .cache/bench on demand, 13.8 GB F16 on the way), else on SmolLM2;
#  3. the projected speedup on that model: (tokens kept per verify step + 1) / (cost of a verify
#     batch of the mean draft length), and the same over the whole reply (steps without a draft
#     cost one token).
#
#   [THREADS=N] scripts/bench-drafts.sh [--xgen] [extra bench-drafts flags, e.g. --summary-tokens 128]
#
# Each reply's CPU time is measured beside its wall time: on a machine shared with other work,
# THREADS=1 keeps the CPU figures clean (two threads spin waiting for each other when one is
# descheduled, and wall time measures the neighbours).
#
# Documents: GPL-3, Apache-2.0 and GFDL-1.3 from /usr/share/common-licenses where present (cut
# to 3000 tokens), and two synthetic ones. Threads: one per physical core unless THREADS says.
set -euo pipefail
cd "$(dirname "$0")/.."
xgen=0
[[ ${1:-} == --xgen ]] && { xgen=1; shift; }
smol=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
[[ -f $smol ]] || scripts/fetch-test-models.sh
dev=${XGEN_DEV_BIN:-target/debug/xgen-dev}
[[ -n ${XGEN_DEV_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-dev
verify_model=$smol
if [[ $xgen -eq 1 ]]; then
  verify_model=.cache/bench/xgen-7b-shaped.Q4_K_M.gguf
  if [[ ! -f $verify_model ]]; then
    bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
    [[ -n ${XGEN_DESK_BIN:-} ]] || cargo build --workspace --quiet --bin xgen-desk
    mkdir -p .cache/bench
    "$dev" make-xgen7b-shaped .cache/bench/xgen-7b-shaped.F16.gguf
    "$bin" quantize .cache/bench/xgen-7b-shaped.F16.gguf "$verify_model" --type q4_k_m
    rm -f .cache/bench/xgen-7b-shaped.F16.gguf
  fi
fi
docs=()
licenses=/usr/share/common-licenses
add() { [[ -f $licenses/$1 ]] && docs+=(--doc "$licenses/$1|$2|$3") || echo "($licenses/$1 not here: skipped)"; }
add GPL-3 "the source code of a work" "patents"
add Apache-2.0 "the grant of patent license" "redistribution"
add GFDL-1.3 "verbatim copying" "the invariant sections"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
threads=()
[[ -n ${THREADS:-} ]] && threads=(-t "$THREADS")
echo "load: $(uptime | sed 's/.*load average/load average/')"
"$dev" bench-drafts -m "$smol" "${threads[@]}" "${docs[@]}" "$@" | tee "$dir/drafts.txt"
tail -n 1 "$dir/drafts.txt" > "$dir/drafts.json"
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "verify batches on $verify_model$([[ $xgen -eq 1 ]] || echo ' (SmolLM2: no XGen-7B-shaped model; --xgen makes one)')"
"$dev" bench-verify -m "$verify_model" "${threads[@]}" | tee "$dir/verify.json"
echo "load: $(uptime | sed 's/.*load average/load average/')"
python3 - "$dir/drafts.json" "$dir/verify.json" <<'PY'
import json, sys
drafts = json.load(open(sys.argv[1]))
verify = json.load(open(sys.argv[2]))
print(f"verify batch cost against one token (depth {verify['depth']}, {verify['threads']} threads, "
      f"flash attention {'on' if verify['flash_attention'] else 'off'}), wall and CPU time:")
for c in verify["costs"]:
    cpu = c.get("cpu_ratio")
    print(f"  k={c['k']} ({c['k'] + 1} tokens): {c['median_secs'] * 1000:8.1f} ms = {c['ratio']:.2f}x"
          + (f"; CPU {c['median_cpu_secs'] * 1000:8.1f} ms = {cpu:.2f}x" if cpu else ""))

def interpolate(points, k):
    """Linear between the measured draft lengths."""
    points = sorted(points)
    for (k0, r0), (k1, r1) in zip(points, points[1:]):
        if k0 <= k <= k1:
            return r0 + (r1 - r0) * (k - k0) / (k1 - k0)
    return points[-1][1]

clocks = [("wall", [(c["k"], c["ratio"]) for c in verify["costs"]])]
if all(c.get("cpu_ratio") for c in verify["costs"]):
    clocks.append(("CPU", [(c["k"], c["cpu_ratio"]) for c in verify["costs"]]))
for kind in ("summaries", "questions"):
    t = drafts[kind]
    steps = t["draft_steps"]
    if not steps:
        print(f"{kind}: no verify steps, nothing to project")
        continue
    kept = t["accepted"] / steps
    k = t["drafted"] / steps
    measured = (t["draft_tokens"] / t["draft_secs"]) / (t["plain_tokens"] / t["plain_secs"])
    cpu = t["draft_cpu"][1] and t["plain_cpu"][1] and \
        (t["draft_cpu"][0] / t["draft_cpu"][1]) / (t["plain_cpu"][0] / t["plain_cpu"][1])
    print(f"{kind}: {kept:.2f} kept of {k:.2f} drafted per verify step; measured on SmolLM2 "
          f"{measured:.2f}x (wall), {cpu:.2f}x (per CPU second); "
          f"{t['identical']} of {t['replies']} replies identical")
    for clock, points in clocks:
        c = interpolate(points, k)
        per_step = (kept + 1) / c
        # Over the whole reply: tokens made in verify steps and tokens made one at a time.
        total = t["generated_with_drafts"]
        single = max(0, total - steps * (kept + 1))
        overall = total / (steps * c + single)
        print(f"  projected on the verify model ({clock} cost {c:.2f}x at k={k:.2f}): "
              f"{per_step:.2f}x per verify step, {overall:.2f}x over whole replies")
PY
