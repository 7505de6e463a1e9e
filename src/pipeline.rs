//! Model setup, stage by stage: fetch (Hub -> HF cache) -> convert (F16 GGUF in the work dir)
//! -> quantize (models dir) -> verify (the caller's loader) -> register.
//!
//! All functions block; run them on a worker thread and forward [`Progress`] to the UI. Failures
//! keep what resumes the next attempt (partial downloads, a finished F16 GGUF); success removes
//! the intermediate files. Downloads, conversion (per tensor) and the waits between stages honour
//! the [`CancelToken`]; llama.cpp quantization runs to the end of its stage once started (it has
//! no cancel). A model already installed from the same commit is not set up again.
//!
//! One setup of a catalog model at a time: a lock file per model in the work directory (held
//! by the operating system, so a crashed setup releases it) makes a second setup, from this
//! process or another, stop with [`PipelineError::Busy`] instead of converting into, or
//! deleting, the first one's work files. The converter and the quantizer also write under
//! temporary names unique to each process and call.
//!
//! Longer than 600 lines: one stage machine (fetch, convert, quantize, validate, register)
//! whose resume rules depend on each other; split by stage, each file would need the others'.

use std::path::{Path, PathBuf};

use xgen_fsio::LockWait;

use crate::cancel::CancelToken;
use crate::catalog::{
    estimate_quantized_size, is_weight_file, quant_label, unix_now, CatalogModel, InstalledModel,
    InstalledSource, ModelSource, QuantType, Registry, RegistryError,
};
use crate::hub::{
    check_disk, BoxError, DiskNeed, DownloadPlan, Hub, HubError, HubOptions, Meter, Snapshot,
};
use crate::paths::{AppPaths, PathsError};

pub use crate::hub::{Progress, ProgressFn, Stage};

/// Everything setup needs to know about this computer.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// Hub endpoint, token, HF cache, offline flag, disk probe.
    pub hub: HubOptions,
    /// Data, models and work directories.
    pub paths: AppPaths,
    /// Threads for quantization.
    pub threads: usize,
}

impl SetupOptions {
    /// Options from the environment ([`AppPaths::from_env`], [`HubOptions::from_env`]).
    ///
    /// # Errors
    /// [`PathsError`] when no home directory exists.
    pub fn from_env() -> Result<Self, PathsError> {
        let paths = AppPaths::from_env()?;
        let hub = HubOptions::from_env(paths.hf_cache_dir());
        Ok(Self::new(paths, hub))
    }

    /// Options for `paths` and `hub`, quantizing on all cores.
    #[must_use]
    pub fn new(paths: AppPaths, hub: HubOptions) -> Self {
        let threads = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        Self {
            hub,
            paths,
            threads,
        }
    }

    /// The installed-models registry, allowed to delete what setup made in the models
    /// directory and the download cache.
    #[must_use]
    pub fn registry(&self) -> Registry {
        Registry::new(self.paths.registry_file())
            .with_owned_dirs(self.paths.models_dir(), &self.hub.cache_dir)
    }
}

/// What the caller's loader found when checking a GGUF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Training context length the file declares, if read.
    pub context_length: Option<u32>,
}

/// Checks that a GGUF loads (the engine fills this in); an error stops the setup.
pub type Validator<'a> = dyn FnMut(&Path) -> Result<Validation, BoxError> + 'a;

/// The real check: loads the GGUF in a child process of this program (`xgen-desk check`, so
/// that llama.cpp aborting on a malformed file ends only the child) and runs a token through
/// it.
///
/// # Errors
/// The load or evaluation error, or what happened to the child.
pub fn validate_isolated(
    path: &Path,
    isolation: &crate::isolate::Isolation,
    cancel: &CancelToken,
) -> Result<Validation, BoxError> {
    let info = crate::engine::check::check_isolated(path, isolation, &|| cancel.is_cancelled())?;
    Ok(Validation {
        context_length: Some(info.n_ctx_train),
    })
}

/// The conversion and quantization steps (real: [`XgenSteps`]; tests use fakes).
pub trait Steps {
    /// Converts the checkpoint in `checkpoint` to an F16 GGUF at `out`, written atomically (a
    /// failed or cancelled conversion leaves no file at `out`), stopping early once `cancel` is
    /// set.
    ///
    /// # Errors
    /// Any conversion error, or the cancellation.
    fn convert(
        &mut self,
        checkpoint: &Path,
        name: &str,
        out: &Path,
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<(), BoxError>;

    /// Quantizes `input` to `quant` at `out`, written atomically.
    ///
    /// # Errors
    /// Any quantization error.
    fn quantize(
        &mut self,
        input: &Path,
        out: &Path,
        quant: QuantType,
        progress: &mut ProgressFn<'_>,
    ) -> Result<(), BoxError>;
}

/// The real steps: `xgen_quantize::convert_checkpoint` and `xgen_quantize::quantize_gguf`.
#[derive(Debug, Clone)]
pub struct XgenSteps {
    /// Quantization threads.
    pub threads: usize,
}

impl Steps for XgenSteps {
    fn convert(
        &mut self,
        checkpoint: &Path,
        name: &str,
        out: &Path,
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<(), BoxError> {
        let options = xgen_quantize::ConvertOptions {
            out_type: xgen_quantize::OutType::F16,
            name: name.to_owned(),
            cancel: Some(cancel.flag().clone()),
        };
        let mut meter = Meter::new(Stage::Convert, 0, 0);
        xgen_quantize::convert_checkpoint(checkpoint, out, &options, |p| {
            meter.set_item(&p.name);
            meter.update(p.bytes_done, p.bytes_total, progress);
        })?;
        meter.emit(progress);
        Ok(())
    }

    fn quantize(
        &mut self,
        input: &Path,
        out: &Path,
        quant: QuantType,
        progress: &mut ProgressFn<'_>,
    ) -> Result<(), BoxError> {
        let mut meter = Meter::new(Stage::Quantize, 0, 0);
        xgen_quantize::quantize_gguf(input, out, quant, self.threads, |p| {
            meter.set_item(&p.name);
            meter.update(p.tensor_index as u64, p.tensor_count as u64, progress);
        })?;
        meter.emit(progress);
        Ok(())
    }
}

/// Setup errors. Messages say what was kept and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Downloading failed.
    #[error(transparent)]
    Hub(HubError),
    /// Cancelled; partial downloads and finished stages are kept (a half-written conversion is
    /// removed: it starts over from the kept download).
    #[error("setup cancelled; run it again to continue where it stopped")]
    Cancelled,
    /// Another setup of the same model holds its lock.
    #[error("another setup of {model} is running (in this window or another program); wait for it to finish, then try again")]
    Busy {
        /// The catalog id.
        model: String,
    },
    /// The checkpoint format cannot be converted.
    #[error(
        "{model} is not stored as safetensors or PyTorch .bin shards, the formats the converter \
         reads; install `{default}` instead"
    )]
    NotConvertible {
        /// The catalog id.
        model: String,
        /// The model to use instead.
        default: &'static str,
    },
    /// Conversion to GGUF failed; the download is kept.
    #[error("converting {model} to GGUF failed: {source}; the download is kept, fix the cause and run setup again")]
    Convert {
        /// The catalog id.
        model: String,
        /// The cause.
        source: BoxError,
    },
    /// Quantization failed; the F16 GGUF is kept.
    #[error(
        "quantizing {model} to {quant} failed: {source}; the F16 GGUF is kept for the next attempt"
    )]
    Quantize {
        /// The model.
        model: String,
        /// The type.
        quant: String,
        /// The cause.
        source: BoxError,
    },
    /// The finished file does not load; it was not installed.
    #[error("{} does not load ({source}); it was not installed", path.display())]
    Validate {
        /// The GGUF.
        path: PathBuf,
        /// The cause.
        source: BoxError,
    },
    /// The registry could not be updated.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<HubError> for PipelineError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::Cancelled => Self::Cancelled,
            other => Self::Hub(other),
        }
    }
}

/// Downloads a catalog model's files into the HF cache (resuming, verified, disk-checked;
/// offline: the cached copy) and returns the snapshot (`snapshot.dir` holds the files).
///
/// # Errors
/// [`PipelineError::Hub`] (not found, auth, network, checksum, disk, offline-missing),
/// [`PipelineError::Cancelled`].
pub fn fetch(
    model: &CatalogModel,
    opts: &HubOptions,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<Snapshot, PipelineError> {
    let hub = Hub::new(opts.clone())?;
    Ok(hub.fetch(
        model.repo,
        model.revision,
        &model.file_names(),
        &[],
        progress,
        cancel,
    )?)
}

/// What [`setup`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOutcome {
    /// The registry entry.
    pub model: InstalledModel,
    /// The same file (same source commit, same size) was installed before: nothing was
    /// downloaded, converted, quantized or validated again.
    pub already_installed: bool,
}

/// Installs `source` and records it in the registry: catalog models are fetched, converted to
/// F16, quantized to `quant` and validated; Hub GGUFs are fetched and validated; local GGUFs are
/// validated and registered in place. `validate` is the engine's load check. A model installed
/// before from the same commit (catalog, Hub) or file is returned as it is.
///
/// # Errors
/// Any [`PipelineError`]; see each variant for what is kept.
pub fn setup(
    source: &ModelSource,
    quant: QuantType,
    opts: &SetupOptions,
    validate: &mut Validator<'_>,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<SetupOutcome, PipelineError> {
    let mut steps = XgenSteps {
        threads: opts.threads,
    };
    setup_with(source, quant, opts, &mut steps, validate, progress, cancel)
}

/// [`setup`] with explicit conversion steps.
///
/// # Errors
/// Any [`PipelineError`].
#[allow(
    clippy::too_many_arguments,
    reason = "the public entry point of setup: each argument is a separate choice of its caller"
)]
pub fn setup_with(
    source: &ModelSource,
    quant: QuantType,
    opts: &SetupOptions,
    steps: &mut dyn Steps,
    validate: &mut Validator<'_>,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<SetupOutcome, PipelineError> {
    let (path, new) = match source {
        ModelSource::Catalog(model) => {
            return setup_catalog(model, quant, opts, steps, validate, progress, cancel)
        }
        ModelSource::HubGguf {
            repo,
            revision,
            file,
        } => {
            let hub = Hub::new(opts.hub.clone())?;
            let snapshot = hub.fetch(
                repo,
                revision,
                std::slice::from_ref(file),
                &[],
                progress,
                cancel,
            )?;
            let path = snapshot
                .files
                .first()
                .cloned()
                .unwrap_or_else(|| snapshot.dir.join(file));
            let name = file.rsplit('/').next().unwrap_or(file);
            let new = NewEntry {
                id: gguf_id(name),
                display_name: format!("{repo}: {name}"),
                quantization: quant_from_file_name(name),
                context_length: 0,
                source: InstalledSource::HubGguf {
                    repo: repo.clone(),
                    revision: revision.clone(),
                    commit: snapshot.commit.clone(),
                    file: file.clone(),
                },
            };
            (path, new)
        }
        ModelSource::LocalGguf { path } => {
            let path = std::fs::canonicalize(path).map_err(|source| PipelineError::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let new = NewEntry {
                id: gguf_id(&name),
                quantization: quant_from_file_name(&name),
                display_name: name,
                context_length: 0,
                source: InstalledSource::LocalFile,
            };
            (path, new)
        }
    };
    if let Some(model) = find_installed(opts, &new, &path)? {
        return Ok(SetupOutcome {
            model,
            already_installed: true,
        });
    }
    let validation = run_validate(&path, validate, progress, cancel)?;
    install(opts, new, path, &validation)
}

/// A registry entry before its file is checked: everything but the path, size and time.
struct NewEntry {
    id: String,
    display_name: String,
    quantization: String,
    /// Used when validation does not read the file's own.
    context_length: u32,
    source: InstalledSource,
}

/// The registry's entry for `new` when it names `path` from the same source and the file is
/// still there with the recorded size.
fn find_installed(
    opts: &SetupOptions,
    new: &NewEntry,
    path: &Path,
) -> Result<Option<InstalledModel>, PipelineError> {
    let Some(existing) = opts.registry().get(&new.id)? else {
        return Ok(None);
    };
    // The same file, unchanged since it was checked (a changed file is checked again).
    let same_file = existing.is_checked_file();
    Ok((existing.path == path && existing.source == new.source && same_file).then_some(existing))
}

/// Records the validated file `path` in the registry.
fn install(
    opts: &SetupOptions,
    new: NewEntry,
    path: PathBuf,
    validation: &Validation,
) -> Result<SetupOutcome, PipelineError> {
    let entry = InstalledModel {
        id: new.id,
        display_name: new.display_name,
        size_bytes: file_size(&path)?,
        quantization: new.quantization,
        context_length: validation.context_length.unwrap_or(new.context_length),
        source: new.source,
        installed_at: unix_now(),
        modified: crate::catalog::modified_secs(&path),
        path,
    };
    opts.registry().add(entry.clone())?;
    Ok(SetupOutcome {
        model: entry,
        already_installed: false,
    })
}

/// Where setup writes: `(F16 GGUF, final GGUF)` for `model` at `commit`.
#[must_use]
pub fn output_paths(
    model: &CatalogModel,
    commit: &str,
    quant: QuantType,
    paths: &AppPaths,
) -> (PathBuf, PathBuf) {
    let short = commit.get(..12).unwrap_or(commit);
    let final_path = paths
        .models_dir()
        .join(format!("{}-{}.gguf", model.id, quant.as_str()));
    let f16 = if quant == QuantType::F16 {
        final_path.clone()
    } else {
        work_dir(model, paths).join(format!("{}-{short}-f16.gguf", model.id))
    };
    (f16, final_path)
}

/// The registry id setup gives `model` quantized to `quant` (`xgen-7b-8k-inst-q4_k_m`).
#[must_use]
pub fn installed_id(model: &CatalogModel, quant: QuantType) -> String {
    format!("{}-{}", model.id, quant.as_str())
}

fn work_dir(model: &CatalogModel, paths: &AppPaths) -> PathBuf {
    paths.work_dir().join(model.id)
}

/// The lock of one model's setup, released when dropped (or when the process ends).
#[derive(Debug)]
struct SetupLock {
    _file: std::fs::File,
}

/// Takes the setup lock of `model`: `work/<id>.lock`, beside (not inside) the model's work
/// directory, which a finished setup removes; the lock file itself stays, so a second setup
/// never locks a file that a first one is about to delete.
fn lock_setup(model: &CatalogModel, paths: &AppPaths) -> Result<SetupLock, PipelineError> {
    let path = paths.work_dir().join(format!("{}.lock", model.id));
    match xgen_fsio::lock_file(&path, LockWait::No) {
        Ok(Some(file)) => Ok(SetupLock { _file: file }),
        Ok(None) => Err(PipelineError::Busy {
            model: model.id.to_owned(),
        }),
        Err(source) => Err(PipelineError::Io { path, source }),
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "setup_with's arguments, passed on to the catalog model's stages"
)]
fn setup_catalog(
    model: &CatalogModel,
    quant: QuantType,
    opts: &SetupOptions,
    steps: &mut dyn Steps,
    validate: &mut Validator<'_>,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<SetupOutcome, PipelineError> {
    if !model.convertible() {
        return Err(PipelineError::NotConvertible {
            model: model.id.to_owned(),
            default: crate::catalog::DEFAULT_MODEL_ID,
        });
    }
    // Held to the end of this function: the work files are this setup's alone.
    let _lock = lock_setup(model, &opts.paths)?;
    let hub = Hub::new(opts.hub.clone())?;
    // Resolve first, so the disk check knows what is cached, how big the weights really are,
    // and which F16 could be reused.
    let files = Resolved::new(&hub, model, opts.hub.offline)?;
    let commit = files.commit().to_owned();
    let (f16, final_path) = output_paths(model, &commit, quant, &opts.paths);
    let new = NewEntry {
        id: installed_id(model, quant),
        display_name: format!("{} {}", model.display_name, quant_label(quant)),
        quantization: quant_label(quant),
        context_length: model.context_length,
        source: InstalledSource::Catalog {
            id: model.id.to_owned(),
            repo: model.repo.to_owned(),
            revision: model.revision.to_owned(),
            commit: commit.clone(),
        },
    };
    if let Some(installed) = find_installed(opts, &new, &final_path)? {
        return Ok(SetupOutcome {
            model: installed,
            already_installed: true,
        });
    }

    let parameters = model.parameters_for_weight_bytes(files.weight_bytes());
    let f16_done = quant != QuantType::F16 && f16.is_file();
    let mut needs = vec![DiskNeed {
        dir: opts.hub.cache_dir.clone(),
        bytes: files.remaining_bytes(),
        what: "download".to_owned(),
    }];
    if !f16_done {
        needs.push(DiskNeed {
            dir: f16.parent().map_or_else(PathBuf::new, Path::to_path_buf),
            bytes: estimate_quantized_size(QuantType::F16, parameters),
            what: "F16 GGUF".to_owned(),
        });
    }
    if quant != QuantType::F16 {
        needs.push(DiskNeed {
            dir: opts.paths.models_dir().to_path_buf(),
            bytes: estimate_quantized_size(quant, parameters),
            what: format!("{} GGUF", quant_label(quant)),
        });
    }
    check_disk(&needs, &opts.hub.disk_space)?;

    let snapshot = files.fetch(&hub, progress, cancel)?;

    for dir in [f16.parent(), final_path.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    if !f16_done {
        check_cancel(cancel)?;
        steps
            .convert(&snapshot.dir, model.display_name, &f16, progress, cancel)
            .map_err(|source| {
                if cancel.is_cancelled() {
                    PipelineError::Cancelled
                } else {
                    PipelineError::Convert {
                        model: model.id.to_owned(),
                        source,
                    }
                }
            })?;
    }
    if quant != QuantType::F16 {
        check_cancel(cancel)?;
        steps
            .quantize(&f16, &final_path, quant, progress)
            .map_err(|source| PipelineError::Quantize {
                model: model.id.to_owned(),
                quant: quant_label(quant),
                source,
            })?;
    }
    let validation = match run_validate(&final_path, validate, progress, cancel) {
        Ok(v) => v,
        Err(e) => {
            if !matches!(e, PipelineError::Cancelled) {
                xgen_fsio::remove_quietly(&final_path);
            }
            return Err(e);
        }
    };
    // XGen's tokenizer beside the installed model, for counting tokens without loading it
    // (the converter wrote one beside the F16, which is removed below).
    if let Err(e) = xgen_quantize::hf_tokenizer::write_beside(&final_path) {
        tracing::warn!("no tokenizer.json beside {}: {e}", final_path.display());
    }
    let outcome = install(opts, new, final_path, &validation)?;
    let work = work_dir(model, &opts.paths);
    match std::fs::remove_dir_all(&work) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %work.display(), "could not remove intermediate files: {e}");
        }
        _ => {}
    }
    Ok(outcome)
}

/// A catalog checkpoint's files at the resolved commit: what is still to download (online), or
/// the complete snapshot in the cache (offline).
enum Resolved {
    Online(DownloadPlan),
    Cached(Snapshot),
}

impl Resolved {
    fn new(hub: &Hub, model: &CatalogModel, offline: bool) -> Result<Self, PipelineError> {
        let files = model.file_names();
        Ok(if offline {
            Self::Cached(hub.cached(model.repo, model.revision, &files)?)
        } else {
            Self::Online(hub.plan(model.repo, model.revision, &files)?)
        })
    }

    fn commit(&self) -> &str {
        match self {
            Self::Online(plan) => &plan.commit,
            Self::Cached(snapshot) => &snapshot.commit,
        }
    }

    /// Bytes of the weight files: as the Hub reports them, or on disk.
    fn weight_bytes(&self) -> u64 {
        match self {
            Self::Online(plan) => plan
                .files
                .iter()
                .filter(|f| is_weight_file(&f.name))
                .map(|f| f.size)
                .sum(),
            Self::Cached(snapshot) => snapshot
                .files
                .iter()
                .filter(|f| is_weight_file(&f.to_string_lossy()))
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum(),
        }
    }

    fn remaining_bytes(&self) -> u64 {
        match self {
            Self::Online(plan) => plan.remaining_bytes(),
            Self::Cached(_) => 0,
        }
    }

    /// Downloads what is missing (resuming, verified) and returns the snapshot.
    fn fetch(
        self,
        hub: &Hub,
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<Snapshot, PipelineError> {
        match self {
            Self::Online(plan) => Ok(hub.download(&plan, progress, cancel)?),
            Self::Cached(snapshot) => Ok(snapshot),
        }
    }
}

fn run_validate(
    path: &Path,
    validate: &mut Validator<'_>,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<Validation, PipelineError> {
    check_cancel(cancel)?;
    let mut meter = Meter::new(Stage::Verify, 0, 1);
    meter.set_item(&path.file_name().unwrap_or_default().to_string_lossy());
    meter.emit(progress);
    let validation = validate(path).map_err(|source| PipelineError::Validate {
        path: path.to_path_buf(),
        source,
    })?;
    meter.update(1, 1, progress);
    meter.emit(progress);
    Ok(validation)
}

fn check_cancel(cancel: &CancelToken) -> Result<(), PipelineError> {
    if cancel.is_cancelled() {
        Err(PipelineError::Cancelled)
    } else {
        Ok(())
    }
}

fn file_size(path: &Path) -> Result<u64, PipelineError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| PipelineError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// `Foo-7B.Q4_K_M.gguf` -> `foo-7b.q4_k_m`.
fn gguf_id(file_name: &str) -> String {
    let stem = file_name
        .strip_suffix(".gguf")
        .or_else(|| file_name.strip_suffix(".GGUF"))
        .unwrap_or(file_name);
    stem.to_ascii_lowercase()
}

/// The llama.cpp type named in a GGUF file name (`...Q4_K_M.gguf`), or `unknown`.
fn quant_from_file_name(name: &str) -> String {
    const KNOWN: [&str; 14] = [
        "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
        "Q3_K_M", "Q2_K", "BF16", "F16",
    ];
    let upper = name.to_ascii_uppercase();
    KNOWN
        .iter()
        .find(|q| upper.contains(*q))
        .map_or_else(|| "unknown".to_owned(), |q| (*q).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_setup_of_the_same_model_is_told_another_is_running() {
        let root = tempfile::tempdir().expect("tempdir");
        let paths = AppPaths::under(root.path());
        let catalog = crate::catalog::catalog();
        let (a, b) = (&catalog[0], &catalog[1]);
        let first = lock_setup(a, &paths).expect("first setup takes the lock");
        let err = lock_setup(a, &paths).expect_err("second setup of the same model");
        assert!(
            matches!(&err, PipelineError::Busy { model } if model == a.id),
            "{err}"
        );
        assert!(err.to_string().contains("another setup"), "{err}");
        // Another model is not held up.
        let other = lock_setup(b, &paths).expect("another model");
        drop(first);
        let again = lock_setup(a, &paths).expect("free once the first setup ended");
        drop((again, other));
        assert!(paths.work_dir().join(format!("{}.lock", a.id)).is_file());
    }
}
