//! What can be installed ([`CatalogModel`], [`ModelSource`]) and what is installed
//! ([`Registry`] of [`InstalledModel`]s).
//!
//! Catalog sizes are the Hub's published sizes rounded to 10 MB: they size the free-disk check
//! before anything is fetched. The download itself trusts the sizes and checksums the Hub
//! returns for the resolved commit.
//!
//! Longer than 600 lines: the catalog and the registry are small, but the registry's file
//! locking, atomic updates and the rules for which files a removal may delete belong together
//! with the entries they guard.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xgen_quantize::fsio::write_atomic;

/// How the weights of a catalog checkpoint are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// `model-*.safetensors` shards (memory-mappable, no code execution on load).
    Safetensors,
    /// `pytorch_model-*.bin` fp32 pickles.
    PytorchBin,
    /// A ready GGUF file.
    Gguf,
}

/// One file of a catalog checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogFile {
    /// Path in the repository.
    pub name: &'static str,
    /// Approximate size in bytes (the Hub's size rounded; small files are estimates).
    pub size: u64,
}

/// A Hugging Face checkpoint xgen-desk knows how to convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogModel {
    /// Stable id used in the CLI, settings and the registry (`xgen-7b-8k-inst`).
    pub id: &'static str,
    /// Name shown to people.
    pub display_name: &'static str,
    /// Hub repository, `owner/name`.
    pub repo: &'static str,
    /// Branch, tag, PR ref (`refs/pr/20`) or commit to download.
    pub revision: &'static str,
    /// How the weights are stored.
    pub format: WeightFormat,
    /// Files to download (weights, index, config, tokenizer files).
    pub files: &'static [CatalogFile],
    /// Training context length in tokens.
    pub context_length: u32,
    /// Number of parameters.
    pub parameters: u64,
    /// Instruction-tuned (chat prompt format) rather than a base model.
    pub instruct: bool,
    /// License or usage note to show before downloading.
    pub license_note: &'static str,
}

impl CatalogModel {
    /// Sum of [`CatalogFile::size`].
    #[must_use]
    pub fn download_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// File names, in catalog order.
    #[must_use]
    pub fn file_names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.to_owned()).collect()
    }

    /// Estimated size of the F16 GGUF produced by the converter.
    #[must_use]
    pub fn f16_size(&self) -> u64 {
        self.parameters * 2 + GGUF_OVERHEAD
    }

    /// Estimated size of the GGUF quantized to `quant`.
    #[must_use]
    pub fn quantized_size(&self, quant: QuantType) -> u64 {
        estimate_quantized_size(quant, self.parameters)
    }

    /// Sum of the catalog sizes of the weight files ([`is_weight_file`]).
    #[must_use]
    pub fn weight_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| is_weight_file(f.name))
            .map(|f| f.size)
            .sum()
    }

    /// Parameters of the checkpoint whose weight files really hold `weight_bytes` (the sizes the
    /// Hub reports for the resolved commit): [`CatalogModel::parameters`] scaled by real over
    /// catalog weight bytes, so the disk check sizes the F16 and quantized files by what is
    /// actually there (another dtype on the same revision, a small test checkpoint). The
    /// catalog figure when `weight_bytes` is 0 (unknown).
    #[must_use]
    pub fn parameters_for_weight_bytes(&self, weight_bytes: u64) -> u64 {
        let catalog = self.weight_bytes();
        if weight_bytes == 0 || catalog == 0 {
            return self.parameters;
        }
        let scaled = u128::from(self.parameters) * u128::from(weight_bytes) / u128::from(catalog);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// Whether the converter can read this checkpoint (safetensors or PyTorch `.bin` shards).
    #[must_use]
    pub fn convertible(&self) -> bool {
        matches!(
            self.format,
            WeightFormat::Safetensors | WeightFormat::PytorchBin
        )
    }
}

/// Whether a repository file holds weights (`.safetensors`, `.bin`, `.gguf`) rather than
/// configuration or an index.
#[must_use]
pub fn is_weight_file(name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str());
    ext.is_some_and(|e| {
        ["safetensors", "bin", "gguf"]
            .iter()
            .any(|w| e.eq_ignore_ascii_case(w))
    })
}

/// Metadata, tokenizer vocabulary and alignment padding in a GGUF, on top of the tensors.
const GGUF_OVERHEAD: u64 = 16 * 1024 * 1024;

const SMALL_FILES: [CatalogFile; 4] = [
    CatalogFile {
        name: "config.json",
        size: 1_000,
    },
    CatalogFile {
        name: "generation_config.json",
        size: 200,
    },
    CatalogFile {
        name: "tokenizer_config.json",
        size: 500,
    },
    CatalogFile {
        name: "tokenization_xgen.py",
        size: 10_000,
    },
];

const XGEN_8K_INST_SAFETENSORS: &[CatalogFile] = &[
    CatalogFile {
        name: "model-00001-of-00003.safetensors",
        size: 9_950_000_000,
    },
    CatalogFile {
        name: "model-00002-of-00003.safetensors",
        size: 9_960_000_000,
    },
    CatalogFile {
        name: "model-00003-of-00003.safetensors",
        size: 7_680_000_000,
    },
    CatalogFile {
        name: "model.safetensors.index.json",
        size: 25_000,
    },
    SMALL_FILES[0],
    SMALL_FILES[1],
    SMALL_FILES[2],
    SMALL_FILES[3],
];

const XGEN_PYTORCH_BIN: &[CatalogFile] = &[
    CatalogFile {
        name: "pytorch_model-00001-of-00003.bin",
        size: 9_950_000_000,
    },
    CatalogFile {
        name: "pytorch_model-00002-of-00003.bin",
        size: 9_960_000_000,
    },
    CatalogFile {
        name: "pytorch_model-00003-of-00003.bin",
        size: 7_680_000_000,
    },
    CatalogFile {
        name: "pytorch_model.bin.index.json",
        size: 25_000,
    },
    SMALL_FILES[0],
    SMALL_FILES[1],
    SMALL_FILES[2],
    SMALL_FILES[3],
];

const XGEN_PARAMETERS: u64 = 6_895_702_016;
const RESEARCH_ONLY: &str =
    "Salesforce's model card: for research purposes only. Check the license before use.";
const APACHE: &str = "Apache-2.0.";

/// The default model's id.
pub const DEFAULT_MODEL_ID: &str = "xgen-7b-8k-inst";

static CATALOG: [CatalogModel; 4] = [
    CatalogModel {
        id: DEFAULT_MODEL_ID,
        display_name: "XGen-7B-8K-Inst",
        repo: "Salesforce/xgen-7b-8k-inst",
        revision: "refs/pr/20",
        format: WeightFormat::Safetensors,
        files: XGEN_8K_INST_SAFETENSORS,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: true,
        license_note: RESEARCH_ONLY,
    },
    CatalogModel {
        id: "xgen-7b-8k-inst-bin",
        display_name: "XGen-7B-8K-Inst (PyTorch .bin)",
        repo: "Salesforce/xgen-7b-8k-inst",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: true,
        license_note: RESEARCH_ONLY,
    },
    CatalogModel {
        id: "xgen-7b-8k-base",
        display_name: "XGen-7B-8K-base",
        repo: "Salesforce/xgen-7b-8k-base",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: false,
        license_note: APACHE,
    },
    CatalogModel {
        id: "xgen-7b-4k-base",
        display_name: "XGen-7B-4K-base",
        repo: "Salesforce/xgen-7b-4k-base",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 4096,
        parameters: XGEN_PARAMETERS,
        instruct: false,
        license_note: APACHE,
    },
];

/// Every catalog model; the first is the default.
#[must_use]
pub fn catalog() -> &'static [CatalogModel] {
    &CATALOG
}

/// The default model (XGen-7B-8K-Inst, safetensors).
#[must_use]
pub fn default_model() -> &'static CatalogModel {
    &CATALOG[0]
}

/// Looks a catalog model up by [`CatalogModel::id`].
#[must_use]
pub fn find(id: &str) -> Option<&'static CatalogModel> {
    CATALOG.iter().find(|m| m.id == id)
}

/// The quantization types setup offers (llama.cpp's, from `xgen-quantize`).
pub use xgen_quantize::QuantType;

/// Estimated GGUF size of a `parameters`-weight model quantized to `quant` (XGen-7B: `Q4_K_M`
/// about 4.2 GB, `Q4_0` about 3.9 GB, `Q8_0` about 7.3 GB, `F16` 13.8 GB).
#[must_use]
pub fn estimate_quantized_size(quant: QuantType, parameters: u64) -> u64 {
    // Bits per weight in hundredths, from the spec's XGen-7B sizes.
    let bits_x100: u64 = match quant {
        QuantType::F16 => 1600,
        QuantType::Q8_0 => 850,
        QuantType::Q5KM => 570,
        QuantType::Q4KM => 490,
        QuantType::Q4_0 => 455,
    };
    parameters * bits_x100 / 800 + GGUF_OVERHEAD
}

/// llama.cpp's upper-case name of `quant` (`Q4_K_M`), as shown and stored in the registry.
#[must_use]
pub fn quant_label(quant: QuantType) -> String {
    quant.as_str().to_ascii_uppercase()
}

/// Something that can be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A catalog checkpoint: downloaded, converted and quantized.
    Catalog(&'static CatalogModel),
    /// Any GGUF file on the Hub: downloaded and registered as is.
    HubGguf {
        /// Repository, `owner/name`.
        repo: String,
        /// Branch, tag or commit (`main` usually).
        revision: String,
        /// File path in the repository.
        file: String,
    },
    /// A GGUF file already on this computer: registered where it is (never copied or deleted).
    LocalGguf {
        /// The file.
        path: PathBuf,
    },
}

impl ModelSource {
    /// Parses what a person types: a catalog id, `owner/repo/file.gguf` or
    /// `owner/repo@revision/file.gguf` (a GGUF on the Hub), or a path to an existing local file.
    #[must_use]
    pub fn parse(spec: &str) -> Option<Self> {
        if let Some(model) = find(spec) {
            return Some(Self::Catalog(model));
        }
        let path = Path::new(spec);
        if path.is_file() {
            return Some(Self::LocalGguf {
                path: path.to_path_buf(),
            });
        }
        let mut parts = spec.splitn(3, '/');
        let (owner, name, file) = (parts.next()?, parts.next()?, parts.next()?);
        let (name, revision) = match name.split_once('@') {
            Some((n, r)) => (n, r),
            None => (name, "main"),
        };
        let valid = !owner.is_empty()
            && !name.is_empty()
            && !revision.is_empty()
            && Path::new(file)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        valid.then(|| Self::HubGguf {
            repo: format!("{owner}/{name}"),
            revision: revision.to_owned(),
            file: file.to_owned(),
        })
    }
}

/// Where an installed model came from (stored in the registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstalledSource {
    /// Converted from a catalog checkpoint.
    Catalog {
        /// [`CatalogModel::id`].
        id: String,
        /// Hub repository.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// Commit it resolved to.
        commit: String,
    },
    /// A GGUF downloaded from the Hub.
    HubGguf {
        /// Hub repository.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// Commit it resolved to.
        commit: String,
        /// File path in the repository.
        file: String,
    },
    /// A GGUF file registered in place.
    LocalFile,
}

/// One entry of the installed-models registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledModel {
    /// Unique id (`xgen-7b-8k-inst-q4_k_m`).
    pub id: String,
    /// Name shown to people.
    pub display_name: String,
    /// The GGUF file.
    #[serde(with = "crate::paths::any_path")]
    pub path: PathBuf,
    /// Quantization type name (`Q4_K_M`), or what the GGUF declares for downloaded files.
    pub quantization: String,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Context length in tokens.
    pub context_length: u32,
    /// Where it came from.
    pub source: InstalledSource,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    /// The file's modification time (seconds since the Unix epoch) when it was checked: a file
    /// changed since is checked again, in a child process, before it loads in the app.
    #[serde(default)]
    pub modified: Option<u64>,
}

/// A file's modification time in seconds since the Unix epoch.
#[must_use]
pub fn modified_secs(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

impl InstalledModel {
    /// True when the file is still the one that was checked (same size and modification
    /// time): it may load in-process without another check.
    #[must_use]
    pub fn is_checked_file(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() == self.size_bytes)
            && self.modified.is_some()
            && modified_secs(&self.path) == self.modified
    }

    /// Whether [`Registry::remove`] deletes the file (files we created, not files registered in
    /// place).
    #[must_use]
    pub fn owns_file(&self) -> bool {
        !matches!(self.source, InstalledSource::LocalFile)
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Errors of the installed-models registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading, writing or locking failed.
    #[error("installed-models registry {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The registry file is not valid JSON of the expected shape.
    #[error(
        "installed-models registry {} is corrupt ({source}); move it aside to start over",
        path.display()
    )]
    Corrupt {
        /// The registry file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The model file could not be deleted (the entry was kept).
    #[error("cannot delete model file {}: {source}", path.display())]
    DeleteFile {
        /// The GGUF file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    models: Vec<InstalledModel>,
}

const REGISTRY_VERSION: u32 = 1;

/// The installed-models registry: a JSON file, rewritten atomically (temporary file in the same
/// directory, fsync, rename, fsync of the directory) under an exclusive lock file, so the CLI and
/// the GUI can change it at the same time without losing entries.
///
/// The file can be edited by hand, so the paths it records are not trusted when a model is
/// removed: [`Registry::remove`] deletes only what setup itself makes, found where setup puts
/// it ([`Registry::with_owned_dirs`]).
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
    owned: Option<OwnedDirs>,
}

/// Where the files setup makes live: the models directory (converted GGUFs) and the Hugging
/// Face cache (downloaded GGUFs).
#[derive(Debug, Clone)]
struct OwnedDirs {
    models_dir: PathBuf,
    hf_cache_dir: PathBuf,
}

impl Registry {
    /// A registry stored at `path` (usually [`crate::paths::AppPaths::registry_file`]). Nothing
    /// is read or created until used; a missing file is an empty registry.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            owned: None,
        }
    }

    /// The same registry, allowed to delete the files of removed models that setup made: a
    /// converted GGUF directly in `models_dir`, a downloaded GGUF in the snapshot (and blob) of
    /// `hf_cache_dir` that its entry names. Without this, [`Registry::remove`] deletes no file.
    #[must_use]
    pub fn with_owned_dirs(mut self, models_dir: &Path, hf_cache_dir: &Path) -> Self {
        self.owned = Some(OwnedDirs {
            models_dir: models_dir.to_path_buf(),
            hf_cache_dir: hf_cache_dir.to_path_buf(),
        });
        self
    }

    /// The registry file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All installed models, in installation order.
    ///
    /// # Errors
    /// [`RegistryError`] if the file cannot be read or parsed.
    pub fn list(&self) -> Result<Vec<InstalledModel>, RegistryError> {
        Ok(self.read()?.models)
    }

    /// The model with `id`, if installed.
    ///
    /// # Errors
    /// [`RegistryError`] if the file cannot be read or parsed.
    pub fn get(&self, id: &str) -> Result<Option<InstalledModel>, RegistryError> {
        Ok(self.list()?.into_iter().find(|m| m.id == id))
    }

    /// Adds `model`, replacing an entry with the same id.
    ///
    /// # Errors
    /// [`RegistryError`] if the file cannot be read, parsed or written.
    pub fn add(&self, model: InstalledModel) -> Result<(), RegistryError> {
        self.update(|models| {
            models.retain(|m| m.id != model.id);
            models.push(model);
        })
        .map(|_| ())
    }

    /// Removes the entry `id` and deletes its file when xgen-desk created it
    /// ([`InstalledModel::owns_file`]) and it is where setup puts such files (see
    /// [`Registry::with_owned_dirs`]); any other path the entry names is left alone, with a
    /// warning in the log. Returns the removed entry, `None` if it was not installed. The file
    /// is deleted first, so a failure leaves the entry in place.
    ///
    /// # Errors
    /// [`RegistryError::DeleteFile`] if the file exists and cannot be deleted; other variants on
    /// registry I/O.
    pub fn remove(&self, id: &str) -> Result<Option<InstalledModel>, RegistryError> {
        let _lock = self.lock()?;
        let mut file = self.read()?;
        let Some(index) = file.models.iter().position(|m| m.id == id) else {
            return Ok(None);
        };
        let entry = file.models.remove(index);
        let deletable = match (&self.owned, entry.owns_file()) {
            (Some(owned), true) => match owned.files_of(&entry) {
                Ok(paths) => paths,
                Err(reason) => {
                    tracing::warn!(
                        model = %entry.id,
                        path = %entry.path.display(),
                        "the model's file was kept: {reason}"
                    );
                    Vec::new()
                }
            },
            _ => Vec::new(),
        };
        for path in &deletable {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RegistryError::DeleteFile {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        self.write(&file)?;
        Ok(Some(entry))
    }

    fn update(
        &self,
        change: impl FnOnce(&mut Vec<InstalledModel>),
    ) -> Result<Vec<InstalledModel>, RegistryError> {
        let _lock = self.lock()?;
        let mut file = self.read()?;
        change(&mut file.models);
        self.write(&file)?;
        Ok(file.models)
    }

    fn io_err(&self, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<RegistryFile, RegistryError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RegistryError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistryFile::default()),
            Err(e) => Err(self.io_err(e)),
        }
    }

    /// Holds an exclusive lock on `<registry>.lock` until dropped.
    fn lock(&self) -> Result<File, RegistryError> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|e| self.io_err(e))?;
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock_path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| RegistryError::Io {
                path: lock_path.clone(),
                source,
            })?;
        file.lock().map_err(|source| RegistryError::Io {
            path: lock_path,
            source,
        })?;
        Ok(file)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn write(&self, file: &RegistryFile) -> Result<(), RegistryError> {
        let file = RegistryFile {
            version: REGISTRY_VERSION,
            models: file.models.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| self.io_err(e.into()))?;
        write_atomic(&self.path, &json).map_err(|e| self.io_err(e))
    }
}

/// Most files looked at under one repository's `snapshots/` when checking whether another
/// snapshot still uses a blob; beyond it the blob is kept.
const MAX_SNAPSHOT_ENTRIES: usize = 100_000;

impl OwnedDirs {
    /// The files to delete with `entry`, or why none may be. Only the places setup writes to
    /// count, computed from the entry's source rather than taken from its `path`: a hand-edited
    /// `path` elsewhere (`/etc/passwd`, a person's own GGUF) is refused.
    fn files_of(&self, entry: &InstalledModel) -> Result<Vec<PathBuf>, String> {
        match &entry.source {
            InstalledSource::LocalFile => Ok(Vec::new()),
            InstalledSource::Catalog { .. } => self.converted_file(&entry.path),
            InstalledSource::HubGguf {
                repo, commit, file, ..
            } => self.downloaded_files(&entry.path, repo, commit, file),
        }
    }

    /// A GGUF setup converted: a regular file (not a link) directly in the models directory.
    fn converted_file(&self, path: &Path) -> Result<Vec<PathBuf>, String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| {
                !n.starts_with('.')
                    && xgen_quantize::fsio::check_relative_name(n).is_ok()
                    && Path::new(n)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            })
            .ok_or("it is not the name of a GGUF file setup writes")?;
        let models_dir = std::fs::canonicalize(&self.models_dir).map_err(|e| {
            format!(
                "the models directory {} cannot be resolved: {e}",
                self.models_dir.display()
            )
        })?;
        let in_models_dir = path
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| p == models_dir);
        if !in_models_dir {
            return Err(format!(
                "it is not in the models directory {}",
                models_dir.display()
            ));
        }
        let file = models_dir.join(name);
        match std::fs::symlink_metadata(&file) {
            Ok(meta) if meta.is_file() => Ok(vec![file]),
            Ok(_) => Err("it is a link or a folder, not a file setup wrote".to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("it cannot be examined: {e}")),
        }
    }

    /// A GGUF setup downloaded: the snapshot file of `repo@commit/file` in the Hugging Face
    /// cache and, when it links to one of that repository's blobs that no other snapshot file
    /// uses, the blob (or no space would be freed) and its verification record.
    fn downloaded_files(
        &self,
        path: &Path,
        repo: &str,
        commit: &str,
        file: &str,
    ) -> Result<Vec<PathBuf>, String> {
        let valid = crate::hub::check_repo_id(repo).is_ok()
            && crate::hub::is_commit_hash(commit)
            && xgen_quantize::fsio::check_relative_name(file).is_ok();
        if !valid {
            return Err("its source names no file of the download cache".to_owned());
        }
        let cache = crate::hub::RepoCache::new(&self.hf_cache_dir, repo);
        let pointer = cache.snapshot_file(commit, file);
        if !same_place(path, &pointer) {
            return Err(format!(
                "it is not the file {file} of {repo} in the download cache {}",
                self.hf_cache_dir.display()
            ));
        }
        let meta = match std::fs::symlink_metadata(&pointer) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("it cannot be examined: {e}")),
        };
        if meta.is_dir() {
            return Err("it is a folder".to_owned());
        }
        let mut files = Vec::new();
        // The blob goes too unless another snapshot file is it (a link to it, or on Windows a
        // hard link of it): deleting only the snapshot's name would free no space.
        if let Some(etag) = cache.blob_of(&pointer) {
            let blob = cache.blob(&etag);
            let used = crate::hub::file_identity(&blob).is_none_or(|id| {
                linked_elsewhere(&cache.repo_dir().join("snapshots"), id, &pointer)
            });
            if !used {
                files.push(cache.verified_marker(&etag));
                files.push(blob);
            }
        }
        files.push(pointer);
        Ok(files)
    }
}

/// Whether two paths name the same directory entry (their folders resolve to the same place
/// and their names are equal), without following a link at the end.
fn same_place(a: &Path, b: &Path) -> bool {
    let folder = |p: &Path| p.parent().and_then(|d| std::fs::canonicalize(d).ok());
    a.file_name() == b.file_name() && folder(a).is_some() && folder(a) == folder(b)
}

/// Whether a file under `snapshots` other than `except` is the blob whose
/// [`crate::hub::file_identity`] is `blob` (a link to it, or a hard link of it). Undecided (too
/// many entries, an unreadable folder) counts as yes, so a blob is deleted only when surely
/// unused.
fn linked_elsewhere(snapshots: &Path, blob: (u64, u64), except: &Path) -> bool {
    let mut stack = vec![snapshots.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return true;
        };
        for entry in entries {
            seen += 1;
            let Ok(entry) = entry else { return true };
            if seen > MAX_SNAPSHOT_ENTRIES {
                return true;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => {
                    if !same_place(&path, except) && crate::hub::file_identity(&path) == Some(blob)
                    {
                        return true;
                    }
                }
                Err(_) => return true,
            }
        }
    }
    false
}
