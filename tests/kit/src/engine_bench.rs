//! Benchmarks of the memory planner and the document state cache, run by
//! `xgen-dev bench-doc-cache` and `xgen-dev bench-memory` (printed figures, not timed tests; see
//! `scripts/bench-doc-cache.sh` and `scripts/bench-memory.sh`).

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use xgen_desk::engine::hardware::peak_rss_bytes;
use xgen_desk::engine::{
    plan, state_cache, CachePrefix, Engine, EngineError, GenerateRequest, Hardware, LoadSettings,
    ModelFacts, PlanRequest, Planning, Sampling, StateCacheConfig, Timings,
};
use xgen_desk::prompt::Message;

/// Starts an engine and loads `path` with `settings`.
///
/// # Errors
/// The load error.
pub fn open(path: &Path, settings: LoadSettings) -> Result<Engine, EngineError> {
    Engine::open(path, settings, Planning::Off).map(|(engine, _)| engine)
}

/// Runs a request to the end; returns the reply text and the timings.
///
/// # Errors
/// The request's error.
pub fn run(engine: &Engine, request: GenerateRequest) -> Result<(String, Timings), EngineError> {
    let finished = engine.generate(request).wait()?;
    Ok((finished.text, finished.timings))
}

/// A document of about `tokens` tokens (ordinary prose, varied so that it is not trivially
/// repetitive), with a fact to ask about in the middle.
#[must_use]
pub fn synthetic_document(engine: &Engine, tokens: usize) -> String {
    let towns = [
        "Lancaster",
        "Kendal",
        "Carlisle",
        "Penrith",
        "Keswick",
        "Ambleside",
        "Ulverston",
        "Morecambe",
        "Sedbergh",
        "Kirkby",
    ];
    let trades = [
        "wool", "slate", "copper", "timber", "salt", "leather", "paper", "glass", "cheese", "rope",
    ];
    let mut doc = String::new();
    let mut i = 0usize;
    loop {
        let town = towns[i % towns.len()];
        let trade = trades[(i / towns.len()) % trades.len()];
        doc.push_str(&format!(
            "In the year {}, the market of {town} traded mostly in {trade}, and the council \
             recorded {} carts arriving on the busiest day of the spring fair. ",
            1700 + i,
            20 + (i * 37) % 400
        ));
        if i == 40 {
            doc.push_str("The lighthouse keeper of the harbour was named Agnes Birkett. ");
        }
        if i % 8 == 7 {
            doc.push_str("\n\n");
        }
        i += 1;
        if i.is_multiple_of(20) && engine.count_tokens(&doc).unwrap_or(0) >= tokens {
            return doc;
        }
    }
}

/// Figures of the document state cache benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct DocCacheFigures {
    /// Tokens of the first prompt (document and question).
    pub prompt_tokens: usize,
    /// Cold read: the whole document is evaluated.
    pub cold: Timings,
    /// Total seconds of the cold request (prefill, state save and reply).
    pub cold_total_secs: f64,
    /// A follow-up on the same engine: the live KV cache holds the document.
    pub live_follow_up: Timings,
    /// The same follow-up on a fresh engine: the document's state comes from disk.
    pub disk_follow_up: Timings,
    /// Seconds to load the model into the fresh engine (not part of the TTFT).
    pub reload_secs: f64,
    /// Bytes of the state cache directory.
    pub state_bytes: u64,
}

/// An ~`doc_tokens` document read cold, then a follow-up from the live cache and from the disk
/// state in a fresh engine.
///
/// # Errors
/// Engine errors.
pub fn doc_cache(
    model: &Path,
    doc_tokens: usize,
    mut settings: LoadSettings,
    cache_dir: &Path,
) -> Result<DocCacheFigures, EngineError> {
    settings.state_cache = Some(StateCacheConfig::new(cache_dir));
    let engine = open(model, settings.clone())?;
    let document = synthetic_document(&engine, doc_tokens);
    let first = vec![Message::user(format!(
        "{document}\n\nIn one sentence: what did the market of Kendal trade in 1701?"
    ))];
    let started = Instant::now();
    let (answer, cold) = run(
        &engine,
        GenerateRequest::chat(first.clone(), Sampling::greedy(24))
            .with_cache_prefix(CachePrefix::Messages(1)),
    )?;
    let cold_total_secs = started.elapsed().as_secs_f64();
    let mut follow = first;
    follow.push(Message::assistant(answer));
    follow.push(Message::user(
        "Who was the lighthouse keeper of the harbour?",
    ));
    let ask = || {
        GenerateRequest::chat(follow.clone(), Sampling::greedy(16))
            .with_cache_prefix(CachePrefix::Messages(1))
    };
    let (_, live_follow_up) = run(&engine, ask())?;
    drop(engine);
    let reload = Instant::now();
    let engine = open(model, settings)?;
    let reload_secs = reload.elapsed().as_secs_f64();
    let (_, disk_follow_up) = run(&engine, ask())?;
    let state_bytes = state_cache::list_entries(cache_dir)
        .iter()
        .map(|e| e.bytes)
        .sum();
    Ok(DocCacheFigures {
        prompt_tokens: cold.prompt_tokens,
        cold,
        cold_total_secs,
        live_follow_up,
        disk_follow_up,
        reload_secs,
        state_bytes,
    })
}

/// Figures of one memory benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigures {
    /// The plan's one-line summary.
    pub plan: String,
    /// The plan's estimate of RAM use.
    pub estimate_bytes: u64,
    /// Peak resident memory of this process after loading and reading `fill_tokens`.
    pub peak_rss_bytes: Option<u64>,
    /// Tokens evaluated.
    pub fill_tokens: usize,
    /// Seconds to load.
    pub load_secs: f64,
    /// Seconds to read the tokens.
    pub fill_secs: f64,
}

/// Plans for `request` on this machine, loads the model that way, reads `fill_tokens` tokens
/// and reports the process's peak RSS beside the estimate. Run one per process: the peak is
/// the process's.
///
/// # Errors
/// Planning or engine errors, as text.
pub fn memory(
    model: &Path,
    request: &PlanRequest,
    threads: Option<usize>,
    fill_tokens: usize,
) -> Result<MemoryFigures, String> {
    let facts = ModelFacts::from_gguf(model).map_err(|e| e.to_string())?;
    let plan = plan(&facts, &Hardware::detect(), request).map_err(|e| e.to_string())?;
    let mut settings = LoadSettings {
        threads,
        n_batch: request.n_batch,
        ..LoadSettings::default()
    };
    plan.apply(&mut settings);
    let started = Instant::now();
    let engine = open(model, settings).map_err(|e| e.to_string())?;
    let load_secs = started.elapsed().as_secs_f64();
    let n_vocab = facts.n_vocab.max(2) as usize;
    let tokens: Vec<i32> = (0..fill_tokens.max(1))
        .map(|i| i32::try_from((i * 7919 + 13) % n_vocab.min(20_000)).unwrap_or(1))
        .collect();
    let started = Instant::now();
    run(
        &engine,
        GenerateRequest::tokens(tokens, Sampling::greedy(1)),
    )
    .map_err(|e| e.to_string())?;
    let fill_secs = started.elapsed().as_secs_f64();
    Ok(MemoryFigures {
        plan: plan.summary(),
        estimate_bytes: plan.ram.total(),
        peak_rss_bytes: peak_rss_bytes(),
        fill_tokens,
        load_secs,
        fill_secs,
    })
}
