//! Where xgen-desk keeps its files.
//!
//! Three roots, all movable under one directory with [`HOME_ENV`] (`XGEN_DESK_HOME`), which tests
//! and portable installs use:
//! - the **data dir**: conversations, the installed-models registry, settings (small files);
//! - the **models dir**: the final GGUF files (gigabytes, so the non-roaming local data dir);
//! - the **work dir**: intermediate conversion files (the F16 GGUF), kept between runs so an
//!   interrupted setup can resume, removed when a setup succeeds.
//!
//! Downloads go to the shared Hugging Face cache ([`hf_cache_dir`]) so that checkpoints fetched by
//! Python tools are reused and ours are visible to them.
//!
//! One running app per data directory: [`DataDirLock`].

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use xgen_fsio::LockWait;

/// Environment variable that puts every xgen-desk directory under one root.
pub const HOME_ENV: &str = "XGEN_DESK_HOME";

/// Errors while resolving directories.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `XGEN_DESK_HOME` nor a home directory is available.
    #[error(
        "cannot find a home directory for xgen-desk data; set {HOME_ENV} to a writable directory"
    )]
    NoHome,
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The directories xgen-desk uses. Build one with [`AppPaths::from_env`] (the app) or
/// [`AppPaths::under`] (tests, portable installs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPaths {
    data_dir: PathBuf,
    models_dir: PathBuf,
    work_dir: PathBuf,
    state_cache_dir: PathBuf,
    hf_cache_dir: PathBuf,
}

impl AppPaths {
    /// Resolves the directories from the process environment: `XGEN_DESK_HOME` if set, else the
    /// platform's per-user directories; the Hugging Face cache as in [`hf_cache_dir`].
    ///
    /// # Errors
    /// [`PathsError::NoHome`] when no home directory can be determined.
    pub fn from_env() -> Result<Self, PathsError> {
        Self::resolve(|name| std::env::var_os(name))
    }

    /// Like [`AppPaths::from_env`], reading variables through `env` (so tests need not mutate
    /// the process environment).
    ///
    /// # Errors
    /// [`PathsError::NoHome`] when no home directory can be determined.
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, PathsError> {
        if let Some(root) = env(HOME_ENV).filter(|v| !v.is_empty()) {
            let mut paths = Self::under(PathBuf::from(root));
            if let Some(cache) = hf_cache_from(&env) {
                paths.hf_cache_dir = cache;
            }
            return Ok(paths);
        }
        let dirs = directories::ProjectDirs::from("", "", "xgen-desk").ok_or(PathsError::NoHome)?;
        let hf_cache_dir = match hf_cache_from(&env) {
            Some(dir) => dir,
            None => default_hf_cache(&env).ok_or(PathsError::NoHome)?,
        };
        Ok(Self {
            data_dir: dirs.data_dir().to_path_buf(),
            models_dir: dirs.data_local_dir().join("models"),
            work_dir: dirs.data_local_dir().join("work"),
            state_cache_dir: dirs.data_local_dir().join("state-cache"),
            hf_cache_dir,
        })
    }

    /// Everything under `root`: `data/`, `models/`, `work/`, `state-cache/` and
    /// `huggingface/hub/`.
    #[must_use]
    pub fn under(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            data_dir: root.join("data"),
            models_dir: root.join("models"),
            work_dir: root.join("work"),
            state_cache_dir: root.join("state-cache"),
            hf_cache_dir: root.join("huggingface").join("hub"),
        }
    }

    /// Conversations, the installed-models registry, settings.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Final GGUF files.
    #[must_use]
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// Intermediate conversion files (F16 GGUF), one subdirectory per model being set up.
    #[must_use]
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Saved KV states of documents that were read (the engine's disk state cache, bounded
    /// with least-recently-used eviction; see [`crate::engine::StateCacheConfig`]). Local, not
    /// roaming: entries are gigabytes for long documents.
    #[must_use]
    pub fn state_cache_dir(&self) -> &Path {
        &self.state_cache_dir
    }

    /// The Hugging Face hub cache (`blobs/`, `snapshots/`, `refs/` per repo).
    #[must_use]
    pub fn hf_cache_dir(&self) -> &Path {
        &self.hf_cache_dir
    }

    /// Saved conversations.
    #[must_use]
    pub fn conversations_dir(&self) -> PathBuf {
        self.data_dir.join("conversations")
    }

    /// The installed-models registry (JSON).
    #[must_use]
    pub fn registry_file(&self) -> PathBuf {
        self.data_dir.join("models.json")
    }

    /// The app's queue of documents to summarize, with the summaries written so far (JSON).
    #[must_use]
    pub fn queue_file(&self) -> PathBuf {
        self.data_dir.join("queue.json")
    }

    /// User settings (JSON).
    #[must_use]
    pub fn settings_file(&self) -> PathBuf {
        self.data_dir.join("settings.json")
    }

    /// The lock file one running app holds ([`DataDirLock`]).
    #[must_use]
    pub fn instance_lock_file(&self) -> PathBuf {
        self.data_dir.join("xgen-desk.lock")
    }

    /// The process id of the app holding [`AppPaths::instance_lock_file`], for the message a
    /// second instance shows. A file of its own, because on Windows a locked file cannot be
    /// read by other processes.
    #[must_use]
    pub fn instance_pid_file(&self) -> PathBuf {
        self.data_dir.join("xgen-desk.pid")
    }

    /// Creates the data, models and work directories (not the shared HF cache).
    ///
    /// # Errors
    /// [`PathsError::Create`] naming the directory that could not be created.
    pub fn create_all(&self) -> Result<(), PathsError> {
        for dir in [
            &self.data_dir,
            &self.models_dir,
            &self.work_dir,
            &self.conversations_dir(),
        ] {
            std::fs::create_dir_all(dir).map_err(|source| PathsError::Create {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The Hugging Face hub cache, resolved as `huggingface_hub` does: `HF_HUB_CACHE`, then
/// `HUGGINGFACE_HUB_CACHE`, then `$HF_HOME/hub`, then `$XDG_CACHE_HOME/huggingface/hub`, then
/// `~/.cache/huggingface/hub`. Returns `None` only when there is no home directory.
#[must_use]
pub fn hf_cache_dir() -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name);
    hf_cache_from(&env).or_else(|| default_hf_cache(&env))
}

pub(crate) fn hf_home_from(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(home) = env("HF_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = env("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("huggingface"));
    }
    directories::BaseDirs::new().map(|b| b.home_dir().join(".cache").join("huggingface"))
}

/// The cache dir named explicitly by `HF_*` variables, if any.
fn hf_cache_from(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    for name in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"] {
        if let Some(dir) = env(name).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(dir));
        }
    }
    env("HF_HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join("hub"))
}

fn default_hf_cache(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    hf_home_from(env).map(|home| home.join("hub"))
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another running xgen-desk holds the data directory.
    #[error(
        "xgen-desk is already running ({}); this window opens read-only",
        pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"))
    )]
    Held {
        /// The process id the holder recorded, when it could be read.
        pid: Option<u32>,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {}: {source}; check that the data directory is writable", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One running app per data directory: an exclusive lock on
/// [`AppPaths::instance_lock_file`], held for as long as this value lives. The operating
/// system releases it when the process ends in any way (a crash or a kill included), so
/// there is no stale lock to clean up. The holder's process id goes to
/// [`AppPaths::instance_pid_file`] for the second instance's message.
///
/// Conversations and settings are rewritten whole on every change: without this lock two
/// windows would overwrite each other's work. A second window gets [`LockError::Held`] and
/// opens its conversation store read-only (`ConversationStore::read_only`).
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    pid_file: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `paths`' data directory (created if missing), without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] (with the holder's process id when known) while another process,
    /// or another [`DataDirLock`] of this one, holds it; [`LockError::Io`] when the lock file
    /// cannot be created or locked.
    pub fn acquire(paths: &AppPaths) -> Result<Self, LockError> {
        let path = paths.instance_lock_file();
        let locked = xgen_fsio::lock_file(&path, LockWait::No)
            .map_err(|source| LockError::Io { path, source })?;
        let Some(file) = locked else {
            let pid = std::fs::read_to_string(paths.instance_pid_file())
                .ok()
                .and_then(|text| text.trim().parse().ok());
            return Err(LockError::Held { pid });
        };
        let pid_file = paths.instance_pid_file();
        if let Err(e) =
            xgen_fsio::write_atomic(&pid_file, format!("{}\n", std::process::id()).as_bytes())
        {
            // Only the second instance's message loses the number.
            tracing::warn!(
                "could not record the process id in {}: {e}",
                pid_file.display()
            );
        }
        Ok(Self { file, pid_file })
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // The process id goes first, while the lock still keeps a next holder from writing
        // its own; the lock itself goes when `file` closes.
        xgen_fsio::remove_quietly(&self.pid_file);
        if let Err(e) = self.file.unlock() {
            tracing::debug!("could not unlock the data directory: {e}");
        }
    }
}

/// Serde for paths that are not valid Unicode (Linux allows any bytes but `/` and NUL in a
/// name; Windows, unpaired surrogates): written as a string when they are valid, otherwise as
/// the raw bytes (Unix) or UTF-16 units (Windows), so that saving the queue, the settings or
/// the installed-models list never fails because of one file's name. Use with
/// `#[serde(with = "crate::paths::any_path")]`, or `any_path::option` for an `Option`.
pub mod any_path {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        #[cfg(unix)]
        Bytes(Vec<u8>),
        #[cfg(windows)]
        Wide(Vec<u16>),
    }

    fn stored(path: &Path) -> Stored {
        if let Some(text) = path.to_str() {
            return Stored::Text(text.to_owned());
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            Stored::Bytes(path.as_os_str().as_bytes().to_vec())
        }
        #[cfg(windows)]
        {
            use std::os::windows::ffi::OsStrExt;
            Stored::Wide(path.as_os_str().encode_wide().collect())
        }
        #[cfg(not(any(unix, windows)))]
        Stored::Text(path.to_string_lossy().into_owned())
    }

    fn path(stored: Stored) -> PathBuf {
        match stored {
            Stored::Text(text) => PathBuf::from(text),
            #[cfg(unix)]
            Stored::Bytes(bytes) => {
                use std::os::unix::ffi::OsStringExt;
                PathBuf::from(std::ffi::OsString::from_vec(bytes))
            }
            #[cfg(windows)]
            Stored::Wide(units) => {
                use std::os::windows::ffi::OsStringExt;
                PathBuf::from(std::ffi::OsString::from_wide(&units))
            }
        }
    }

    /// Writes `path`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
        stored(path).serialize(serializer)
    }

    /// Reads a path written by [`serialize`] (or a plain string).
    ///
    /// # Errors
    /// The deserializer's.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
        Stored::deserialize(deserializer).map(path)
    }

    /// The same for `Option<PathBuf>`.
    pub mod option {
        use std::path::PathBuf;

        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        /// Writes `path`, or `null`.
        ///
        /// # Errors
        /// The serializer's.
        pub fn serialize<S: Serializer>(
            path: &Option<PathBuf>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            path.as_deref().map(super::stored).serialize(serializer)
        }

        /// Reads a path or `null`.
        ///
        /// # Errors
        /// The deserializer's.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<PathBuf>, D::Error> {
            Ok(Option::<super::Stored>::deserialize(deserializer)?.map(super::path))
        }
    }
}
