//! `xgen-desk bench`: prompt and generation speed on this machine, as llama-bench measures them.

use std::time::Instant;

use anyhow::Result;

use super::args::ModelArgs;
use super::{open_engine, output};
use crate::engine::hardware::peak_rss_bytes;
use crate::engine::{DraftMode, Engine, GenerateRequest, Sampling, Timings};

/// What to measure.
pub struct BenchArgs<'a> {
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Tokens to generate.
    pub gen_tokens: usize,
    /// Repetitions of each test.
    pub repetitions: usize,
    /// One JSON object instead of a table.
    pub json: bool,
    /// The model.
    pub model: &'a ModelArgs,
}

fn timed(engine: &Engine, tokens: Vec<i32>, max_tokens: u32) -> Result<Timings> {
    engine.clear_cache();
    let finished = engine
        .generate(GenerateRequest::tokens(
            tokens,
            // Plain decoding, as llama-bench measures it.
            Sampling {
                drafts: DraftMode::Off,
                ..Sampling::greedy(max_tokens)
            },
        ))
        .wait()?;
    Ok(finished.timings)
}

fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Runs the benchmark and prints its figures.
///
/// # Errors
/// A model that does not load, or an engine failure.
pub fn run(args: &BenchArgs<'_>) -> Result<()> {
    let load_start = Instant::now();
    let (engine, info) = open_engine(args.model)?;
    let load_secs = load_start.elapsed().as_secs_f64();
    // Loaded with the model: which build of llama.cpp's CPU code these figures are from.
    let cpu = crate::engine::runtime::cpu_code()?;
    let n_vocab = info.n_vocab.max(2);
    // Deterministic ordinary tokens: llama-bench also reads arbitrary tokens.
    let prompt: Vec<i32> = (0..args.prompt_tokens)
        .map(|i| i32::try_from((i * 7919 + 13) % 20_000).unwrap_or(1) % n_vocab)
        .collect();
    let (mut pp, mut ttft, mut tg) = (Vec::new(), Vec::new(), Vec::new());
    // Like llama-bench, one unmeasured warm-up run first: it faults the mapped weights in.
    timed(&engine, prompt.clone(), 2)?;
    for _ in 0..args.repetitions.max(1) {
        let timings = timed(&engine, prompt.clone(), 1)?;
        pp.push(timings.prefill_tok_per_sec());
        ttft.push(timings.ttft_secs);
        let max_tokens = u32::try_from(args.gen_tokens + 1).unwrap_or(u32::MAX);
        let first = prompt.first().copied().unwrap_or(1);
        tg.push(timed(&engine, vec![first], max_tokens)?.generation_tok_per_sec());
    }
    let (pp_mean, pp_sd) = mean_and_sd(&pp);
    let (tg_mean, tg_sd) = mean_and_sd(&tg);
    let (ttft_mean, _) = mean_and_sd(&ttft);
    let rss = peak_rss_bytes();
    let (prompt_tokens, gen_tokens) = (args.prompt_tokens, args.gen_tokens);
    if args.json {
        let value = serde_json::json!({
            "model": info.path, "name": info.name, "n_params": info.n_params, "size_bytes": info.size_bytes,
            "n_ctx": info.n_ctx, "threads": info.threads.0, "load_secs": load_secs,
            "pp_tokens": prompt_tokens, "pp_tok_s": pp_mean, "pp_tok_s_sd": pp_sd, "ttft_secs": ttft_mean,
            "tg_tokens": gen_tokens, "tg_tok_s": tg_mean, "tg_tok_s_sd": tg_sd, "peak_rss_bytes": rss,
            "repetitions": args.repetitions.max(1),
            "cpu_variant": cpu.variant(), "cpu_code": cpu.summary(),
        });
        return output::line(&value.to_string());
    }
    output::line(&format!(
        "model      {} ({:.2} GiB, {:.0}M params)",
        info.name,
        info.size_bytes as f64 / f64::from(1u32 << 30),
        info.n_params as f64 / 1e6
    ))?;
    output::line(&format!(
        "context    {} tokens, {} threads, loaded in {load_secs:.2} s",
        info.n_ctx, info.threads.0
    ))?;
    output::line(&format!("cpu code   {}", cpu.summary()))?;
    output::line(&format!(
        "pp{prompt_tokens:<6}   {pp_mean:>9.2} ± {pp_sd:.2} tok/s   (TTFT {ttft_mean:.3} s)"
    ))?;
    output::line(&format!(
        "tg{gen_tokens:<6}   {tg_mean:>9.2} ± {tg_sd:.2} tok/s"
    ))?;
    match rss {
        Some(bytes) => output::line(&format!(
            "peak RSS   {:.1} MiB",
            bytes as f64 / f64::from(1u32 << 20)
        )),
        None => output::line("peak RSS   unknown on this platform"),
    }
}
