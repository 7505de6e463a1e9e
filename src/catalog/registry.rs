//! The installed-models registry: what is installed, where it came from, and the rules for which
//! files a removal may delete. Its file is locked while it changes and rewritten atomically,
//! so the CLI and the app can change it at the same time.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xgen_fsio::write_atomic;

/// Where an installed model came from (stored in the registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstalledSource {
    /// Converted from a catalog checkpoint.
    Catalog {
        /// [`super::CatalogModel::id`].
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
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock_path = self.dir().join(name);
        xgen_fsio::lock_file_waiting(&lock_path).map_err(|source| RegistryError::Io {
            path: lock_path,
            source,
        })
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
                    && xgen_fsio::check_relative_name(n).is_ok()
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
            && xgen_fsio::check_relative_name(file).is_ok();
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
