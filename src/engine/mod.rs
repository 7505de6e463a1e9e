//! The inference engine: one named thread owns llama.cpp's backend, model and context; the
//! rest of the program talks to it with [`Command`]s and hears back through [`Event`]s.
//!
//! `LlamaContext` borrows its model and is not `Send`, so nothing of llama.cpp ever leaves the
//! worker thread. Cancelling is a shared flag the worker checks between prompt batches and
//! before every generated token.

pub mod bench;
pub mod plan;
pub mod state_cache;
mod stream;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::prompt::Message;
pub use plan::{plan, plan_for_model, Hardware, ModelFacts, Plan, PlanError, PlanRequest};
pub use state_cache::{CachePrefix, StateCacheConfig};
pub use stream::StopScanner;
pub use worker::gpu_backend;

/// Settings for loading a model and creating its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    /// Context size in tokens; `None` uses the model's training context, capped at 8192.
    pub n_ctx: Option<u32>,
    /// Threads for generation; `None` means one per physical core.
    pub threads: Option<usize>,
    /// Threads for reading the prompt; `None` means the same as `threads`.
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
    /// The generation thread count these settings resolve to on this machine.
    #[must_use]
    pub fn resolved_threads(&self) -> usize {
        self.threads.unwrap_or_else(default_threads).max(1)
    }
}

/// One thread per physical core: llama.cpp's default of 4 is wrong on most machines, and
/// hyper-threads slow matrix work down rather than up.
#[must_use]
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
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
    /// Identifies the reply in [`Event`]s.
    pub id: u64,
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
    pub fn chat(id: u64, messages: Vec<Message>, sampling: Sampling) -> Self {
        Self {
            id,
            prompt: PromptInput::Chat(messages),
            sampling,
            ignore_end_of_turn: false,
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
    /// Threads for generation and for prompt reading.
    pub threads: (usize, usize),
    /// Layers offloaded to a GPU.
    pub gpu_layers: u32,
    /// The GPU backend compiled in, if any.
    pub gpu_backend: Option<String>,
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

/// What the engine reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// Loading advanced (0.0 ..= 1.0).
    LoadProgress(f32),
    /// A model is ready.
    Loaded(ModelInfo),
    /// Loading failed; no model is loaded.
    LoadFailed(EngineError),
    /// Prompt evaluation advanced.
    PromptProgress {
        /// The request.
        id: u64,
        /// Tokens evaluated so far.
        done: usize,
        /// Tokens to evaluate.
        total: usize,
    },
    /// A piece of the reply (valid UTF-8, never a partial character).
    Token {
        /// The request.
        id: u64,
        /// The text.
        text: String,
    },
    /// The reply is complete.
    Done {
        /// The request.
        id: u64,
        /// Why it ended.
        reason: StopReason,
        /// Figures.
        timings: Timings,
    },
    /// The request failed; the model stays loaded.
    Failed {
        /// The request.
        id: u64,
        /// What went wrong.
        error: EngineError,
    },
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
    /// The engine thread is gone.
    #[error("the engine thread has stopped")]
    Stopped,
}

/// Instructions for the engine thread.
pub(crate) enum Command {
    Load {
        path: PathBuf,
        settings: LoadSettings,
    },
    Generate(GenerateRequest),
    Tokenize {
        input: TokenizeInput,
        reply: mpsc::Sender<Result<Vec<i32>, EngineError>>,
    },
    ClearCache,
    Unload,
    Shutdown,
}

/// What to tokenize.
pub(crate) enum TokenizeInput {
    /// Plain text, special tokens not parsed.
    Text(String),
    /// The full prompt of a conversation.
    Chat(Vec<Message>),
}

/// A handle to the engine thread. Dropping it stops the thread.
pub struct Engine {
    commands: mpsc::Sender<Command>,
    cancel: Arc<AtomicBool>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread; every event goes to `on_event`, on the engine thread.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn spawn(on_event: impl FnMut(Event) + Send + 'static) -> std::io::Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let worker_cancel = Arc::clone(&cancel);
        let thread = std::thread::Builder::new()
            .name("xgen-engine".into())
            .spawn(move || worker::run(&inbox, &worker_cancel, on_event))?;
        Ok(Self {
            commands,
            cancel,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// Starts the engine with events delivered to a channel.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn spawn_with_channel() -> std::io::Result<(Self, mpsc::Receiver<Event>)> {
        let (tx, rx) = mpsc::channel();
        let engine = Self::spawn(move |event| {
            // The receiver going away only means nobody listens any more.
            tx.send(event).ok();
        })?;
        Ok((engine, rx))
    }

    /// Loads a model (replacing any loaded one); answers with [`Event::Loaded`] or
    /// [`Event::LoadFailed`].
    pub fn load(&self, path: impl AsRef<Path>, settings: LoadSettings) {
        self.cancel.store(false, Ordering::SeqCst);
        self.send(Command::Load {
            path: path.as_ref().to_path_buf(),
            settings,
        });
    }

    /// A fresh request id.
    pub fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts a reply; its events carry `request.id`.
    pub fn generate(&self, request: GenerateRequest) {
        self.cancel.store(false, Ordering::SeqCst);
        self.send(Command::Generate(request));
    }

    /// Stops the current reply (within one token) or load.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Forgets the cached conversation, so the next prompt is read from the start.
    pub fn clear_cache(&self) {
        self.send(Command::ClearCache);
    }

    /// Unloads the model.
    pub fn unload(&self) {
        self.send(Command::Unload);
    }

    /// Counts the tokens of plain text with the model's own tokenizer (special tokens not
    /// parsed). Blocks until the engine answers.
    ///
    /// # Errors
    /// [`EngineError::NoModel`] before a model is loaded, [`EngineError::Stopped`] if the thread
    /// is gone.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        self.tokenize(text).map(|ids| ids.len())
    }

    /// The token ids of plain text (special tokens not parsed). Blocks until answered.
    ///
    /// # Errors
    /// As [`Self::count_tokens`].
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>, EngineError> {
        self.ask_tokens(TokenizeInput::Text(text.to_owned()))
    }

    /// The token ids of the full prompt a conversation becomes. Blocks until answered.
    ///
    /// # Errors
    /// As [`Self::count_prompt_tokens`].
    pub fn prompt_token_ids(&self, messages: &[Message]) -> Result<Vec<i32>, EngineError> {
        self.ask_tokens(TokenizeInput::Chat(messages.to_vec()))
    }

    fn ask_tokens(&self, input: TokenizeInput) -> Result<Vec<i32>, EngineError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Tokenize { input, reply });
        answer.recv().map_err(|_| EngineError::Stopped)?
    }

    /// Counts the tokens of the full prompt a conversation becomes. Blocks until answered.
    ///
    /// # Errors
    /// As [`Self::count_tokens`], and template errors.
    pub fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError> {
        self.prompt_token_ids(messages).map(|ids| ids.len())
    }

    fn send(&self, command: Command) {
        // A send only fails once the worker has exited; requests then get no answer, and the
        // blocking calls report `Stopped`.
        self.commands.send(command).ok();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.commands.send(Command::Shutdown).ok();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the engine thread panicked");
            }
        }
    }
}

/// Waits for the next event from a channel, with a timeout.
///
/// # Errors
/// [`EngineError::Stopped`] when the channel closes or nothing arrives in time.
pub fn recv_event(events: &mpsc::Receiver<Event>, timeout: Duration) -> Result<Event, EngineError> {
    events
        .recv_timeout(timeout)
        .map_err(|_| EngineError::Stopped)
}

/// Checks that a GGUF loads and runs a token through it, on a short-lived engine: the last
/// step before a converted model is marked ready.
///
/// # Errors
/// The load or evaluation error.
pub fn validate_model(path: &Path) -> Result<ModelInfo, EngineError> {
    let (engine, events) = Engine::spawn_with_channel().map_err(|_| EngineError::Stopped)?;
    engine.load(
        path,
        LoadSettings {
            n_ctx: Some(256),
            ..LoadSettings::default()
        },
    );
    let timeout = Duration::from_secs(1800);
    let info = loop {
        match recv_event(&events, timeout)? {
            Event::Loaded(info) => break info,
            Event::LoadFailed(error) => return Err(error),
            _ => {}
        }
    };
    let id = engine.next_request_id();
    engine.generate(GenerateRequest {
        id,
        prompt: PromptInput::Tokens(vec![0]),
        sampling: Sampling::greedy(1),
        ignore_end_of_turn: true,
        cache_prefix: None,
    });
    loop {
        match recv_event(&events, timeout)? {
            Event::Done {
                id: got, timings, ..
            } if got == id && timings.generated_tokens == 1 => return Ok(info),
            Event::Done { id: got, .. } if got == id => {
                return Err(EngineError::Decode("the model produced no token".into()));
            }
            Event::Failed { id: got, error } if got == id => return Err(error),
            _ => {}
        }
    }
}
