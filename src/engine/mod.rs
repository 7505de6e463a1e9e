//! The inference engine: one named thread owns llama.cpp's backend, model and context; the
//! rest of the program talks to it through requests.
//!
//! `LlamaContext` borrows its model and is not `Send`, so nothing of llama.cpp ever leaves the
//! worker thread. Every request ([`Engine::load`], [`Engine::generate`]) returns a handle with
//! its own event stream and its own [`CancelToken`], so stopping one reply never stops the next
//! and nobody reads another request's events. The engine's life is part of every wait: when the
//! worker thread dies (a panic), each open handle ends with [`EngineError::Stopped`] and the
//! reason, instead of waiting forever; [`Engine::stopped`] tells an idle caller.

pub mod check;
mod handle;
pub mod hardware;
mod inference;
pub mod plan;
mod remote_error;
mod request;
pub mod runtime;
pub mod state_cache;
mod stream;
pub mod threads;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::prompt::Message;
pub use handle::{Finished, Handle, LoadHandle, PrereadHandle, ReplyHandle};
pub(crate) use inference::ended_at_once;
pub use inference::Inference;
pub use plan::{plan, plan_for_model, Hardware, ModelFacts, Plan, PlanError, PlanRequest};
pub use remote_error::RemoteError;
pub use request::{
    DraftMode, EngineError, GenerateRequest, KvPrecision, LoadEvent, LoadSettings, ModelInfo,
    Planning, PrereadEvent, PrereadRequest, PromptInput, ReplyEvent, RequestEvent, Sampling,
    StopReason, Timings,
};
pub use runtime::gpu_backend;
pub use state_cache::{CachePrefix, StateCacheConfig};
pub use stream::StopScanner;
pub use threads::{Slowdown, ThreadUse, ThreadsNow};

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
    Preread {
        request: PrereadRequest,
        reply: Outbox<PrereadEvent>,
    },
    PrereadAlongside {
        request: PrereadRequest,
        reply: Outbox<PrereadEvent>,
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
    threads: Arc<threads::Live>,
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
        let threads = Arc::new(threads::Live::default());
        let worker_threads = Arc::clone(&threads);
        let thread = std::thread::Builder::new()
            .name("xgen-engine".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker::run(&inbox, &worker_threads);
                }));
                worker_threads.clear();
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
            threads,
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

    /// The thread counts the loaded model runs with now (they change with the load of the
    /// CPU unless fixed); `None` while no model is loaded.
    #[must_use]
    pub fn threads_now(&self) -> Option<ThreadsNow> {
        self.threads.get()
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
        request_channel(id, cancel, Arc::clone(&self.notify), Arc::clone(&self.life))
    }

    /// Reads a document ahead, between other requests: it gives way to any request within one
    /// batch and goes on after it. A request about the document then finds it read; its state
    /// goes to the disk cache in steps as it is read ([`LoadSettings::state_cache`]), so
    /// reading resumes from the last step after a restart. A new read-ahead replaces the one
    /// under way, which ends with what it read.
    pub fn preread(&self, request: PrereadRequest) -> PrereadHandle {
        let (reply, handle) = self.request();
        self.send(Command::Preread { request, reply });
        handle
    }

    /// Reads a document ahead in a second context of its own, alongside the requests that use
    /// the main one: between the steps of a reply (taking about as much time as the reply, so
    /// it is written at about half speed meanwhile) and at full speed when nothing else is to be
    /// done. For the next file of a queue while a summary is written. Only where memory allows a
    /// second KV cache the size of the document, and where the disk state cache is configured:
    /// the state read goes there, and a request about the document (its
    /// [`CachePrefix`]) finishes the reading first and then loads it. Otherwise it ends at once
    /// with `Failed` saying why. A new one replaces the one under way.
    pub fn preread_alongside(&self, request: PrereadRequest) -> PrereadHandle {
        let (reply, handle) = self.request();
        self.send(Command::PrereadAlongside { request, reply });
        handle
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
