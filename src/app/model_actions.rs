//! Models: load with the memory plan, set up from the Hub, open, delete.

#[allow(clippy::wildcard_imports)]
use super::*;

impl XgenApp {
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

    pub(super) fn refresh_installed(&mut self) {
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

    /// After a restart: notes a setup that was interrupted (files of the model in the download
    /// cache or an intermediate file in the work directory, and the model not installed), so
    /// the model manager offers Resume.
    pub(super) fn detect_interrupted_setup(&mut self) {
        let model = self.opts.setup_model;
        if self.installed.iter().any(|m| m.id.starts_with(model.id)) {
            return;
        }
        let blobs = crate::hub::RepoCache::new(&self.opts.hub.cache_dir, model.repo)
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
        let converted = self.opts.paths.work_dir().join(model.id).exists();
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
        let registry = Registry::new(self.opts.paths.registry_file())
            .with_owned_dirs(self.opts.paths.models_dir(), &self.opts.hub.cache_dir);
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

    pub(super) fn remember_loaded_model(&mut self, info: &ModelInfo) {
        self.settings.model = Some(info.path.clone());
        if self.installed.iter().any(|m| m.path == info.path) {
            return;
        }
        // The engine has just loaded the file: register it through the pipeline's own path for
        // local GGUFs, with that load as the validation.
        let options = SetupOptions::new(self.opts.paths.clone(), self.opts.hub.clone());
        let context_length = info.n_ctx_train;
        let registered = pipeline::setup(
            &ModelSource::LocalGguf {
                path: info.path.clone(),
            },
            QuantType::default(),
            &options,
            &mut |_| {
                Ok(Validation {
                    context_length: Some(context_length),
                })
            },
            &mut |_| {},
            &CancelToken::new(),
        );
        if let Err(e) = registered {
            self.push_notice(
                "The model could not be added to the list of installed models.",
                &e,
            );
        }
        self.refresh_installed();
    }
}
