"""Tables of the engine against llama-bench from the rounds scripts/lib/bench.sh records.

    bench_compare.py table ROUNDS.jsonl        pp512 and tg128 of one model: medians over the
                                               rounds, the ratio per round, the engine's threads
    bench_compare.py medians ROUNDS.jsonl      the same medians as one JSON object
"""
import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def medians(rounds):
    out = {}
    for test, key, n_gen in (("pp512", "pp", False), ("tg128", "tg", True)):
        ours = [r["ours"][f"{key}_tok_s"] for r in rounds]
        theirs = [next(t["avg_ts"] for t in r["theirs"] if (t["n_gen"] > 0) == n_gen) for r in rounds]
        threads = [t for r in rounds for t in r["ours"][f"{key}_threads"]]
        seen = sorted(set(threads), key=threads.index)
        out[test] = {
            "engine": statistics.median(ours),
            "llama_bench": statistics.median(theirs),
            "ratio": statistics.median(a / b for a, b in zip(ours, theirs)),
            "per_round": [a / b for a, b in zip(ours, theirs)],
            "engine_threads": [f"{t} ({threads.count(t)}x)" for t in seen],
        }
    out["loads"] = [r["load"] for r in rounds]
    out["cpu_features"] = rounds[-1]["ours"].get("cpu_features", [])
    out["llama_bench_threads"] = rounds[-1]["theirs"][0].get("n_threads")
    out["llama_bench_build"] = rounds[-1]["theirs"][0].get("build_commit", "?")
    out["ttft_secs"] = rounds[-1]["ours"]["ttft_secs"]
    out["peak_rss_bytes"] = rounds[-1]["ours"].get("peak_rss_bytes")
    theirs_rss = [r["theirs_peak_rss_kib"] * 1024 for r in rounds if r.get("theirs_peak_rss_kib")]
    out["llama_bench_peak_rss_bytes"] = statistics.median(theirs_rss) if theirs_rss else None
    return out


def table(rounds):
    m = medians(rounds)
    print(f"{'test':<7} {'xgen-desk tok/s':>16} {'llama-bench tok/s':>18} {'ratio (median)':>15}   per round   engine threads")
    for test in ("pp512", "tg128"):
        row = m[test]
        print(f"{test:<7} {row['engine']:>16.2f} {row['llama_bench']:>18.2f} {row['ratio']:>14.3f}x   "
              + " ".join(f"{r:.2f}" for r in row["per_round"]) + "   " + "; ".join(row["engine_threads"]))
    mib = lambda b: f"{b / 2**20:.0f} MiB" if b else "unknown"
    print(f"TTFT (pp512 + 1 token) {m['ttft_secs']:.3f} s; peak RSS: engine {mib(m['peak_rss_bytes'])}, "
          f"llama-bench {mib(m['llama_bench_peak_rss_bytes'])} (median); "
          f"llama-bench build {m['llama_bench_build']}, {m['llama_bench_threads']} threads")
    print(f"engine build: llama.cpp with {' '.join(m['cpu_features']) or 'unknown features'}")
    print(f"load average at the end of each round: {' | '.join(m['loads'])}")


if __name__ == "__main__":
    what, path = sys.argv[1], sys.argv[2]
    rounds = load(path)
    if what == "table":
        table(rounds)
    elif what == "medians":
        print(json.dumps(medians(rounds)))
    else:
        sys.exit(__doc__)
