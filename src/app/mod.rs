//! The desktop app (egui). `main.rs` only starts it; tests build [`XgenApp`] directly.
//!
//! The app is a composition of features, the way egui's demo app composes sub-apps: each owns
//! its state and its background jobs, and draws its own part of the window.
//! - `chat/`: the composer and the reply being written (`reply.rs`: an engine request, or a
//!   `summary_run.rs` for a document read in parts);
//! - `document/`: reading files, the token meter, reading ahead, the document's card;
//! - `queue/`: many files summarized one after another, each result a conversation;
//! - `manager/`: the one-click setup, the installed models and the servers;
//! - `sidebar.rs` and the settings screen (`settings_view.rs`).
//!
//! What they all work with is `shared.rs`'s `Shared`: the model (`model.rs`'s `ModelSlot`), the
//! conversations, the settings, the notices, the UI's waker and the options.
//!
//! One door: everything a person or a test asks is an [`AppCommand`], carried out by
//! [`XgenApp::run`]; views push commands while they draw and never act in the middle of a
//! frame. [`XgenApp`] does what needs several features (loading a model ends the reply and
//! pauses the queue's work). Background work runs on named threads whose messages arrive on
//! channels their owner polls each frame; every message wakes the UI, so the window never
//! blocks.
//!
//! Adding to the app:
//! - a command: a variant of [`AppCommand`] (or of a feature's own, like [`QueueCommand`]) and
//!   its arm in [`XgenApp::run`], which calls the feature's method;
//! - a screen: a [`View`] variant (its tab comes from [`View::ALL`] and [`View::label`]) and its
//!   arm in `frame.rs`'s `panels_ui`, where every panel is laid out; a side panel is a line
//!   there too; a feature with background work gets its poll in `frame.rs`'s `poll`;
//! - a setting: a field of [`Settings`] and its widget in `settings_view.rs` (the screen edits a
//!   copy and sends [`AppCommand::ChangeSettings`]);
//! - a widget under each message: `chat/view.rs`'s `footer_ui`.

mod chat;
mod checks;
mod command;
pub mod console;
mod conversations;
mod document;
mod document_view;
mod frame;
mod job;
mod manager;
mod model;
mod notices;
mod options;
mod part_search;
mod queue;
mod reply;
mod settings;
mod settings_view;
mod shared;
mod sidebar;
mod store;
mod summary_run;
mod window;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::engine::hardware::Machine;
use crate::engine::{Engine, EngineError, StateCacheConfig};
use crate::paths::{DataDirLock, LockError};
use crate::remote::{ServerConfig, ServerInfo};
use chat::Chat;
use conversations::Conversations;
use document::Documents;
use document_view::DocumentView;
use job::Waker;
use manager::ModelManager;
use model::{ModelChange, ModelSlot};
use queue::Queue;
use shared::Shared;
use sidebar::Sidebar;

pub use command::{AppCommand, QueueAction, QueueCommand, View};
pub use document::DocumentMeter;
pub use manager::{ServerList, SetupState};
pub use model::ModelState;
pub(crate) use notices::{first_sentence, Notices};
pub use notices::{Notice, NoticeAction};
pub use options::AppOptions;
pub use queue::{QueueItem, QueueStatus};
pub use settings::{Preset, Settings, SummaryLength, ThemeChoice};
pub use store::{ChatMessage, Conversation, ConversationStore, ReplyStats, StoreError};
use window::apply_theme;
pub use window::{run, run_with_documents};

/// A paste at least this long becomes a document rather than chat text.
pub const PASTE_AS_DOCUMENT_CHARS: usize = 1500;

/// The application: what the features share, and one state per feature.
pub struct XgenApp {
    shared: Shared,
    chat: Chat,
    documents: Documents,
    document_view: DocumentView,
    queue: Queue,
    manager: ModelManager,
    sidebar: Sidebar,
    view: View,
    /// The window's context (the theme is set on it).
    egui: egui::Context,
    /// Held for the app's life: one window per data directory writes to it.
    _instance: Option<DataDirLock>,
}

impl XgenApp {
    /// Builds the app: reads settings, conversations and installed models, starts the engine
    /// thread, and (with `autoload`) starts loading the last used model.
    ///
    /// # Errors
    /// When the engine thread cannot be started.
    pub fn new(ctx: &egui::Context, opts: AppOptions) -> Result<Self> {
        // Documents and replies hold any character; egui's fonts cover Latin, Greek and
        // Cyrillic. The rest is looked up in the system's fonts on first use (in the
        // background), so an arrow or a Chinese document shows its text, not boxes.
        ctx.add_font_provider(std::sync::Arc::new(
            egui_system_font_provider::SystemFontProvider::new(),
        ));
        let waker = Waker::new(ctx);
        let mut notices = Notices::default();
        if let Err(e) = opts.paths.create_all() {
            notices.error("The app's data folders could not be created.", &e);
        }
        let settings = Settings::load(&opts.paths.settings_file()).unwrap_or_else(|e| {
            notices.error(
                "Your settings could not be read; defaults are used until you change one.",
                &*e,
            );
            Settings::default()
        });
        let model = ModelSlot::new(&waker, &opts.load)?;
        let (instance, read_only) = match DataDirLock::acquire(&opts.paths) {
            Ok(lock) => (Some(lock), false),
            Err(e @ LockError::Held { .. }) => {
                notices.push(Notice {
                    message: format!(
                        "{}: conversations and settings changed here are not saved. Close the other window to work here.",
                        first_sentence(&e.to_string()).trim_end_matches('.')
                    ),
                    details: Some(e.to_string()),
                    action: None,
                });
                (None, true)
            }
            // A data directory that cannot be locked (a read-only or network file system) is
            // still used; only the protection against a second window is lost.
            Err(e) => {
                notices.error(
                    "The app's data folder could not be locked; do not open a second window.",
                    &e,
                );
                (None, false)
            }
        };
        let store = if read_only {
            ConversationStore::read_only(opts.paths.conversations_dir())
        } else {
            ConversationStore::new(opts.paths.conversations_dir())
        };
        let conversations = Conversations::load(store, &mut notices);
        let queue = Queue::load(opts.paths.queue_file(), read_only, &mut notices);
        let mut app = Self {
            shared: Shared {
                opts,
                waker,
                model,
                conversations,
                settings,
                notices,
                read_only,
                checks: checks::Checks::default(),
            },
            chat: Chat::default(),
            documents: Documents::default(),
            document_view: DocumentView::default(),
            queue,
            manager: ModelManager::default(),
            sidebar: Sidebar::default(),
            view: View::Chat,
            egui: ctx.clone(),
            _instance: instance,
        };
        app.manager.refresh_installed(&mut app.shared);
        app.manager.load_servers(&mut app.shared);
        app.manager.detect_interrupted_setup(&app.shared.opts);
        apply_theme(ctx, app.shared.settings.theme);
        // The server in use when the app closed is checked again; its key comes from the
        // credential store.
        if let Some(server) = app.manager.servers().active_server().cloned() {
            if app.shared.opts.autoload {
                app.shared.model.connect(server);
                return Ok(app);
            }
        }
        let start_model = app
            .shared
            .settings
            .model
            .clone()
            .filter(|p| p.exists())
            .or_else(|| app.manager.installed().first().map(|m| m.path.clone()));
        match start_model {
            Some(path) if app.shared.opts.autoload => app.load_model(&path),
            Some(_) => {}
            None => app.view = View::Models,
        }
        Ok(app)
    }

    // ----- what is on screen (the panels' and the tests' view of the app) -----

    /// The model state.
    #[must_use]
    pub fn model(&self) -> &ModelState {
        self.shared.model.state()
    }

    /// The conversation on screen.
    #[must_use]
    pub fn conversation(&self) -> &Conversation {
        self.shared.conversations.current()
    }

    /// All conversations, most recent first.
    #[must_use]
    pub fn conversations(&self) -> &[Conversation] {
        self.shared.conversations.all()
    }

    /// The settings in effect.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The message being typed.
    #[must_use]
    pub fn composer(&self) -> &str {
        self.chat.composer()
    }

    /// True while a reply is being written.
    #[must_use]
    pub fn is_generating(&self) -> bool {
        self.chat.is_generating()
    }

    /// True when another window holds the data directory and nothing is saved from this one.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only
    }

    /// Problems shown in the window.
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        self.shared.notices.all()
    }

    /// Token figures of the current conversation's document, once counted.
    #[must_use]
    pub fn document_meter(&self) -> Option<DocumentMeter> {
        self.documents.meter(&self.conversation().id)
    }

    /// How far the engine has read the document on screen ahead of any request: (tokens read,
    /// tokens, finished).
    #[must_use]
    pub fn preread_progress(&self) -> Option<(usize, usize, bool)> {
        self.documents.preread(&self.conversation().id)
    }

    /// What the running summary of a long document is doing: (status, parts read, parts).
    #[must_use]
    pub fn summary_job(&self) -> Option<(&str, Option<(usize, usize)>)> {
        let run = self.chat.reply()?.summary_run()?;
        Some((run.status(), run.coverage().map(|c| (c.read, c.total))))
    }

    /// The model setup.
    #[must_use]
    pub fn setup_state(&self) -> &SetupState {
        self.manager.setup()
    }

    /// Installed models.
    #[must_use]
    pub fn installed(&self) -> &[crate::catalog::InstalledModel] {
        self.manager.installed()
    }

    /// The screen shown.
    #[must_use]
    pub fn view(&self) -> View {
        self.view
    }

    /// The engine (tests use it to compare token counts).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        self.shared.model.engine()
    }

    /// What this computer has, once measured (off the UI thread, at start).
    #[must_use]
    pub fn hardware(&self) -> Option<&Machine> {
        self.shared.model.hardware()
    }

    /// The inference server in use, as its connection check found it.
    #[must_use]
    pub fn server(&self) -> Option<&ServerInfo> {
        self.shared
            .model
            .server()
            .map(crate::remote::RemoteEngine::info)
    }

    /// The files of the queue, in order.
    #[must_use]
    pub fn queue(&self) -> &[QueueItem] {
        self.queue.items()
    }

    // ----- the one door -----

    /// Carries out `command` (what a view pushed while drawing, or what a test asks).
    pub fn run(&mut self, command: AppCommand) {
        let shared = &mut self.shared;
        match command {
            AppCommand::ShowView(view) => self.view = view,
            AppCommand::DismissNotice(index) => shared.notices.dismiss(index),
            AppCommand::PickDocument => self.documents.pick(shared),
            AppCommand::OpenFiles(paths) => self.open_files(&paths),
            AppCommand::AttachText { name, text } => {
                self.documents.attach_text(&name, &text, shared);
                self.view = View::Chat;
            }
            AppCommand::DetachDocument => self.documents.detach(shared),
            AppCommand::Summarize => {
                let fits = self.documents.fits(&shared.conversations.current().id);
                self.chat.summarize(shared, fits);
            }
            AppCommand::ShowDocumentView(visible) => self.document_view.show(visible),
            AppCommand::FindInDocument => {
                if shared.conversations.current().document.is_some() {
                    self.document_view.start_search();
                    self.view = View::Chat;
                }
            }
            AppCommand::OpenSource(bytes) => {
                self.document_view.open_at(bytes);
                self.view = View::Chat;
            }
            AppCommand::Send => {
                let fits = self.documents_fit();
                self.chat.send(&mut self.shared, fits);
            }
            AppCommand::Stop => self.chat.stop(),
            AppCommand::Regenerate => {
                let fits = self.documents_fit();
                self.chat.regenerate(&mut self.shared, fits);
            }
            AppCommand::SearchEveryPart { again } => self.chat.search_every_part(shared, again),
            AppCommand::EditLast => self.chat.edit_last(shared),
            AppCommand::NewConversation => {
                shared.conversations.start_new();
                self.view = View::Chat;
            }
            AppCommand::SelectConversation(id) => {
                if shared.conversations.select(&id) {
                    self.view = View::Chat;
                }
            }
            AppCommand::RenameConversation { id, title } => {
                shared
                    .conversations
                    .rename(&id, &title, &mut shared.notices);
            }
            AppCommand::DeleteConversation(id) => {
                self.chat.stop_in(&id);
                shared.conversations.delete(&id, &mut shared.notices);
            }
            AppCommand::ExportConversation { id, to } => {
                shared
                    .conversations
                    .export(&id, to.as_deref(), &shared.waker, &mut shared.notices)
            }
            AppCommand::Queue(command) => self.queue.run(command, shared),
            AppCommand::LoadModel(path) => self.load_model(&path),
            AppCommand::PickModelFile => self.manager.pick_model_file(shared),
            AppCommand::DeleteModel(id) => self.delete_model(&id),
            AppCommand::StartSetup => self.manager.start_setup(shared),
            AppCommand::CancelSetup => self.manager.cancel_setup(),
            AppCommand::ConnectServer(config) => self.connect_server(config),
            AppCommand::RemoveServer(url) => self.remove_server(&url),
            AppCommand::ReloadEngine => self.reload_engine(),
            AppCommand::ChangeSettings(settings) => self.change_settings(*settings),
            #[cfg(feature = "fault-injection")]
            AppCommand::InjectEnginePanic => shared.model.engine().inject_panic(),
        }
    }

    /// Whether the document on screen fits the context with its reply; `None` until counted.
    fn documents_fit(&self) -> Option<bool> {
        self.documents
            .meter(&self.shared.conversations.current().id)
            .map(|m| m.fits())
    }

    /// What the last question about the document on screen read, in words, when it read
    /// part of it ("read 9 passages, pages 3-5, 31, 40 of 120").
    #[must_use]
    pub fn last_read(&self) -> Option<String> {
        self.chat.last_read(&self.shared).map(|r| r.said)
    }

    /// Whether the document view is shown.
    #[must_use]
    pub fn is_document_view_visible(&self) -> bool {
        self.document_view.is_visible()
    }

    /// Opens `paths`: one file as the conversation's document, several files or a folder
    /// (searched for documents) as the queue; the first GGUF file among them as the model.
    fn open_files(&mut self, paths: &[PathBuf]) {
        let (models, documents): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        });
        if let Some(model) = models.first() {
            if models.len() > 1 {
                self.shared.notices.message(&format!(
                    "One model is loaded at a time: {} was loaded, the {} other GGUF files were not.",
                    model.file_name().map_or_else(
                        || model.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    ),
                    models.len() - 1
                ));
            }
            self.load_model(model);
        }
        match documents.as_slice() {
            [] => {}
            [one] if !one.is_dir() => self.documents.open(one, &mut self.shared),
            _ => self
                .queue
                .add(documents.into_iter().cloned().collect(), &mut self.shared),
        }
    }

    /// Starts loading `path` (planned to fit this computer), replacing the loaded model (or the
    /// server in use). A file the installed-models list does not record as checked (a file
    /// picked from disk, a model file changed since) is first checked in a child process.
    fn load_model(&mut self, path: &Path) {
        self.chat.abandon(&mut self.shared);
        self.queue.interrupt();
        self.manager.no_server_in_use(&mut self.shared);
        let opts = &self.shared.opts;
        let mut load = opts.load.clone();
        load.n_ctx = self.shared.settings.n_ctx.or(load.n_ctx);
        if load.state_cache.is_none() {
            load.state_cache = Some(StateCacheConfig::new(opts.paths.state_cache_dir()));
        }
        // The list records canonical paths.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let check = (!self.manager.is_checked(&canonical)).then_some(&opts.isolation);
        self.shared.model.load(path, load, check);
    }

    /// Checks an inference server and, once it answers, uses it instead of the local engine
    /// (the local model is unloaded). The outcome shows in the model manager.
    fn connect_server(&mut self, config: ServerConfig) {
        self.chat.abandon(&mut self.shared);
        self.manager.set_connect_error(None);
        self.shared.model.connect(config);
    }

    /// Removes a server from the list (and its key from the credential store); stops using it
    /// if it was in use.
    fn remove_server(&mut self, url: &str) {
        if self.server().is_some_and(|s| s.url == url) {
            self.chat.abandon(&mut self.shared);
            self.shared.model.leave_server();
        }
        self.manager.remove_server(url, &mut self.shared);
    }

    /// Removes an installed model (and its file when the app made it).
    fn delete_model(&mut self, id: &str) {
        let Some(path) = self.manager.delete(id, &mut self.shared) else {
            return;
        };
        self.shared.model.unload_if(&path);
        if self.shared.settings.model.as_deref() == Some(path.as_path()) {
            self.change_settings(Settings {
                model: None,
                ..self.shared.settings.clone()
            });
        }
    }

    /// Starts a new engine after the old one stopped, and loads the model again.
    fn reload_engine(&mut self) {
        self.chat.abandon(&mut self.shared);
        if let Err(e) = self.shared.model.reload() {
            self.shared
                .notices
                .error("The engine could not be started again.", e.as_ref());
        }
    }

    /// Puts `settings` in effect and saves them: a new theme is applied, new figures for the
    /// meter are counted, a new context size reloads the model.
    fn change_settings(&mut self, settings: Settings) {
        let old = std::mem::replace(&mut self.shared.settings, settings);
        let new = &self.shared.settings;
        if *new == old {
            return;
        }
        if new.theme != old.theme {
            apply_theme(&self.egui, new.theme);
        }
        let meter_inputs_changed = new.summary_style != old.summary_style
            || new.summary_length != old.summary_length
            || new.system_prompt != old.system_prompt;
        let context_changed = new.n_ctx != old.n_ctx;
        self.save_settings();
        if meter_inputs_changed {
            self.documents.request_meter(&mut self.shared);
        }
        if context_changed {
            if let ModelState::Ready(info) = self.model() {
                let path = info.path.clone();
                self.load_model(&path);
            }
        }
    }

    fn save_settings(&mut self) {
        let shared = &mut self.shared;
        if shared.read_only {
            // Another window owns the data directory (said once, at start).
            return;
        }
        if let Err(e) = shared.settings.save(&shared.opts.paths.settings_file()) {
            shared
                .notices
                .error("Your settings could not be saved.", e.as_ref());
        }
    }

    // ----- what the features' background work changes for the others -----

    fn on_model_change(&mut self, change: ModelChange) {
        match change {
            ModelChange::Loaded(info) => {
                if let Some(backend) = info.gpu_backend.as_deref().filter(|_| info.gpu_layers == 0)
                {
                    // The plan's reason about the GPU (its first is about the KV cache).
                    let why = info
                        .plan
                        .as_ref()
                        .and_then(|p| p.reasons.iter().find(|r| r.contains("GPU")).cloned());
                    self.shared.notices.push(Notice {
                        message: format!(
                            "The {backend} GPU is not used for this model: it runs on the CPU, more slowly."
                        ),
                        details: why.or_else(|| {
                            Some("No GPU was found, or it has too little free memory.".to_owned())
                        }),
                        action: None,
                    });
                }
                // The model loads at the next start.
                self.change_settings(Settings {
                    model: Some(info.path.clone()),
                    ..self.shared.settings.clone()
                });
                self.manager
                    .register_local(info.path.clone(), info.n_ctx_train, &mut self.shared);
                self.documents.request_meter(&mut self.shared);
            }
            ModelChange::Failed { path, error } => {
                let message = if matches!(error, EngineError::DoesNotFit(_)) {
                    "The model does not fit in this computer's memory with this context. Choose a smaller context in Settings or a smaller model.".to_owned()
                } else {
                    format!(
                        "The model {} could not be loaded. Choose another file or download the model again in Models.",
                        path.display()
                    )
                };
                self.shared.notices.push(Notice {
                    message,
                    details: Some(error.to_string()),
                    action: None,
                });
            }
            ModelChange::Connected {
                info,
                config,
                warnings,
            } => {
                self.manager.server_in_use(config, &mut self.shared);
                for warning in warnings {
                    self.shared.notices.message(&warning);
                }
                tracing::info!("using {} on {:?}", info.name, info.server);
                self.documents.request_meter(&mut self.shared);
            }
            ModelChange::ConnectFailed { url, error } => {
                let message = first_sentence(&error.to_string());
                self.manager.set_connect_error(Some(error.to_string()));
                self.shared.notices.push(Notice {
                    message,
                    details: Some(format!("{url}: {error}")),
                    action: Some(NoticeAction::OpenModels),
                });
            }
            ModelChange::EngineStopped(reason) => {
                self.chat.abandon(&mut self.shared);
                self.shared.notices.push(Notice {
                    message: "The engine stopped; what was written so far is kept. Reload to start it again.".to_owned(),
                    details: Some(format!("the engine stopped: {reason}")),
                    action: Some(NoticeAction::Reload),
                });
            }
        }
    }
}
