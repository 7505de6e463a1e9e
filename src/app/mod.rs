//! The desktop app (egui). `main.rs` only starts it; tests build [`XgenApp`] directly.
//!
//! All state changes go through [`XgenApp`]'s methods; the `*_ui` functions in the sibling
//! modules only draw and call them. Background work (the engine, model setup, file reading,
//! token counting) runs on named threads and sends an `AppEvent` back, waking the UI with
//! `request_repaint` so the window never blocks.

mod chat;
mod conversation_actions;
mod document_actions;
mod model_actions;
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
    default_model, unix_now, CatalogModel, InstalledModel, ModelSource, QuantType, Registry,
};
use crate::documents::Document;
use crate::engine::{CachePrefix, StateCacheConfig};
use crate::engine::{
    Engine, EngineError, Event, GenerateRequest, LoadSettings, ModelInfo, Sampling, StopReason,
};
use crate::hub::HubOptions;
use crate::paths::AppPaths;
use crate::pipeline::{self, CancelToken, Progress, SetupOptions, Stage, Validation};
use crate::prompt::{summarize_request, Role};
use crate::summarize::{self, EngineModel, SummarizeOptions};

pub use conversation_actions::save_loop;
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
        self.tx.send(event).ok();
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
                    job.send(event).ok();
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
        app.detect_interrupted_setup();
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
                        // The document readers' messages are written for people, with
                        // what to do; show them whole.
                        Err(e) => self.notices.push(Notice {
                            message: e,
                            details: None,
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
