//! The model slot: the engine, the model it holds, the load under way, and what this computer
//! has; or an inference server used instead of the local engine. Memory planning happens inside
//! the engine's load request and the connection check on a job thread, never on the UI thread;
//! when the engine thread dies, the slot says so and can start a new one. While a local XGen
//! model loads, its `tokenizer.json` counts tokens so the document meter is there at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::job::{Job, Waker};
use crate::backend::Backend;
use crate::engine::check::check_isolated;
use crate::engine::hardware::Machine;
use crate::engine::{
    Engine, EngineError, LoadEvent, LoadHandle, LoadSettings, ModelFacts, ModelInfo, Plan, Planning,
};
use crate::isolate::Isolation;
use crate::remote::{secret, RemoteEngine, RemoteError, ServerConfig};
use crate::tokenizer::XgenTextTokenizer;

/// The model the engine holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// Nothing loaded.
    Empty,
    /// Loading.
    Loading {
        /// The file.
        path: PathBuf,
        /// 0.0 ..= 1.0.
        progress: f32,
        /// The file is being checked in a separate process first (its first load).
        checking: bool,
    },
    /// Checking an inference server and connecting to it.
    Connecting {
        /// The server's address.
        url: String,
    },
    /// Ready to answer (here, or on the server [`ModelInfo::server`] names).
    Ready(Box<ModelInfo>),
}

/// What a frame's poll found out about the model.
pub(crate) enum ModelChange {
    /// A model is ready.
    Loaded(ModelInfo),
    /// A load failed.
    Failed {
        /// The file.
        path: PathBuf,
        /// Why.
        error: EngineError,
    },
    /// The engine thread is gone.
    EngineStopped(String),
    /// An inference server is in use.
    Connected {
        /// The model there.
        info: ModelInfo,
        /// The server as it was asked for (without its key).
        config: ServerConfig,
        /// Things to tell: plain HTTP, an API key kept for this session only.
        warnings: Vec<String>,
    },
    /// The connection check failed.
    ConnectFailed {
        /// The server.
        url: String,
        /// What is wrong.
        error: RemoteError,
    },
}

/// What the connection job gives: the engine, and a notice about where its key was kept.
type Connection = Result<(RemoteEngine, Option<String>), RemoteError>;

/// XGen's tokenizer for a model being loaded, and the context the model will have.
type LoadingTokenizer = Option<(Arc<XgenTextTokenizer>, u32)>;

/// A file checked in a child process before the engine loads it.
struct PendingCheck {
    job: Job<Result<(), EngineError>>,
    path: PathBuf,
    settings: LoadSettings,
}

/// The engine and the model in it.
pub(crate) struct ModelSlot {
    engine: Arc<Engine>,
    /// The server in use instead of the local engine.
    remote: Option<Arc<RemoteEngine>>,
    connecting: Option<(ServerConfig, Job<Connection>)>,
    loading_tokenizer: LoadingTokenizer,
    tokenizer_job: Option<Job<LoadingTokenizer>>,
    state: ModelState,
    load: Option<LoadHandle>,
    /// The check of a file's first load, in a child process, and the load that follows it.
    check: Option<PendingCheck>,
    /// The file of the last load, for Reload after the engine stopped.
    last_path: Option<PathBuf>,
    last_settings: Option<LoadSettings>,
    /// Whether the last file still needed its check.
    last_check: Option<Isolation>,
    stopped_reported: bool,
    hardware: Option<Machine>,
    hardware_job: Option<Job<Machine>>,
    waker: Waker,
}

impl ModelSlot {
    /// Starts the engine thread and the hardware detection.
    ///
    /// # Errors
    /// When the engine thread cannot be started.
    pub(crate) fn new(waker: &Waker, load: &LoadSettings) -> Result<Self> {
        let engine = spawn_engine(waker)?;
        let detect_settings = load.clone();
        let hardware_job = Job::spawn("xgen-hardware", waker, move |r| {
            r.send(Machine::detect(detect_settings.threads), false);
        })
        .map_err(|e| tracing::warn!("could not detect the hardware: {e}"))
        .ok();
        Ok(Self {
            engine: Arc::new(engine),
            remote: None,
            connecting: None,
            loading_tokenizer: None,
            tokenizer_job: None,
            state: ModelState::Empty,
            load: None,
            check: None,
            last_path: None,
            last_settings: None,
            last_check: None,
            stopped_reported: false,
            hardware: None,
            hardware_job,
            waker: waker.clone(),
        })
    }

    /// The local engine (tests compare token counts with it).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// What answers requests: the server in use, else the local engine.
    pub(crate) fn backend(&self) -> Backend {
        match &self.remote {
            Some(remote) => Backend::Remote(Arc::clone(remote)),
            None => Backend::Local(Arc::clone(&self.engine)),
        }
    }

    /// What counts tokens now, and the context to count against: the ready model, or XGen's
    /// tokenizer while a local XGen model loads. `None` when nothing can count yet.
    pub(crate) fn counter(&self) -> Option<(Backend, usize)> {
        match (&self.state, &self.loading_tokenizer) {
            (ModelState::Ready(info), _) => Some((self.backend(), info.n_ctx as usize)),
            (ModelState::Loading { .. }, Some((tokenizer, n_ctx))) => {
                Some((Backend::Tokenizer(Arc::clone(tokenizer)), *n_ctx as usize))
            }
            _ => None,
        }
    }

    /// The server in use, if any.
    pub(crate) fn server(&self) -> Option<&RemoteEngine> {
        self.remote.as_deref()
    }

    pub(crate) fn state(&self) -> &ModelState {
        &self.state
    }

    pub(crate) fn info(&self) -> Option<&ModelInfo> {
        match &self.state {
            ModelState::Ready(info) => Some(info),
            _ => None,
        }
    }

    pub(crate) fn hardware(&self) -> Option<&Machine> {
        self.hardware.as_ref()
    }

    /// The memory plan the loaded model follows.
    pub(crate) fn plan(&self) -> Option<&Plan> {
        self.info().and_then(|info| info.plan.as_ref())
    }

    /// The status bar's line: what is loaded, loading or connected, and how it runs.
    pub(crate) fn status_text(&self) -> String {
        let file_name = |path: &Path| {
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        match &self.state {
            ModelState::Empty => "No model loaded".to_owned(),
            ModelState::Loading {
                path,
                checking: true,
                ..
            } => format!(
                "Checking {} in a separate process before its first use …",
                file_name(path),
            ),
            ModelState::Loading { path, progress, .. } => {
                format!("Loading {} … {:.0}%", file_name(path), progress * 100.0)
            }
            ModelState::Connecting { url } => format!("Connecting to {url} …"),
            ModelState::Ready(info) if info.server.is_some() => format!(
                "{} on {} · {} ctx per request · {} at a time",
                info.name,
                info.server.as_deref().unwrap_or_default(),
                info.n_ctx,
                self.server().map_or(1, |s| s.info().parallel)
            ),
            ModelState::Ready(info) => format!(
                "{} · {} ctx · {} threads · {}",
                info.name,
                info.n_ctx,
                if info.adaptive_threads {
                    format!("up to {}", info.threads.0)
                } else {
                    info.threads.0.to_string()
                },
                info.gpu_backend.as_deref().map_or_else(
                    || "CPU".to_owned(),
                    |b| format!("{b}, {} layers on GPU", info.gpu_layers)
                )
            ),
        }
    }

    /// True while a model loads or a server is checked.
    pub(crate) fn is_loading(&self) -> bool {
        matches!(
            self.state,
            ModelState::Loading { .. } | ModelState::Connecting { .. }
        )
    }

    /// Starts loading `path` (planned to fit this computer), replacing any model and any load
    /// under way. With `check`, the file has not been checked yet: llama.cpp aborts the whole
    /// process on some malformed files, so it first loads in a child process under these
    /// limits, and only a file that passed reaches the engine (a failed check is a
    /// [`ModelChange::Failed`] naming what happened to the child).
    pub(crate) fn load(&mut self, path: &Path, settings: LoadSettings, check: Option<&Isolation>) {
        if let Some(previous) = self.load.take() {
            previous.cancel();
        }
        if let Some(previous) = self.check.take() {
            previous.job.cancel();
        }
        self.leave_server();
        self.state = ModelState::Loading {
            path: path.to_path_buf(),
            progress: 0.0,
            checking: check.is_some(),
        };
        self.start_tokenizer_job(path, &settings);
        self.last_path = Some(path.to_path_buf());
        self.last_settings = Some(settings.clone());
        self.last_check = check.cloned();
        let Some(isolation) = check else {
            self.load = Some(
                self.engine
                    .load(path, settings, Planning::Fit { kv_fixed: false }),
            );
            return;
        };
        let (isolation, file) = (isolation.clone(), path.to_path_buf());
        let job = Job::spawn("xgen-model-check", &self.waker, move |r| {
            let cancel = r.cancel_token().clone();
            let checked = check_isolated(&file, &isolation, &|| cancel.is_cancelled());
            r.send(checked.map(|_| ()), false);
        });
        match job {
            Ok(job) => {
                self.check = Some(PendingCheck {
                    job,
                    path: path.to_path_buf(),
                    settings,
                });
            }
            Err(e) => {
                tracing::warn!("could not start the model check: {e}");
                self.state = ModelState::Empty;
            }
        }
    }

    /// Reads the `tokenizer.json` beside an XGen GGUF off the UI thread, for counting tokens
    /// while the model loads.
    fn start_tokenizer_job(&mut self, path: &Path, settings: &LoadSettings) {
        self.loading_tokenizer = None;
        let path = path.to_path_buf();
        let n_ctx = settings.n_ctx;
        let job = Job::spawn("xgen-tokenizer", &self.waker, move |r| {
            let found = ModelFacts::from_gguf(&path)
                .ok()
                .filter(|facts| facts.n_vocab == 51_200)
                .and_then(|facts| {
                    let tokenizer = XgenTextTokenizer::beside(&path)?;
                    // The engine's rule for the context it creates.
                    let n_ctx = n_ctx.unwrap_or_else(|| facts.n_ctx_train.min(8192)).max(64);
                    Some((Arc::new(tokenizer), n_ctx))
                });
            r.send(found, false);
        });
        self.tokenizer_job = job
            .map_err(|e| tracing::warn!("could not start reading the tokenizer: {e}"))
            .ok();
    }

    /// Checks the server of `config` and uses it instead of the local engine once it answers.
    /// The key comes from `config`, else from the credential store; a key that works is kept
    /// there.
    pub(crate) fn connect(&mut self, config: ServerConfig) {
        if let Some(previous) = self.load.take() {
            previous.cancel();
        }
        if let Some(previous) = self.check.take() {
            previous.job.cancel();
        }
        self.connecting = None;
        let waker = self.waker.clone();
        let wanted = config.clone();
        let job = Job::spawn("xgen-connect", &self.waker, move |r| {
            r.send(open_server(wanted, waker), false);
        });
        match job {
            Ok(job) => {
                self.state = ModelState::Connecting {
                    url: config.url.clone(),
                };
                self.connecting = Some((config, job));
            }
            Err(e) => {
                tracing::warn!("could not start the connection check: {e}");
                self.state = ModelState::Empty;
            }
        }
    }

    /// Stops using the server (the local engine answers again once a model is loaded).
    pub(crate) fn leave_server(&mut self) {
        self.connecting = None;
        if self.remote.take().is_some() || matches!(self.state, ModelState::Connecting { .. }) {
            self.state = ModelState::Empty;
        }
    }

    /// Unloads the model when it is `path`.
    pub(crate) fn unload_if(&mut self, path: &Path) {
        if self.remote.is_none() && self.info().is_some_and(|info| info.path == path) {
            self.engine.unload();
            self.state = ModelState::Empty;
        }
    }

    /// Starts a new engine after the old one stopped, and loads the last model again.
    ///
    /// # Errors
    /// When no thread can be started.
    pub(crate) fn reload(&mut self) -> Result<()> {
        let engine = spawn_engine(&self.waker)?;
        self.engine = Arc::new(engine);
        self.load = None;
        self.stopped_reported = false;
        self.state = ModelState::Empty;
        if let (Some(path), Some(settings)) = (self.last_path.clone(), self.last_settings.clone()) {
            let check = self.last_check.clone();
            self.load(&path, settings, check.as_ref());
        }
        Ok(())
    }

    /// Applies what arrived from the engine and the hardware detection.
    pub(crate) fn poll(&mut self) -> Vec<ModelChange> {
        let mut changes = Vec::new();
        self.poll_side_jobs(&mut changes);
        if let Some(job) = self.hardware_job.as_mut() {
            if let Some(hardware) = job.drain().pop() {
                self.hardware = Some(hardware);
            }
            if job.is_finished() {
                self.hardware_job = None;
            }
        }
        let mut events = Vec::new();
        self.poll_check(&mut events);
        let mut stopped = false;
        if let Some(load) = self.load.as_mut() {
            loop {
                match load.try_recv() {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => break,
                    // A dead engine is reported once, below, with its reason.
                    Err(EngineError::Stopped(_)) => {
                        stopped = true;
                        break;
                    }
                    Err(error) => {
                        events.push(LoadEvent::Failed(error));
                        break;
                    }
                }
            }
            if load.is_finished() {
                self.load = None;
            }
        }
        if stopped {
            self.state = ModelState::Empty;
        }
        for event in events {
            match event {
                LoadEvent::Progress(p) => {
                    if let ModelState::Loading { progress, .. } = &mut self.state {
                        *progress = p;
                    }
                }
                LoadEvent::Loaded(info) => {
                    self.loading_tokenizer = None;
                    self.state = ModelState::Ready(Box::new(info.clone()));
                    changes.push(ModelChange::Loaded(info));
                }
                LoadEvent::Failed(error) => changes.push(self.failed(error)),
            }
        }
        if let Some(reason) = self.engine.stopped() {
            if !self.stopped_reported && self.remote.is_none() {
                self.stopped_reported = true;
                self.load = None;
                self.state = ModelState::Empty;
                changes.push(ModelChange::EngineStopped(reason));
            }
        }
        changes
    }

    /// The connection check and the tokenizer read for a loading model.
    fn poll_side_jobs(&mut self, changes: &mut Vec<ModelChange>) {
        if let Some(job) = self.tokenizer_job.as_mut() {
            if let Some(found) = job.drain().pop() {
                if matches!(self.state, ModelState::Loading { .. }) {
                    self.loading_tokenizer = found;
                }
            }
            if job.is_finished() {
                self.tokenizer_job = None;
            }
        }
        let Some((config, job)) = self.connecting.as_mut() else {
            return;
        };
        let outcome = job.drain().pop();
        let finished = job.is_finished();
        let config = config.clone();
        match outcome {
            Some(Ok((remote, key_notice))) => {
                self.connecting = None;
                let info = remote.model_info();
                let mut warnings: Vec<String> = remote.info().warning.iter().cloned().collect();
                warnings.extend(key_notice);
                self.remote = Some(Arc::new(remote));
                // The server answers now: the local model's memory is freed.
                self.engine.unload();
                self.load = None;
                self.state = ModelState::Ready(Box::new(info.clone()));
                changes.push(ModelChange::Connected {
                    info,
                    config: ServerConfig {
                        api_key: None,
                        ..config
                    },
                    warnings,
                });
            }
            Some(Err(error)) => {
                self.connecting = None;
                self.state = ModelState::Empty;
                changes.push(ModelChange::ConnectFailed {
                    url: config.url,
                    error,
                });
            }
            None if finished => {
                self.connecting = None;
                self.state = ModelState::Empty;
            }
            None => {}
        }
    }

    /// Starts the engine's load when the file passed its check; a failed check is the load's
    /// failure.
    fn poll_check(&mut self, events: &mut Vec<LoadEvent>) {
        let Some(pending) = self.check.as_mut() else {
            return;
        };
        let outcome = pending.job.drain().pop();
        if outcome.is_none() && !pending.job.is_finished() {
            return;
        }
        let Some(pending) = self.check.take() else {
            return;
        };
        match outcome {
            Some(Ok(())) => {
                self.last_check = None;
                self.state = ModelState::Loading {
                    path: pending.path.clone(),
                    progress: 0.0,
                    checking: false,
                };
                self.load = Some(self.engine.load(
                    &pending.path,
                    pending.settings,
                    Planning::Fit { kv_fixed: false },
                ));
            }
            Some(Err(error)) => events.push(LoadEvent::Failed(error)),
            None => events.push(LoadEvent::Failed(EngineError::LoadCancelled)),
        }
    }

    fn failed(&mut self, error: EngineError) -> ModelChange {
        let path = match &self.state {
            ModelState::Loading { path, .. } => path.clone(),
            _ => self.last_path.clone().unwrap_or_default(),
        };
        self.state = ModelState::Empty;
        ModelChange::Failed { path, error }
    }
}

/// The connection job: the key (given, or from the credential store), the check, and the key
/// kept once it worked.
fn open_server(mut config: ServerConfig, waker: Waker) -> Connection {
    let url = crate::remote::normalize_url(&config.url)?;
    let typed = config.api_key.clone().filter(|k| !k.is_empty());
    if typed.is_none() {
        config.api_key = secret::load(&url);
    }
    let remote = RemoteEngine::connect_with_notify(&config, move |wake| waker.wake(wake))?;
    let notice = typed.and_then(|key| secret::store(&url, &key).notice());
    Ok((remote, notice))
}

fn spawn_engine(waker: &Waker) -> Result<Engine> {
    let engine_waker = waker.clone();
    Engine::spawn_with_notify(move |wake| engine_waker.wake(wake))
        .context("could not start the engine thread")
}
