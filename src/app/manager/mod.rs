//! The model manager: the one-click setup (download -> convert -> quantize -> check) running as
//! a job, the installed models, and the inference servers added (saved in `servers.json` beside
//! the settings, without their API keys, which live in the operating system's credential
//! store). Its screen is `view.rs`.

mod view;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::command::{AppCommand, View};
use super::job::{pick_file, Job};
use super::options::AppOptions;
use super::shared::Shared;
use crate::catalog::{InstalledModel, ModelSource, QuantType, Registry};
use crate::pipeline::{self, Progress, SetupOptions, Stage, Validation};
use crate::remote::{normalize_url, ServerConfig};

/// What the setup job reports.
pub(crate) enum SetupMsg {
    Progress(Progress),
    Done(Result<InstalledModel, String>),
}

/// The running model setup and how the last one ended.
#[derive(Default)]
pub struct SetupState {
    /// True while the worker runs.
    pub running: bool,
    /// Latest report per stage, in stage order.
    pub stages: Vec<Progress>,
    /// How the last attempt ended, if it did not succeed.
    pub outcome: Option<String>,
    /// Quantization to produce.
    pub quant: QuantType,
    job: Option<Job<SetupMsg>>,
}

impl SetupState {
    /// The latest report of `stage`.
    #[must_use]
    pub fn stage(&self, stage: Stage) -> Option<&Progress> {
        self.stages.iter().find(|p| p.stage == stage)
    }
}

impl std::fmt::Debug for SetupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupState")
            .field("running", &self.running)
            .field("stages", &self.stages)
            .field("outcome", &self.outcome)
            .field("quant", &self.quant)
            .finish_non_exhaustive()
    }
}

/// The inference servers added in the model manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerList {
    /// Servers, most recently used first.
    pub servers: Vec<ServerConfig>,
    /// The one in use (its URL): connected again when the app starts.
    pub active: Option<String>,
}

impl ServerList {
    fn file(opts: &AppOptions) -> PathBuf {
        opts.paths.data_dir().join("servers.json")
    }

    /// Reads the list; a missing file is an empty list.
    fn load(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a valid list of servers", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let bytes = serde_json::to_vec_pretty(self).context("could not encode the servers")?;
        xgen_fsio::write_atomic(path, &bytes)
            .with_context(|| format!("could not save {}", path.display()))
    }

    /// The server in use, as saved.
    #[must_use]
    pub fn active_server(&self) -> Option<&ServerConfig> {
        let active = self.active.as_deref()?;
        self.servers.iter().find(|s| s.url == active)
    }
}

/// What is typed in the "Add a server" form.
#[derive(Debug, Clone, Default)]
struct ServerForm {
    url: String,
    api_key: String,
    model: String,
    /// Parts summarized at the same time; 0 asks the server.
    parallel: usize,
    /// The last check's error, in words.
    error: Option<String>,
}

impl ServerForm {
    /// The configuration the form describes.
    fn config(&self) -> ServerConfig {
        ServerConfig {
            url: self.url.trim().to_owned(),
            api_key: Some(self.api_key.trim().to_owned()).filter(|k| !k.is_empty()),
            model: Some(self.model.trim().to_owned()).filter(|m| !m.is_empty()),
            parallel: Some(self.parallel).filter(|n| *n > 0),
        }
    }
}

/// Setup, installed models, servers, and the model delete being confirmed.
#[derive(Default)]
pub(crate) struct ModelManager {
    setup: SetupState,
    installed: Vec<InstalledModel>,
    /// The installed model whose Delete waits for Yes.
    confirm_delete: Option<String>,
    servers: ServerList,
    server_form: ServerForm,
    picking: Option<Job<Option<PathBuf>>>,
}

impl ModelManager {
    /// The model setup.
    pub(crate) fn setup(&self) -> &SetupState {
        &self.setup
    }

    /// The installed models.
    pub(crate) fn installed(&self) -> &[InstalledModel] {
        &self.installed
    }

    /// The servers added.
    pub(crate) fn servers(&self) -> &ServerList {
        &self.servers
    }

    /// Whether the list records `path` (canonical) as a file that passed its check.
    pub(crate) fn is_checked(&self, path: &Path) -> bool {
        self.installed
            .iter()
            .any(|m| m.path == path && m.is_checked_file())
    }

    /// Shows the outcome of a connection check under the server form (`None`: no error).
    pub(crate) fn set_connect_error(&mut self, error: Option<String>) {
        self.server_form.error = error;
    }

    /// Reads the list of installed models again.
    pub(crate) fn refresh_installed(&mut self, shared: &mut Shared) {
        match Registry::new(shared.opts.paths.registry_file()).list() {
            Ok(list) => self.installed = list,
            Err(e) => shared
                .notices
                .error("The list of installed models could not be read.", &e),
        }
    }

    /// Reads the saved servers.
    pub(crate) fn load_servers(&mut self, shared: &mut Shared) {
        match ServerList::load(&ServerList::file(&shared.opts)) {
            Ok(list) => self.servers = list,
            Err(e) => shared
                .notices
                .error("The list of servers could not be read.", e.as_ref()),
        }
    }

    fn save_servers(&self, shared: &mut Shared) {
        if shared.read_only {
            return;
        }
        if let Err(e) = self.servers.save(&ServerList::file(&shared.opts)) {
            shared
                .notices
                .error("The list of servers could not be saved.", e.as_ref());
        }
    }

    /// Notes that the server of `config` is in use (first in the list), and saves the list.
    pub(crate) fn server_in_use(&mut self, config: ServerConfig, shared: &mut Shared) {
        let url = normalize_url(&config.url).unwrap_or_else(|_| config.url.clone());
        let config = ServerConfig {
            url: url.clone(),
            api_key: None,
            ..config
        };
        self.servers.servers.retain(|s| s.url != url);
        self.servers.servers.insert(0, config);
        self.servers.active = Some(url);
        self.server_form.error = None;
        self.save_servers(shared);
    }

    /// No server is in use any more (a local model was chosen).
    pub(crate) fn no_server_in_use(&mut self, shared: &mut Shared) {
        if self.servers.active.take().is_some() {
            self.save_servers(shared);
        }
    }

    /// Removes a server from the list (and its API key from the credential store, off the UI
    /// thread).
    pub(crate) fn remove_server(&mut self, url: &str, shared: &mut Shared) {
        self.servers.servers.retain(|s| s.url != url);
        if self.servers.active.as_deref() == Some(url) {
            self.servers.active = None;
        }
        self.save_servers(shared);
        let url = url.to_owned();
        let forgotten = std::thread::Builder::new()
            .name("xgen-forget-key".into())
            .spawn(move || crate::remote::secret::forget(&url));
        if let Err(e) = forgotten {
            tracing::warn!("could not forget the server's API key: {e}");
        }
    }

    /// Starts (or resumes) setting up the app's model.
    pub(crate) fn start_setup(&mut self, shared: &mut Shared) {
        if self.setup.running {
            return;
        }
        let opts = &shared.opts;
        let options = SetupOptions::new(opts.paths.clone(), opts.hub.clone());
        let source = ModelSource::Catalog(opts.setup_model);
        let quant = self.setup.quant;
        let isolation = opts.isolation.clone();
        let job = Job::spawn("xgen-setup", &shared.waker, move |r| {
            let cancel = r.cancel_token().clone();
            let mut validate = |path: &Path| pipeline::validate_isolated(path, &isolation, &cancel);
            let result = pipeline::setup(
                &source,
                quant,
                &options,
                &mut validate,
                &mut |p| r.send(SetupMsg::Progress(p.clone()), true),
                r.cancel_token(),
            )
            .map(|outcome| outcome.model)
            .map_err(|e| crate::error_text::chain(&e));
            r.send(SetupMsg::Done(result), false);
        });
        match job {
            Ok(job) => {
                self.setup = SetupState {
                    running: true,
                    stages: Vec::new(),
                    outcome: None,
                    quant,
                    job: Some(job),
                };
            }
            Err(e) => shared.notices.error("The setup could not be started.", &e),
        }
    }

    /// Stops the running setup; what was downloaded is kept for resuming.
    pub(crate) fn cancel_setup(&self) {
        if let Some(job) = &self.setup.job {
            job.cancel();
        }
    }

    /// Opens a native dialog for a GGUF file to load.
    pub(crate) fn pick_model_file(&mut self, shared: &mut Shared) {
        match pick_file(&shared.waker, "GGUF model", vec!["gguf"]) {
            Ok(job) => self.picking = Some(job),
            Err(e) => shared
                .notices
                .error("The file dialog could not be opened.", &e),
        }
    }

    /// After a restart: notes a setup that was interrupted (files of the model in the download
    /// cache or an intermediate file in the work directory, and the model not installed), so
    /// the model manager offers Resume.
    pub(crate) fn detect_interrupted_setup(&mut self, opts: &AppOptions) {
        let model = opts.setup_model;
        if self.installed.iter().any(|m| m.id.starts_with(model.id)) {
            return;
        }
        let blobs = crate::hub::RepoCache::new(&opts.hub.cache_dir, model.repo)
            .repo_dir()
            .join("blobs");
        let downloaded: u64 = std::fs::read_dir(&blobs)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let converted = opts.paths.work_dir().join(model.id).exists();
        if downloaded > 0 || converted {
            self.setup.outcome = Some(format!(
                "A setup was interrupted ({} of {} downloaded{}): press Resume to continue.",
                crate::hub::format_bytes(downloaded),
                crate::hub::format_bytes(model.download_size()),
                if converted {
                    ", conversion started"
                } else {
                    ""
                }
            ));
        }
    }

    /// Registers a GGUF the engine has just loaded (through the pipeline's own path for local
    /// files, with that load as the validation).
    pub(crate) fn register_local(
        &mut self,
        path: PathBuf,
        context_length: u32,
        shared: &mut Shared,
    ) {
        if self.is_checked(&path) {
            return;
        }
        let options = SetupOptions::new(shared.opts.paths.clone(), shared.opts.hub.clone());
        let registered = pipeline::setup(
            &ModelSource::LocalGguf { path },
            QuantType::default(),
            &options,
            &mut |_| {
                Ok(Validation {
                    context_length: Some(context_length),
                })
            },
            &mut |_| {},
            &crate::cancel::CancelToken::new(),
        );
        if let Err(e) = registered {
            shared.notices.error(
                "The model could not be added to the list of installed models.",
                &e,
            );
        }
        self.refresh_installed(shared);
    }

    /// Removes an installed model from the list (and its file when the app made it); returns
    /// the removed model's file.
    pub(crate) fn delete(&mut self, id: &str, shared: &mut Shared) -> Option<PathBuf> {
        let opts = &shared.opts;
        let registry = SetupOptions::new(opts.paths.clone(), opts.hub.clone()).registry();
        let removed = match registry.remove(id) {
            Ok(removed) => removed.map(|m| m.path),
            Err(e) => {
                shared.notices.error("The model could not be deleted.", &e);
                None
            }
        };
        self.refresh_installed(shared);
        removed
    }

    /// Applies what the setup job and the file dialog reported; a model that was set up or
    /// picked is to be loaded.
    pub(crate) fn poll(&mut self, shared: &mut Shared) -> Vec<AppCommand> {
        let mut commands = Vec::new();
        let mut set_up = None;
        if let Some(job) = self.setup.job.as_mut() {
            let cancelled = job.is_cancelled();
            for message in job.drain() {
                match message {
                    SetupMsg::Progress(p) => {
                        match self.setup.stages.iter_mut().find(|s| s.stage == p.stage) {
                            Some(s) => *s = p,
                            None => self.setup.stages.push(p),
                        }
                    }
                    SetupMsg::Done(Ok(model)) => {
                        self.setup.outcome = None;
                        set_up = Some(model.path);
                    }
                    SetupMsg::Done(Err(e)) => {
                        self.setup.outcome = Some(if cancelled {
                            "Cancelled. What was downloaded is kept: press Resume to continue."
                                .to_owned()
                        } else {
                            format!("Setup failed: {e}")
                        });
                    }
                }
            }
            if job.is_finished() {
                self.setup.job = None;
                self.setup.running = false;
            }
        }
        if let Some(path) = set_up {
            self.refresh_installed(shared);
            commands.push(AppCommand::LoadModel(path));
            commands.push(AppCommand::ShowView(View::Chat));
        }
        if let Some(job) = self.picking.as_mut() {
            if let Some(Some(path)) = job.drain().pop() {
                commands.push(AppCommand::LoadModel(path));
            }
            if job.is_finished() {
                self.picking = None;
            }
        }
        commands
    }
}
