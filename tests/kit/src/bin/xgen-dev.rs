//! `xgen-dev`: the developer commands the benchmark scripts run (generators of test models and
//! checkpoints, benchmark drivers). Not part of the product.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use xgen_desk::backend::Backend;
use xgen_desk::cli::args::{ModelArgs, ServerArgs};
use xgen_desk::engine::{DraftMode, Engine, ModelInfo, PlanRequest, Planning, Sampling};
use xgen_desk::remote::RemoteEngine;
use xgen_testkit::thread_trace::{self, Phase, TraceWork};
use xgen_testkit::{draft_bench, engine_bench, preread_bench, summary_bench};

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
    /// Time to the first word of a summary of an ~N-token document clicked cold (no reading
    /// ahead), some seconds after reading ahead started, and once it finished; each on a fresh
    /// engine with an empty state cache. Prints a table, then the figures as JSON.
    BenchPreread {
        /// Tokens of the document.
        #[arg(long, default_value_t = 7500)]
        doc_tokens: usize,
        /// When Summarize is clicked: cold, seconds after reading ahead started, or finished.
        #[arg(long, value_delimiter = ',', default_value = "cold,10,30,finished")]
        clicks: Vec<String>,
        /// Where each run's state cache goes (a fresh subdirectory per run, deleted after it).
        #[arg(long)]
        cache_dir: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Greedy summaries and document questions ("What does the document say about X? Quote
    /// it.") with and without drafts: generation tok/s, acceptance, tokens per verify step and
    /// how many replies came out identical. Prints a row per request, totals, then JSON.
    BenchDrafts {
        /// A document and its question topics: `PATH|topic|topic` (repeatable).
        #[arg(long = "doc")]
        docs: Vec<String>,
        /// Also two synthetic documents (report prose and a market chronicle) of about this many
        /// tokens (0: none).
        #[arg(long, default_value_t = 1500)]
        synthetic_tokens: usize,
        /// Documents longer than this are cut (at a paragraph) to fit.
        #[arg(long, default_value_t = 3000)]
        max_doc_tokens: usize,
        /// Most tokens of a summary.
        #[arg(long, default_value_t = 256)]
        summary_tokens: u32,
        /// Most tokens of an answer.
        #[arg(long, default_value_t = 160)]
        answer_tokens: u32,
        /// Flash attention off, and no memory planning (which turns it on): single-token
        /// decoding then splits no attention across threads, unlike a verify batch.
        #[arg(long)]
        no_flash: bool,
        /// The draft mode measured against plain decoding: auto (exact, where it pays) or on.
        #[arg(long, default_value = "auto")]
        mode: DraftMode,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Time a batch of k+1 tokens with logits at every position (a verify step) against one
    /// token, on llama.cpp directly, after DEPTH tokens; prints JSON.
    BenchVerify {
        /// The GGUF.
        #[arg(long, short = 'm')]
        model: PathBuf,
        /// Tokens in the cache before each batch.
        #[arg(long, default_value_t = 512)]
        depth: usize,
        /// Draft lengths k (0: one token).
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8")]
        ks: Vec<usize>,
        /// Timed repetitions of each (after one warm-up).
        #[arg(long, default_value_t = 7)]
        reps: usize,
        /// Threads (default: one per physical core).
        #[arg(long, short = 't')]
        threads: Option<usize>,
        /// Flash attention off (the memory planner turns it on).
        #[arg(long)]
        no_flash: bool,
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
    /// Record the step times of every thread count, in turn, through phases with busy loops
    /// started and stopped by the command (a trace for the thread policy's unit tests).
    RecordThreads {
        /// The GGUF.
        #[arg(long, short = 'm')]
        model: PathBuf,
        /// What a step evaluates: one token (generation) or a 512-token batch.
        #[arg(long, value_enum, default_value = "tokens")]
        work: TraceWork,
        /// Phases: quiet:SECONDS or busyN:SECONDS (N busy loops), in order.
        #[arg(long, value_delimiter = ',', default_value = "quiet:20")]
        phases: Vec<String>,
        /// Most threads (default: one per physical core).
        #[arg(long, short = 't')]
        threads: Option<usize>,
        /// Tokens in the cache before it restarts (generation).
        #[arg(long, default_value_t = 1024)]
        max_depth: usize,
        /// Where the trace goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sources and claims of replies on the real texts of tests/texts: evidence recall of
    /// questions about a long document, page accuracy of extractive sentences, changed claims
    /// flagged and faithful sentences falsely flagged, and alignment time.
    BenchSources {
        /// The context questions are read with (tokens).
        #[arg(long, default_value_t = 8192)]
        ctx: usize,
        /// Tokens kept for the answer.
        #[arg(long, default_value_t = 512)]
        reply_tokens: u32,
        /// Print the cases missed.
        #[arg(long)]
        verbose: bool,
        /// Print one JSON object after the table.
        #[arg(long)]
        json: bool,
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
        DevCommand::BenchPreread {
            doc_tokens,
            clicks,
            cache_dir,
            model,
        } => bench_preread(doc_tokens, &clicks, &cache_dir, &model),
        DevCommand::BenchDrafts {
            docs,
            synthetic_tokens,
            max_doc_tokens,
            summary_tokens,
            answer_tokens,
            no_flash,
            mode,
            model,
        } => bench_drafts(
            &docs,
            synthetic_tokens,
            max_doc_tokens,
            (summary_tokens, answer_tokens),
            (no_flash, mode),
            &model,
        ),
        DevCommand::BenchVerify {
            model,
            depth,
            ks,
            reps,
            threads,
            no_flash,
        } => {
            let figures = draft_bench::verify_cost(&model, depth, &ks, reps, threads, !no_flash)
                .with_context(|| format!("the verify benchmark failed on {}", model.display()))?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        DevCommand::BenchMemory { fill, model } => {
            let path = model.resolve_model()?;
            let request = PlanRequest::from_settings(&model.settings(), model.kv.is_some());
            let figures = engine_bench::memory(&path, &request, model.threads.0, fill)
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
        DevCommand::RecordThreads {
            model,
            work,
            phases,
            threads,
            max_depth,
            out,
        } => {
            let phases = phases
                .iter()
                .map(|p| Phase::parse(p).map_err(anyhow::Error::msg))
                .collect::<Result<Vec<_>>>()?;
            let trace = thread_trace::record(&model, work, &phases, threads, max_depth)
                .with_context(|| format!("could not record on {}", model.display()))?;
            std::fs::write(&out, trace)
                .with_context(|| format!("could not write {}", out.display()))?;
            eprintln!("trace written to {}", out.display());
            Ok(())
        }
        DevCommand::SaveLoop { dir } => Ok(xgen_testkit::save_loop(&dir, None)?),
        DevCommand::BenchSources {
            ctx,
            reply_tokens,
            verbose,
            json,
        } => bench_sources(ctx, reply_tokens, verbose, json),
    }
}

fn bench_sources(ctx: usize, reply_tokens: u32, verbose: bool, json: bool) -> Result<()> {
    use xgen_desk::sources::DocumentIndex;
    use xgen_testkit::sources_bench as sb;
    let tokenizer = xgen_desk::tokenizer::XgenTextTokenizer::shared()?;
    let mut model = xgen_desk::summarize::EngineModel::new(
        &*tokenizer,
        u32::try_from(ctx).unwrap_or(u32::MAX),
        Sampling::default(),
    );
    let jargon = sb::read_text("jargon-4.4.7.a-c.txt")?;
    let history = sb::read_text("debian-history.en.txt")?;
    let mut figures = serde_json::Map::new();
    // Evidence recall: the Jargon File slice as a document of pages.
    let document = sb::paged("jargon-4.4.7.a-c.txt", &jargon, 3000);
    let index = DocumentIndex::build(&document);
    let tokens = tokenizer.count(&jargon);
    let questions = sb::questions("jargon-questions.tsv")?;
    let recall = sb::evidence_recall(&mut model, &index, &questions, reply_tokens)?;
    println!(
        "document: jargon-4.4.7.a-c.txt, {tokens} XGen tokens, {} pages; context {ctx}, reply {reply_tokens}",
        index.page_count()
    );
    for set in ["dev", "held-out"] {
        let of_set: Vec<&sb::Recall> = recall.iter().filter(|r| r.set == set).collect();
        let hits = of_set.iter().filter(|r| r.hit).count();
        let passages =
            of_set.iter().map(|r| r.passages).sum::<usize>() as f64 / of_set.len().max(1) as f64;
        println!(
            "evidence recall ({set}): {hits}/{} = {:.2} (target >= 0.9); {passages:.1} passages read per question",
            of_set.len(),
            hits as f64 / of_set.len().max(1) as f64
        );
        figures.insert(
            format!("evidence_recall_{set}"),
            serde_json::json!(hits as f64 / of_set.len().max(1) as f64),
        );
        if verbose {
            for r in of_set.iter().filter(|r| !r.hit) {
                println!("    missed: {}", r.question);
            }
        }
    }
    // Page accuracy and claims: the Debian history (used while designing) and the Jargon File
    // slice (not looked at while designing the claims).
    for (name, text, set) in [
        ("debian-history.en.txt", &history, "dev"),
        ("jargon-4.4.7.a-c.txt", &jargon, "held-out"),
    ] {
        let document = sb::paged(name, text, 2500);
        let index = DocumentIndex::build(&document);
        let sentences = sb::extractive_sentences(&index, 5, 8);
        let (correct, total, misses) = sb::page_accuracy(&index, &sentences);
        println!(
            "page accuracy ({name}, {set}): {correct}/{total} = {:.3} (target >= 0.95)",
            correct as f64 / total.max(1) as f64
        );
        figures.insert(
            format!("page_accuracy_{set}"),
            serde_json::json!(correct as f64 / total.max(1) as f64),
        );
        let sample = sb::extractive_sentences(&index, 2, 6);
        let cases = sb::changed_claims(&index, &sample);
        let rates = sb::claim_rates(&index, &cases, &sb::faithful_variants(&index, &sample));
        println!(
            "changed claims flagged ({name}, {set}): {}/{} = {:.3} (target >= 0.9); faithful flagged: {}/{} = {:.3} (target <= 0.05)",
            rates.changed_flagged,
            rates.changed,
            rates.changed_flagged as f64 / rates.changed.max(1) as f64,
            rates.faithful_flagged,
            rates.faithful,
            rates.faithful_flagged as f64 / rates.faithful.max(1) as f64
        );
        figures.insert(
            format!("changed_flagged_{set}"),
            serde_json::json!(rates.changed_flagged as f64 / rates.changed.max(1) as f64),
        );
        figures.insert(
            format!("faithful_flagged_{set}"),
            serde_json::json!(rates.faithful_flagged as f64 / rates.faithful.max(1) as f64),
        );
        if verbose {
            for miss in misses.iter().chain(&rates.misses) {
                println!("    {miss}");
            }
        }
    }
    // Alignment time: prefixes of the Jargon File slice (followed by the Debian history when it
    // is short of 60K tokens).
    let long = format!("{jargon}\n\n{history}");
    for doc_tokens in [8_000, 60_000] {
        let timing = sb::time_alignment(&tokenizer, &long, doc_tokens, 1_000);
        println!(
            "alignment at {} document tokens, {}-token reply ({} sentences): check {:.1} ms (target < {} ms); indexing the document once {:.1} ms",
            timing.document_tokens,
            timing.reply_tokens,
            timing.reply_sentences,
            timing.check_ms,
            if doc_tokens <= 8_000 { 200 } else { 2000 },
            timing.index_ms
        );
        figures.insert(
            format!("timing_{doc_tokens}"),
            serde_json::to_value(&timing)?,
        );
    }
    if json {
        println!("{}", serde_json::Value::Object(figures));
    }
    Ok(())
}

fn bench_preread(
    doc_tokens: usize,
    clicks: &[String],
    cache_dir: &std::path::Path,
    model: &ModelArgs,
) -> Result<()> {
    let clicks = clicks
        .iter()
        .map(|c| preread_bench::Click::parse(c).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let path = model.resolve_model()?;
    let mut settings = model.settings();
    // The document, the summary request and a short reply.
    let fit = u32::try_from(doc_tokens + 640)
        .unwrap_or(u32::MAX)
        .div_ceil(256)
        .saturating_mul(256);
    settings.n_ctx = Some(settings.n_ctx.unwrap_or(fit));
    println!(
        "{:<9} {:>9} {:>13} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "click", "ahead s", "read/prefix", "evaluated", "TTFT s", "engine s", "wait s", "load s"
    );
    let figures = preread_bench::run(
        &path,
        &settings,
        model.planning(),
        doc_tokens,
        &clicks,
        cache_dir,
        &mut |r| {
            println!(
                "{:<9} {:>9.1} {:>6}/{:<6} {:>8} {:>9.3} {:>9.3} {:>8.3} {:>8.2}",
                r.click,
                r.read_ahead_secs,
                r.read_at_click,
                r.document_prefix_tokens,
                r.prompt_evaluated,
                r.ttft_secs,
                r.engine_ttft_secs,
                r.wait_secs,
                r.load_secs
            );
        },
    )
    .with_context(|| format!("the reading-ahead benchmark failed on {}", path.display()))?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

fn bench_drafts(
    docs: &[String],
    synthetic_tokens: usize,
    max_doc_tokens: usize,
    (summary_tokens, answer_tokens): (u32, u32),
    (no_flash, mode): (bool, DraftMode),
    model: &ModelArgs,
) -> Result<()> {
    let path = model.resolve_model()?;
    let mut settings = model.settings();
    let mut planning = model.planning();
    if no_flash {
        settings.flash_attention = Some(false);
        planning = Planning::Off;
    }
    let fit = u32::try_from(max_doc_tokens + summary_tokens.max(answer_tokens) as usize + 128)
        .unwrap_or(u32::MAX)
        .div_ceil(256)
        .saturating_mul(256);
    settings.n_ctx = Some(settings.n_ctx.unwrap_or(fit));
    let (engine, info) = Engine::open(&path, settings, planning)
        .with_context(|| format!("could not load {}", path.display()))?;
    let count = |text: &str| engine.count_tokens(text);
    let mut documents = Vec::new();
    for spec in docs {
        let mut parts = spec.split('|');
        let file = PathBuf::from(parts.next().unwrap_or_default());
        let topics: Vec<String> = parts.map(str::to_owned).collect();
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("could not read {}", file.display()))?;
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        documents.push(draft_bench::BenchDocument {
            name,
            text: draft_bench::truncate_to_tokens(&text, max_doc_tokens, &count)?,
            topics,
        });
    }
    if synthetic_tokens > 0 {
        let report = summary_bench::synthetic_text(synthetic_tokens, &mut |t| {
            engine.count_tokens(t).map_err(Into::into)
        })?;
        documents.push(draft_bench::BenchDocument {
            name: "synthetic report".into(),
            text: report,
            topics: vec!["the survey of residents".into(), "Section 3".into()],
        });
        documents.push(draft_bench::BenchDocument {
            name: "synthetic chronicle".into(),
            text: engine_bench::synthetic_document(&engine, synthetic_tokens),
            topics: vec![
                "the lighthouse keeper of the harbour".into(),
                "the market of Kendal".into(),
            ],
        });
    }
    println!(
        "model {} · context {} · {} threads · {} · greedy; summaries of at most {summary_tokens} tokens, answers {answer_tokens}",
        info.name,
        info.n_ctx,
        info.threads.0,
        info.plan.as_ref().map_or_else(
            || format!("flash attention {}", if no_flash { "off" } else { "llama.cpp's choice" }),
            xgen_desk::engine::Plan::summary
        )
    );
    println!(
        "identical: yes, or the characters the two replies share from the start / the plain \
         reply's (! when the plain reply asked twice differed too)"
    );
    println!(
        "{:<22} {:>5} {:<9} {:>6} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>9}  request",
        "document",
        "tok",
        "kind",
        "tokens",
        "plain/s",
        "draft/s",
        "speedup",
        "cpu x",
        "accepted",
        "tok/st",
        "identical"
    );
    let figures = draft_bench::generation(
        &engine,
        &documents,
        summary_tokens,
        answer_tokens,
        mode,
        &mut |p| {
            let (plain, drafts) = (
                p.plain.generation_tok_per_sec(),
                p.drafts.generation_tok_per_sec(),
            );
            let per_step = if p.drafts.draft_steps > 0 {
                (p.drafts.draft_accepted + p.drafts.draft_steps) as f64
                    / p.drafts.draft_steps as f64
            } else {
                0.0
            };
            // Generated tokens per CPU second, with drafts against without.
            let cpu = match (p.plain_cpu_secs, p.drafts_cpu_secs) {
                (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                    (p.drafts.generated_tokens as f64 / b) / (p.plain.generated_tokens as f64 / a)
                }
                _ => 0.0,
            };
            println!(
                "{:<22} {:>5} {:<9} {:>6} {:>8.1} {:>8.1} {:>6.2}x {:>6.2}x {:>4}/{:<4} {:>5.2} {:>9}  {}",
                p.document.chars().take(22).collect::<String>(),
                p.document_tokens,
                p.kind,
                p.plain.generated_tokens,
                plain,
                drafts,
                if plain > 0.0 { drafts / plain } else { 0.0 },
                cpu,
                p.drafts.draft_accepted,
                p.drafts.drafted,
                per_step,
                match (p.identical, p.plain_repeat_identical) {
                    (true, _) => "yes".to_owned(),
                    (false, None) => format!("{}/{}", p.common_prefix_chars, p.plain_chars),
                    (false, Some(again)) => format!(
                        "{}/{}{}",
                        p.common_prefix_chars,
                        p.plain_chars,
                        if again { "" } else { "!" }
                    ),
                },
                p.request.chars().take(60).collect::<String>()
            );
        },
    )?;
    for (kind, t) in [
        ("summaries", &figures.summaries),
        ("questions", &figures.questions),
    ] {
        println!(
            "{kind}: {} replies, {} identical ({:.0}% of the characters before the first difference); {:.1} -> {:.1} tok/s ({:.2}x; per CPU second {:.2}x); acceptance {:.0}% ({} of {} drafted), {:.2} drafted and {:.2} tokens per verify step, {} verify steps",
            t.replies,
            t.identical,
            if t.plain_chars > 0 { 100.0 * t.common_prefix_chars as f64 / t.plain_chars as f64 } else { 0.0 },
            t.plain_tok_per_sec(),
            t.draft_tok_per_sec(),
            if t.plain_tok_per_sec() > 0.0 { t.draft_tok_per_sec() / t.plain_tok_per_sec() } else { 0.0 },
            t.cpu_speedup(),
            t.acceptance() * 100.0,
            t.accepted,
            t.drafted,
            t.drafted_per_step(),
            t.tokens_per_step(),
            t.draft_steps
        );
    }
    let exact = figures
        .pairs
        .iter()
        .rev()
        .find_map(|p| p.drafts.batch_exact);
    println!(
        "drafts {}; a batched token computed bit for bit like a lone one: {}",
        mode.name(),
        match exact {
            Some(true) => "yes",
            Some(false) => "no (auto drafts nothing after the check)",
            None => "not checked",
        }
    );
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
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
