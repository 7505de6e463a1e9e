//! The command line: with no subcommand the desktop app opens; with one, it runs headless.
//!
//! Flags are parsed here once and turned into [`LoadSettings`] and [`Sampling`]; the rest of the
//! program trusts those.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::catalog::{self, CatalogModel, ModelSource, QuantType};
use crate::documents::{self, Document};
use crate::engine::{
    Engine, Event, GenerateRequest, KvPrecision, LoadSettings, ModelInfo, PromptInput, Sampling,
    StopReason, Timings,
};
use crate::hub::{format_bytes, CancelToken, Progress, Stage};
use crate::pipeline::{self, SetupOptions};
use crate::prompt::{Message, SummaryStyle};
use crate::summarize::{self, EngineModel, SummarizeOptions};

mod extract;

/// Offline assistant for Salesforce XGen-7B-8K-Inst, on llama.cpp.
#[derive(Debug, Parser)]
#[command(
    name = "xgen-desk",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; without one, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Commands>,
    /// Documents to open in the desktop app (file managers pass them with "Open with").
    #[arg(value_name = "DOCUMENT")]
    pub documents: Vec<PathBuf>,
}

/// The headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Print the text a document yields, as the model reads it, with page and heading
    /// markers; `--json` prints format, pages, characters, warnings, sections and text.
    Extract(extract::ExtractArgs),
    /// Summarize a document of any length (text, Markdown, PDF, DOCX or HTML; `-` reads
    /// standard input), streaming the summary to stdout and progress to stderr.
    Summarize {
        /// The document, or `-` for standard input.
        file: PathBuf,
        /// The shape of the summary.
        #[arg(long, value_enum, default_value_t = StyleArg::Default)]
        style: StyleArg,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Chat on standard input: one message per line; `/reset` starts over, `/exit` quits.
    Chat {
        /// A system prompt.
        #[arg(long)]
        system: Option<String>,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Measure prompt reading (pp) and generation (tg) speed, time to first token and peak memory.
    Bench {
        /// Prompt length in tokens.
        #[arg(long, short = 'p', default_value_t = 512)]
        prompt_tokens: usize,
        /// Tokens to generate.
        #[arg(long, short = 'n', default_value_t = 128)]
        gen_tokens: usize,
        /// Repetitions of each test.
        #[arg(long, short = 'r', default_value_t = 3)]
        repetitions: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Download a catalog model's checkpoint into the Hugging Face cache (resumable, verified).
    Fetch {
        /// Catalog id (default: xgen-7b-8k-inst).
        model: Option<String>,
        /// Use only what is cached; name what is missing.
        #[arg(long)]
        offline: bool,
    },
    /// Convert a Hugging Face LLaMA checkpoint directory (XGen vocabulary) to an F16 GGUF.
    Convert {
        /// Directory with config.json and safetensors or PyTorch .bin shards.
        checkpoint: PathBuf,
        /// The GGUF to write.
        out: PathBuf,
        /// `general.name` of the GGUF.
        #[arg(long, default_value = "XGen-7B-8K-Inst")]
        name: String,
        /// Write every tensor as F32 (for exact comparisons) instead of F16.
        #[arg(long)]
        f32: bool,
    },
    /// Quantize a GGUF with llama.cpp.
    Quantize {
        /// The F16 (or F32) GGUF.
        input: PathBuf,
        /// The GGUF to write.
        out: PathBuf,
        /// q4_k_m (default), q4_0, q5_k_m, q8_0 or f16.
        #[arg(long = "type", default_value = "q4_k_m")]
        quant: QuantType,
        /// Threads (default: all cores).
        #[arg(long, short = 't')]
        threads: Option<usize>,
    },
    /// The whole chain: download -> convert -> quantize -> verify -> install. MODEL is a catalog
    /// id (default xgen-7b-8k-inst), `owner/repo[@rev]/file.gguf` on the Hub, or a local GGUF.
    Setup {
        /// What to install.
        model: Option<String>,
        /// Quantization of catalog models.
        #[arg(long = "type", default_value = "q4_k_m")]
        quant: QuantType,
        /// Use only what is cached.
        #[arg(long)]
        offline: bool,
    },
    /// List the catalog and the installed models.
    Models,
    /// Show the memory plan: KV precision and GPU layers chosen for the context, with the
    /// estimated RAM and VRAM against what is free.
    Plan {
        #[command(flatten)]
        model: ModelArgs,
        /// Plan as if this many GiB of RAM were free (e.g. 8 for an 8 GB laptop).
        #[arg(long)]
        assume_ram_gib: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Developer tools.
    #[command(hide = true, subcommand)]
    Dev(DevCommand),
}

/// Developer tools (benchmarks).
#[derive(Debug, Subcommand)]
pub enum DevCommand {
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
    /// Save one conversation over and over, alternating two versions, until killed (the
    /// crash-safety test kills it mid-save).
    SaveLoop {
        /// The conversations directory.
        dir: PathBuf,
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
}

/// Summary shapes on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StyleArg {
    /// The model card's request.
    Default,
    /// Bullet points.
    Bullets,
    /// One paragraph.
    Paragraph,
    /// Key points.
    KeyPoints,
}

impl From<StyleArg> for SummaryStyle {
    fn from(value: StyleArg) -> Self {
        match value {
            StyleArg::Default => Self::Default,
            StyleArg::Bullets => Self::Bullets,
            StyleArg::Paragraph => Self::Paragraph,
            StyleArg::KeyPoints => Self::KeyPoints,
        }
    }
}

/// Which model and how to run it.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// GGUF model file (default: $XGEN_DESK_MODEL).
    #[arg(long, short = 'm', env = "XGEN_DESK_MODEL")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (default: the model's, at most 8192).
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Threads (default: one per physical core).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Layers to offload to the GPU (default: all, when built with a GPU backend).
    #[arg(long)]
    pub gpu_layers: Option<u32>,
    /// KV cache precision: f16, q8_0 or q4_0 (default: the memory planner's choice).
    #[arg(long)]
    pub kv: Option<KvPrecision>,
    /// Tokens per prompt batch.
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
}

impl ModelArgs {
    fn settings(&self) -> LoadSettings {
        LoadSettings {
            n_ctx: self.ctx,
            threads: self.threads,
            threads_batch: None,
            n_batch: self.batch.max(1),
            gpu_layers: self.gpu_layers,
            kv_cache: self.kv.unwrap_or_default(),
            flash_attention: None,
            use_mmap: None,
            state_cache: None,
        }
    }
}

/// Sampling flags.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// Temperature (0 = greedy).
    #[arg(long)]
    pub temp: Option<f32>,
    /// Top-k (XGen's model card uses 100).
    #[arg(long)]
    pub top_k: Option<i32>,
    /// Top-p.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Repeat penalty (1 = off).
    #[arg(long)]
    pub repeat_penalty: Option<f32>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u32>,
    /// Most tokens in a reply.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Greedy decoding (reproducible).
    #[arg(long)]
    pub greedy: bool,
    /// Print no timings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl SamplingArgs {
    fn sampling(&self) -> Sampling {
        let base = if self.greedy {
            Sampling::greedy(Sampling::default().max_tokens)
        } else {
            Sampling::default()
        };
        Sampling {
            temperature: self.temp.unwrap_or(base.temperature),
            top_k: self.top_k.unwrap_or(base.top_k),
            top_p: self.top_p.unwrap_or(base.top_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(base.repeat_penalty),
            repeat_last_n: base.repeat_last_n,
            seed: self.seed.unwrap_or(base.seed),
            max_tokens: self.max_tokens.unwrap_or(base.max_tokens),
        }
    }
}

/// Entry point of the binary.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        None => crate::app::run_with_documents(cli.documents),
        Some(command) => run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("XGEN_DESK_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,llama_cpp_2=error,llama-cpp-2=error")
        });
    // Fails only when a subscriber is already installed (tests), which is then the one to use.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    // llama.cpp's own log (model loading, quantization's per-tensor lines) goes through the
    // filter above instead of straight to stderr, where it would bury the progress lines.
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
}

/// Runs one subcommand.
///
/// # Errors
/// Whatever stopped the command, with context.
pub fn run(command: Commands) -> Result<()> {
    match command {
        Commands::Extract(args) => extract::run(&args),
        Commands::Summarize {
            file,
            style,
            model,
            sampling,
        } => summarize(&file, style.into(), &model, &sampling),
        Commands::Chat {
            system,
            model,
            sampling,
        } => chat(system, &model, &sampling),
        Commands::Bench {
            prompt_tokens,
            gen_tokens,
            repetitions,
            json,
            model,
        } => bench(prompt_tokens, gen_tokens, repetitions.max(1), json, &model),
        Commands::Fetch { model, offline } => fetch(model.as_deref(), offline),
        Commands::Convert {
            checkpoint,
            out,
            name,
            f32,
        } => convert(&checkpoint, &out, name, f32),
        Commands::Quantize {
            input,
            out,
            quant,
            threads,
        } => quantize(&input, &out, quant, threads),
        Commands::Setup {
            model,
            quant,
            offline,
        } => setup(model.as_deref(), quant, offline),
        Commands::Models => list_models(),
        Commands::Plan {
            model,
            assume_ram_gib,
            json,
        } => print_plan(&model, assume_ram_gib, json),
        Commands::Dev(DevCommand::BenchDocCache {
            doc_tokens,
            cache_dir,
            model,
        }) => {
            let path = resolve_model(&model)?;
            let mut settings = model.settings();
            settings.n_ctx = Some(
                settings.n_ctx.unwrap_or(
                    u32::try_from(doc_tokens + 1024)
                        .unwrap_or(u32::MAX)
                        .div_ceil(256)
                        * 256,
                ),
            );
            let figures = crate::engine::bench::doc_cache(&path, doc_tokens, settings, &cache_dir)?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            Ok(())
        }
        Commands::Dev(DevCommand::BenchMemory { fill, model }) => {
            let path = resolve_model(&model)?;
            let request =
                crate::engine::PlanRequest::from_settings(&model.settings(), model.kv.is_some());
            let figures = crate::engine::bench::memory(&path, &request, model.threads, fill)
                .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        Commands::Dev(DevCommand::BenchSummarize {
            tokens,
            max_tokens,
            json,
            model,
        }) => bench_summarize(&tokens, max_tokens, json, &model),
        Commands::Dev(DevCommand::SaveLoop { dir }) => crate::app::save_loop(&dir),
        Commands::Dev(DevCommand::MakeXgen7bShaped { out, seed }) => {
            let mut bar = ProgressLine::new("write");
            let summary = xgen_quantize::write_xgen7b_shaped_f16_gguf(&out, seed, |p| {
                bar.show(p.bytes_done, p.bytes_total, Some(&p.name))
            })
            .with_context(|| format!("could not write {}", out.display()))?;
            bar.finish(&format!(
                "{} ({} tensors, {})",
                summary.path.display(),
                summary.tensor_count,
                format_bytes(summary.file_size)
            ));
            Ok(())
        }
        Commands::Dev(DevCommand::MakeTinyCheckpoint {
            dir,
            seed,
            hidden,
            intermediate,
            layers,
            heads,
        }) => {
            let config = xgen_quantize::TinyConfig {
                hidden_size: hidden,
                intermediate_size: intermediate,
                num_hidden_layers: layers,
                num_attention_heads: heads,
                num_key_value_heads: heads,
                ..xgen_quantize::TinyConfig::default()
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
            xgen_quantize::write_tiny_xgen_checkpoint(&dir, &config, seed)
                .with_context(|| format!("could not write {}", dir.display()))?;
            eprintln!("tiny XGen checkpoint written to {}", dir.display());
            Ok(())
        }
    }
}

/// A progress line on stderr: redrawn in place on a terminal, every 10% otherwise.
struct ProgressLine {
    label: String,
    tty: bool,
    last_decile: Option<u64>,
    last_draw: Option<Instant>,
}

impl ProgressLine {
    fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            tty: std::io::stderr().is_terminal(),
            last_decile: None,
            last_draw: None,
        }
    }

    fn show(&mut self, done: u64, total: u64, item: Option<&str>) {
        let percent = done.saturating_mul(100).checked_div(total).unwrap_or(0);
        let item = item.unwrap_or("");
        if self.tty {
            if self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
                && done < total
            {
                return;
            }
            self.last_draw = Some(Instant::now());
            eprint!("\r\x1b[2K[{}] {percent:>3}% {item}", self.label);
        } else if self.last_decile != Some(percent / 10) {
            self.last_decile = Some(percent / 10);
            eprintln!("[{}] {percent:>3}% {item}", self.label);
        }
    }

    fn progress(&mut self, progress: &Progress) {
        if self.label != progress.stage.name() {
            self.finish("");
            *self = Self::new(progress.stage.name());
        }
        let mut item = progress.item.clone().unwrap_or_default();
        if progress.stage == Stage::Download {
            item = format!(
                "{item} {} / {}",
                format_bytes(progress.done),
                format_bytes(progress.total)
            );
            if let Some(rate) = progress.rate {
                item.push_str(&format!(" at {}/s", format_bytes(rate as u64)));
            }
            if let Some(eta) = progress.eta {
                item.push_str(&format!(", {}s left", eta.as_secs()));
            }
        }
        self.show(progress.done, progress.total, Some(&item));
    }

    fn finish(&mut self, message: &str) {
        if self.tty && self.last_draw.is_some() {
            eprintln!();
        }
        if !message.is_empty() {
            eprintln!("[{}] done: {message}", self.label);
        }
    }
}

/// Cancels a running setup on Ctrl+C is left to the terminal: partial work is kept and resumed.
fn setup_options(offline: bool) -> Result<SetupOptions> {
    let mut options = SetupOptions::from_env().context("could not find the data directories")?;
    if offline {
        options.hub.offline = true;
    }
    Ok(options)
}

fn catalog_model(id: Option<&str>) -> Result<&'static CatalogModel> {
    let Some(id) = id else {
        return Ok(catalog::default_model());
    };
    catalog::find(id).with_context(|| {
        let ids: Vec<&str> = catalog::catalog().iter().map(|m| m.id).collect();
        format!("{id:?} is not in the catalog (known: {})", ids.join(", "))
    })
}

fn fetch(model: Option<&str>, offline: bool) -> Result<()> {
    let model = catalog_model(model)?;
    let options = setup_options(offline)?;
    let mut line = ProgressLine::new("download");
    let snapshot = pipeline::fetch(
        model,
        &options.hub,
        &mut |p| line.progress(p),
        &CancelToken::new(),
    )
    .with_context(|| format!("could not fetch {}", model.id))?;
    line.finish(&format!(
        "{} in {}",
        model.display_name,
        snapshot.dir.display()
    ));
    println!("{}", snapshot.dir.display());
    Ok(())
}

fn convert(checkpoint: &Path, out: &Path, name: String, f32: bool) -> Result<()> {
    let options = xgen_quantize::ConvertOptions {
        out_type: if f32 {
            xgen_quantize::OutType::F32
        } else {
            xgen_quantize::OutType::F16
        },
        name,
        cancel: None,
    };
    let mut line = ProgressLine::new("convert");
    let summary = xgen_quantize::convert_checkpoint(checkpoint, out, &options, |p| {
        line.show(p.bytes_done, p.bytes_total, Some(&p.name))
    })
    .with_context(|| format!("could not convert {}", checkpoint.display()))?;
    line.finish(&format!(
        "{} ({} tensors, {})",
        summary.path.display(),
        summary.tensor_count,
        format_bytes(summary.file_size)
    ));
    Ok(())
}

fn quantize(input: &Path, out: &Path, quant: QuantType, threads: Option<usize>) -> Result<()> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, std::num::NonZero::get));
    let started = Instant::now();
    let mut line = ProgressLine::new("quantize");
    let summary = xgen_quantize::quantize_gguf(input, out, quant, threads, |p| {
        line.show(p.tensor_index as u64, p.tensor_count as u64, Some(&p.name));
    })
    .with_context(|| format!("could not quantize {} to {quant}", input.display()))?;
    line.finish(&format!(
        "{} ({} -> {}, {:.1} s)",
        summary.path.display(),
        format_bytes(summary.input_size),
        format_bytes(summary.output_size),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn setup(model: Option<&str>, quant: QuantType, offline: bool) -> Result<()> {
    let spec = model.unwrap_or(catalog::DEFAULT_MODEL_ID);
    let source = ModelSource::parse(spec).with_context(|| {
        format!("{spec:?} is neither a catalog id, an existing GGUF file, nor owner/repo/file.gguf on the Hub")
    })?;
    let options = setup_options(offline)?;
    let mut line = ProgressLine::new("");
    let mut validate = pipeline::validate_with_engine;
    let outcome = pipeline::setup(
        &source,
        quant,
        &options,
        &mut validate,
        &mut |p| line.progress(p),
        &CancelToken::new(),
    )
    .with_context(|| format!("setting up {spec} failed"))?;
    line.finish("");
    let installed = outcome.model;
    eprintln!(
        "{} {} ({}, {}) at {}",
        if outcome.already_installed {
            "already installed:"
        } else {
            "installed"
        },
        installed.display_name,
        installed.quantization,
        format_bytes(installed.size_bytes),
        installed.path.display()
    );
    println!("{}", installed.path.display());
    Ok(())
}

fn list_models() -> Result<()> {
    let options = setup_options(false)?;
    println!("Catalog:");
    for model in catalog::catalog() {
        println!(
            "  {:<18} {:<28} download {:>9}, {} tokens of context",
            model.id,
            model.repo,
            format_bytes(model.download_size()),
            model.context_length
        );
    }
    let installed = options
        .registry()
        .list()
        .context("could not read the installed-models list")?;
    println!("Installed ({}):", options.paths.registry_file().display());
    if installed.is_empty() {
        println!("  none yet: run `xgen-desk setup`");
    }
    for model in installed {
        println!(
            "  {:<28} {:<8} {:>9}  {}",
            model.id,
            model.quantization,
            format_bytes(model.size_bytes),
            model.path.display()
        );
    }
    Ok(())
}

/// The model to use: `--model`, else the installed default (XGen-7B-8K-Inst first).
fn resolve_model(args: &ModelArgs) -> Result<PathBuf> {
    if let Some(path) = &args.model {
        return Ok(path.clone());
    }
    let options = setup_options(false)?;
    let installed = options
        .registry()
        .list()
        .context("could not read the installed-models list")?;
    installed
        .iter()
        .find(|m| m.id.starts_with(catalog::DEFAULT_MODEL_ID))
        .or_else(|| installed.first())
        .map(|m| m.path.clone())
        .context("no model given and none installed: run `xgen-desk setup` (downloads XGen-7B-8K-Inst) or pass --model FILE.gguf")
}

/// The load settings of `args` with the memory planner's choices for what they leave open;
/// prints the plan's summary on stderr. A file that is not a readable GGUF is left to the
/// engine, whose errors say what is wrong with it.
fn planned_settings(path: &Path, args: &ModelArgs) -> Result<LoadSettings> {
    let mut settings = args.settings();
    match crate::engine::plan_for_model(path, &settings, args.kv.is_some()) {
        Ok(plan) => {
            eprintln!("[plan] {}", plan.summary());
            plan.apply(&mut settings);
        }
        Err(crate::engine::plan::PlanForModelError::Plan(error)) => {
            return Err(error).with_context(|| format!("cannot run {}", path.display()));
        }
        Err(crate::engine::plan::PlanForModelError::Facts(error)) => {
            tracing::debug!("no memory plan: {error}");
        }
    }
    Ok(settings)
}

/// Prints the memory plan for a model.
fn print_plan(args: &ModelArgs, assume_ram_gib: Option<f64>, json: bool) -> Result<()> {
    let path = resolve_model(args)?;
    let facts = crate::engine::ModelFacts::from_gguf(&path)?;
    let mut hardware = crate::engine::Hardware::detect();
    if let Some(gib) = assume_ram_gib {
        let bytes = (gib * f64::from(1u32 << 30)) as u64;
        hardware.ram_total = bytes;
        hardware.ram_available = bytes;
    }
    let request = crate::engine::PlanRequest::from_settings(&args.settings(), args.kv.is_some());
    let plan = crate::engine::plan(&facts, &hardware, &request)
        .with_context(|| format!("no memory plan for {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{plan}");
    }
    Ok(())
}

/// An engine with a loaded model, driven synchronously.
struct Session {
    engine: Engine,
    events: mpsc::Receiver<Event>,
    info: ModelInfo,
}

/// No event for this long means the engine is stuck.
const EVENT_TIMEOUT: Duration = Duration::from_secs(600);

impl Session {
    fn open(args: &ModelArgs) -> Result<Self> {
        let path = resolve_model(args)?;
        let path = path.as_path();
        let settings = planned_settings(path, args)?;
        let (engine, events) =
            Engine::spawn_with_channel().context("could not start the engine thread")?;
        engine.load(path, settings);
        loop {
            match events
                .recv_timeout(EVENT_TIMEOUT)
                .context("the engine stopped while loading")?
            {
                Event::Loaded(info) => {
                    return Ok(Self {
                        engine,
                        events,
                        info,
                    })
                }
                Event::LoadFailed(error) => {
                    return Err(error).with_context(|| format!("could not load {}", path.display()))
                }
                _ => {}
            }
        }
    }

    /// Runs one request, passing reply text to `on_text`.
    fn run(
        &self,
        prompt: PromptInput,
        sampling: Sampling,
        ignore_end: bool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(StopReason, Timings)> {
        let id = self.engine.next_request_id();
        self.engine.generate(GenerateRequest {
            id,
            prompt,
            sampling,
            ignore_end_of_turn: ignore_end,
            cache_prefix: None,
        });
        loop {
            match self
                .events
                .recv_timeout(EVENT_TIMEOUT)
                .context("the engine stopped while answering")?
            {
                Event::Token { id: got, text } if got == id => on_text(&text),
                Event::Done {
                    id: got,
                    reason,
                    timings,
                } if got == id => return Ok((reason, timings)),
                Event::Failed { id: got, error } if got == id => return Err(error.into()),
                _ => {}
            }
        }
    }
}

/// Reads a document of any supported format, or standard input for `-`.
fn read_document(file: &Path) -> Result<Document> {
    let document = if file == Path::new("-") {
        documents::from_reader("standard input", std::io::stdin().lock())?
    } else {
        // Read in a child process: a file that crashes or hangs a reader is an error here.
        documents::extract_isolated(file, &crate::isolate::Isolation::current()?)?
    };
    Ok(document)
}

fn print_timings(timings: &Timings, quiet: bool) {
    if quiet {
        return;
    }
    eprintln!(
        "[prompt {} tokens ({} read, {:.1} tok/s) · first token {:.2} s · {} tokens at {:.1} tok/s]",
        timings.prompt_tokens,
        timings.prompt_evaluated,
        timings.prefill_tok_per_sec(),
        timings.ttft_secs,
        timings.generated_tokens,
        timings.generation_tok_per_sec()
    );
}

fn summarize(
    file: &Path,
    style: SummaryStyle,
    model: &ModelArgs,
    sampling_args: &SamplingArgs,
) -> Result<()> {
    let started = Instant::now();
    let document = read_document(file)?;
    for warning in &document.warnings {
        eprintln!("warning: {warning}");
    }
    let session = Session::open(model)?;
    let sampling = sampling_args.sampling();
    let quiet = sampling_args.quiet;
    let mut engine_model = EngineModel::new(
        &session.engine,
        &session.events,
        session.info.n_ctx,
        sampling.clone(),
    );
    let options = SummarizeOptions::new(style, sampling.max_tokens);
    let plan = summarize::plan(&mut engine_model, &document, &options)
        .with_context(|| format!("cannot summarize {}", document.name))?;
    if !quiet {
        eprintln!("{}", describe_plan(&document, &plan));
    }
    let mut out = std::io::stdout().lock();
    let summary = summarize::run_plan(
        &mut engine_model,
        &document,
        &plan,
        &options,
        &CancelToken::new(),
        &mut |progress| {
            if !quiet {
                report_progress(progress);
            }
        },
        &mut |text| {
            out.write_all(text.as_bytes()).ok();
            out.flush().ok();
        },
    )?;
    writeln!(out).ok();
    if !quiet {
        if let (true, Some(timings)) = (summary.single_pass, &summary.final_timings) {
            print_timings(timings, false);
        }
        eprintln!(
            "[coverage {:.0}% ({}/{} part{}) · {} model call{} · {:.1} s]",
            summary.coverage.percent(),
            summary.coverage.read,
            summary.coverage.total,
            if summary.coverage.total == 1 { "" } else { "s" },
            summary.model_calls,
            if summary.model_calls == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// One line about the document and how it will be read.
fn describe_plan(document: &Document, plan: &summarize::Plan) -> String {
    let pages = match document.page_count() {
        0 => String::new(),
        1 => ", 1 page".to_owned(),
        n => format!(", {n} pages"),
    };
    let how = match &plan.strategy {
        summarize::Strategy::SinglePass => format!(
            "fits: one pass ({} prompt + {} reply tokens)",
            plan.single_pass_tokens, plan.reserved
        ),
        summarize::Strategy::MapReduce {
            chunks,
            chunk_budget,
            ..
        } => format!(
            "does not fit ({} prompt + {} reply tokens): map-reduce over {} parts of up to {chunk_budget} tokens",
            plan.single_pass_tokens,
            plan.reserved,
            chunks.len()
        ),
    };
    format!(
        "[{} ({}{pages}): {} tokens; context {}: {how}]",
        document.name,
        document.format.name(),
        plan.document_tokens,
        plan.n_ctx
    )
}

/// Progress of a summary on stderr: parts read (coverage), combining, the final pass.
fn report_progress(progress: &summarize::Progress) {
    match progress {
        summarize::Progress::Partial {
            phase: summarize::Phase::Read { part, parts },
            location,
            coverage,
            ..
        } => {
            let location = location
                .as_ref()
                .map_or_else(String::new, |l| format!(" ({l})"));
            eprintln!(
                "[read part {part}/{parts}{location} · coverage {:.0}%]",
                coverage.percent()
            );
        }
        summarize::Progress::Step {
            phase:
                summarize::Phase::Combine {
                    round,
                    group,
                    groups,
                },
            ..
        } => eprintln!("[combining partial summaries: round {round}, group {group}/{groups}]"),
        summarize::Progress::Step {
            phase: summarize::Phase::Final { inputs },
            ..
        } => eprintln!("[writing the summary from {inputs} partial summaries]"),
        _ => {}
    }
}

fn bench_summarize(tokens: &[usize], max_tokens: u32, json: bool, model: &ModelArgs) -> Result<()> {
    let session = Session::open(model)?;
    if !json {
        println!(
            "model {} · context {} · {} threads · greedy, summaries of at most {max_tokens} tokens",
            session.info.name, session.info.n_ctx, session.info.threads.0
        );
    }
    for &target in tokens {
        let figures = summarize::bench::document(
            &session.engine,
            &session.events,
            session.info.n_ctx,
            target,
            Sampling::greedy(max_tokens),
        )
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

fn chat(system: Option<String>, model: &ModelArgs, sampling: &SamplingArgs) -> Result<()> {
    let session = Session::open(model)?;
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "{} loaded ({} tokens of context). /reset starts over, /exit quits.",
            session.info.name, session.info.n_ctx
        );
    }
    let mut history: Vec<Message> = system.into_iter().map(Message::system).collect();
    let first_user = history.len();
    let mut stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("could not read standard input")?;
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.truncate(first_user);
                continue;
            }
            _ => {}
        }
        history.push(Message::user(line));
        let mut reply = String::new();
        let result = session.run(
            PromptInput::Chat(history.clone()),
            sampling.sampling(),
            false,
            &mut |text| {
                reply.push_str(text);
                stdout.write_all(text.as_bytes()).ok();
                stdout.flush().ok();
            },
        );
        println!();
        match result {
            Ok((_, timings)) => {
                print_timings(&timings, sampling.quiet);
                history.push(Message::assistant(reply));
            }
            Err(err) => {
                history.pop();
                eprintln!("error: {err:#}");
            }
        }
    }
    Ok(())
}

/// Peak resident memory of this process, in bytes.
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn bench(
    prompt_tokens: usize,
    gen_tokens: usize,
    repetitions: usize,
    json: bool,
    model: &ModelArgs,
) -> Result<()> {
    let load_start = Instant::now();
    let session = Session::open(model)?;
    let load_secs = load_start.elapsed().as_secs_f64();
    let n_vocab = session.info.n_vocab.max(2);
    // Deterministic ordinary tokens: llama-bench also reads arbitrary tokens.
    let prompt: Vec<i32> = (0..prompt_tokens)
        .map(|i| i32::try_from((i * 7919 + 13) % 20_000).unwrap_or(1) % n_vocab)
        .collect();
    let mut pp = Vec::new();
    let mut ttft = Vec::new();
    let mut tg = Vec::new();
    // Like llama-bench, one unmeasured warm-up run first: it faults the mapped weights in.
    session.engine.clear_cache();
    session.run(
        PromptInput::Tokens(prompt.clone()),
        Sampling::greedy(2),
        true,
        &mut |_| {},
    )?;
    for _ in 0..repetitions {
        session.engine.clear_cache();
        let (_, timings) = session.run(
            PromptInput::Tokens(prompt.clone()),
            Sampling::greedy(1),
            true,
            &mut |_| {},
        )?;
        pp.push(timings.prefill_tok_per_sec());
        ttft.push(timings.ttft_secs);
        session.engine.clear_cache();
        let max_tokens = u32::try_from(gen_tokens + 1).unwrap_or(u32::MAX);
        let (_, timings) = session.run(
            PromptInput::Tokens(vec![prompt.first().copied().unwrap_or(1)]),
            Sampling::greedy(max_tokens),
            true,
            &mut |_| {},
        )?;
        tg.push(timings.generation_tok_per_sec());
    }
    let (pp_mean, pp_sd) = mean_and_sd(&pp);
    let (tg_mean, tg_sd) = mean_and_sd(&tg);
    let (ttft_mean, _) = mean_and_sd(&ttft);
    let rss = peak_rss_bytes();
    let info = &session.info;
    if json {
        let value = serde_json::json!({
            "model": info.path, "name": info.name, "n_params": info.n_params, "size_bytes": info.size_bytes,
            "n_ctx": info.n_ctx, "threads": info.threads.0, "load_secs": load_secs,
            "pp_tokens": prompt_tokens, "pp_tok_s": pp_mean, "pp_tok_s_sd": pp_sd, "ttft_secs": ttft_mean,
            "tg_tokens": gen_tokens, "tg_tok_s": tg_mean, "tg_tok_s_sd": tg_sd, "peak_rss_bytes": rss,
            "repetitions": repetitions,
        });
        println!("{value}");
    } else {
        println!(
            "model      {} ({:.2} GiB, {:.0}M params)",
            info.name,
            info.size_bytes as f64 / f64::from(1u32 << 30),
            info.n_params as f64 / 1e6
        );
        println!(
            "context    {} tokens, {} threads, loaded in {load_secs:.2} s",
            info.n_ctx, info.threads.0
        );
        println!(
            "pp{prompt_tokens:<6}   {pp_mean:>9.2} ± {pp_sd:.2} tok/s   (TTFT {ttft_mean:.3} s)"
        );
        println!("tg{gen_tokens:<6}   {tg_mean:>9.2} ± {tg_sd:.2} tok/s");
        match rss {
            Some(bytes) => println!("peak RSS   {:.1} MiB", bytes as f64 / f64::from(1u32 << 20)),
            None => println!("peak RSS   unknown on this platform"),
        }
    }
    Ok(())
}
