//! `xgen-dev`: the developer commands the benchmark scripts run (generators of test models and
//! checkpoints, benchmark drivers). Not part of the product.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use xgen_desk::backend::Backend;
use xgen_desk::cli::args::{ModelArgs, ServerArgs};
use xgen_desk::engine::{Engine, ModelInfo, PlanRequest, Sampling};
use xgen_desk::remote::RemoteEngine;
use xgen_testkit::{engine_bench, summary_bench};

/// Developer tools of xgen-desk (benchmarks and test-model generators).
#[derive(Debug, Parser)]
#[command(name = "xgen-dev")]
struct Cli {
    #[command(subcommand)]
    command: DevCommand,
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Summarize synthetic documents of about these many tokens (one pass when they fit the
    /// context, map-reduce otherwise) and print prefill speed, time to first token, total
    /// time, model calls and coverage.
    BenchSummarize {
        /// Document sizes in tokens.
        #[arg(long, value_delimiter = ',', default_value = "7500,50000")]
        tokens: Vec<usize>,
        /// Most tokens of the summary.
        #[arg(long, default_value_t = 128)]
        max_tokens: u32,
        /// Print one JSON object per document instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Read a document of about N tokens cold (saving its state), then time a follow-up from
    /// the live cache and from the disk state in a fresh engine; prints JSON.
    BenchDocCache {
        /// Tokens of the document.
        #[arg(long, default_value_t = 8000)]
        doc_tokens: usize,
        /// The state cache directory to use.
        #[arg(long)]
        cache_dir: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Plan, load, read FILL tokens, and print the plan's RAM estimate beside the peak RSS.
    BenchMemory {
        /// Tokens to read after loading.
        #[arg(long, default_value_t = 512)]
        fill: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write an F16 GGUF with XGen-7B's real dimensions and vocabulary and random weights (13.8 GB).
    MakeXgen7bShaped {
        /// The GGUF to write.
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Write an XGen-shaped Hugging Face checkpoint (random weights, exact vocabulary), tiny by
    /// default; larger dimensions make conversion benchmarks.
    MakeTinyCheckpoint {
        /// Directory to write.
        dir: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// `hidden_size`.
        #[arg(long, default_value_t = 64)]
        hidden: usize,
        /// `intermediate_size`.
        #[arg(long, default_value_t = 128)]
        intermediate: usize,
        /// `num_hidden_layers`.
        #[arg(long, default_value_t = 2)]
        layers: usize,
        /// `num_attention_heads`.
        #[arg(long, default_value_t = 4)]
        heads: usize,
    },
    /// Save one conversation over and over in DIR, alternating two versions, until killed.
    SaveLoop {
        /// The conversations directory.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: DevCommand) -> Result<()> {
    match command {
        DevCommand::BenchSummarize {
            tokens,
            max_tokens,
            json,
            model,
            server,
        } => bench_summarize(&tokens, max_tokens, json, &model, &server),
        DevCommand::BenchDocCache {
            doc_tokens,
            cache_dir,
            model,
        } => {
            let path = model.resolve_model()?;
            let mut settings = model.settings();
            let fit = u32::try_from(doc_tokens + 1024)
                .unwrap_or(u32::MAX)
                .div_ceil(256)
                .saturating_mul(256);
            settings.n_ctx = Some(settings.n_ctx.unwrap_or(fit));
            let figures = engine_bench::doc_cache(&path, doc_tokens, settings, &cache_dir)?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            Ok(())
        }
        DevCommand::BenchMemory { fill, model } => {
            let path = model.resolve_model()?;
            let request = PlanRequest::from_settings(&model.settings(), model.kv.is_some());
            let figures = engine_bench::memory(&path, &request, model.threads, fill)
                .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        DevCommand::MakeXgen7bShaped { out, seed } => {
            let mut last_decile = None;
            let summary = xgen_testkit::fixture::write_xgen7b_shaped_f16_gguf(&out, seed, |p| {
                let decile = p.bytes_done.saturating_mul(10) / p.bytes_total.max(1);
                if last_decile != Some(decile) {
                    last_decile = Some(decile);
                    eprintln!("[write] {:>3}% {}", decile * 10, p.name);
                }
            })
            .with_context(|| format!("could not write {}", out.display()))?;
            eprintln!(
                "[write] done: {} ({} tensors, {} bytes)",
                summary.path.display(),
                summary.tensor_count,
                summary.file_size
            );
            Ok(())
        }
        DevCommand::MakeTinyCheckpoint {
            dir,
            seed,
            hidden,
            intermediate,
            layers,
            heads,
        } => {
            let config = xgen_testkit::fixture::TinyConfig {
                hidden_size: hidden,
                intermediate_size: intermediate,
                num_hidden_layers: layers,
                num_attention_heads: heads,
                num_key_value_heads: heads,
                ..xgen_testkit::fixture::TinyConfig::default()
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
            xgen_testkit::fixture::write_tiny_xgen_checkpoint(&dir, &config, seed)
                .with_context(|| format!("could not write {}", dir.display()))?;
            eprintln!("tiny XGen checkpoint written to {}", dir.display());
            Ok(())
        }
        DevCommand::SaveLoop { dir } => Ok(xgen_testkit::save_loop(&dir, None)?),
    }
}

fn bench_summarize(
    tokens: &[usize],
    max_tokens: u32,
    json: bool,
    model: &ModelArgs,
    server: &ServerArgs,
) -> Result<()> {
    let (engine, info): (Backend, ModelInfo) = match server.config()? {
        Some(config) => {
            let remote = RemoteEngine::connect(&config)
                .with_context(|| format!("could not use the server {}", config.url))?;
            let info = remote.model_info();
            (Backend::Remote(std::sync::Arc::new(remote)), info)
        }
        None => {
            let path = model.resolve_model()?;
            let (engine, info) = Engine::open(&path, model.settings(), model.planning())
                .with_context(|| format!("could not load {}", path.display()))?;
            (Backend::Local(std::sync::Arc::new(engine)), info)
        }
    };
    if !json {
        println!(
            "model {} · context {} · {} · {} call{} at a time · greedy, summaries of at most {max_tokens} tokens",
            info.name,
            info.n_ctx,
            info.server.as_deref().map_or_else(
                || format!("{} threads", info.threads.0),
                |url| format!("server {url}")
            ),
            engine.parallel_slots(),
            if engine.parallel_slots() == 1 { "" } else { "s" },
        );
    }
    for &target in tokens {
        let figures =
            summary_bench::document(&*engine, info.n_ctx, target, Sampling::greedy(max_tokens))
                .with_context(|| format!("the {target}-token document failed"))?;
        if json {
            println!("{}", serde_json::to_string(&figures)?);
            continue;
        }
        println!(
            "{:>6} tokens  {:<10} parts {:>3}  calls {:>3}  coverage {:>3.0}%  prefill {:>7.1} tok/s  TTFT {:>6.2} s  total {:>7.2} s  (plan {:.2} s, {} tokens read, {} generated)",
            figures.document_tokens,
            if figures.single_pass { "one pass" } else { "map-reduce" },
            figures.parts,
            figures.model_calls,
            figures.coverage_percent,
            figures.prefill_tok_per_sec,
            figures.ttft_secs,
            figures.total_secs,
            figures.plan_secs,
            figures.prompt_tokens_evaluated,
            figures.generated_tokens
        );
    }
    Ok(())
}
