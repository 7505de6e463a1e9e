//! The model manager's state: the one-click setup (download -> convert -> quantize -> check)
//! running as a job, and the installed models.

use std::path::PathBuf;

use super::job::{Job, Waker};
use super::{AppOptions, Notices};
use crate::catalog::{InstalledModel, ModelSource, QuantType, Registry};
use crate::pipeline::{self, Progress, SetupOptions, Stage, Validation};

/// What the model manager's jobs produced.
pub(crate) enum ManagerEvent {
    /// A setup finished: this model is installed and ready to load.
    SetupDone(PathBuf),
    /// A GGUF file was picked to load.
    Picked(PathBuf),
}

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

/// Setup, installed models, and the model delete being confirmed.
#[derive(Default)]
pub(crate) struct ModelManager {
    pub(crate) setup: SetupState,
    pub(crate) installed: Vec<InstalledModel>,
    pub(crate) confirm_delete: Option<String>,
    picking: Option<Job<Option<PathBuf>>>,
}

impl ModelManager {
    pub(crate) fn refresh_installed(&mut self, opts: &AppOptions, notices: &mut Notices) {
        match Registry::new(opts.paths.registry_file()).list() {
            Ok(list) => self.installed = list,
            Err(e) => notices.error("The list of installed models could not be read.", &e),
        }
    }

    /// Starts (or resumes) setting up the app's model.
    pub(crate) fn start_setup(&mut self, opts: &AppOptions, waker: &Waker, notices: &mut Notices) {
        if self.setup.running {
            return;
        }
        let options = SetupOptions::new(opts.paths.clone(), opts.hub.clone());
        let source = ModelSource::Catalog(opts.setup_model);
        let quant = self.setup.quant;
        let isolation = opts.isolation.clone();
        let job = Job::spawn("xgen-setup", waker, move |r| {
            let cancel = r.cancel_token().clone();
            let mut validate =
                |path: &std::path::Path| pipeline::validate_isolated(path, &isolation, &cancel);
            let result = pipeline::setup(
                &source,
                quant,
                &options,
                &mut validate,
                &mut |p| r.send(SetupMsg::Progress(p.clone()), true),
                r.cancel_token(),
            )
            .map(|outcome| outcome.model)
            .map_err(|e| super::error_chain(&e));
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
            Err(e) => notices.error("The setup could not be started.", &e),
        }
    }

    /// Stops the running setup; what was downloaded is kept for resuming.
    pub(crate) fn cancel_setup(&self) {
        if let Some(job) = &self.setup.job {
            job.cancel();
        }
    }

    /// Opens a native dialog for a GGUF file to load.
    pub(crate) fn pick_model_file(&mut self, waker: &Waker, notices: &mut Notices) {
        match super::job::pick_file(waker, "GGUF model", &["gguf"]) {
            Ok(job) => self.picking = Some(job),
            Err(e) => notices.error("The file dialog could not be opened.", &e),
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
        opts: &AppOptions,
        notices: &mut Notices,
    ) {
        if self
            .installed
            .iter()
            .any(|m| m.path == path && m.is_checked_file())
        {
            return;
        }
        let options = SetupOptions::new(opts.paths.clone(), opts.hub.clone());
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
            notices.error(
                "The model could not be added to the list of installed models.",
                &e,
            );
        }
        self.refresh_installed(opts, notices);
    }

    /// Removes an installed model from the list (and its file when the app made it); returns
    /// the removed model's file.
    pub(crate) fn delete(
        &mut self,
        id: &str,
        opts: &AppOptions,
        notices: &mut Notices,
    ) -> Option<PathBuf> {
        let registry = SetupOptions::new(opts.paths.clone(), opts.hub.clone()).registry();
        let removed = match registry.remove(id) {
            Ok(removed) => removed.map(|m| m.path),
            Err(e) => {
                notices.error("The model could not be deleted.", &e);
                None
            }
        };
        self.refresh_installed(opts, notices);
        removed
    }

    /// Applies what the setup job and the file dialog reported.
    pub(crate) fn poll(&mut self) -> Vec<ManagerEvent> {
        let mut events = Vec::new();
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
                        events.push(ManagerEvent::SetupDone(model.path));
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
        if let Some(job) = self.picking.as_mut() {
            if let Some(Some(path)) = job.drain().pop() {
                events.push(ManagerEvent::Picked(path));
            }
            if job.is_finished() {
                self.picking = None;
            }
        }
        events
    }
}
