//! The document state cache: the KV state of a prompt prefix (a document that was read) saved
//! to disk, so that asking about the document again — in a new engine, after a restart — loads
//! it instead of reading it again.
//!
//! Each entry is two files in the cache directory, named by a key that hashes the model's
//! identity and the prefix tokens:
//! - `KEY.state`: llama.cpp's sequence-state file (`llama_state_seq_save_file`: its magic and
//!   version, the tokens, then the KV cells);
//! - `KEY.json`: [`Meta`]: our format version, the model identity, the token count and hash,
//!   and the state file's size and SHA-256.
//!
//! The model identity hashes the llama.cpp version, the settings that shape the state (KV
//! precision, flash attention), the model file's path, size and modification time, and its
//! first 8 MiB (GGUF header, metadata, vocabulary) plus 64 KiB samples spread over the weights.
//! A state is loaded only when the entry's identity, token hash and checksum all match; an entry
//! that fails the check is deleted. The directory is kept under a byte bound by deleting the
//! least recently used entries (by the JSON file's modification time, which a hit refreshes).
//!
//! Several engines may share the directory (two app windows, the CLI beside the app). The two
//! renames that put an entry in place, the deletions, and the check that reads an entry pair
//! happen under the directory's lock file ([`LOCK_NAME`]: exclusive to change, shared to
//! check), so no reader ever sees the state of one save beside the sidecar of another.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use xgen_fsio::{self as fsio, hex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The llama.cpp build whose state files this cache holds; a state written by another version
/// is never loaded. Must follow the `llama-cpp-sys-2` pin in Cargo.toml (a test checks).
pub const LLAMA_CPP_VERSION: &str = "llama-cpp-sys-2 0.1.161";

/// Our file format; bump it when the layout or the identity recipe changes.
const FORMAT: u32 = 1;

const GIB: u64 = 1 << 30;

/// The tag of temporary files (`.KEY.state.tmp-PID-N`, see `fsio::temp_path_beside`).
const TMP_TAG: &str = "tmp";

/// The lock file in the cache directory (see the module documentation); never removed.
pub const LOCK_NAME: &str = ".lock";

/// Writes and fsyncs a new file.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Where the state cache lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCacheConfig {
    /// The directory (created when needed).
    pub dir: PathBuf,
    /// Total bytes of all entries; the least recently used ones are deleted beyond it.
    pub max_bytes: u64,
}

impl StateCacheConfig {
    /// The default bound: 8 GiB, two XGen-7B documents of 8K tokens at f16 (4 GiB each).
    pub const DEFAULT_MAX_BYTES: u64 = 8 * GIB;

    /// A cache in `dir` with the default bound.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// Which leading part of a prompt is a document worth keeping on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CachePrefix {
    /// The prompt of the first `n` messages (e.g. 1: the turn that carries the document). The
    /// prefix is where that prompt and the full one stop agreeing.
    Messages(usize),
    /// The first `n` tokens of the prompt.
    Tokens(usize),
    /// A document at the start of message `message`, `bytes` long: the prompt up to where any
    /// request after the document begins. Every question and summary style about the document
    /// shares these tokens, so it is read once.
    Document {
        /// Index of the message in the prompt's messages.
        message: usize,
        /// Bytes of the message's content that are the document.
        bytes: usize,
    },
}

impl CachePrefix {
    /// The tokens this names in the prompt of `messages`, given how a prompt is tokenized
    /// (`tokenize`: the local engine's template, or XGen's rendering for a server); `None`
    /// when the part cannot be tokenized alone (it is then simply not cached).
    ///
    /// For a document: the prompt up to the end of the document is what the prompt with any
    /// request after it shares, so two different endings find it, whatever the tokenizer does
    /// where the document meets the request.
    pub fn tokens<T: PartialEq + Clone>(
        self,
        messages: &[crate::prompt::Message],
        tokenize: impl Fn(&[crate::prompt::Message]) -> Option<Vec<T>>,
    ) -> Option<Vec<T>> {
        match self {
            Self::Messages(0) => Some(Vec::new()),
            Self::Messages(n) => tokenize(&messages[..n.min(messages.len())]),
            Self::Tokens(n) => {
                let mut all = tokenize(messages)?;
                all.truncate(n);
                Some(all)
            }
            Self::Document { message, bytes } => {
                let head = messages.get(..=message)?;
                let ending = |tail: &str| {
                    let mut cut = head.to_vec();
                    let content = &mut cut[message].content;
                    let mut end = bytes.min(content.len());
                    while !content.is_char_boundary(end) {
                        end -= 1;
                    }
                    content.truncate(end);
                    content.push_str(tail);
                    tokenize(&cut)
                };
                let a = ending("\n\nA question?")?;
                let b = ending("\n\nZ, a summary.")?;
                let n = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
                Some(a[..n].to_vec())
            }
        }
    }
}

/// The sidecar of a state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Our file format.
    pub format: u32,
    /// The model identity (hex SHA-256).
    pub model: String,
    /// Tokens in the state.
    pub n_tokens: usize,
    /// SHA-256 of the tokens (little-endian i32s).
    pub tokens_sha256: String,
    /// Size of the state file.
    pub state_bytes: u64,
    /// SHA-256 of the state file.
    pub state_sha256: String,
}

/// One entry on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCacheEntry {
    /// The key (file stem).
    pub key: String,
    /// The state file.
    pub state_path: PathBuf,
    /// Bytes of both files.
    pub bytes: u64,
    /// Tokens in the state (0 when the sidecar is unreadable).
    pub n_tokens: usize,
    /// When it was last written or loaded.
    pub last_used: SystemTime,
}

/// The entries in `dir`, most recently used first. Unpaired or unreadable files are listed
/// with `n_tokens` 0.
#[must_use]
pub fn list_entries(dir: &Path) -> Vec<StateCacheEntry> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for item in read.flatten() {
        let path = item.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(key) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        let state_path = dir.join(format!("{key}.state"));
        let meta_len = item.metadata().map(|m| m.len()).unwrap_or(0);
        let state_len = fs::metadata(&state_path).map(|m| m.len()).unwrap_or(0);
        let last_used = item
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let n_tokens = read_meta(&path).map_or(0, |m| m.n_tokens);
        entries.push(StateCacheEntry {
            key,
            state_path,
            bytes: meta_len + state_len,
            n_tokens,
            last_used,
        });
    }
    entries.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.key.cmp(&b.key)));
    entries
}

fn read_meta(path: &Path) -> Option<Meta> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// SHA-256 of token ids.
#[must_use]
pub fn tokens_hash(tokens: &[i32]) -> String {
    let mut hasher = Sha256::new();
    for t in tokens {
        hasher.update(t.to_le_bytes());
    }
    hex(&hasher.finalize())
}

fn file_hash(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The identity of a model file for the cache: see the module documentation. `settings` names
/// whatever else shapes the saved state (KV precision, flash attention).
///
/// # Errors
/// When the file cannot be read.
pub fn model_identity(path: &Path, settings: &str) -> io::Result<String> {
    const HEAD: u64 = 8 << 20;
    const SAMPLE: u64 = 64 << 10;
    const SAMPLES: u64 = 16;
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "xgen-desk state cache {FORMAT}\n{LLAMA_CPP_VERSION}\n{settings}\n{}\n{len}\n{mtime}\n",
        canonical.display()
    ));
    let mut buf = vec![0u8; usize::try_from(HEAD).unwrap_or(1 << 20)];
    let head = read_at(&mut file, 0, &mut buf)?;
    hasher.update(&buf[..head]);
    if len > HEAD {
        let span = len - HEAD;
        for i in 0..=SAMPLES {
            let at = HEAD + span.saturating_sub(SAMPLE) * i / SAMPLES;
            let n = read_at(&mut file, at, &mut buf[..SAMPLE as usize])?;
            hasher.update(&buf[..n]);
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(at))?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Why an entry could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum StateCacheError {
    /// A file operation failed.
    #[error("state cache I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// llama.cpp could not write the state.
    #[error("llama.cpp could not save the state: {0}")]
    Save(String),
    /// The state is larger than the whole cache may be.
    #[error("the state ({bytes} bytes) is larger than the cache bound ({max} bytes)")]
    TooLarge {
        /// The state's size.
        bytes: u64,
        /// The bound.
        max: u64,
    },
}

/// How [`StateCache::lock`] takes the directory's lock.
#[derive(Debug, Clone, Copy)]
enum Lock {
    /// To check an entry: other checks go on beside it.
    Shared,
    /// To rename or delete entries: alone.
    Exclusive,
}

/// The cache as the engine uses it for one loaded model.
#[derive(Debug, Clone)]
pub(crate) struct StateCache {
    config: StateCacheConfig,
    model: String,
}

impl StateCache {
    pub(crate) fn new(config: StateCacheConfig, model: String) -> Self {
        Self { config, model }
    }

    fn key(&self, tokens: &[i32]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.model.as_bytes());
        hasher.update(tokens_hash(tokens).as_bytes());
        hex(&hasher.finalize()[..20])
    }

    fn paths(&self, key: &str) -> (PathBuf, PathBuf) {
        (
            self.config.dir.join(format!("{key}.state")),
            self.config.dir.join(format!("{key}.json")),
        )
    }

    /// True when an entry for these tokens exists (not verified).
    pub(crate) fn contains(&self, tokens: &[i32]) -> bool {
        let (state, meta) = self.paths(&self.key(tokens));
        state.exists() && meta.exists()
    }

    /// The verified state file for these tokens, if there is one. An entry that fails
    /// verification is deleted.
    pub(crate) fn lookup(&self, tokens: &[i32]) -> Option<PathBuf> {
        let key = self.key(tokens);
        let (state, meta_path) = self.paths(&key);
        if !meta_path.exists() && !state.exists() {
            return None;
        }
        let valid = {
            let _reading = self.lock(Lock::Shared);
            self.verify(tokens, &state, &meta_path)
        };
        if valid {
            return Some(state);
        }
        let _changing = self.lock(Lock::Exclusive);
        // Checked again alone: a save may have replaced the entry since.
        if self.verify(tokens, &state, &meta_path) {
            return Some(state);
        }
        tracing::warn!("state cache: entry {key} failed verification; deleting it");
        self.remove_key(&key);
        None
    }

    /// True when the sidecar describes this model, these tokens and this state file.
    fn verify(&self, tokens: &[i32], state: &Path, meta_path: &Path) -> bool {
        read_meta(meta_path).is_some_and(|meta| {
            meta.format == FORMAT
                && meta.model == self.model
                && meta.n_tokens == tokens.len()
                && meta.tokens_sha256 == tokens_hash(tokens)
                && fs::metadata(state).is_ok_and(|m| m.len() == meta.state_bytes)
                && file_hash(state).is_ok_and(|h| h == meta.state_sha256)
        })
    }

    /// Holds the directory's lock until dropped. Without it (a file system that cannot lock)
    /// the cache still works, as it did before the lock: a mixed pair then fails its check and
    /// is read again.
    fn lock(&self, kind: Lock) -> Option<File> {
        let path = self.config.dir.join(LOCK_NAME);
        let locked = match kind {
            Lock::Shared => fsio::lock_file_shared(&path),
            Lock::Exclusive => fsio::lock_file_waiting(&path),
        };
        locked
            .inspect_err(|e| tracing::warn!("state cache: no lock on {}: {e}", path.display()))
            .ok()
    }

    /// Marks the entry for these tokens as just used.
    pub(crate) fn touch(&self, tokens: &[i32]) {
        let (_, meta) = self.paths(&self.key(tokens));
        if let Ok(file) = File::options().write(true).open(&meta) {
            if let Err(e) = file.set_modified(SystemTime::now()) {
                // Only the eviction order suffers.
                tracing::debug!("state cache: could not touch {}: {e}", meta.display());
            }
        }
    }

    /// Deletes the entry for these tokens.
    pub(crate) fn remove(&self, tokens: &[i32]) {
        let _changing = self.lock(Lock::Exclusive);
        self.remove_key(&self.key(tokens));
    }

    fn remove_key(&self, key: &str) {
        let (state, meta) = self.paths(key);
        fsio::remove_quietly(&meta);
        fsio::remove_quietly(&state);
    }

    /// Saves a state: `write` writes llama.cpp's state file to the path it is given. Then the
    /// cache is trimmed to its bound.
    pub(crate) fn store(
        &self,
        tokens: &[i32],
        write: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(), StateCacheError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateCacheError::Io { path, source }
        };
        fs::create_dir_all(&self.config.dir).map_err(io_err(&self.config.dir))?;
        let key = self.key(tokens);
        let (state, meta_path) = self.paths(&key);
        // Two engines (two app windows, the CLI beside the app) may save the same document at
        // once: each writes its own temporary files, so neither renames or deletes the other's
        // half-written state.
        let tmp_state = fsio::temp_path_beside(&state, TMP_TAG);
        let tmp_meta = fsio::temp_path_beside(&meta_path, TMP_TAG);
        let result = (|| {
            write(&tmp_state).map_err(StateCacheError::Save)?;
            let state_bytes = fs::metadata(&tmp_state).map_err(io_err(&tmp_state))?.len();
            if state_bytes > self.config.max_bytes {
                return Err(StateCacheError::TooLarge {
                    bytes: state_bytes,
                    max: self.config.max_bytes,
                });
            }
            let meta = Meta {
                format: FORMAT,
                model: self.model.clone(),
                n_tokens: tokens.len(),
                tokens_sha256: tokens_hash(tokens),
                state_bytes,
                state_sha256: file_hash(&tmp_state).map_err(io_err(&tmp_state))?,
            };
            let text = serde_json::to_string_pretty(&meta).unwrap_or_default();
            write_synced(&tmp_meta, text.as_bytes()).map_err(io_err(&tmp_meta))?;
            fsio::sync_file(&tmp_state).map_err(io_err(&tmp_state))?;
            // The pair is replaced as one: another save of the same tokens renames its own
            // pair before or after, never between.
            let _changing = self.lock(Lock::Exclusive);
            // The state first: a sidecar never describes a state that is not there yet.
            fsio::rename_durable(&tmp_state, &state).map_err(io_err(&state))?;
            fsio::rename_durable(&tmp_meta, &meta_path).map_err(io_err(&meta_path))?;
            self.trim(&key);
            Ok(())
        })();
        if result.is_err() {
            fsio::remove_quietly(&tmp_state);
            fsio::remove_quietly(&tmp_meta);
        }
        result
    }

    /// Deletes least recently used entries (never `keep`) until the total is within the bound,
    /// and stray files (a state without its sidecar, leftovers of interrupted writes). Called
    /// with the directory's lock held.
    fn trim(&self, keep: &str) {
        if let Ok(read) = fs::read_dir(&self.config.dir) {
            for item in read.flatten() {
                let path = item.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let stray_state = name
                    .strip_suffix(".state")
                    .is_some_and(|stem| !self.config.dir.join(format!("{stem}.json")).exists());
                let age = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                // Someone else's write in progress is young; leftovers are old. (Names ending in
                // `.tmp` are the fixed temporary names of earlier versions.)
                let tmp = (name.starts_with('.') && name.contains(&format!(".{TMP_TAG}-")))
                    || name.ends_with(".tmp");
                let stale_tmp = tmp && age.as_secs() > 3600;
                if stray_state || stale_tmp {
                    fsio::remove_quietly(&path);
                }
            }
        }
        let entries = list_entries(&self.config.dir);
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        for entry in entries.iter().rev() {
            if total <= self.config.max_bytes {
                break;
            }
            if entry.key == keep {
                continue;
            }
            self.remove_key(&entry.key);
            total = total.saturating_sub(entry.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_version_follows_the_lock_file() {
        let lock = include_str!("../../Cargo.lock");
        let version = LLAMA_CPP_VERSION
            .strip_prefix("llama-cpp-sys-2 ")
            .expect("prefix");
        let pinned = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"llama-cpp-sys-2\""))
            .expect("llama-cpp-sys-2 in Cargo.lock");
        assert!(
            pinned.contains(&format!("version = \"{version}\"")),
            "update LLAMA_CPP_VERSION: {pinned}"
        );
    }

    #[test]
    fn keys_depend_on_model_and_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = StateCache::new(StateCacheConfig::new(dir.path()), "a".into());
        let b = StateCache::new(StateCacheConfig::new(dir.path()), "b".into());
        assert_ne!(a.key(&[1, 2, 3]), b.key(&[1, 2, 3]));
        assert_ne!(a.key(&[1, 2, 3]), a.key(&[1, 2, 4]));
        assert_eq!(a.key(&[1, 2, 3]), a.key(&[1, 2, 3]));
    }

    /// The files in the cache directory but its lock file.
    fn files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != LOCK_NAME)
            .collect()
    }

    /// Engines saving the same document at once (two windows, the CLI beside the app): with
    /// one fixed temporary name per key, one renamed the other's half-written file away and
    /// failed; without the lock around the renames, the state of one save could end beside
    /// the sidecar of another, and the entry failed its check (one CI run in many).
    #[test]
    fn concurrent_saves_of_one_key_leave_one_whole_entry() {
        const SAVERS: u8 = 4;
        for round in 0..40 {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = StateCache::new(StateCacheConfig::new(dir.path()), "model".into());
            let all_writing = std::sync::Barrier::new(usize::from(SAVERS));
            let results: Vec<Result<(), StateCacheError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (1..=SAVERS)
                    .map(|byte| {
                        let (cache, all_writing) = (&cache, &all_writing);
                        scope.spawn(move || {
                            cache.store(&[1, 2, 3], |path| {
                                fs::write(path, vec![byte; 4096]).map_err(|e| e.to_string())?;
                                // All are mid-save before any goes on to rename.
                                all_writing.wait();
                                Ok(())
                            })
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("no panic"))
                    .collect()
            });
            for result in results {
                result.expect("each save succeeds");
            }
            let state = cache
                .lookup(&[1, 2, 3])
                .unwrap_or_else(|| panic!("round {round}: a verified entry"));
            let bytes = fs::read(state).expect("state");
            assert!((1..=SAVERS).any(|byte| bytes == vec![byte; 4096]));
            let names = files(dir.path());
            assert_eq!(names.len(), 2, "one entry, no temporary files: {names:?}");
        }
    }

    /// A check that reads the pair while a save replaces it sees the old pair or the new one,
    /// and so never deletes a good entry.
    #[test]
    fn lookups_beside_saves_always_find_a_whole_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = StateCache::new(StateCacheConfig::new(dir.path()), "model".into());
        let save = |byte: u8| {
            cache
                .store(&[7], |path| {
                    fs::write(path, vec![byte; 1 << 16]).map_err(|e| e.to_string())
                })
                .expect("save");
        };
        save(0);
        let saving = std::sync::atomic::AtomicBool::new(true);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for byte in 1..=100 {
                    save(byte);
                }
                saving.store(false, std::sync::atomic::Ordering::Relaxed);
            });
            let mut lookups = 0;
            while saving.load(std::sync::atomic::Ordering::Relaxed) || lookups == 0 {
                assert!(
                    cache.lookup(&[7]).is_some(),
                    "lookup {lookups}: the entry is whole"
                );
                lookups += 1;
            }
        });
    }

    #[test]
    fn store_verify_and_evict_least_recently_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StateCacheConfig {
            dir: dir.path().to_path_buf(),
            max_bytes: 2500,
        };
        let cache = StateCache::new(config, "model".into());
        let write = |bytes: usize| {
            move |p: &Path| fs::write(p, vec![7u8; bytes]).map_err(|e| e.to_string())
        };
        cache.store(&[1], write(1000)).expect("store 1");
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.store(&[2], write(1000)).expect("store 2");
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.touch(&[1]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.store(&[3], write(1000)).expect("store 3");
        assert!(cache.lookup(&[1]).is_some(), "recently used entry kept");
        assert!(!cache.contains(&[2]), "least recently used entry evicted");
        assert!(cache.lookup(&[3]).is_some());
        // Corrupt entry 3: deleted on lookup.
        let state = cache.lookup(&[3]).expect("entry 3");
        fs::write(&state, vec![8u8; 1000]).expect("corrupt");
        assert!(cache.lookup(&[3]).is_none());
        assert!(!state.exists());
        // Too large for the bound: refused, nothing left behind.
        assert!(matches!(
            cache.store(&[4], write(3000)),
            Err(StateCacheError::TooLarge { .. })
        ));
        assert_eq!(list_entries(dir.path()).len(), 1);
        assert_eq!(files(dir.path()).len(), 2);
    }
}
