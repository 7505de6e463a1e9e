//! The desktop app (egui). `main.rs` only starts it; tests build [`XgenApp`] directly.
//!
//! The app is a composition of feature states, the way egui's demo app composes sub-apps: each
//! owns its state and its background job handles, and has a panel that draws it.
//! - [`model::ModelSlot`]: the engine, the model in it, the load under way, the hardware;
//! - [`conversations::Conversations`]: the list and its files;
//! - [`chat::Chat`]: the composer and the reply being written (an engine request handle, or a
//!   summary job);
//! - [`document::Documents`]: reading files, the token meter, summaries in parts;
//! - [`queue::Queue`]: many files summarized one after another, each result a conversation;
//! - [`setup::ModelManager`]: the one-click setup and the installed models;
//! - [`Settings`]: what people change, saved as it changes.
//!
//! [`XgenApp`] holds one of each and does what needs several of them (sending a message needs
//! the conversation, the model and the settings). Background work runs on named threads whose
//! messages arrive on channels their owner polls each frame; every message wakes the UI, so the
//! window never blocks.
//!
//! Longer than 600 lines: the composition root, where the feature states meet (their actions
//! and the per-frame poll); drawing lives in `frame.rs` and the `*_view.rs` files.

mod chat;
mod chat_view;
pub mod console;
mod conversations;
mod document;
mod frame;
mod job;
mod model;
mod models;
mod notices;
mod queue;
mod queue_run;
mod queue_view;
mod settings;
mod settings_view;
mod setup;
mod sidebar;
mod store;
mod window;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use egui_commonmark::CommonMarkCache;

use crate::catalog::{default_model, CatalogModel};
use crate::engine::hardware::Machine;
use crate::engine::{Engine, LoadSettings, Plan, StateCacheConfig};
use crate::hub::HubOptions;
use crate::isolate::Isolation;
use crate::paths::{AppPaths, DataDirLock, LockError};
use crate::pipeline::SetupOptions;
use crate::remote::{ServerConfig, ServerInfo};
use chat::Chat;
use conversations::Conversations;
use document::Documents;
use job::Waker;
use model::{ModelChange, ModelSlot};
use queue::Queue;
use setup::{ManagerEvent, ModelManager};

pub use document::DocumentMeter;
pub use model::ModelState;
pub(crate) use notices::{first_sentence, Notices};
pub use notices::{Notice, NoticeAction};
pub use queue::{QueueAction, QueueItem, QueueStatus};
pub use settings::{Preset, Settings, SummaryLength, ThemeChoice};
pub use setup::{ServerList, SetupState};
pub use store::{ChatMessage, Conversation, ConversationStore, ReplyStats, StoreError};
use window::apply_theme;
pub use window::{run, run_with_documents};

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
    /// How documents are read: in a child process of this program, with time and memory
    /// limits (tests name the xgen-desk binary, since they run inside the test harness).
    pub isolation: Isolation,
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
            isolation: Isolation::current().context("could not find this program's file")?,
        })
    }
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

/// A paste at least this long becomes a document rather than chat text.
pub const PASTE_AS_DOCUMENT_CHARS: usize = 1500;

/// The application: one state per feature.
pub struct XgenApp {
    opts: AppOptions,
    waker: Waker,
    model: ModelSlot,
    conversations: Conversations,
    chat: Chat,
    documents: Documents,
    queue: Queue,
    manager: ModelManager,
    /// Settings in effect.
    pub settings: Settings,
    saved_settings: Settings,
    view: View,
    notices: Notices,
    markdown: CommonMarkCache,
    /// The conversation whose document the meter was last asked for.
    metered: Option<String>,
    /// Held for the app's life: one window per data directory writes to it.
    _instance: Option<DataDirLock>,
    /// Another window holds the data directory: nothing is saved from this one.
    read_only: bool,
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
            waker,
            model,
            conversations,
            chat: Chat::default(),
            documents: Documents::default(),
            queue,
            manager: ModelManager::default(),
            saved_settings: settings.clone(),
            settings,
            view: View::Chat,
            notices,
            markdown: CommonMarkCache::default(),
            metered: None,
            _instance: instance,
            read_only,
            opts,
        };
        app.manager.refresh_installed(&app.opts, &mut app.notices);
        app.manager.load_servers(&app.opts, &mut app.notices);
        app.manager.detect_interrupted_setup(&app.opts);
        apply_theme(ctx, app.settings.theme);
        // The server in use when the app closed is checked again; its key comes from the
        // credential store.
        if let Some(server) = app.manager.servers.active_server().cloned() {
            if app.opts.autoload {
                app.model.connect(server);
                return Ok(app);
            }
        }
        let start_model = app
            .settings
            .model
            .clone()
            .filter(|p| p.exists())
            .or_else(|| app.manager.installed.first().map(|m| m.path.clone()));
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
        self.model.state()
    }

    /// The conversation on screen.
    #[must_use]
    pub fn conversation(&self) -> &Conversation {
        self.conversations.current()
    }

    /// All conversations, most recent first.
    #[must_use]
    pub fn conversations(&self) -> &[Conversation] {
        self.conversations.all()
    }

    /// The message being typed.
    #[must_use]
    pub fn composer(&self) -> &str {
        &self.chat.composer
    }

    /// True while a reply is being written.
    #[must_use]
    pub fn is_generating(&self) -> bool {
        self.chat.is_generating()
    }

    /// True when another window holds the data directory and nothing is saved from this one.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Problems shown in the window.
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        &self.notices.0
    }

    /// Token figures of the current conversation's document, once counted.
    #[must_use]
    pub fn document_meter(&self) -> Option<DocumentMeter> {
        self.documents.meter(&self.conversation().id)
    }

    /// The model setup.
    #[must_use]
    pub fn setup_state(&self) -> &SetupState {
        &self.manager.setup
    }

    /// Installed models.
    #[must_use]
    pub fn installed(&self) -> &[crate::catalog::InstalledModel] {
        &self.manager.installed
    }

    /// The screen shown.
    #[must_use]
    pub fn view(&self) -> View {
        self.view
    }

    /// The engine (tests use it to compare token counts).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        self.model.engine()
    }

    /// What this computer has, once measured (off the UI thread, at start).
    #[must_use]
    pub fn hardware(&self) -> Option<&Machine> {
        self.model.hardware()
    }

    /// The memory plan of the loaded model.
    #[must_use]
    pub fn memory_plan(&self) -> Option<&Plan> {
        self.model.plan()
    }

    /// The inference server in use, as its connection check found it.
    #[must_use]
    pub fn server(&self) -> Option<&ServerInfo> {
        self.model.server().map(crate::remote::RemoteEngine::info)
    }

    /// The servers added in the model manager.
    #[must_use]
    pub fn servers(&self) -> &ServerList {
        &self.manager.servers
    }

    /// How far the engine has read the document on screen ahead of any request: (tokens read,
    /// tokens, finished).
    #[must_use]
    pub fn preread_progress(&self) -> Option<(usize, usize, bool)> {
        self.documents.preread(&self.conversation().id)
    }

    /// The files of the queue, in order.
    #[must_use]
    pub fn queue(&self) -> &[QueueItem] {
        self.queue.items()
    }

    /// What the running summary of a long document is doing: (status, parts read, parts).
    #[must_use]
    pub fn summary_job(&self) -> Option<(&str, Option<(usize, usize)>)> {
        self.chat
            .summary_job()
            .map(|j| (j.status.as_str(), j.coverage))
    }

    // ----- actions (the panels and tests call these) -----

    /// Shows another screen.
    pub fn show_view(&mut self, view: View) {
        self.view = view;
    }

    /// Starts loading `path` (planned to fit this computer), replacing the loaded model (or the
    /// server in use). A file the installed-models list does not record as checked (a file
    /// picked from disk, a model file changed since) is first checked in a child process.
    pub fn load_model(&mut self, path: &Path) {
        self.chat
            .abandon(&mut self.conversations, &mut self.notices);
        self.queue.interrupt();
        self.manager
            .no_server_in_use(&self.opts, self.read_only, &mut self.notices);
        let mut load = self.opts.load.clone();
        load.n_ctx = self.settings.n_ctx.or(load.n_ctx);
        if load.state_cache.is_none() {
            load.state_cache = Some(StateCacheConfig::new(self.opts.paths.state_cache_dir()));
        }
        // The list records canonical paths.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let checked = self
            .manager
            .installed
            .iter()
            .any(|m| m.path == canonical && m.is_checked_file());
        let check = (!checked).then_some(&self.opts.isolation);
        self.model.load(path, load, check);
    }

    /// Checks an inference server and, once it answers, uses it instead of the local engine
    /// (the local model is unloaded). The outcome shows in the model manager.
    pub fn connect_server(&mut self, config: ServerConfig) {
        self.chat
            .abandon(&mut self.conversations, &mut self.notices);
        self.manager.server_form.error = None;
        self.model.connect(config);
    }

    /// Removes a server from the list (and its key from the credential store); stops using it
    /// if it was in use.
    pub fn remove_server(&mut self, url: &str) {
        if self.server().is_some_and(|s| s.url == url) {
            self.chat
                .abandon(&mut self.conversations, &mut self.notices);
            self.model.leave_server();
        }
        self.manager
            .remove_server(url, &self.opts, self.read_only, &mut self.notices);
    }

    /// Reads a document file on a worker thread and attaches it to a conversation.
    pub fn open_document(&mut self, path: &Path) {
        self.documents
            .open(path, &self.opts.isolation, &self.waker, &mut self.notices);
    }

    /// Opens `paths`: one file as the conversation's document, several files or a folder
    /// (searched for documents) as the queue.
    ///
    /// A GGUF file among them is a model, not a document: the first one is loaded (checked
    /// first in a child process, like a file picked in Models).
    pub fn open_documents(&mut self, paths: &[PathBuf]) {
        let (models, documents): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        });
        if let Some(model) = models.first() {
            if models.len() > 1 {
                self.notices.message(&format!(
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
            [one] if !one.is_dir() => self.open_document(one),
            _ => self.queue.add(
                documents.into_iter().cloned().collect(),
                &self.waker,
                &mut self.notices,
            ),
        }
    }

    /// A queue button of file `id`.
    pub fn queue_action(&mut self, id: u64, action: QueueAction) {
        self.queue.act(id, action);
    }

    /// Writes the queue's report (each file's summary, source and coverage, and the failures)
    /// as Markdown to `path` (what "Export all" does without the dialog).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn export_queue_to(&self, path: &Path) -> Result<()> {
        self.queue.export_to(path)
    }

    /// Attaches text (a paste) as the conversation's document.
    pub fn attach_text(&mut self, name: &str, text: &str) {
        self.documents
            .attach_text(name, text, &mut self.conversations, &mut self.notices);
        self.view = View::Chat;
    }

    /// Sends the composer's text (Enter).
    pub fn send(&mut self) {
        self.chat.send(
            &mut self.conversations,
            &self.model,
            &self.settings,
            &mut self.notices,
        );
    }

    /// Summarizes the attached document with the chosen style and length.
    pub fn summarize(&mut self) {
        self.documents.summarize(
            &mut self.chat,
            &mut self.conversations,
            &self.model,
            &self.settings,
            &self.waker,
            &mut self.notices,
        );
    }

    /// Stops the reply being written (Esc).
    pub fn stop(&mut self) {
        self.chat.stop();
    }

    /// Starts a new, empty conversation and shows it.
    pub fn new_conversation(&mut self) {
        self.conversations.start_new();
        self.view = View::Chat;
    }

    /// Shows conversation `id`.
    pub fn select_conversation(&mut self, id: &str) {
        if self.conversations.select(id) {
            self.view = View::Chat;
        }
    }

    /// Renames a conversation.
    pub fn rename_conversation(&mut self, id: &str, title: &str) {
        self.conversations.rename(id, title, &mut self.notices);
    }

    /// Deletes a conversation.
    pub fn delete_conversation(&mut self, id: &str) {
        if self
            .chat
            .reply
            .as_ref()
            .is_some_and(|r| r.conversation == id)
        {
            self.chat.stop();
        }
        self.conversations.delete(id, &mut self.notices);
    }

    /// Writes the conversation as Markdown to `path` (the export without the dialog).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn export_conversation_to(&self, id: &str, path: &Path) -> Result<()> {
        self.conversations.export_to(id, path)
    }

    /// Starts (or resumes) setting up the app's model: download, convert, quantize, verify.
    pub fn start_setup(&mut self) {
        self.manager
            .start_setup(&self.opts, &self.waker, &mut self.notices);
    }

    /// Stops the running setup; what was downloaded is kept for resuming.
    pub fn cancel_setup(&mut self) {
        self.manager.cancel_setup();
    }

    /// Removes an installed model (and its file when the app made it).
    pub fn delete_model(&mut self, id: &str) {
        let Some(path) = self.manager.delete(id, &self.opts, &mut self.notices) else {
            return;
        };
        self.model.unload_if(&path);
        if self.settings.model.as_deref() == Some(path.as_path()) {
            self.settings.model = None;
        }
    }

    /// Dismisses notice `index`.
    pub fn dismiss_notice(&mut self, index: usize) {
        if index < self.notices.0.len() {
            self.notices.0.remove(index);
        }
    }

    /// Starts a new engine after the old one stopped, and loads the model again.
    pub fn reload_engine(&mut self) {
        self.chat
            .abandon(&mut self.conversations, &mut self.notices);
        if let Err(e) = self.model.reload() {
            self.notices
                .error("The engine could not be started again.", e.as_ref());
        }
    }

    /// Makes the engine thread panic (tests of what the app does when the engine dies).
    #[cfg(feature = "fault-injection")]
    pub fn inject_engine_panic(&self) {
        self.model.engine().inject_panic();
    }

    // ----- each frame -----

    fn poll(&mut self) {
        for change in self.model.poll() {
            self.on_model_change(change);
        }
        self.chat.poll(&mut self.conversations, &mut self.notices);
        if let Some(doc) = self
            .documents
            .poll(&self.opts.isolation, &self.waker, &mut self.notices)
        {
            self.documents
                .attach(doc, &mut self.conversations, &mut self.notices);
            self.view = View::Chat;
        }
        self.conversations.poll(&mut self.notices);
        let env = queue::QueueEnv {
            isolation: &self.opts.isolation,
            waker: &self.waker,
            model: &self.model,
            settings: &self.settings,
            chat_busy: self.chat.is_generating(),
        };
        self.queue
            .poll(&env, &mut self.conversations, &mut self.notices);
        for event in self.manager.poll() {
            match event {
                ManagerEvent::SetupDone(path) => {
                    self.manager
                        .refresh_installed(&self.opts, &mut self.notices);
                    self.load_model(&path);
                    self.view = View::Chat;
                }
                ManagerEvent::Picked(path) => self.load_model(&path),
            }
        }
        // The meter follows the conversation on screen and the model.
        let wanted = self
            .conversation()
            .document
            .as_ref()
            .map(|_| self.conversation().id.clone());
        if wanted != self.metered && self.model.counter().is_some() {
            self.request_meter();
        }
        // Once a document is known to fit, the engine reads it ahead.
        if self.model.info().is_some() {
            self.documents
                .start_preread(self.conversations.current(), &self.model, &self.settings);
        }
    }

    fn request_meter(&mut self) {
        self.metered = self
            .conversation()
            .document
            .as_ref()
            .map(|_| self.conversation().id.clone());
        self.documents.request_meter(
            self.conversations.current(),
            &self.model,
            &self.settings,
            &self.waker,
            &mut self.notices,
        );
    }

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
                    self.notices.push(Notice {
                        message: format!(
                            "The {backend} GPU is not used for this model: it runs on the CPU, more slowly."
                        ),
                        details: why.or_else(|| {
                            Some("No GPU was found, or it has too little free memory.".to_owned())
                        }),
                        action: None,
                    });
                }
                self.settings.model = Some(info.path.clone());
                self.manager.register_local(
                    info.path.clone(),
                    info.n_ctx_train,
                    &self.opts,
                    &mut self.notices,
                );
                self.request_meter();
            }
            ModelChange::Failed { path, error } => {
                let message = if matches!(error, crate::engine::EngineError::DoesNotFit(_)) {
                    "The model does not fit in this computer's memory with this context. Choose a smaller context in Settings or a smaller model.".to_owned()
                } else {
                    format!(
                        "The model {} could not be loaded. Choose another file or download the model again in Models.",
                        path.display()
                    )
                };
                self.notices.push(Notice {
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
                self.manager
                    .server_in_use(config, &self.opts, self.read_only, &mut self.notices);
                for warning in warnings {
                    self.notices.message(&warning);
                }
                tracing::info!("using {} on {:?}", info.name, info.server);
                self.request_meter();
            }
            ModelChange::ConnectFailed { url, error } => {
                let message = first_sentence(&error.to_string());
                self.manager.server_form.error = Some(error.to_string());
                self.notices.push(Notice {
                    message,
                    details: Some(format!("{url}: {error}")),
                    action: Some(NoticeAction::OpenModels),
                });
            }
            ModelChange::EngineStopped(reason) => {
                self.chat
                    .abandon(&mut self.conversations, &mut self.notices);
                self.notices.push(Notice {
                    message: "The engine stopped; what was written so far is kept. Reload to start it again.".to_owned(),
                    details: Some(format!("the engine stopped: {reason}")),
                    action: Some(NoticeAction::Reload),
                });
            }
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
        if self.read_only {
            // Another window owns the data directory (said once, at start).
        } else if let Err(e) = self.settings.save(&self.opts.paths.settings_file()) {
            self.notices
                .error("Your settings could not be saved.", e.as_ref());
        }
        self.saved_settings = self.settings.clone();
        if meter_inputs_changed {
            self.request_meter();
        }
    }
}
