//! The inference engine: one named thread owns llama.cpp's backend, model and context; the
//! rest of the program talks to it through requests.
//!
//! `LlamaContext` borrows its model and is not `Send`, so nothing of llama.cpp ever leaves the
//! worker thread. Every request ([`Engine::load`], [`Engine::generate`]) returns a handle with
//! its own event stream and its own [`CancelToken`], so stopping one reply never stops the next
//! and nobody reads another request's events. The engine's life is part of every wait: when the
//! worker thread dies (a panic), each open handle ends with [`EngineError::Stopped`] and the
//! reason, instead of waiting forever; [`Engine::stopped`] tells an idle caller.

mod backend;
mod handle;
pub mod hardware;
pub mod plan;
pub mod runtime;
pub mod state_cache;
mod stream;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::prompt::Message;
pub use backend::{Backend, Inference};
pub use handle::{Finished, Handle, LoadHandle, ReplyHandle};
pub use plan::{plan, plan_for_model, Hardware, ModelFacts, Plan, PlanError, PlanRequest};
pub use runtime::gpu_backend;
pub use state_cache::{CachePrefix, StateCacheConfig};
pub use stream::StopScanner;

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
    /// faster replies that quote the document. The model still chooses every token, but over
    /// batched arithmetic that differs slightly from a token evaluated alone, so the wording
    /// can differ from a reply without drafts (see `engine::worker::decode`).
    #[serde(default)]
    pub drafts: bool,
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
            drafts: false,
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
    /// Plan first ([`plan::plan`]): GPU layers and (unless `kv_fixed`) the KV precision are
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
    /// Threads for generation and for prompt reading.
    pub threads: (usize, usize),
    /// Layers offloaded to a GPU.
    pub gpu_layers: u32,
    /// The GPU backend compiled in, if any.
    pub gpu_backend: Option<String>,
    /// The memory plan the load followed ([`Planning::Fit`]).
    #[serde(default)]
    pub plan: Option<Plan>,
    /// The server's address when the model runs on an inference server
    /// ([`crate::remote::RemoteEngine`]); `None` for a model loaded here.
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
    Remote(#[from] crate::remote::RemoteError),
}

/// Instructions for the engine thread.
pub(crate) enum Command {
    Load {
        path: PathBuf,
        settings: LoadSettings,
        planning: Planning,
        reply: Outbox<LoadEvent>,
    },
    Generate {
        request: GenerateRequest,
        reply: Outbox<ReplyEvent>,
    },
    Tokenize {
        input: TokenizeInput,
        reply: mpsc::Sender<Result<Vec<i32>, EngineError>>,
    },
    ClearCache,
    Unload,
    Shutdown,
    /// Makes the worker thread panic, to test what the rest does when the engine dies.
    #[cfg(feature = "fault-injection")]
    Panic,
}

/// What to tokenize.
pub(crate) enum TokenizeInput {
    /// Plain text, special tokens not parsed.
    Text(String),
    /// The full prompt of a conversation.
    Chat(Vec<Message>),
}

/// How much an event asks of whoever waits for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Text or progress: redraw soon, at a bounded rate.
    Soon,
    /// A request ended, or the engine stopped: look now.
    Now,
}

pub(crate) type Notify = Arc<dyn Fn(Wake) + Send + Sync>;

/// The worker's side of a request: where its events go, and its cancel flag.
pub(crate) struct Outbox<E> {
    events: mpsc::Sender<E>,
    cancel: CancelToken,
    notify: Notify,
}

impl<E> Clone for Outbox<E> {
    fn clone(&self) -> Self {
        Self {
            events: self.events.clone(),
            cancel: self.cancel.clone(),
            notify: Arc::clone(&self.notify),
        }
    }
}

/// Both ends of a request, for engines that are not the worker thread (the remote engine):
/// what the work sends on, and the handle the caller keeps.
pub(crate) fn request_channel<E: RequestEvent>(
    id: u64,
    cancel: CancelToken,
    notify: Notify,
    life: Arc<Life>,
) -> (Outbox<E>, Handle<E>) {
    let (tx, rx) = mpsc::channel();
    let outbox = Outbox {
        events: tx,
        cancel: cancel.clone(),
        notify,
    };
    (outbox, Handle::new(id, rx, cancel, life))
}

impl<E: RequestEvent> Outbox<E> {
    pub(crate) fn send(&self, event: E) {
        let wake = if event.is_frequent() {
            Wake::Soon
        } else {
            Wake::Now
        };
        // A handle that was dropped no longer listens; the work still finishes cleanly.
        self.events.send(event).ok();
        (self.notify)(wake);
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// How the engine thread ended, shared with every handle so that a request cut short can say
/// why.
#[derive(Default)]
pub(crate) struct Life {
    ended: Mutex<Option<String>>,
    changed: Condvar,
}

impl Life {
    pub(crate) fn end(&self, reason: String) {
        if let Ok(mut ended) = self.ended.lock() {
            ended.get_or_insert(reason);
        }
        self.changed.notify_all();
    }

    pub(crate) fn ended(&self) -> Option<String> {
        self.ended.lock().ok().and_then(|e| e.clone())
    }

    /// Why the engine stopped, once a handle saw its channel close. The thread drops a
    /// request's sender while it unwinds, a moment before it records why, so this waits a
    /// little for the reason.
    pub(crate) fn stopped_error(&self) -> EngineError {
        let deadline = Duration::from_secs(1);
        let reason = self.ended.lock().ok().and_then(|guard| {
            self.changed
                .wait_timeout_while(guard, deadline, |e| e.is_none())
                .ok()
                .and_then(|(e, _)| e.clone())
        });
        EngineError::Stopped(reason.unwrap_or_else(|| "the request was dropped".to_owned()))
    }
}

/// A handle to the engine thread. Dropping it stops the thread.
pub struct Engine {
    commands: mpsc::Sender<Command>,
    life: Arc<Life>,
    notify: Notify,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn spawn() -> std::io::Result<Self> {
        Self::spawn_with_notify(|_| {})
    }

    /// Starts the engine thread; `notify` is called on the engine thread after every event of
    /// every request, and when the engine stops (a UI wakes itself up there).
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn spawn_with_notify(
        notify: impl Fn(Wake) + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let life = Arc::new(Life::default());
        let notify: Notify = Arc::new(notify);
        let worker_life = Arc::clone(&life);
        let worker_notify = Arc::clone(&notify);
        let thread = std::thread::Builder::new()
            .name("xgen-engine".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker::run(&inbox);
                }));
                let reason = match outcome {
                    Ok(()) => "it was shut down".to_owned(),
                    Err(panic) => format!("the engine thread panicked: {}", panic_message(&*panic)),
                };
                // Requests still queued get their channels closed with the reason recorded.
                drop(inbox);
                worker_life.end(reason);
                worker_notify(Wake::Now);
            })?;
        Ok(Self {
            commands,
            life,
            notify,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// Starts an engine and loads a model, waiting for it (the CLI, benchmarks and tests).
    ///
    /// # Errors
    /// The load's error, or [`EngineError::Stopped`] when no thread can be started.
    pub fn open(
        path: impl AsRef<Path>,
        settings: LoadSettings,
        planning: Planning,
    ) -> Result<(Self, ModelInfo), EngineError> {
        let engine = Self::spawn().map_err(|e| EngineError::Stopped(e.to_string()))?;
        let info = engine.load(path, settings, planning).wait()?;
        Ok((engine, info))
    }

    /// Why the engine thread is gone, once it is (`None` while it runs).
    #[must_use]
    pub fn stopped(&self) -> Option<String> {
        self.life.ended()
    }

    /// Loads a model (replacing any loaded one). The handle reports progress, then
    /// [`LoadEvent::Loaded`] or [`LoadEvent::Failed`]; cancelling it stops the load.
    pub fn load(
        &self,
        path: impl AsRef<Path>,
        settings: LoadSettings,
        planning: Planning,
    ) -> LoadHandle {
        let (reply, handle) = self.request();
        self.send(Command::Load {
            path: path.as_ref().to_path_buf(),
            settings,
            planning,
            reply,
        });
        handle
    }

    /// Starts a reply. The handle streams its text and ends with [`ReplyEvent::Done`] or
    /// [`ReplyEvent::Failed`]; cancelling it stops the reply within one token.
    pub fn generate(&self, request: GenerateRequest) -> ReplyHandle {
        self.generate_with_cancel(request, CancelToken::new())
    }

    /// [`Engine::generate`] with a cancel token the caller already holds (a summary job whose
    /// Stop must reach the model call under way).
    pub fn generate_with_cancel(
        &self,
        request: GenerateRequest,
        cancel: CancelToken,
    ) -> ReplyHandle {
        let (reply, handle) = self.request_with(cancel);
        self.send(Command::Generate { request, reply });
        handle
    }

    fn request<E: RequestEvent>(&self) -> (Outbox<E>, Handle<E>) {
        self.request_with(CancelToken::new())
    }

    fn request_with<E: RequestEvent>(&self, cancel: CancelToken) -> (Outbox<E>, Handle<E>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        request_channel(
            id,
            cancel,
            Arc::clone(&self.notify),
            Arc::clone(&self.life),
        )
    }

    /// Forgets the cached conversation, so the next prompt is read from the start.
    pub fn clear_cache(&self) {
        self.send(Command::ClearCache);
    }

    /// Unloads the model.
    pub fn unload(&self) {
        self.send(Command::Unload);
    }

    /// Makes the engine thread panic (tests of what happens when the engine dies).
    #[cfg(feature = "fault-injection")]
    pub fn inject_panic(&self) {
        self.send(Command::Panic);
    }

    /// Counts the tokens of plain text with the model's own tokenizer (special tokens not
    /// parsed). Blocks until the engine answers (between two tokens of a running reply).
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
    /// As [`Self::count_tokens`], and template errors.
    pub fn prompt_token_ids(&self, messages: &[Message]) -> Result<Vec<i32>, EngineError> {
        self.ask_tokens(TokenizeInput::Chat(messages.to_vec()))
    }

    /// Counts the tokens of the full prompt a conversation becomes. Blocks until answered.
    ///
    /// # Errors
    /// As [`Self::count_tokens`], and template errors.
    pub fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError> {
        self.prompt_token_ids(messages).map(|ids| ids.len())
    }

    fn ask_tokens(&self, input: TokenizeInput) -> Result<Vec<i32>, EngineError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Tokenize { input, reply });
        answer.recv().map_err(|_| self.life.stopped_error())?
    }

    fn send(&self, command: Command) {
        // A send fails only once the worker has exited: the command's reply channels close
        // with it, so every handle and blocking call reports `Stopped` with the reason.
        if self.commands.send(command).is_err() {
            tracing::debug!("command sent to a stopped engine");
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the engine thread panicked while shutting down");
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "no message".to_owned())
}

/// Checks that a GGUF loads and runs a token through it, on a short-lived engine: the last
/// step before a converted model is marked ready.
///
/// # Errors
/// The load or evaluation error.
pub fn validate_model(path: &Path) -> Result<ModelInfo, EngineError> {
    let settings = LoadSettings {
        n_ctx: Some(256),
        ..LoadSettings::default()
    };
    let (engine, info) = Engine::open(path, settings, Planning::Off)?;
    let finished = engine
        .generate(GenerateRequest::tokens(vec![0], Sampling::greedy(1)))
        .wait()?;
    if finished.timings.generated_tokens == 1 {
        Ok(info)
    } else {
        Err(EngineError::Decode("the model produced no token".into()))
    }
}
