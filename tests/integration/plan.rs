//! The memory planner: decisions for given RAM/VRAM figures, and its estimate against a real
//! SmolLM2 load.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xgen_desk::engine::plan::{FactsError, GpuMemory, MemoryUse, LIMITS};
use xgen_desk::engine::{plan, Hardware, KvPrecision, ModelFacts, PlanError, PlanRequest};
use xgen_quantize::GgufWriter;

use crate::common::smollm2;

const GIB: u64 = 1 << 30;

/// The facts of XGen-7B-8K-Inst at Q4_K_M, as read from the XGen-7B-shaped GGUF the
/// benchmarks generate (`xgen-desk plan --json -m .cache/bench/xgen-7b-shaped.Q4_K_M.gguf`).
pub(crate) fn xgen7b_q4km() -> ModelFacts {
    ModelFacts {
        name: "XGen-7B-8K-Inst".into(),
        architecture: "llama".into(),
        file_size: 4_190_819_200,
        n_layer: 32,
        n_embd: 4096,
        n_head: 32,
        n_head_kv: 32,
        head_dim_k: 128,
        head_dim_v: 128,
        n_ff: 11008,
        n_vocab: 51200,
        n_ctx_train: 8192,
        weights_bytes: XGEN_WEIGHTS,
        layer_bytes: XGEN_LAYERS.to_vec(),
        output_bytes: XGEN_OUTPUT,
        tied_embeddings: false,
    }
}

fn request(n_ctx: u32) -> PlanRequest {
    PlanRequest {
        n_ctx: Some(n_ctx),
        ..PlanRequest::default()
    }
}

fn gpu(free_gib: f64) -> Hardware {
    Hardware {
        ram_total: 32 * GIB,
        ram_available: 24 * GIB,
        gpus: vec![GpuMemory {
            name: "Test GPU".into(),
            total: (free_gib * GIB as f64) as u64 + GIB,
            free: (free_gib * GIB as f64) as u64,
            shared: false,
        }],
    }
}

#[test]
fn plenty_of_ram_runs_on_the_cpu_with_a_full_precision_cache() {
    let facts = xgen7b_q4km();
    let plan = plan(
        &facts,
        &Hardware::cpu_only(32 * GIB, 24 * GIB),
        &request(8192),
    )
    .expect("fits");
    assert_eq!(plan.kv_cache, KvPrecision::F16);
    assert_eq!(plan.gpu_layers, 0);
    assert!(!plan.use_mmap, "weights are read, not mapped, on the CPU");
    assert_eq!(
        plan.ram.kv_cache,
        4 * GIB,
        "32 layers x 8192 x 2 x 4096 x 2 bytes"
    );
    assert!(plan.ram.weights > 3 * GIB && plan.ram.weights < facts.file_size);
    assert_eq!(plan.vram, MemoryUse::default());
    let text = plan.to_string();
    assert!(text.contains("f16") && text.contains("CPU"), "{text}");
    assert!(plan.summary().contains("8192 tokens"), "{}", plan.summary());
}

#[test]
fn xgen_7b_at_8k_fits_an_8_gb_laptop_by_quantizing_the_cache() {
    let facts = xgen7b_q4km();
    let laptop = Hardware::cpu_only(8 * GIB, 8 * GIB);
    let plan = plan(&facts, &laptop, &request(8192)).expect("fits in 8 GB");
    assert_eq!(plan.kv_cache, KvPrecision::Q8_0, "{plan}");
    assert!(
        plan.flash_attention,
        "a quantized cache needs flash attention"
    );
    assert!(plan.ram.total() < 7 * GIB, "{plan}");
    assert!(plan.ram.total() <= plan.ram_budget);
    let text = plan.to_string();
    assert!(
        text.contains("q8_0") && text.contains("instead of"),
        "{text}"
    );

    // With less free memory the cache goes down to q4_0.
    let tight = plan_for(&facts, 6 * GIB, 8192).expect("fits with q4_0");
    assert_eq!(tight.kv_cache, KvPrecision::Q4_0, "{tight}");
    // A short context needs no compromise.
    let short = plan_for(&facts, 8 * GIB, 2048).expect("fits");
    assert_eq!(short.kv_cache, KvPrecision::F16);
}

fn plan_for(
    facts: &ModelFacts,
    ram: u64,
    n_ctx: u32,
) -> Result<xgen_desk::engine::Plan, PlanError> {
    plan(facts, &Hardware::cpu_only(ram, ram), &request(n_ctx))
}

#[test]
fn a_big_gpu_takes_every_layer_and_a_small_one_some() {
    let facts = xgen7b_q4km();
    let big = plan(&facts, &gpu(16.0), &request(8192)).expect("fits");
    assert_eq!(big.gpu_layers, 33, "{big}");
    assert_eq!(big.kv_cache, KvPrecision::F16);
    assert!(big.use_mmap);
    assert!(
        big.vram.total() <= big.vram_budget && big.ram.weights < GIB,
        "{big}"
    );

    // 7 GiB: f16 would not fit every layer, q8_0 does.
    let mid = plan(&facts, &gpu(7.0), &request(8192)).expect("fits");
    assert_eq!(
        (mid.gpu_layers, mid.kv_cache),
        (33, KvPrecision::Q8_0),
        "{mid}"
    );

    // 3 GiB: part of the model.
    let small = plan(&facts, &gpu(3.0), &request(8192)).expect("fits");
    assert!(small.gpu_layers > 1 && small.gpu_layers < 33, "{small}");
    assert!(small.vram.total() <= small.vram_budget);
    assert!(!small.use_mmap, "layers on the CPU are read, not mapped");
    assert!(
        small.ram.weights > GIB && small.vram.weights > GIB,
        "{small}"
    );
    assert!(
        small
            .to_string()
            .contains(&format!("{} of 33 layers", small.gpu_layers)),
        "{small}"
    );
}

#[test]
fn nothing_fits_is_an_error_with_the_numbers() {
    let facts = xgen7b_q4km();
    let error = plan_for(&facts, 4 * GIB, 8192).expect_err("4 GiB is too little");
    let PlanError::DoesNotFit {
        ram_needed,
        ram_budget,
        kv_cache,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(
        *kv_cache,
        KvPrecision::Q4_0,
        "the smallest configuration was tried"
    );
    assert!(ram_needed > ram_budget);
    let message = error.to_string();
    assert!(
        message.contains("GiB") && message.contains("8192") && message.contains("q4_0"),
        "{message}"
    );
    // The weights alone do not fit: the hint says so.
    let error = plan_for(&facts, 2 * GIB, 8192).expect_err("too little");
    assert!(error.to_string().contains("weights alone"), "{error}");
    // Half the context would fit in 5 GiB: the hint names a context that fits.
    let error = plan_for(&facts, 5 * GIB, 8192)
        .map(|p| p.to_string())
        .expect_err("8K does not fit in 5 GiB");
    assert!(
        error.to_string().contains("-token context would fit"),
        "{error}"
    );
}

#[test]
fn overrides_are_kept_or_refused_never_changed() {
    let facts = xgen7b_q4km();
    let laptop = Hardware::cpu_only(8 * GIB, 8 * GIB);
    let fixed_f16 = PlanRequest {
        kv_cache: Some(KvPrecision::F16),
        ..request(8192)
    };
    let error = plan(&facts, &laptop, &fixed_f16).expect_err("f16 at 8K does not fit 8 GB");
    assert!(
        matches!(
            error,
            PlanError::DoesNotFit {
                kv_cache: KvPrecision::F16,
                ..
            }
        ),
        "{error}"
    );

    let fixed_q4 = PlanRequest {
        kv_cache: Some(KvPrecision::Q4_0),
        ..request(8192)
    };
    let plan_q4 = plan(&facts, &Hardware::cpu_only(32 * GIB, 24 * GIB), &fixed_q4).expect("fits");
    assert_eq!(plan_q4.kv_cache, KvPrecision::Q4_0);
    assert!(plan_q4.to_string().contains("as requested"));

    let layers = PlanRequest {
        gpu_layers: Some(10),
        ..request(8192)
    };
    let plan_10 = plan(&facts, &gpu(16.0), &layers).expect("fits");
    assert_eq!(plan_10.gpu_layers, 10);
    let none = PlanRequest {
        gpu_layers: Some(0),
        ..request(8192)
    };
    assert_eq!(plan(&facts, &gpu(16.0), &none).expect("fits").gpu_layers, 0);

    let ctx = plan(&facts, &laptop, &request(2048)).expect("fits");
    assert_eq!(ctx.n_ctx, 2048);
    let default_ctx = plan(&facts, &laptop, &PlanRequest::default()).expect("fits");
    assert_eq!(
        default_ctx.n_ctx, 8192,
        "the training context, at most 8192"
    );

    let contradiction = PlanRequest {
        kv_cache: Some(KvPrecision::Q8_0),
        flash_attention: Some(false),
        ..request(8192)
    };
    assert_eq!(
        plan(&facts, &laptop, &contradiction),
        Err(PlanError::QuantizedKvNeedsFlashAttention(KvPrecision::Q8_0))
    );
    // Flash attention off keeps the cache at f16 and counts the attention scores.
    let no_flash = PlanRequest {
        flash_attention: Some(false),
        ..request(4096)
    };
    let p = plan(&facts, &Hardware::cpu_only(32 * GIB, 24 * GIB), &no_flash).expect("fits");
    assert!(!p.flash_attention && p.kv_cache == KvPrecision::F16);
    let with_flash = plan(
        &facts,
        &Hardware::cpu_only(32 * GIB, 24 * GIB),
        &request(4096),
    )
    .expect("fits");
    assert!(p.ram.compute > with_flash.ram.compute + 256 * (1 << 20));
}

#[test]
fn facts_come_from_the_gguf_header() {
    let facts = ModelFacts::from_gguf(&smollm2()).expect("SmolLM2 header");
    assert_eq!(facts.architecture, "llama");
    assert_eq!(
        (facts.n_layer, facts.n_embd, facts.n_head, facts.n_head_kv),
        (30, 576, 9, 3)
    );
    assert_eq!(
        (facts.head_dim_k, facts.n_vocab, facts.n_ctx_train),
        (64, 49152, 8192)
    );
    assert_eq!(facts.layer_bytes.len(), 30);
    let layers: u64 = facts.layer_bytes.iter().sum();
    assert!(layers > 0 && layers + facts.output_bytes <= facts.weights_bytes);
    assert!(facts.weights_bytes > facts.file_size / 2, "{facts:?}");
    assert!(facts.tied_embeddings, "SmolLM2 ties its embeddings");
    let error = ModelFacts::from_gguf(Path::new("/nonexistent.gguf")).expect_err("missing file");
    assert!(error.to_string().contains("nonexistent.gguf"));
}

/// The child of [`estimate_is_close_to_the_real_peak_memory`]: with a KV precision as its role
/// it plans, loads SmolLM2 at 2048 tokens, reads 64 tokens and prints the figures as JSON (its
/// peak memory is its own). Run on its own, it checks the figures are there.
#[test]
fn memory_figures_child() {
    let kv = xgen_testkit::child::role();
    let request = PlanRequest {
        n_ctx: Some(2048),
        kv_cache: Some(kv.as_deref().unwrap_or("f16").parse().unwrap()),
        ..PlanRequest::default()
    };
    let figures = xgen_testkit::engine_bench::memory(&smollm2(), &request, Some(2), 64).unwrap();
    if kv.is_some() {
        println!("{}", serde_json::to_string(&figures).unwrap());
        return;
    }
    assert!(
        figures.estimate_bytes > 0 && figures.fill_tokens == 64,
        "{figures:?}"
    );
}

/// The estimate against the peak resident memory of a real load (in a child process, whose
/// peak is its own): SmolLM2 at 2048 tokens, for each KV precision. Linux only: the peak comes
/// from `/proc/self/status`.
#[cfg(target_os = "linux")]
#[test]
fn estimate_is_close_to_the_real_peak_memory() {
    for kv in ["f16", "q8_0"] {
        let output = xgen_testkit::child::command("plan::memory_figures_child", kv)
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with('{'))
            .expect("the figures as JSON");
        let figures: serde_json::Value = serde_json::from_str(line).expect("json");
        let estimate = figures["estimate_bytes"].as_f64().expect("estimate");
        let peak = figures["peak_rss_bytes"]
            .as_f64()
            .expect("Linux reports the peak RSS");
        let ratio = estimate / peak;
        println!("SmolLM2 2048 tokens, KV {kv}: estimate {estimate:.0}, peak RSS {peak:.0}, ratio {ratio:.2}");
        assert!((0.85..1.2).contains(&ratio), "KV {kv}: {figures}");
    }
}

/// A GGUF with a llama header (no tensors): small valid dimensions, with `set` overriding them.
fn header_gguf(dir: &Path, name: &str, set: &[(&str, u32)]) -> PathBuf {
    let mut facts = vec![
        ("block_count", 2),
        ("embedding_length", 64),
        ("attention.head_count", 4),
        ("context_length", 512),
    ];
    for &(key, value) in set {
        facts.retain(|(k, _)| *k != key);
        facts.push((key, value));
    }
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama").unwrap();
    for (key, value) in facts {
        w.add_u32(&format!("llama.{key}"), value).unwrap();
    }
    let path = dir.join(name);
    w.start(std::fs::File::create(&path).unwrap())
        .unwrap()
        .finish()
        .unwrap();
    path
}

#[test]
fn block_count_u32_max_is_refused_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = header_gguf(dir.path(), "layers.gguf", &[("block_count", u32::MAX)]);
    let start = Instant::now();
    let error = ModelFacts::from_gguf(&path).expect_err("4 billion layers");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&error, FactsError::Implausible { key, value, .. } if key == "llama.block_count" && *value == u64::from(u32::MAX)),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("llama.block_count") && message.contains("4294967295"),
        "{message}"
    );
}

#[test]
fn absurd_header_dimensions_are_refused_before_any_arithmetic() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ModelFacts::from_gguf(&header_gguf(dir.path(), "ok.gguf", &[])).is_ok());
    let mut cases: Vec<(&str, u32)> = LIMITS.iter().map(|(key, ..)| (*key, u32::MAX)).collect();
    cases.extend([
        ("block_count", 0),
        ("context_length", 0),
        ("vocab_size", 0),
        ("vocab_size", u32::MAX),
        // 4 x 2^30 overflows the u32 the default feed-forward width was computed in.
        ("embedding_length", 1 << 30),
    ]);
    for (i, (key, value)) in cases.into_iter().enumerate() {
        let path = header_gguf(dir.path(), &format!("bad{i}.gguf"), &[(key, value)]);
        let error = ModelFacts::from_gguf(&path).expect_err(key);
        let want = format!("llama.{key}");
        assert!(
            matches!(&error, FactsError::Implausible { key: k, value: v, .. } if *k == want && *v == u64::from(value)),
            "{key} = {value}: {error}"
        );
        assert!(error.to_string().contains(&value.to_string()), "{error}");
    }
}

/// Facts of a model with `n_layer` layers of `layer` bytes each.
fn layered(n_layer: u32, layer: u64) -> ModelFacts {
    ModelFacts {
        name: "layered".into(),
        n_layer,
        weights_bytes: u64::from(n_layer).saturating_mul(layer),
        layer_bytes: vec![layer; n_layer as usize],
        output_bytes: layer,
        // A tiny KV cache, so that the weights decide.
        n_head_kv: 1,
        head_dim_k: 1,
        head_dim_v: 1,
        ..xgen7b_q4km()
    }
}

#[test]
fn the_gpu_planner_is_linear_in_the_layer_count() {
    // 65536 layers of 64 KiB and a GPU that takes none of them: every layer count is tried
    // for two KV precisions. Summing the layers anew for each count took seconds.
    let facts = layered(1 << 16, 1 << 16);
    let start = Instant::now();
    let result = plan(&facts, &gpu(0.5), &request(4096));
    let took = start.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert!(took < Duration::from_millis(250), "planning took {took:?}");
}

#[test]
fn extreme_facts_never_overflow_the_planner() {
    let facts = ModelFacts {
        n_embd: u32::MAX,
        n_head: u32::MAX,
        n_head_kv: u32::MAX,
        head_dim_k: u32::MAX,
        head_dim_v: u32::MAX,
        n_ff: u32::MAX,
        n_vocab: u32::MAX,
        n_ctx_train: u32::MAX,
        file_size: u64::MAX,
        weights_bytes: u64::MAX,
        output_bytes: u64::MAX,
        ..layered(4096, u64::MAX / 2)
    };
    let huge = PlanRequest {
        n_ctx: Some(u32::MAX),
        n_batch: u32::MAX,
        flash_attention: Some(false),
        ..PlanRequest::default()
    };
    for hardware in [Hardware::cpu_only(u64::MAX, u64::MAX), gpu(16.0)] {
        let error = plan(&facts, &hardware, &huge).expect_err("nothing that large fits");
        assert!(matches!(error, PlanError::DoesNotFit { .. }), "{error}");
        assert!(facts.kv_bytes(u32::MAX, KvPrecision::F16) == u64::MAX);
    }
}

#[test]
fn more_layers_than_any_model_are_refused_by_the_planner() {
    let facts = layered((1 << 16) + 1, 1);
    let error = plan(&facts, &gpu(16.0), &request(4096)).expect_err("too many layers");
    assert!(
        matches!(error, PlanError::ImplausibleModel { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("65537 layers"), "{error}");
}

#[path = "../../fuzz/models/entries/gguf_facts.rs"]
mod gguf_facts;

/// The `gguf_facts` fuzz target's entry on its saved corpus and every crash input found: no
/// panic, each within seconds.
#[test]
fn gguf_facts_fuzz_corpus_and_crashes_replay_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/models");
    let mut inputs = Vec::new();
    for kind in ["corpus", "artifacts"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join("gguf_facts")) {
            inputs.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    assert!(
        !inputs.is_empty(),
        "no saved inputs for fuzz target gguf_facts"
    );
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| gguf_facts::run(&bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            path.display()
        );
    }
}

/// Bytes of the tensor data of XGen-7B at Q4_K_M.
const XGEN_WEIGHTS: u64 = 4_189_011_968;
/// `output.weight` (Q6_K) and `output_norm`.
const XGEN_OUTPUT: u64 = 172_048_384;
const A: u64 = 129_818_624;
const B: u64 = 113_868_800;
/// Per layer: Q4_K_M keeps `attn_v` and `ffn_down` at Q6_K in some layers.
const XGEN_LAYERS: [u64; 32] = [
    A, A, A, A, B, B, A, B, B, A, B, B, A, B, B, A, B, B, A, B, B, A, B, B, A, B, B, A, A, A, A, A,
];

/// A field of `/proc/meminfo`, in bytes.
#[cfg(target_os = "linux")]
fn meminfo_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Page cache the kernel can drop is available memory: a machine that has read many files (a
/// build, a model) must not look full to the planner. Inside a container whose memory limit is
/// below the machine's RAM the limit bounds it instead.
#[cfg(target_os = "linux")]
#[test]
fn available_ram_counts_page_cache_the_kernel_can_drop() {
    let hardware = Hardware::detect();
    let total = meminfo_bytes("MemTotal");
    let limit = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|s| s.trim().parse::<u64>().ok())
    .filter(|&l| l < total);
    match limit {
        Some(limit) => {
            assert_eq!(hardware.ram_total, limit);
            assert!(hardware.ram_available <= limit, "{hardware:?}");
        }
        None => {
            assert_eq!(hardware.ram_total, total);
            // Read twice around detect, so that what others did in between is allowed for.
            let available = meminfo_bytes("MemAvailable");
            let low = available.min(meminfo_bytes("MemAvailable")) as f64 * 0.9;
            assert!(
                hardware.ram_available as f64 >= low,
                "the planner sees {} MiB available, the system {} MiB",
                hardware.ram_available >> 20,
                available >> 20
            );
        }
    }
}
