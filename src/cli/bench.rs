//! `xgen-desk bench`: prompt and generation speed on this machine, as llama-bench measures them,
//! with the threads each test ran with and the CPU features of the llama.cpp build.

use std::time::Instant;

use anyhow::Result;

use super::args::ModelArgs;
use super::{open_engine, output};
use crate::engine::hardware::peak_rss_bytes;
use crate::engine::runtime::cpu_features;
use crate::engine::{DraftMode, Engine, GenerateRequest, Sampling, ThreadUse, Timings};

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

/// The distinct thread descriptions of the runs, in order, with how many runs each.
fn thread_summary(runs: &[String]) -> String {
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    for run in runs {
        match distinct.iter_mut().find(|(text, _)| text == run) {
            Some((_, count)) => *count += 1,
            None => distinct.push((run, 1)),
        }
    }
    if let [(only, _)] = distinct.as_slice() {
        return (*only).to_owned();
    }
    distinct
        .iter()
        .map(|(text, count)| format!("{text} ({count} of {})", runs.len()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The prompt's threads in words.
fn prompt_threads(threads: &ThreadUse) -> String {
    ThreadUse {
        first: 0,
        ..*threads
    }
    .describe()
    .unwrap_or_default()
}

/// Runs the benchmark and prints its figures.
///
/// # Errors
/// A model that does not load, or an engine failure.
pub fn run(args: &BenchArgs<'_>) -> Result<()> {
    let load_start = Instant::now();
    let (engine, info) = open_engine(args.model)?;
    let load_secs = load_start.elapsed().as_secs_f64();
    let n_vocab = info.n_vocab.max(2);
    // Deterministic ordinary tokens: llama-bench also reads arbitrary tokens.
    let prompt: Vec<i32> = (0..args.prompt_tokens)
        .map(|i| i32::try_from((i * 7919 + 13) % 20_000).unwrap_or(1) % n_vocab)
        .collect();
    let (mut pp, mut ttft, mut tg) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pp_threads, mut tg_threads) = (Vec::new(), Vec::new());
    // Like llama-bench, one unmeasured warm-up run first: it faults the mapped weights in.
    timed(&engine, prompt.clone(), 2)?;
    for _ in 0..args.repetitions.max(1) {
        let timings = timed(&engine, prompt.clone(), 1)?;
        pp.push(timings.prefill_tok_per_sec());
        ttft.push(timings.ttft_secs);
        pp_threads.push(prompt_threads(&timings.threads));
        let max_tokens = u32::try_from(args.gen_tokens + 1).unwrap_or(u32::MAX);
        let first = prompt.first().copied().unwrap_or(1);
        let timings = timed(&engine, vec![first], max_tokens)?;
        tg.push(timings.generation_tok_per_sec());
        tg_threads.push(timings.threads.describe().unwrap_or_default());
    }
    let (pp_mean, pp_sd) = mean_and_sd(&pp);
    let (tg_mean, tg_sd) = mean_and_sd(&tg);
    let (ttft_mean, _) = mean_and_sd(&ttft);
    let rss = peak_rss_bytes();
    let features = cpu_features();
    let (prompt_tokens, gen_tokens) = (args.prompt_tokens, args.gen_tokens);
    let threads_setting = if info.adaptive_threads {
        format!("auto, up to {}", info.threads.0)
    } else {
        info.threads.0.to_string()
    };
    if args.json {
        let value = serde_json::json!({
            "model": info.path, "name": info.name, "n_params": info.n_params, "size_bytes": info.size_bytes,
            "n_ctx": info.n_ctx, "threads": info.threads.0, "threads_auto": info.adaptive_threads,
            "load_secs": load_secs,
            "pp_tokens": prompt_tokens, "pp_tok_s": pp_mean, "pp_tok_s_sd": pp_sd, "pp_runs": pp,
            "pp_threads": pp_threads, "ttft_secs": ttft_mean,
            "tg_tokens": gen_tokens, "tg_tok_s": tg_mean, "tg_tok_s_sd": tg_sd, "tg_runs": tg,
            "tg_threads": tg_threads, "peak_rss_bytes": rss,
            "repetitions": args.repetitions.max(1), "cpu_features": features,
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
        "context    {} tokens, threads {threads_setting}, loaded in {load_secs:.2} s",
        info.n_ctx
    ))?;
    output::line(&format!(
        "pp{prompt_tokens:<6}   {pp_mean:>9.2} ± {pp_sd:.2} tok/s   (TTFT {ttft_mean:.3} s; {})",
        thread_summary(&pp_threads)
    ))?;
    output::line(&format!(
        "tg{gen_tokens:<6}   {tg_mean:>9.2} ± {tg_sd:.2} tok/s   ({})",
        thread_summary(&tg_threads)
    ))?;
    match rss {
        Some(bytes) => output::line(&format!(
            "peak RSS   {:.1} MiB",
            bytes as f64 / f64::from(1u32 << 20)
        ))?,
        None => output::line("peak RSS   unknown on this platform")?,
    }
    output::line(&format!("llama.cpp  {}", features.join(" ")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_with_the_same_threads_read_as_one() {
        let runs = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            super::thread_summary(&runs(&["2 threads", "2 threads"])),
            "2 threads"
        );
        assert_eq!(
            super::thread_summary(&runs(&[
                "2 threads",
                "2→1 threads: the CPU is busy",
                "2 threads"
            ])),
            "2 threads (2 of 3); 2→1 threads: the CPU is busy (1 of 3)"
        );
    }
}
