//! The desktop app (egui). `main.rs` only starts it; tests build [`XgenApp`] directly.
//!
//! All state changes go through [`XgenApp`]'s methods; the `*_ui` functions in the sibling
//! modules only draw and call them. Background work (the engine, model setup, file reading,
//! token counting) runs on named threads and sends an [`AppEvent`] back, waking the UI with
//! `request_repaint` so the window never blocks.

mod chat;
mod models;
mod settings;
mod settings_view;
mod sidebar;
mod store;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use egui_commonmark::CommonMarkCache;

use crate::catalog::{
    default_model, unix_now, CatalogModel, InstalledModel, InstalledSource, ModelSource, QuantType,
    Registry,
};
use crate::documents::Document;
use crate::engine::{CachePrefix, StateCacheConfig};
use crate::engine::{
    Engine, EngineError, Event, GenerateRequest, LoadSettings, ModelInfo, Sampling, StopReason,
};
use crate::hub::HubOptions;
use crate::paths::AppPaths;
use crate::pipeline::{self, CancelToken, Progress, SetupOptions, Stage};
use crate::prompt::{summarize_request, Role};
use crate::summarize::{self, EngineModel, SummarizeOptions};

pub use settings::{Preset, Settings, SummaryLength, ThemeChoice};
pub use store::{ChatMessage, Conversation, ConversationStore, ReplyStats, StoreError};

/// Where the app keeps its files and which Hub and model it sets up.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Data, models and work directories.
    pub paths: AppPaths,
    /// How to reach the Hub.
    pub hub: HubOptions,
    /// The model the "Download" button sets up.
    pub setup_model: &'static CatalogModel,
    /// Load settings the app starts from (tests lower the thread count).
    pub load: LoadSettings,
    /// Load the last used model at start.
    pub autoload: bool,
}

impl AppOptions {
    /// Options from the environment (`XGEN_DESK_HOME`, `HF_ENDPOINT`, `HF_TOKEN`, ...).
    ///
    /// # Errors
    /// When no home directory can be found.
    pub fn from_env() -> Result<Self> {
        let setup = SetupOptions::from_env().context("could not find the app's data directory")?;
        Ok(Self {
            paths: setup.paths,
            hub: setup.hub,
            setup_model: default_model(),
            load: LoadSettings::default(),
            autoload: true,
        })
    }
}

/// A problem shown in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// One sentence a person can act on.
    pub message: String,
    /// The whole error chain, shown on demand.
    pub details: Option<String>,
}

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
    },
    /// Ready to answer.
    Ready(ModelInfo),
}

/// Which screen the central panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The conversation.
    Chat,
    /// Download, open and delete models.
    Models,
    /// System prompt, sampling, context, theme.
    Settings,
}

/// The running model setup (download -> convert -> quantize -> verify).
#[derive(Debug, Clone, Default)]
pub struct SetupState {
    /// True while the worker runs.
    pub running: bool,
    /// Latest report per stage, in stage order.
    pub stages: Vec<Progress>,
    /// How the last attempt ended, if it did not succeed.
    pub outcome: Option<String>,
    /// Quantization to produce.
    pub quant: QuantType,
    cancel: CancelToken,
}

impl SetupState {
    /// The latest report of `stage`.
    #[must_use]
    pub fn stage(&self, stage: Stage) -> Option<&Progress> {
        self.stages.iter().find(|p| p.stage == stage)
    }
}

/// Token figures of the attached document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentMeter {
    /// Tokens of the document text alone.
    pub document_tokens: usize,
    /// Tokens of the whole summary prompt (template + request + document).
    pub prompt_tokens: usize,
    /// Tokens reserved for the summary.
    pub reserved: usize,
    /// The context size.
    pub n_ctx: usize,
    /// Parts the document is read in (1 when it fits).
    pub parts: usize,
}

impl DocumentMeter {
    /// The summary prompt and its reply fit in the context.
    #[must_use]
    pub fn fits(&self) -> bool {
        self.prompt_tokens + self.reserved <= self.n_ctx
    }
}

/// A reply being written.
#[derive(Debug, Clone)]
struct Reply {
    id: u64,
    conversation: String,
    started: Instant,
    prefill: Option<(usize, usize)>,
    prefill_first: Option<(Instant, usize)>,
    first_piece: Option<Instant>,
}

/// Messages from background threads to the UI thread.
enum AppEvent {
    Engine(Event),
    Setup(Progress),
    SetupDone(std::result::Result<InstalledModel, String>),
    Document(std::result::Result<Document, String>),
    Meter {
        conversation: String,
        key: u64,
        result: std::result::Result<DocumentMeter, EngineError>,
    },
    PickedDocument(Option<PathBuf>),
    PickedModel(Option<PathBuf>),
    SummaryProgress(summarize::Progress),
    SummaryPiece(String),
    SummaryDone(std::result::Result<summarize::Summary, String>),
}

/// A long-document summary running on its own thread.
struct SummaryJob {
    cancel: CancelToken,
    status: String,
    coverage: Option<(usize, usize)>,
    notes: Vec<String>,
}

/// Sends [`AppEvent`]s and wakes the UI.
#[derive(Clone)]
struct Waker {
    tx: Sender<AppEvent>,
    ctx: egui::Context,
}

/// Streamed text and progress redraw at most this often: drawing every token would take CPU
/// time from the model on machines that render in software.
const STREAM_FRAME: Duration = Duration::from_millis(50);

impl Waker {
    fn send(&self, event: AppEvent) {
        let frequent = matches!(
            event,
            AppEvent::Engine(Event::Token { .. } | Event::PromptProgress { .. })
                | AppEvent::SummaryPiece(_)
                | AppEvent::Setup(_)
        );
        // The receiver lives as long as the app; after it is gone nobody needs the event.
        let _ = self.tx.send(event);
        if frequent {
            self.ctx.request_repaint_after(STREAM_FRAME);
        } else {
            self.ctx.request_repaint();
        }
    }
}

/// A paste at least this long becomes a document rather than chat text.
pub const PASTE_AS_DOCUMENT_CHARS: usize = 1500;

/// The application state.
pub struct XgenApp {
    opts: AppOptions,
    waker: Waker,
    events: Receiver<AppEvent>,
    engine: Arc<Engine>,
    model: ModelState,
    /// Settings in effect.
    pub settings: Settings,
    saved_settings: Settings,
    store: ConversationStore,
    conversations: Vec<Conversation>,
    current: usize,
    /// The message being typed.
    pub composer: String,
    reply: Option<Reply>,
    meter: Option<(String, DocumentMeter)>,
    meter_key: u64,
    setup: SetupState,
    view: View,
    notices: Vec<Notice>,
    installed: Vec<InstalledModel>,
    markdown: CommonMarkCache,
    renaming: Option<(String, String)>,
    reading_document: bool,
    last_status: String,
    confirm_delete: Option<String>,
    hardware: Hardware,
    job: Option<SummaryJob>,
    plan: Option<crate::engine::Plan>,
    /// While a summary job runs, engine events go to it instead of the UI.
    tap: Arc<Mutex<Option<Sender<Event>>>>,
}

/// What this computer has, for the hardware panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    /// Physical CPU cores.
    pub physical_cores: usize,
    /// Hardware threads.
    pub logical_cores: usize,
    /// Threads the engine uses.
    pub threads: usize,
    /// Installed memory in bytes.
    pub total_ram: u64,
    /// Memory available for a model, in bytes.
    pub available_ram: u64,
    /// The GPU backend compiled in.
    pub gpu_backend: Option<&'static str>,
    /// GPUs that backend can use, with their memory.
    pub gpus: Vec<crate::engine::plan::GpuMemory>,
}

impl Hardware {
    /// Reads the figures of this computer.
    #[must_use]
    pub fn detect(load: &LoadSettings) -> Self {
        let memory = crate::engine::Hardware::detect();
        Self {
            physical_cores: num_cpus::get_physical(),
            logical_cores: num_cpus::get(),
            threads: load.resolved_threads(),
            total_ram: memory.ram_total,
            available_ram: memory.ram_available,
            gpu_backend: crate::engine::gpu_backend(),
            gpus: memory.gpus,
        }
    }
}

impl XgenApp {
    /// Builds the app: reads settings, conversations and installed models, starts the engine
    /// thread, and (with `autoload`) starts loading the last used model.
    ///
    /// # Errors
    /// When the engine thread cannot be started.
    pub fn new(ctx: &egui::Context, opts: AppOptions) -> Result<Self> {
        let (tx, events) = mpsc::channel();
        let waker = Waker {
            tx,
            ctx: ctx.clone(),
        };
        let engine_waker = waker.clone();
        let tap: Arc<Mutex<Option<Sender<Event>>>> = Arc::default();
        let engine_tap = Arc::clone(&tap);
        let engine = Engine::spawn(move |event| {
            let tapped = engine_tap.lock().ok().and_then(|t| t.clone());
            match tapped {
                Some(job) => {
                    // The job's receiver is gone only after it finished.
                    let _ = job.send(event);
                }
                None => engine_waker.send(AppEvent::Engine(event)),
            }
        })
        .context("could not start the engine thread")?;
        let mut notices = Vec::new();
        if let Err(e) = opts.paths.create_all() {
            notices.push(notice("The app's data folders could not be created.", &e));
        }
        let settings = Settings::load(&opts.paths.settings_file()).unwrap_or_else(|e| {
            notices.push(notice(
                "Your settings could not be read; defaults are used until you change one.",
                &*e,
            ));
            Settings::default()
        });
        let store = ConversationStore::new(opts.paths.conversations_dir());
        let mut conversations = match store.load_all() {
            Ok((list, unreadable)) => {
                for e in unreadable {
                    notices.push(notice(
                        "A saved conversation could not be read; it was left as it is.",
                        &e,
                    ));
                }
                list
            }
            Err(e) => {
                notices.push(notice("Saved conversations could not be listed.", &e));
                Vec::new()
            }
        };
        if conversations.is_empty() {
            conversations.push(Conversation::new());
        }
        let mut app = Self {
            waker,
            events,
            engine: Arc::new(engine),
            model: ModelState::Empty,
            saved_settings: settings.clone(),
            settings,
            store,
            conversations,
            current: 0,
            composer: String::new(),
            reply: None,
            meter: None,
            meter_key: 0,
            setup: SetupState::default(),
            view: View::Chat,
            notices,
            installed: Vec::new(),
            markdown: CommonMarkCache::default(),
            renaming: None,
            reading_document: false,
            last_status: String::new(),
            confirm_delete: None,
            hardware: Hardware::detect(&opts.load),
            job: None,
            plan: None,
            tap,
            opts,
        };
        app.refresh_installed();
        apply_theme(ctx, app.settings.theme);
        let start_model = app
            .settings
            .model
            .clone()
            .filter(|p| p.exists())
            .or_else(|| app.installed.first().map(|m| m.path.clone()));
        match start_model {
            Some(path) if app.opts.autoload => app.load_model(&path),
            Some(_) => {}
            None => app.view = View::Models,
        }
        Ok(app)
    }

    // ----- read access (used by the panels and by tests) -----

    /// The model state.
    #[must_use]
    pub fn model(&self) -> &ModelState {
        &self.model
    }

    /// The conversation on screen.
    #[must_use]
    pub fn conversation(&self) -> &Conversation {
        &self.conversations[self.current.min(self.conversations.len() - 1)]
    }

    fn conversation_mut(&mut self) -> &mut Conversation {
        let i = self.current.min(self.conversations.len() - 1);
        &mut self.conversations[i]
    }

    /// All conversations, most recent first.
    #[must_use]
    pub fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    /// True while a reply is being written.
    #[must_use]
    pub fn is_generating(&self) -> bool {
        self.reply.is_some()
    }

    /// Prompt reading progress of the running reply: (done, total).
    #[must_use]
    pub fn prefill(&self) -> Option<(usize, usize)> {
        self.reply.as_ref().and_then(|r| r.prefill)
    }

    /// Seconds left reading the prompt, from the speed so far.
    #[must_use]
    pub fn prefill_eta(&self) -> Option<f64> {
        let r = self.reply.as_ref()?;
        let (done, total) = r.prefill?;
        let (since, first_done) = r.prefill_first?;
        let read = done.checked_sub(first_done).filter(|n| *n > 0)?;
        #[allow(clippy::cast_precision_loss)]
        let secs = since.elapsed().as_secs_f64() / read as f64 * total.saturating_sub(done) as f64;
        Some(secs)
    }

    /// Seconds since the running reply was requested.
    #[must_use]
    pub fn reply_elapsed(&self) -> Option<Duration> {
        self.reply.as_ref().map(|r| r.started.elapsed())
    }

    /// Problems shown in the window.
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// Token figures of the current conversation's document, once counted.
    #[must_use]
    pub fn document_meter(&self) -> Option<DocumentMeter> {
        self.meter
            .as_ref()
            .filter(|(id, _)| *id == self.conversation().id)
            .map(|(_, m)| *m)
    }

    /// The model setup.
    #[must_use]
    pub fn setup_state(&self) -> &SetupState {
        &self.setup
    }

    /// Installed models.
    #[must_use]
    pub fn installed(&self) -> &[InstalledModel] {
        &self.installed
    }

    /// The screen shown.
    #[must_use]
    pub fn view(&self) -> View {
        self.view
    }

    /// Shows another screen.
    pub fn show_view(&mut self, view: View) {
        self.view = view;
    }

    /// The engine (tests use it to compare token counts).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    // ----- models -----

    /// Starts loading `path`, replacing the loaded model.
    pub fn load_model(&mut self, path: &Path) {
        if let Some(reply) = self.reply.take() {
            self.engine.cancel();
            self.finish_reply_locally(&reply, true);
        }
        self.model = ModelState::Loading {
            path: path.to_path_buf(),
            progress: 0.0,
        };
        let mut load = self.opts.load.clone();
        load.n_ctx = self.settings.n_ctx.or(load.n_ctx);
        if load.state_cache.is_none() {
            load.state_cache = Some(StateCacheConfig::new(self.opts.paths.state_cache_dir()));
        }
        // The memory planner picks GPU layers and KV precision that fit this computer; a file
        // whose header cannot be read goes to the engine, which explains what is wrong with it.
        self.plan = None;
        match crate::engine::plan_for_model(path, &load, false) {
            Ok(plan) => {
                plan.apply(&mut load);
                self.plan = Some(plan);
            }
            Err(crate::engine::plan::PlanForModelError::Plan(e)) => {
                self.model = ModelState::Empty;
                self.notices.push(Notice {
                    message: "The model does not fit in this computer's memory with this context. Choose a smaller context in Settings or a smaller model.".to_owned(),
                    details: Some(e.to_string()),
                });
                return;
            }
            Err(crate::engine::plan::PlanForModelError::Facts(_)) => {}
        }
        self.engine.load(path, load);
    }

    /// The memory plan of the loaded (or loading) model.
    #[must_use]
    pub fn memory_plan(&self) -> Option<&crate::engine::Plan> {
        self.plan.as_ref()
    }

    fn refresh_installed(&mut self) {
        match Registry::new(self.opts.paths.registry_file()).list() {
            Ok(list) => self.installed = list,
            Err(e) => self.push_notice("The list of installed models could not be read.", &e),
        }
    }

    /// Starts (or resumes) setting up the app's model: download, convert, quantize, verify.
    pub fn start_setup(&mut self) {
        if self.setup.running {
            return;
        }
        let cancel = CancelToken::new();
        self.setup = SetupState {
            running: true,
            stages: Vec::new(),
            outcome: None,
            quant: self.setup.quant,
            cancel: cancel.clone(),
        };
        let options = SetupOptions::new(self.opts.paths.clone(), self.opts.hub.clone());
        let source = ModelSource::Catalog(self.opts.setup_model);
        let quant = self.setup.quant;
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-setup".into())
            .spawn(move || {
                let progress_waker = waker.clone();
                let mut validate = pipeline::validate_with_engine;
                let result = pipeline::setup(
                    &source,
                    quant,
                    &options,
                    &mut validate,
                    &mut |p| progress_waker.send(AppEvent::Setup(p.clone())),
                    &cancel,
                )
                .map(|outcome| outcome.model)
                .map_err(|e| error_chain(&e));
                waker.send(AppEvent::SetupDone(result));
            });
        if let Err(e) = spawned {
            self.setup.running = false;
            self.push_notice("The setup could not be started.", &e);
        }
    }

    /// Stops the running setup; what was downloaded is kept for resuming.
    pub fn cancel_setup(&mut self) {
        self.setup.cancel.cancel();
    }

    /// Opens a native dialog for a GGUF file to load.
    pub fn pick_model_file(&mut self) {
        let waker = self.waker.clone();
        pick_file("GGUF model", &["gguf"], move |path| {
            waker.send(AppEvent::PickedModel(path))
        });
    }

    /// Registers a local GGUF (after it loaded) and uses it.
    pub fn open_model_file(&mut self, path: &Path) {
        self.load_model(path);
    }

    /// Removes an installed model (and its file when the app made it).
    pub fn delete_model(&mut self, id: &str) {
        let registry = Registry::new(self.opts.paths.registry_file());
        match registry.remove(id) {
            Ok(Some(removed)) => {
                if let ModelState::Ready(info) = &self.model {
                    if info.path == removed.path {
                        self.engine.unload();
                        self.model = ModelState::Empty;
                    }
                }
                if self.settings.model.as_deref() == Some(removed.path.as_path()) {
                    self.settings.model = None;
                }
            }
            Ok(None) => {}
            Err(e) => self.push_notice("The model could not be deleted.", &e),
        }
        self.refresh_installed();
    }

    fn remember_loaded_model(&mut self, info: &ModelInfo) {
        self.settings.model = Some(info.path.clone());
        if self.installed.iter().any(|m| m.path == info.path) {
            return;
        }
        let name = info
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| info.name.clone());
        let entry = InstalledModel {
            id: format!("local-{}", name.trim_end_matches(".gguf").to_lowercase()),
            display_name: name.clone(),
            path: info.path.clone(),
            quantization: quant_from_name(&name),
            size_bytes: std::fs::metadata(&info.path).map_or(info.size_bytes, |m| m.len()),
            context_length: info.n_ctx_train,
            source: InstalledSource::LocalFile,
            installed_at: unix_now(),
        };
        if let Err(e) = Registry::new(self.opts.paths.registry_file()).add(entry) {
            self.push_notice(
                "The model could not be added to the list of installed models.",
                &e,
            );
        }
        self.refresh_installed();
    }

    // ----- conversations -----

    /// Starts a new, empty conversation and shows it.
    pub fn new_conversation(&mut self) {
        if self.conversation().messages.is_empty() && self.conversation().document.is_none() {
            self.view = View::Chat;
            return;
        }
        self.conversations.insert(0, Conversation::new());
        self.current = 0;
        self.view = View::Chat;
        self.meter = None;
    }

    /// Shows conversation `id`.
    pub fn select_conversation(&mut self, id: &str) {
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.current = i;
            self.view = View::Chat;
            self.request_meter();
        }
    }

    /// Renames a conversation.
    pub fn rename_conversation(&mut self, id: &str, title: &str) {
        let title = title.trim();
        if title.is_empty() {
            return;
        }
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.conversations[i].title = title.to_owned();
            self.conversations[i].updated = unix_now();
            self.save_conversation(i);
        }
    }

    /// Deletes a conversation.
    pub fn delete_conversation(&mut self, id: &str) {
        if self.reply.as_ref().is_some_and(|r| r.conversation == id) {
            self.stop();
        }
        let Some(i) = self.conversations.iter().position(|c| c.id == id) else {
            return;
        };
        if let Err(e) = self.store.delete(id) {
            self.push_notice("The conversation could not be deleted.", &e);
            return;
        }
        let current_id = self.conversation().id.clone();
        self.conversations.remove(i);
        if self.conversations.is_empty() {
            self.conversations.push(Conversation::new());
        }
        self.current = self
            .conversations
            .iter()
            .position(|c| c.id == current_id)
            .unwrap_or(0);
    }

    /// Asks where to save the conversation as Markdown, then writes it.
    pub fn export_conversation(&mut self, id: &str) {
        let Some(c) = self.conversations.iter().find(|c| c.id == id) else {
            return;
        };
        let markdown = c.to_markdown();
        let file_name = format!("{}.md", sanitize_file_name(&c.title));
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-export".into())
            .spawn(move || {
                let Some(path) = rfd::FileDialog::new()
                    .set_file_name(file_name)
                    .add_filter("Markdown", &["md"])
                    .save_file()
                else {
                    return;
                };
                if let Err(e) = crate::catalog::write_atomic(&path, markdown.as_bytes()) {
                    waker.send(AppEvent::Document(Err(format!(
                        "could not write {}: {e}",
                        path.display()
                    ))));
                }
            });
        if let Err(e) = spawned {
            self.push_notice("The export could not be started.", &e);
        }
    }

    /// Writes the conversation as Markdown to `path` (the export without the dialog).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn export_conversation_to(&self, id: &str, path: &Path) -> Result<()> {
        let c = self
            .conversations
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| anyhow!("no conversation {id}"))?;
        crate::catalog::write_atomic(path, c.to_markdown().as_bytes())
            .with_context(|| format!("could not write {}", path.display()))
    }

    fn save_conversation(&mut self, index: usize) {
        let Some(c) = self.conversations.get(index) else {
            return;
        };
        if let Err(e) = self.store.save(c) {
            self.push_notice(
                "The conversation could not be saved; it stays open here. Check free disk space.",
                &e,
            );
        }
    }

    fn save_conversation_id(&mut self, id: &str) {
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.save_conversation(i);
        }
    }

    // ----- documents -----

    /// Opens a native dialog for a document.
    pub fn pick_document(&mut self) {
        let waker = self.waker.clone();
        pick_file(
            "Documents",
            &["txt", "md", "markdown", "pdf", "docx", "html", "htm"],
            move |path| waker.send(AppEvent::PickedDocument(path)),
        );
    }

    /// Reads a document file on a worker thread and attaches it to the conversation.
    pub fn open_document(&mut self, path: &Path) {
        let path = path.to_path_buf();
        let waker = self.waker.clone();
        self.reading_document = true;
        let spawned = std::thread::Builder::new()
            .name("xgen-read-document".into())
            .spawn(move || {
                let result = read_document(&path).map_err(|e| format!("{e:#}"));
                waker.send(AppEvent::Document(result));
            });
        if let Err(e) = spawned {
            self.reading_document = false;
            self.push_notice("The document could not be read.", &e);
        }
    }

    /// Attaches text (a paste) as the conversation's document.
    pub fn attach_text(&mut self, name: &str, text: &str) {
        match Document::from_text(name, text) {
            Ok(doc) => self.attach(doc),
            Err(e) => self.notices.push(Notice {
                message: first_sentence(&e.to_string()),
                details: Some(error_chain(&e)),
            }),
        }
    }

    fn attach(&mut self, document: Document) {
        if !self.conversation().messages.is_empty() || self.conversation().document.is_some() {
            // A new document starts a new conversation, so its summary prompt is the prefix the
            // engine caches and follow-ups do not re-read it.
            self.conversations.insert(0, Conversation::new());
            self.current = 0;
        }
        let c = self.conversation_mut();
        if c.title == "New chat" {
            c.title = document.name.clone();
        }
        c.document = Some(document);
        c.updated = unix_now();
        self.view = View::Chat;
        self.save_conversation(self.current);
        self.request_meter();
    }

    /// Removes the document from the conversation.
    pub fn detach_document(&mut self) {
        self.conversation_mut().document = None;
        self.meter = None;
        self.save_conversation(self.current);
    }

    fn summary_sampling(&self) -> Sampling {
        Sampling {
            max_tokens: self.settings.summary_length.max_tokens(),
            ..self.settings.sampling.clone()
        }
    }

    fn summary_message(&self) -> Option<ChatMessage> {
        let doc = self.conversation().document.as_ref()?;
        let style = self.settings.summary_style;
        let mut message = ChatMessage::user(summarize_request(&doc.text, style));
        message.label = Some(format!(
            "{} of **{}**",
            settings::style_label(style),
            doc.name
        ));
        Some(message)
    }

    /// Counts the document's tokens on a worker thread (the engine answers between replies).
    fn request_meter(&mut self) {
        let Some(doc) = self.conversation().document.clone() else {
            self.meter = None;
            return;
        };
        let ModelState::Ready(info) = &self.model else {
            return;
        };
        let n_ctx = info.n_ctx as usize;
        self.meter_key += 1;
        let key = self.meter_key;
        let conversation = self.conversation().id.clone();
        let system = self.settings.system_prompt.clone();
        let style = self.settings.summary_style;
        let reserved = self.settings.summary_length.max_tokens() as usize;
        let engine = Arc::clone(&self.engine);
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-count-tokens".into())
            .spawn(move || {
                let mut c = Conversation::new();
                c.messages
                    .push(ChatMessage::user(summarize_request(&doc.text, style)));
                let result = engine.count_tokens(&doc.text).and_then(|document_tokens| {
                    let prompt_tokens = engine.count_prompt_tokens(&c.prompt(&system))?;
                    let mut meter = DocumentMeter {
                        document_tokens,
                        prompt_tokens,
                        reserved,
                        n_ctx,
                        parts: 1,
                    };
                    if !meter.fits() {
                        // The summarizer's own plan says how many parts it will read.
                        let (_unused, no_events) = mpsc::channel();
                        #[allow(clippy::cast_possible_truncation)]
                        let mut model = EngineModel::new(
                            &engine,
                            &no_events,
                            n_ctx as u32,
                            Sampling::default(),
                        );
                        let options = SummarizeOptions::new(style, reserved as u32);
                        meter.parts = summarize::plan(&mut model, &doc, &options)
                            .map_or(0, |plan| plan.parts());
                    }
                    Ok(meter)
                });
                waker.send(AppEvent::Meter {
                    conversation,
                    key,
                    result,
                });
            });
        if let Err(e) = spawned {
            self.push_notice("The document's tokens could not be counted.", &e);
        }
    }

    /// Summarizes the attached document with the chosen style and length.
    pub fn summarize(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let Some(message) = self.summary_message() else {
            return;
        };
        if !self.document_meter().is_some_and(|m| m.fits()) {
            self.start_summary_job(message);
            return;
        }
        let c = self.conversation_mut();
        // A new summary replaces the conversation about the document.
        c.messages.clear();
        c.messages.push(message);
        c.updated = unix_now();
        let sampling = self.summary_sampling();
        self.start_reply(sampling);
    }

    /// Summarizes a document that does not fit (or is not measured yet) with the summarizer:
    /// its plan reads it in one pass or in parts, on a worker thread that borrows the engine's
    /// events while it runs.
    fn start_summary_job(&mut self, mut message: ChatMessage) {
        let ModelState::Ready(info) = &self.model else {
            self.notices.push(Notice {
                message: "Load a model first: open Models to download XGen or open a GGUF file."
                    .into(),
                details: None,
            });
            return;
        };
        let n_ctx = info.n_ctx;
        let Some(doc) = self.conversation().document.clone() else {
            return;
        };
        let (tx, events) = mpsc::channel();
        match self.tap.lock() {
            Ok(mut tap) => *tap = Some(tx),
            Err(_) => return,
        }
        let cancel = CancelToken::new();
        let options = SummarizeOptions::new(
            self.settings.summary_style,
            self.settings.summary_length.max_tokens(),
        );
        let sampling = self.settings.sampling.clone();
        let engine = Arc::clone(&self.engine);
        let waker = self.waker.clone();
        let tap = Arc::clone(&self.tap);
        let job_cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-summarize".into())
            .spawn(move || {
                let mut model = EngineModel::new(&engine, &events, n_ctx, sampling);
                let progress_waker = waker.clone();
                let piece_waker = waker.clone();
                let result = summarize::summarize(
                    &mut model,
                    &doc,
                    &options,
                    &job_cancel,
                    &mut |p| progress_waker.send(AppEvent::SummaryProgress(p.clone())),
                    &mut |piece| piece_waker.send(AppEvent::SummaryPiece(piece.to_owned())),
                )
                .map_err(|e| error_chain(&e));
                if let Ok(mut tap) = tap.lock() {
                    *tap = None;
                }
                waker.send(AppEvent::SummaryDone(result));
            });
        if let Err(e) = spawned {
            if let Ok(mut tap) = self.tap.lock() {
                *tap = None;
            }
            self.push_notice("The summary could not be started.", &e);
            return;
        }
        if let Some(label) = message.label.as_mut() {
            label.push_str(" (read in parts)");
        }
        let conversation = self.conversation().id.clone();
        let c = self.conversation_mut();
        c.messages.clear();
        c.messages.push(message);
        c.messages.push(ChatMessage::assistant(String::new()));
        c.updated = unix_now();
        self.save_conversation(self.current);
        self.job = Some(SummaryJob {
            cancel,
            status: "Planning…".to_owned(),
            coverage: None,
            notes: Vec::new(),
        });
        self.reply = Some(Reply {
            id: 0,
            conversation,
            started: Instant::now(),
            prefill: None,
            prefill_first: None,
            first_piece: None,
        });
    }

    fn on_summary_progress(&mut self, progress: summarize::Progress) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match progress {
            summarize::Progress::Planned { parts, .. } => {
                job.coverage = Some((0, parts));
            }
            summarize::Progress::Step {
                phase, coverage, ..
            } => {
                job.coverage = Some((coverage.read, coverage.total));
                job.status = match phase {
                    summarize::Phase::SinglePass => "Reading the document".to_owned(),
                    summarize::Phase::Read { part, parts } => {
                        format!("Reading part {part} of {parts}")
                    }
                    summarize::Phase::Combine {
                        round,
                        group,
                        groups,
                    } => format!("Combining notes (round {round}, group {group} of {groups})"),
                    summarize::Phase::Final { inputs } => {
                        format!("Writing the summary from {inputs} notes")
                    }
                };
            }
            summarize::Progress::Partial {
                phase,
                location,
                text,
                coverage,
                ..
            } => {
                job.coverage = Some((coverage.read, coverage.total));
                if let summarize::Phase::Read { part, parts } = phase {
                    let place = location.map_or_else(String::new, |l| format!(", {l}"));
                    job.notes
                        .push(format!("[Part {part} of {parts}{place}] {}", text.trim()));
                }
            }
        }
    }

    fn on_summary_done(&mut self, result: std::result::Result<summarize::Summary, String>) {
        let job = self.job.take();
        let Some(reply) = self.reply.take() else {
            return;
        };
        let conversation = reply.conversation.clone();
        let Some(c) = self.conversations.iter_mut().find(|c| c.id == conversation) else {
            return;
        };
        match result {
            Ok(summary) => {
                if let Some(m) = c.messages.last_mut().filter(|m| m.role == Role::Assistant) {
                    m.stopped = summary.cancelled;
                    m.stats = summary.final_timings.as_ref().map(ReplyStats::from);
                    if !summary.single_pass {
                        m.label = Some(format!(
                            "{}\n\n*Read in {} parts ({:.0}% of the document), {} model calls, {:.0} s.*",
                            m.content.trim_end(),
                            summary.coverage.total,
                            summary.coverage.percent(),
                            summary.model_calls,
                            summary.total_secs
                        ));
                    }
                }
                // Follow-up questions are answered from the notes on each part, which fit in
                // the context where the whole document does not.
                let notes = job.map(|j| j.notes).unwrap_or_default();
                if !summary.single_pass && !notes.is_empty() {
                    if let Some(first) = c.messages.first_mut() {
                        let name = c
                            .document
                            .as_ref()
                            .map_or("the document", |d| d.name.as_str());
                        first.content = format!(
                            "Here are notes on {name}, part by part:\n\n{}\n\nPlease summarize the document from these notes.",
                            notes.join("\n\n")
                        );
                    }
                }
                if summary.cancelled && c.messages.last().is_some_and(|m| m.content.is_empty()) {
                    c.messages.pop();
                }
            }
            Err(e) => {
                if c.messages
                    .last()
                    .is_some_and(|m| m.role == Role::Assistant && m.content.is_empty())
                {
                    c.messages.pop();
                }
                self.notices.push(Notice {
                    message: first_sentence(&e),
                    details: Some(e),
                });
            }
        }
        self.save_conversation_id(&conversation);
    }

    /// What the running summary of a long document is doing: (status, parts read, parts).
    #[must_use]
    pub fn summary_job(&self) -> Option<(&str, Option<(usize, usize)>)> {
        self.job.as_ref().map(|j| (j.status.as_str(), j.coverage))
    }

    // ----- chat -----

    /// Sends the composer's text (Enter).
    pub fn send(&mut self) {
        let text = self.composer.trim().to_owned();
        if text.is_empty() || self.reply.is_some() {
            return;
        }
        self.composer.clear();
        let needs_summary =
            self.conversation().messages.is_empty() && self.conversation().document.is_some();
        if needs_summary {
            // A question about a document: the document goes in the first message.
            let Some(doc) = self.conversation().document.clone() else {
                return;
            };
            let mut m = ChatMessage::user(format!(
                "{text}\n\nAnswer using this document:\n\n{}",
                doc.text.trim_end()
            ));
            m.label = Some(format!("{text}\n\n*about **{}***", doc.name));
            self.conversation_mut().messages.push(m);
        } else {
            self.conversation_mut()
                .messages
                .push(ChatMessage::user(text));
        }
        self.conversation_mut().title_from_first_message();
        self.conversation_mut().updated = unix_now();
        let sampling = self.settings.sampling.clone();
        self.start_reply(sampling);
    }

    /// Stops the reply being written (Esc).
    pub fn stop(&mut self) {
        if let Some(job) = &self.job {
            job.cancel.cancel();
        }
        if self.reply.is_some() {
            self.engine.cancel();
        }
    }

    /// Writes the last reply again.
    pub fn regenerate(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let c = self.conversation_mut();
        if c.messages.last().is_some_and(|m| m.role == Role::Assistant) {
            c.messages.pop();
        }
        if c.messages.last().is_none_or(|m| m.role != Role::User) {
            return;
        }
        let summary = c.messages.len() == 1 && c.messages[0].label.is_some();
        let sampling = if summary {
            self.summary_sampling()
        } else {
            self.settings.sampling.clone()
        };
        self.start_reply(sampling);
    }

    /// Puts the last message back in the composer and removes it and its reply.
    pub fn edit_last(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let c = self.conversation_mut();
        let Some(last_user) = c.messages.iter().rposition(|m| m.role == Role::User) else {
            return;
        };
        if c.messages[last_user].label.is_some() {
            return;
        }
        let text = c.messages[last_user].content.clone();
        c.messages.truncate(last_user);
        self.composer = text;
        self.save_conversation(self.current);
    }

    fn start_reply(&mut self, sampling: Sampling) {
        if !matches!(self.model, ModelState::Ready(_)) {
            self.notices.push(Notice {
                message: "Load a model first: open Models to download XGen or open a GGUF file."
                    .into(),
                details: None,
            });
            // Keep what the person wrote.
            let c = self.conversation_mut();
            if let Some(m) = c.messages.pop() {
                if m.label.is_none() && m.role == Role::User {
                    self.composer = m.content;
                }
            }
            return;
        }
        let prompt = self.conversation().prompt(&self.settings.system_prompt);
        // The turn that carries a document is saved to the disk state cache after it is read,
        // so reopening the conversation later does not read the document again.
        let document_turn = self.conversation().document.is_some()
            && self
                .conversation()
                .messages
                .first()
                .is_some_and(|m| m.label.is_some());
        let system_messages = prompt.len() - self.conversation().messages.len();
        let id = self.engine.next_request_id();
        let conversation = self.conversation().id.clone();
        self.conversation_mut()
            .messages
            .push(ChatMessage::assistant(String::new()));
        self.save_conversation(self.current);
        self.reply = Some(Reply {
            id,
            conversation,
            started: Instant::now(),
            prefill: None,
            prefill_first: None,
            first_piece: None,
        });
        let mut request = GenerateRequest::chat(id, prompt, sampling);
        if document_turn {
            request = request.with_cache_prefix(CachePrefix::Messages(system_messages + 1));
        }
        self.engine.generate(request);
    }

    fn reply_message(&mut self, conversation: &str) -> Option<&mut ChatMessage> {
        self.conversations
            .iter_mut()
            .find(|c| c.id == conversation)
            .and_then(|c| c.messages.last_mut())
            .filter(|m| m.role == Role::Assistant)
    }

    fn finish_reply_locally(&mut self, reply: &Reply, stopped: bool) {
        if let Some(m) = self.reply_message(&reply.conversation) {
            m.stopped = stopped;
        }
        self.save_conversation_id(&reply.conversation.clone());
    }

    // ----- events -----

    fn handle_events(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                AppEvent::Engine(e) => self.on_engine(e),
                AppEvent::Setup(p) => {
                    match self.setup.stages.iter_mut().find(|s| s.stage == p.stage) {
                        Some(s) => *s = p,
                        None => self.setup.stages.push(p),
                    }
                }
                AppEvent::SetupDone(result) => {
                    self.setup.running = false;
                    match result {
                        Ok(model) => {
                            self.setup.outcome = None;
                            self.refresh_installed();
                            self.load_model(&model.path);
                            self.view = View::Chat;
                        }
                        Err(e) => {
                            let cancelled = self.setup.cancel.is_cancelled();
                            self.setup.outcome = Some(if cancelled {
                                "Cancelled. What was downloaded is kept: press Resume to continue."
                                    .to_owned()
                            } else {
                                format!("Setup failed: {e}")
                            });
                        }
                    }
                }
                AppEvent::Document(result) => {
                    self.reading_document = false;
                    match result {
                        Ok(doc) => self.attach(doc),
                        Err(e) => self.notices.push(Notice {
                            message: first_sentence(&e),
                            details: Some(e),
                        }),
                    }
                }
                AppEvent::Meter {
                    conversation,
                    key,
                    result,
                } => {
                    if key != self.meter_key {
                        continue;
                    }
                    match result {
                        Ok(m) => self.meter = Some((conversation, m)),
                        Err(EngineError::NoModel) => {}
                        Err(e) => {
                            self.push_notice("The document's tokens could not be counted.", &e);
                        }
                    }
                }
                AppEvent::PickedDocument(Some(path)) => self.open_document(&path),
                AppEvent::PickedModel(Some(path)) => self.open_model_file(&path),
                AppEvent::PickedDocument(None) | AppEvent::PickedModel(None) => {}
                AppEvent::SummaryProgress(p) => self.on_summary_progress(p),
                AppEvent::SummaryPiece(piece) => {
                    if let Some(reply) = self.reply.as_mut() {
                        reply.first_piece.get_or_insert_with(Instant::now);
                        let conversation = reply.conversation.clone();
                        if let Some(m) = self.reply_message(&conversation) {
                            m.content.push_str(&piece);
                        }
                    }
                }
                AppEvent::SummaryDone(result) => self.on_summary_done(result),
            }
        }
    }

    fn on_engine(&mut self, event: Event) {
        match event {
            Event::LoadProgress(p) => {
                if let ModelState::Loading { progress, .. } = &mut self.model {
                    *progress = p;
                }
            }
            Event::Loaded(info) => {
                if let Some(backend) = self.hardware.gpu_backend {
                    if info.gpu_layers == 0 {
                        let why = self.plan.as_ref().and_then(|p| p.reasons.first().cloned());
                        self.notices.push(Notice {
                            message: format!(
                                "The {backend} GPU is not used for this model: it runs on the CPU, more slowly."
                            ),
                            details: why.or_else(|| {
                                Some("No GPU was found, or it has too little free memory.".to_owned())
                            }),
                        });
                    }
                }
                self.remember_loaded_model(&info);
                self.model = ModelState::Ready(info);
                self.request_meter();
            }
            Event::LoadFailed(error) => {
                let path = match &self.model {
                    ModelState::Loading { path, .. } => path.display().to_string(),
                    _ => String::new(),
                };
                self.model = ModelState::Empty;
                self.notices.push(Notice {
                    message: format!(
                        "The model {path} could not be loaded. Choose another file or download the model again in Models."
                    ),
                    details: Some(error.to_string()),
                });
            }
            Event::PromptProgress { id, done, total } => {
                if let Some(r) = self.reply.as_mut().filter(|r| r.id == id) {
                    r.prefill = Some((done, total));
                    r.prefill_first.get_or_insert((Instant::now(), done));
                }
            }
            Event::Token { id, text } => {
                let Some(reply) = self.reply.as_mut().filter(|r| r.id == id) else {
                    return;
                };
                reply.first_piece.get_or_insert_with(Instant::now);
                let conversation = reply.conversation.clone();
                if let Some(m) = self.reply_message(&conversation) {
                    m.content.push_str(&text);
                }
            }
            Event::Done {
                id,
                reason,
                timings,
            } => {
                let Some(reply) = self.reply.take_if(|r| r.id == id) else {
                    return;
                };
                if let Some(m) = self.reply_message(&reply.conversation) {
                    m.stats = Some(ReplyStats::from(&timings));
                    m.stopped = reason == StopReason::Cancelled;
                }
                if reason == StopReason::ContextFull {
                    self.notices.push(Notice {
                        message: "The context is full: start a new chat, or raise the context size in Settings.".into(),
                        details: None,
                    });
                }
                self.save_conversation_id(&reply.conversation);
            }
            Event::Failed { id, error } => {
                let Some(reply) = self.reply.take_if(|r| r.id == id) else {
                    return;
                };
                if let Some(c) = self
                    .conversations
                    .iter_mut()
                    .find(|c| c.id == reply.conversation)
                {
                    if c.messages
                        .last()
                        .is_some_and(|m| m.role == Role::Assistant && m.content.is_empty())
                    {
                        c.messages.pop();
                    }
                }
                self.save_conversation_id(&reply.conversation);
                self.notices.push(Notice {
                    message: first_sentence(&error.to_string()),
                    details: Some(error.to_string()),
                });
            }
        }
    }

    fn push_notice(&mut self, message: &str, error: &(dyn std::error::Error + 'static)) {
        self.notices.push(notice(message, error));
    }

    /// Dismisses notice `index`.
    pub fn dismiss_notice(&mut self, index: usize) {
        if index < self.notices.len() {
            self.notices.remove(index);
        }
    }

    fn save_settings_if_changed(&mut self, ctx: &egui::Context) {
        if self.settings == self.saved_settings {
            return;
        }
        if self.settings.theme != self.saved_settings.theme {
            apply_theme(ctx, self.settings.theme);
        }
        let meter_inputs_changed = self.settings.summary_style != self.saved_settings.summary_style
            || self.settings.summary_length != self.saved_settings.summary_length
            || self.settings.system_prompt != self.saved_settings.system_prompt;
        if let Err(e) = self.settings.save(&self.opts.paths.settings_file()) {
            self.push_notice("Your settings could not be saved.", &*e);
        }
        self.saved_settings = self.settings.clone();
        if meter_inputs_changed {
            self.request_meter();
        }
    }

    // ----- drawing -----

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let open = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
        let new = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
        let settings = KeyboardShortcut::new(Modifiers::COMMAND, Key::Comma);
        if ctx.input_mut(|i| i.consume_shortcut(&open)) {
            self.pick_document();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&new)) {
            self.new_conversation();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&settings)) {
            self.view = if self.view == View::Settings {
                View::Chat
            } else {
                View::Settings
            };
        }
        let summarize = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
        if self.conversation().document.is_some()
            && self.reply.is_none()
            && ctx.input_mut(|i| i.consume_shortcut(&summarize))
        {
            self.summarize();
        }
        if self.reply.is_some() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            self.stop();
        }
        // Files dropped on the window become the document.
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(path) = dropped.first() {
            self.open_document(path);
        }
        // A long paste becomes a document instead of chat text.
        let pasted = ctx.input_mut(|i| {
            let mut long = None;
            i.events.retain(|e| match e {
                egui::Event::Paste(text) if text.chars().count() >= PASTE_AS_DOCUMENT_CHARS => {
                    long = Some(text.clone());
                    false
                }
                _ => true,
            });
            long
        });
        if let Some(text) = pasted {
            self.attach_text("Pasted text", &text);
        }
    }

    fn status_text(&self) -> String {
        match &self.model {
            ModelState::Empty => "No model loaded".to_owned(),
            ModelState::Loading { path, progress } => format!(
                "Loading {} … {:.0}%",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                progress * 100.0
            ),
            ModelState::Ready(info) => format!(
                "{} · {} ctx · {} threads · {}",
                info.name,
                info.n_ctx,
                info.threads.0,
                info.gpu_backend.as_deref().map_or_else(
                    || "CPU".to_owned(),
                    |b| format!("{b}, {} layers on GPU", info.gpu_layers)
                )
            ),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.handle_events();
        self.shortcuts(&ctx);
        self.last_status = self.status_text();

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(&self.last_status);
                if self.reading_document {
                    ui.spinner();
                    ui.label("Reading the document…");
                }
            });
        });
        egui::Panel::left("conversations")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| sidebar::sidebar_ui(self, ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.notices_ui(ui);
            match self.view {
                View::Chat => chat::chat_ui(self, ui),
                View::Models => models::models_ui(self, ui),
                View::Settings => settings_view::settings_ui(self, ui),
            }
        });
        self.save_settings_if_changed(&ctx);
        if self.reply.is_some()
            || self.setup.running
            || matches!(self.model, ModelState::Loading { .. })
        {
            // Keeps ETAs and spinners moving between events.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("xgen-desk");
            ui.separator();
            if ui.button("New chat").on_hover_text("Ctrl+N").clicked() {
                self.new_conversation();
            }
            if ui
                .button("Open document…")
                .on_hover_text("Ctrl+O — .txt .md .pdf .docx .html")
                .clicked()
            {
                self.pick_document();
            }
            ui.separator();
            ui.selectable_value(&mut self.view, View::Chat, "Chat");
            ui.selectable_value(&mut self.view, View::Models, "Models");
            ui.selectable_value(&mut self.view, View::Settings, "Settings")
                .on_hover_text("Ctrl+,");
        });
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        let mut dismiss = None;
        for (i, n) in self.notices.iter().enumerate() {
            egui::Frame::group(ui.style())
                .fill(ui.visuals().error_fg_color.gamma_multiply(0.12))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.colored_label(ui.visuals().error_fg_color, "!");
                        ui.label(&n.message);
                        if ui.small_button("Dismiss").clicked() {
                            dismiss = Some(i);
                        }
                    });
                    if let Some(details) = &n.details {
                        ui.collapsing("Details", |ui| {
                            ui.label(egui::RichText::new(details).monospace());
                        });
                    }
                });
        }
        if let Some(i) = dismiss {
            self.dismiss_notice(i);
        }
    }
}

impl eframe::App for XgenApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        XgenApp::ui(self, ui);
    }
}

fn apply_theme(ctx: &egui::Context, theme: ThemeChoice) {
    let preference = match theme {
        ThemeChoice::System => egui::ThemePreference::System,
        ThemeChoice::Light => egui::ThemePreference::Light,
        ThemeChoice::Dark => egui::ThemePreference::Dark,
    };
    ctx.options_mut(|o| o.theme_preference = preference);
}

fn notice(message: &str, error: &(dyn std::error::Error + 'static)) -> Notice {
    Notice {
        message: message.to_owned(),
        details: Some(error_chain(error)),
    }
}

/// The error and its causes, each once.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut details = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !details.contains(&text) {
            details.push_str(": ");
            details.push_str(&text);
        }
        source = s.source();
    }
    details
}

fn first_sentence(text: &str) -> String {
    let mut s = text.split(": ").next().unwrap_or(text).trim().to_owned();
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

fn quant_from_name(name: &str) -> String {
    let upper = name.to_uppercase();
    for q in [
        "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q4_1", "Q8_0", "Q6_K", "F16", "F32", "BF16",
    ] {
        if upper.contains(q) {
            return q.to_owned();
        }
    }
    "unknown".to_owned()
}

fn sanitize_file_name(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim();
    if s.is_empty() {
        "conversation".to_owned()
    } else {
        s.to_owned()
    }
}

/// Reads a document file into text (any supported format).
fn read_document(path: &Path) -> Result<Document> {
    Ok(crate::documents::extract(path)?)
}

/// Shows a native open dialog off the UI thread (on the UI thread on macOS, which requires it).
fn pick_file(
    filter_name: &'static str,
    extensions: &'static [&'static str],
    done: impl FnOnce(Option<PathBuf>) + Send + 'static,
) {
    let dialog = move || {
        rfd::FileDialog::new()
            .add_filter(filter_name, extensions)
            .pick_file()
    };
    if cfg!(target_os = "macos") {
        done(dialog());
    } else {
        let spawned = std::thread::Builder::new()
            .name("xgen-file-dialog".into())
            .spawn(move || done(dialog()));
        if let Err(e) = spawned {
            tracing::warn!("could not open the file dialog: {e}");
        }
    }
}

/// Saves conversation `loop` in `dir` forever, alternating a version whose messages say "A"
/// with one whose messages say "B" (each about 1 MB, so a kill often lands mid-write). Used by
/// the test that kills a save.
///
/// # Errors
/// The first failed save.
pub fn save_loop(dir: &Path) -> Result<()> {
    let store = ConversationStore::new(dir);
    let mut versions = Vec::new();
    for letter in ["A", "B"] {
        let mut c = Conversation::new();
        c.id = "loop".to_owned();
        c.title = letter.to_owned();
        c.messages = (0..64)
            .map(|_| ChatMessage::user(letter.repeat(16 * 1024)))
            .collect();
        versions.push(c);
    }
    loop {
        for c in &versions {
            store.save(c)?;
        }
    }
}

/// Opens the window and runs until it is closed.
///
/// # Errors
/// When no window can be opened (no display, no OpenGL).
pub fn run() -> Result<()> {
    run_with_documents(Vec::new())
}

/// [`run`], opening the first of `documents` (what a file manager passes with "Open with") in
/// the first conversation.
///
/// # Errors
/// When no window can be opened (no display, no OpenGL).
pub fn run_with_documents(documents: Vec<PathBuf>) -> Result<()> {
    let opts = AppOptions::from_env()?;
    let mut viewport = egui::ViewportBuilder::default();
    // The installers' icon (assets/); a PNG that does not decode only costs the window icon.
    if let Ok(icon) = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport: viewport
            .with_title("xgen-desk")
            .with_app_id("xgen-desk")
            .with_inner_size([1100.0, 760.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "xgen-desk",
        options,
        Box::new(move |cc| {
            let mut app = XgenApp::new(&cc.egui_ctx, opts)?;
            if let Some(document) = documents.first() {
                app.open_document(document);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow!("could not open the window: {e}"))
}
