//! What is asked of the engine and what it answers: load settings, sampling, requests, model
//! facts, timings, the events of a request and the errors.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::hardware;
use super::plan::{Plan, PlanError};
use super::remote_error::RemoteError;
use super::state_cache::{CachePrefix, StateCacheConfig};
use super::threads::ThreadUse;
use crate::prompt::Message;

/// Settings for loading a model and creating its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    /// Context size in tokens; `None` uses the model's training context, capped at 8192.
    pub n_ctx: Option<u32>,
    /// Threads for generation: a fixed count, or `None` to adapt to the CPU the engine gets
    /// (between one and one per physical core, fewer while other programs keep cores busy).
    pub threads: Option<usize>,
    /// Threads for reading the prompt: a fixed count, or `None` for the same as `threads`
    /// (adapted apart from generation's when that adapts).
    pub threads_batch: Option<usize>,
    /// Tokens per prompt batch.
    pub n_batch: u32,
    /// Layers to offload to the GPU; `None` offloads all of them when a GPU backend is built in.
    pub gpu_layers: Option<u32>,
    /// Precision of the KV cache.
    pub kv_cache: KvPrecision,
    /// Flash attention on or off; `None` lets llama.cpp decide. A quantized KV cache turns it on.
    pub flash_attention: Option<bool>,
    /// Memory-map the weights; `None` maps them only when every layer goes to a GPU. On the CPU,
    /// llama.cpp repacks most 4-bit weights into a copy, and with mapping on the file pages it
    /// read stay resident too: XGen-7B Q4_K_M's 3 GiB of repacked weights would count twice.
    #[serde(default)]
    pub use_mmap: Option<bool>,
    /// Save the KV state of document prefixes to disk and load it back
    /// ([`GenerateRequest::cache_prefix`]); `None` turns the disk cache off.
    #[serde(default)]
    pub state_cache: Option<StateCacheConfig>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            n_ctx: None,
            threads: None,
            threads_batch: None,
            n_batch: 512,
            gpu_layers: None,
            kv_cache: KvPrecision::F16,
            flash_attention: None,
            use_mmap: None,
            state_cache: None,
        }
    }
}

impl LoadSettings {
    /// The most generation threads these settings allow on this machine: the fixed count, or
    /// one per physical core.
    #[must_use]
    pub fn resolved_threads(&self) -> usize {
        self.threads
            .unwrap_or_else(hardware::default_threads)
            .max(1)
    }
}

/// Precision of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KvPrecision {
    /// 16-bit floats (llama.cpp's default).
    #[default]
    F16,
    /// 8-bit blocks: half the memory.
    Q8_0,
    /// 4-bit blocks: a quarter of the memory; needs flash attention.
    Q4_0,
}

impl std::str::FromStr for KvPrecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(Self::F16),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            "q4_0" | "q4" => Ok(Self::Q4_0),
            other => Err(format!(
                "unknown KV cache precision {other:?} (expected f16, q8_0 or q4_0)"
            )),
        }
    }
}

/// Sampling settings. The defaults follow the XGen model card (top-k 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Temperature; 0 or less means greedy (reproducible).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: i32,
    /// Nucleus sampling; 1.0 disables.
    pub top_p: f32,
    /// Penalty for repeating recent tokens; 1.0 disables.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: i32,
    /// Random seed.
    pub seed: u32,
    /// Most tokens to generate; also reserved in the context before the prompt is accepted.
    pub max_tokens: u32,
    /// Draft tokens from the prompt and check them in one batch (prompt-lookup decoding):
    /// faster replies that quote the document (see `engine::worker::decode`).
    #[serde(default)]
    pub drafts: DraftMode,
}

/// When replies use drafts from the prompt (prompt-lookup decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftMode {
    /// Never: one token per evaluation.
    Off,
    /// Where they pay and change nothing: only once this machine has been seen to compute a
    /// token in a batch bit for bit like a token alone (checked as replies go), and only when
    /// the measured cost of a batch and the acceptance so far say a draft saves time. The
    /// reply is then token for token the one plain decoding gives.
    #[default]
    Auto,
    /// Wherever the measured costs say they pay, also where a batched token is computed with
    /// other kernels than a lone one: then a near-tie can go the other way and the wording can
    /// differ slightly from plain decoding.
    On,
    /// Every draft found, as long as found, whatever it costs: for measuring how often drafts
    /// are kept (benchmarks, tests). Not offered in the app.
    Always,
}

impl DraftMode {
    /// The modes a person chooses from, in the order a menu lists them.
    pub const ALL: [Self; 3] = [Self::Auto, Self::On, Self::Off];

    /// The word the CLI and the settings use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Auto => "auto",
            Self::On => "on",
            Self::Always => "always",
        }
    }
}

impl std::str::FromStr for DraftMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .chain([Self::Always])
            .find(|mode| mode.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown draft mode {s:?} (expected auto, on or off)"))
    }
}

impl<'de> Deserialize<'de> for DraftMode {
    /// Also reads the settings of earlier versions, where drafts were a switch that was off by
    /// default: on stays on; off becomes auto, which never changes a reply.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Switch(bool),
            Mode(String),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Switch(true) => Ok(Self::On),
            Stored::Switch(false) => Ok(Self::Auto),
            Stored::Mode(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 100,
            top_p: 0.95,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0x5EED,
            max_tokens: 512,
            drafts: DraftMode::Auto,
        }
    }
}

impl Sampling {
    /// Greedy decoding: the same tokens every time, for tests and comparisons.
    #[must_use]
    pub fn greedy(max_tokens: u32) -> Self {
        Self {
            temperature: 0.0,
            top_k: 1,
            top_p: 1.0,
            repeat_penalty: 1.0,
            max_tokens,
            ..Self::default()
        }
    }
}

/// What the model is asked to do.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// What to continue.
    pub prompt: PromptInput,
    /// How to pick tokens.
    pub sampling: Sampling,
    /// Keep generating past the end of the turn (for benchmarks).
    pub ignore_end_of_turn: bool,
    /// The leading part of the prompt that is a document: its KV state is saved to the disk
    /// cache once read, and loaded from there when the live cache does not hold it (needs
    /// [`LoadSettings::state_cache`]). `None`: nothing is saved or loaded.
    pub cache_prefix: Option<CachePrefix>,
}

impl GenerateRequest {
    /// A reply to a conversation.
    #[must_use]
    pub fn chat(messages: Vec<Message>, sampling: Sampling) -> Self {
        Self {
            prompt: PromptInput::Chat(messages),
            sampling,
            ignore_end_of_turn: false,
            cache_prefix: None,
        }
    }

    /// Raw tokens, continued past the end of the turn (benchmarks and checks).
    #[must_use]
    pub fn tokens(ids: Vec<i32>, sampling: Sampling) -> Self {
        Self {
            prompt: PromptInput::Tokens(ids),
            sampling,
            ignore_end_of_turn: true,
            cache_prefix: None,
        }
    }

    /// The same request, keeping `prefix` in the disk state cache.
    #[must_use]
    pub fn with_cache_prefix(mut self, prefix: CachePrefix) -> Self {
        self.cache_prefix = Some(prefix);
        self
    }
}

/// The text a reply continues.
#[derive(Debug, Clone)]
pub enum PromptInput {
    /// A conversation, written in the model's prompt format; ends with the person's message.
    Chat(Vec<Message>),
    /// Raw token ids (benchmarks).
    Tokens(Vec<i32>),
}

/// How a load fits the model to this computer's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// Load with the settings as given.
    Off,
    /// Plan first ([`crate::engine::plan::plan`]): GPU layers and (unless `kv_fixed`) the KV precision are
    /// chosen to fit; a model that cannot fit fails before loading, with the numbers. A header
    /// the planner cannot read is left to the load, which says what is wrong with the file.
    Fit {
        /// The KV precision in the settings was chosen by the person: keep it.
        kv_fixed: bool,
    },
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// `general.name`, or the file name.
    pub name: String,
    /// Context the model was trained for.
    pub n_ctx_train: u32,
    /// Context of the live session.
    pub n_ctx: u32,
    /// Tokens in the vocabulary.
    pub n_vocab: i32,
    /// Parameters.
    pub n_params: u64,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    /// True when the XGen prompt format is used.
    pub xgen: bool,
    /// Threads for generation and for prompt reading: the counts fixed, or the most the
    /// engine adapts up to ([`Self::adaptive_threads`]).
    pub threads: (usize, usize),
    /// The thread counts adapt to the CPU the engine gets (not fixed by the person); see
    /// [`crate::engine::Engine::threads_now`] for the counts in use.
    #[serde(default)]
    pub adaptive_threads: bool,
    /// Layers offloaded to a GPU.
    pub gpu_layers: u32,
    /// The GPU backend compiled in, if any.
    pub gpu_backend: Option<String>,
    /// The memory plan the load followed ([`Planning::Fit`]).
    #[serde(default)]
    pub plan: Option<Plan>,
    /// The server's address when the model runs on an inference server (`crate::remote`);
    /// `None` for a model loaded here.
    #[serde(default)]
    pub server: Option<String>,
}

/// Why a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// The model ended its turn.
    EndOfTurn,
    /// `max_tokens` was reached.
    MaxTokens,
    /// The context is full.
    ContextFull,
    /// Someone cancelled.
    Cancelled,
}

/// How fast a reply was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens of the prompt that were evaluated (the rest came from the cache).
    pub prompt_evaluated: usize,
    /// Tokens of the prompt whose KV state was loaded from the disk state cache.
    #[serde(default)]
    pub prompt_restored: usize,
    /// Seconds spent verifying and loading that state (part of `ttft_secs`).
    #[serde(default)]
    pub restore_secs: f64,
    /// Seconds spent evaluating the prompt.
    pub prefill_secs: f64,
    /// Seconds from the request to the first generated token.
    pub ttft_secs: f64,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent generating after the first token.
    pub generation_secs: f64,
    /// Batches that checked drafted tokens.
    #[serde(default)]
    pub draft_steps: usize,
    /// Tokens drafted from the prompt and the reply.
    #[serde(default)]
    pub drafted: usize,
    /// Drafted tokens the model agreed with (each saved one evaluation).
    #[serde(default)]
    pub draft_accepted: usize,
    /// Whether this engine has been seen to compute a token in a batch bit for bit like a
    /// token alone (what [`DraftMode::Auto`] needs), as known at the end of the reply; `None`
    /// while it was never checked.
    #[serde(default)]
    pub batch_exact: Option<bool>,
    /// The threads the prompt and the reply ran with (zeros from an inference server).
    #[serde(default)]
    pub threads: ThreadUse,
}

impl Timings {
    /// Prompt tokens evaluated per second.
    #[must_use]
    pub fn prefill_tok_per_sec(&self) -> f64 {
        rate(self.prompt_evaluated, self.prefill_secs)
    }

    /// Generated tokens per second, after the first.
    #[must_use]
    pub fn generation_tok_per_sec(&self) -> f64 {
        rate(
            self.generated_tokens.saturating_sub(1),
            self.generation_secs,
        )
    }
}

fn rate(tokens: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        tokens as f64 / secs
    } else {
        0.0
    }
}

/// What a model load reports, in order: progress, then one final event.
#[allow(
    clippy::large_enum_variant,
    reason = "one `Loaded` per load: boxing it would save nothing worth the indirection"
)]
#[derive(Debug, Clone)]
pub enum LoadEvent {
    /// Loading advanced (0.0 ..= 1.0).
    Progress(f32),
    /// A model is ready.
    Loaded(ModelInfo),
    /// Loading failed; no model is loaded.
    Failed(EngineError),
}

/// What a reply reports, in order: prompt progress and text, then one final event.
#[derive(Debug, Clone)]
pub enum ReplyEvent {
    /// Prompt evaluation advanced.
    Prompt {
        /// Tokens evaluated so far.
        done: usize,
        /// Tokens to evaluate.
        total: usize,
    },
    /// A piece of the reply (valid UTF-8, never a partial character).
    Text(String),
    /// The reply is complete.
    Done {
        /// Why it ended.
        reason: StopReason,
        /// Figures.
        timings: Timings,
    },
    /// The request failed; the model stays loaded.
    Failed(EngineError),
}

/// A document to read ahead, before anything is asked about it.
#[derive(Debug, Clone)]
pub struct PrereadRequest {
    /// The prompt's messages up to the one that carries the document (system prompt first).
    pub messages: Vec<Message>,
    /// The document's part of that prompt ([`CachePrefix::Document`] as a rule).
    pub prefix: CachePrefix,
}

/// What reading ahead reports, in order: progress, then one final event.
#[derive(Debug, Clone)]
pub enum PrereadEvent {
    /// Tokens of the document read so far (from the live cache, the disk, or evaluated now).
    Progress {
        /// Tokens read.
        done: usize,
        /// Tokens of the document's prefix.
        total: usize,
    },
    /// Reading ended.
    Done {
        /// Tokens read.
        done: usize,
        /// Tokens of the document's prefix.
        total: usize,
        /// Tokens whose state came from the disk cache.
        restored: usize,
    },
    /// Reading failed (the model stays loaded).
    Failed(EngineError),
}

/// The events of one request; the last one is final.
pub trait RequestEvent: Send + 'static {
    /// True for the event that ends the request.
    fn is_final(&self) -> bool;
    /// True for events that come many times a second (text, progress): a UI redraws for them
    /// at a bounded rate.
    fn is_frequent(&self) -> bool;
}

impl RequestEvent for LoadEvent {
    fn is_final(&self) -> bool {
        !matches!(self, Self::Progress(_))
    }

    fn is_frequent(&self) -> bool {
        matches!(self, Self::Progress(_))
    }
}

impl RequestEvent for PrereadEvent {
    fn is_final(&self) -> bool {
        !matches!(self, Self::Progress { .. })
    }

    fn is_frequent(&self) -> bool {
        matches!(self, Self::Progress { .. })
    }
}

impl RequestEvent for ReplyEvent {
    fn is_final(&self) -> bool {
        matches!(self, Self::Done { .. } | Self::Failed(_))
    }

    fn is_frequent(&self) -> bool {
        matches!(self, Self::Prompt { .. } | Self::Text(_))
    }
}

/// What can go wrong in the engine.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EngineError {
    /// The model file does not exist.
    #[error("model file {0} does not exist")]
    MissingFile(PathBuf),
    /// The model file is not usable.
    #[error("{path} is not a usable GGUF model: {reason}")]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// llama.cpp refused the file.
    #[error("llama.cpp could not load {0}; the file may be corrupt or of an unsupported architecture (see the log for details)")]
    LoadRejected(PathBuf),
    /// Loading was cancelled.
    #[error("loading was cancelled")]
    LoadCancelled,
    /// The context could not be created (usually not enough memory).
    #[error("could not create a {n_ctx}-token context: {reason}")]
    Context {
        /// Requested size.
        n_ctx: u32,
        /// llama.cpp's reason.
        reason: String,
    },
    /// A request came before a model was loaded.
    #[error("no model is loaded")]
    NoModel,
    /// The prompt and the reserved reply do not fit in the context.
    #[error("the prompt is {prompt_tokens} tokens and {reserved} are reserved for the reply, but the context holds {n_ctx}: shorten the text by about {} tokens, lower the reply length, or use a larger context", prompt_tokens + reserved - n_ctx)]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Tokens reserved for the reply.
        reserved: usize,
        /// Context size.
        n_ctx: usize,
    },
    /// The model has no chat template and is not XGen.
    #[error(
        "this model carries no chat template, so xgen-desk does not know how to write its prompt"
    )]
    NoChatTemplate,
    /// Applying the template failed.
    #[error("the model's chat template failed: {0}")]
    Template(String),
    /// llama.cpp failed while evaluating.
    #[error("llama.cpp failed to evaluate the prompt: {0}")]
    Decode(String),
    /// The memory planner found no configuration that fits.
    #[error(transparent)]
    DoesNotFit(#[from] PlanError),
    /// The engine thread is gone; a new engine must be started (the app's Reload).
    #[error("the engine stopped: {0}")]
    Stopped(String),
    /// The inference server failed the request (unreachable, refused, dropped the connection).
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_modes_read_from_words_and_from_earlier_switches() {
        let read = |json: &str| serde_json::from_str::<DraftMode>(json);
        assert_eq!(read("\"auto\"").ok(), Some(DraftMode::Auto));
        assert_eq!(read("\"on\"").ok(), Some(DraftMode::On));
        assert_eq!(read("\"off\"").ok(), Some(DraftMode::Off));
        assert_eq!(read("true").ok(), Some(DraftMode::On));
        assert_eq!(read("false").ok(), Some(DraftMode::Auto));
        assert!(read("\"sometimes\"").is_err());
        assert_eq!(
            serde_json::to_string(&DraftMode::Auto).ok().as_deref(),
            Some("\"auto\"")
        );
        // Sampling saved before drafts existed, and with the earlier switch.
        let mut old = serde_json::to_value(Sampling::default()).expect("to JSON");
        if let Some(fields) = old.as_object_mut() {
            fields.remove("drafts");
        }
        let sampling: Sampling = serde_json::from_value(old.clone()).expect("without drafts");
        assert_eq!(sampling.drafts, DraftMode::Auto);
        old["drafts"] = serde_json::Value::Bool(true);
        let sampling: Sampling = serde_json::from_value(old).expect("with the switch");
        assert_eq!(sampling.drafts, DraftMode::On);
        assert_eq!(" Always ".parse::<DraftMode>(), Ok(DraftMode::Always));
    }
}
