# What the benchmark scripts share; sourced by scripts/bench*.sh.

# Physical cores (cores, not hyper-threads): what both the engine and llama-bench default to.
bench_physical_cores() {
  python3 - <<'PY' 2>/dev/null || nproc
import os
cores, package = set(), "0"
for line in open("/proc/cpuinfo"):
    key, _, value = line.partition(":")
    key, value = key.strip(), value.strip()
    if key == "physical id":
        package = value
    elif key == "core id":
        cores.add((package, value))
print(len(cores) or os.cpu_count() or 1)
PY
}

# The load average (1, 5, 15 minutes), for the line beside each figure.
bench_load() {
  if [[ -r /proc/loadavg ]]; then cut -d' ' -f1-3 /proc/loadavg; else uptime | sed 's/.*load average[s]*: //'; fi
}

# The CPU's model name and the SIMD features llama.cpp can use that it reports.
bench_cpu() {
  python3 - <<'PY' 2>/dev/null || uname -m
import platform
name, flags = platform.processor() or platform.machine(), set()
try:
    for line in open("/proc/cpuinfo"):
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            name = value.strip()
        elif key.strip() in ("flags", "Features"):
            flags = set(value.split())
except OSError:
    pass
wanted = ["sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl",
          "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
          "asimd", "asimddp", "i8mm", "sve"]
print(f"{name}; features: {' '.join(f for f in wanted if f in flags) or 'unknown'}")
PY
}

# The CPU features the llama.cpp tools in directory $1 were built with, from their CMake cache:
# the GGML_* switches that are on, and with GGML_NATIVE the CPU's own (the compiler's
# -march=native on this machine).
llama_build_features() {
  local cache=$1/../CMakeCache.txt
  [[ -f $cache ]] || { echo "unknown (no $cache)"; return; }
  python3 - "$cache" <<'PY'
import re, sys
on = []
native = False
for line in open(sys.argv[1]):
    m = re.match(r"GGML_([A-Z0-9_]+):BOOL=(ON|OFF)", line)
    if not m or m.group(2) != "ON":
        continue
    name = m.group(1)
    if name == "NATIVE":
        native = True
    elif name in ("SSE42", "AVX", "AVX2", "AVX_VNNI", "FMA", "F16C", "BMI2", "AVX512",
                  "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8",
                  "AMX_BF16", "OPENMP", "LLAMAFILE", "CPU_REPACK"):
        on.append(name)
print(("native (-march=native: the CPU's features above); " if native else "") + " ".join(on))
PY
}

# The reference a benchmark compares the engine with (--reference): `level`, llama-bench built
# for the x86-64 level the engine chose for this processor (the first word after "CPU code:" in
# its --version) with llama.cpp's instruction sets for it, or `native`, built with
# -march=native; native also where the engine has no levels (its CPU code built in: macOS, ARM).
#   bench_reference_check level|native       exits 2 on anything else (at the argument)
#   bench_reference_tools XGEN_DESK_BIN level|native
#                                            builds it once (scripts/llama-cpp-tools.sh bench
#                                            LEVEL) and prints the directory holding llama-bench
bench_reference_check() {
  if [[ $1 != level && $1 != native ]]; then
    echo "--reference is level or native, not '$1'" >&2
    exit 2
  fi
}
bench_reference_tools() {
  local level=native
  if [[ $2 == level ]]; then
    level=$("$1" --version | sed -n 's/^CPU code: \([a-z0-9-]*\).*/\1/p')
    case $level in baseline | v3 | avx512 | avx512-vnni) ;; *) level=native ;; esac
  fi
  scripts/llama-cpp-tools.sh bench "$level"
}

# Busy loops in child processes (another program keeping cores busy): busy_start N starts N,
# busy_stop stops them all (also on exit: the script traps it).
busy_pids=()
busy_start() {
  local i
  for ((i = 0; i < $1; i++)); do
    ( while :; do :; done ) &
    busy_pids+=($!)
  done
  # Let the scheduler and the load figures settle.
  sleep 1
}
busy_stop() {
  local pid
  for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  busy_pids=()
}

# Rounds of the engine's `bench` against llama-bench on one model, the one that goes first
# alternating from round to round; appends one JSON line per round to a file.
#   bench_rounds OUT.jsonl MODEL ROUNDS REPS ENGINE_THREADS
# Needs $bin (xgen-desk) and $tools (llama-bench's directory). llama-bench runs with the settings
# the engine's memory planner chooses for the model (KV cache precision, flash attention, memory
# mapping), the same batch, a context of the same size and a thread per physical core.
bench_rounds() {
  local out=$1 model=$2 rounds=$3 reps=$4 engine_threads=$5
  local pp=512 tg=128 ctx=640 cores kv flash mmap round ours theirs
  cores=$(bench_physical_cores)
  read -r kv flash mmap < <("$bin" plan --json -m "$model" --ctx "$ctx" | python3 -c '
import json, sys
plan = json.load(sys.stdin)
print(plan["kv_cache"].lower(), int(plan["flash_attention"]), int(plan["use_mmap"]))')
  # llama-bench of this llama.cpp says whether to map the file with --load-mode (it was -mmp).
  local load_mode=none
  [[ $mmap -eq 1 ]] && load_mode=mmap
  echo "llama-bench -t $cores -fa $flash -lm $load_mode -ctk $kv -ctv $kv -b 512 -ub 512 (the engine's plan); engine --threads $engine_threads --ctx $ctx --batch 512" >&2
  local rss
  rss=$(mktemp)
  run_theirs() {
    # GNU time: llama-bench's peak RSS, the engine's own figure's counterpart.
    /usr/bin/time -f %M -o "$rss" "$tools/llama-bench" -m "$model" -p $pp -n $tg -r "$reps" -t "$cores" \
      -fa "$flash" -lm "$load_mode" -ctk "$kv" -ctv "$kv" -b 512 -ub 512 -o json 2>/dev/null
  }
  run_ours() {
    "$bin" bench --json -m "$model" -p $pp -n $tg -r "$reps" -t "$engine_threads" --ctx $ctx --batch 512
  }
  for ((round = 1; round <= rounds; round++)); do
    if ((round % 2 == 1)); then
      ours=$(run_ours); theirs=$(run_theirs)
    else
      theirs=$(run_theirs); ours=$(run_ours)
    fi
    python3 -c 'import json, sys; print(json.dumps({"round": int(sys.argv[1]), "load": sys.argv[2], "ours": json.loads(sys.argv[3]), "theirs": json.loads(sys.argv[4]), "theirs_peak_rss_kib": int(sys.argv[5])}))' \
      "$round" "$(bench_load)" "$ours" "$theirs" "$(tail -n 1 "$rss")" >>"$out"
  done
  rm -f "$rss"
}
