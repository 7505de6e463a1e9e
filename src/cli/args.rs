//! The command line as clap parses it, and the one step that turns flags into the settings the
//! rest of the program trusts ([`LoadSettings`], [`Planning`], [`Sampling`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::catalog::{self, QuantType};
use crate::engine::{DraftMode, KvPrecision, LoadSettings, Planning, Sampling};
use crate::pipeline::SetupOptions;
use crate::prompt::SummaryStyle;

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
    /// Summarize documents of any length (in every format the app reads; `-` reads
    /// standard input), streaming the summary to stdout and progress to stderr. Several files
    /// or a folder (searched recursively, known formats only) give one Markdown report, or
    /// with `--out DIR` one `.summary.md` file each; files that cannot be summarized are listed
    /// on stderr and the exit code is 2 (1 when none could be).
    Summarize {
        /// Documents or folders, or `-` for standard input (alone).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write one Markdown file per document into this folder (created if missing) and
        /// print their paths, instead of the report on stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The shape of the summary.
        #[arg(long, value_enum, default_value_t = SummaryStyle::Default)]
        style: SummaryStyle,
        /// After the summary, list the sources of each sentence in the document (page,
        /// heading, passage) and the claims the document does not make (one document only).
        #[arg(long)]
        sources: bool,
        /// Print one JSON object instead of streaming: answer (the summary), sentences with
        /// their sources, not_found, read (one document only).
        #[arg(long, conflicts_with = "sources")]
        json: bool,
        /// Which model and how to run it.
        #[command(flatten)]
        model: ModelArgs,
        /// An inference server to use instead.
        #[command(flatten)]
        server: ServerArgs,
        /// How replies are sampled.
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Answer a question about a document: the answer streams to stdout, its sources to
    /// stderr. A document longer than the context reads the passages that bear on the
    /// question; `--json` prints answer, sentences, not_found and read as one object.
    Ask(AskArgs),
    /// Check a text against a document without a model: each sentence with its sources, and
    /// the claims (numbers, dates, names) the document does not make. Exit code 0 when every
    /// sentence is supported, 3 when some are not.
    Verify(super::verify::VerifyArgs),
    /// Print the text a document yields, as the model reads it, with page and heading
    /// markers; `--json` prints format, pages, characters, warnings, sections and text.
    Extract(super::extract::ExtractArgs),
    /// Load a GGUF and run a token through it; `--json` prints its facts (or the error).
    Check(super::check::CheckArgs),
    /// Chat on standard input: one message per line; `/reset` starts over, `/exit` quits.
    Chat {
        /// A system prompt.
        #[arg(long)]
        system: Option<String>,
        /// Which model and how to run it.
        #[command(flatten)]
        model: ModelArgs,
        /// An inference server to use instead.
        #[command(flatten)]
        server: ServerArgs,
        /// How replies are sampled.
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
        /// Which model and how to run it.
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
        /// Threads (default: one per physical core).
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
        /// Which model and how to run it.
        #[command(flatten)]
        model: ModelArgs,
        /// Plan as if this many GiB of RAM were free (e.g. 8 for an 8 GB laptop).
        #[arg(long)]
        assume_ram_gib: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A thread count on the command line: `auto` (`None`: adapted to the CPU) or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadCount(pub Option<usize>);

impl std::str::FromStr for ThreadCount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self(None));
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Self(Some(n))),
            _ => Err(format!(
                "{s:?} is not a thread count: use auto (adapt to the CPU) or a number from 1"
            )),
        }
    }
}

impl std::fmt::Display for ThreadCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("auto"),
            Some(n) => write!(f, "{n}"),
        }
    }
}

/// Which model and how to run it.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// GGUF model file (default: $XGEN_DESK_MODEL, else the installed XGen-7B-8K-Inst).
    #[arg(long, short = 'm', env = "XGEN_DESK_MODEL")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (default: the model's, at most 8192).
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Threads: `auto` adapts them to the CPU the engine gets (up to one per physical core,
    /// fewer while other programs keep cores busy), a number fixes them.
    #[arg(long, short = 't', default_value = "auto")]
    pub threads: ThreadCount,
    /// Layers to offload to the GPU (default: the memory planner's choice).
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
    /// The load settings the flags ask for; what they leave open is the planner's to choose.
    #[must_use]
    pub fn settings(&self) -> LoadSettings {
        LoadSettings {
            n_ctx: self.ctx,
            threads: self.threads.0,
            threads_batch: None,
            n_batch: self.batch.max(1),
            gpu_layers: self.gpu_layers,
            kv_cache: self.kv.unwrap_or_default(),
            flash_attention: None,
            use_mmap: None,
            state_cache: None,
        }
    }

    /// Planning that keeps what the flags fixed.
    #[must_use]
    pub fn planning(&self) -> Planning {
        Planning::Fit {
            kv_fixed: self.kv.is_some(),
        }
    }

    /// The model to use: `--model`, else the installed default (XGen-7B-8K-Inst first).
    ///
    /// # Errors
    /// When none is given and none is installed, saying how to get one.
    pub fn resolve_model(&self) -> Result<PathBuf> {
        if let Some(path) = &self.model {
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
}

/// An inference server to use instead of a local model.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Use the llama-server or vLLM at URL instead of a local model (e.g. http://gpu-box:8080).
    #[arg(long, env = "XGEN_DESK_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The model to use on the server (default: the first one it lists).
    #[arg(long, value_name = "NAME")]
    pub server_model: Option<String>,
    /// The environment variable holding the server's API key (default: XGEN_DESK_API_KEY, if set).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Parts of a long document summarized at the same time (default: the server's slots).
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
}

impl ServerArgs {
    /// The server to use, if one is given; the API key is read from its variable here.
    ///
    /// # Errors
    /// When `--api-key-env` names a variable that is not set.
    pub fn config(&self) -> Result<Option<crate::remote::ServerConfig>> {
        let Some(url) = self.server.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let api_key = match &self.api_key_env {
            Some(var) => Some(std::env::var(var).with_context(|| {
                format!("--api-key-env {var}: the environment variable {var} is not set")
            })?),
            None => std::env::var("XGEN_DESK_API_KEY").ok(),
        };
        Ok(Some(crate::remote::ServerConfig {
            url: url.to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
            model: self.server_model.clone(),
            parallel: self.parallel.filter(|n| *n > 0),
        }))
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
    /// Drafts from the document, checked in batches (prompt-lookup decoding): auto (where they
    /// pay and this machine computes the same reply either way), on (where they pay; the
    /// wording can then differ slightly), off, or always (every draft found, for measuring).
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub drafts: DraftMode,
    /// Print no timings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl SamplingArgs {
    /// The sampling the flags ask for, on top of the model card's defaults.
    #[must_use]
    pub fn sampling(&self) -> Sampling {
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
            drafts: self.drafts,
        }
    }
}

/// The data directories and Hub settings from the environment, offline when asked.
///
/// # Errors
/// When no data directory can be found.
pub fn setup_options(offline: bool) -> Result<SetupOptions> {
    let mut options = SetupOptions::from_env().context("could not find the data directories")?;
    if offline {
        options.hub.offline = true;
    }
    Ok(options)
}

/// Arguments of `ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The document, or `-` for standard input.
    pub file: PathBuf,
    /// The question.
    pub question: String,
    /// Ask every part of a long document in turn and combine the answers (for questions such
    /// as "list every deadline").
    #[arg(long)]
    pub every_part: bool,
    /// Print one JSON object (answer, sentences with sources, not_found, read) instead of
    /// streaming.
    #[arg(long)]
    pub json: bool,
    /// Which model and how to run it.
    #[command(flatten)]
    pub model: ModelArgs,
    /// An inference server to use instead.
    #[command(flatten)]
    pub server: ServerArgs,
    /// How replies are sampled.
    #[command(flatten)]
    pub sampling: SamplingArgs,
}
