//! Checking downloads against the checksum the Hub publishes in its `ETag`.
//!
//! For LFS files (all weights) the `X-Linked-Etag` is the file's SHA-256. For small files kept
//! in git the `ETag` is the git blob id: SHA-1 of `"blob <len>\0"` followed by the content.
//!
//! A blob already in the cache is checked the same way before it is used ([`check_blob`]):
//! a file of the right size with other content (a disk error, a tool that wrote into the
//! cache, an interrupted copy) is fetched again rather than trusted.

use std::fs::File;
use std::io::Read as _;

use sha1::Digest as _;
use xgen_fsio::{self as fsio, hex};

use super::{HubError, RepoCache};
use crate::cancel::CancelToken;

/// What an `ETag` promises about the file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-256 of the content (LFS files).
    Sha256(String),
    /// Git blob SHA-1 (`"blob <len>\0" + content`), for files stored in git.
    GitSha1(String),
    /// An `ETag` that is not a content hash (some mirrors): only the size is checked.
    Unverifiable,
}

impl Checksum {
    /// Interprets a normalized `ETag` (no quotes, no `W/`).
    #[must_use]
    pub fn from_etag(etag: &str) -> Self {
        let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
        match etag.len() {
            64 if hex => Self::Sha256(etag.to_ascii_lowercase()),
            40 if hex => Self::GitSha1(etag.to_ascii_lowercase()),
            _ => Self::Unverifiable,
        }
    }

    /// Name of the algorithm, for messages.
    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Sha256(_) => "sha256",
            Self::GitSha1(_) => "git-sha1",
            Self::Unverifiable => "none",
        }
    }

    /// The expected hex digest, if any.
    #[must_use]
    pub fn expected(&self) -> Option<&str> {
        match self {
            Self::Sha256(h) | Self::GitSha1(h) => Some(h),
            Self::Unverifiable => None,
        }
    }
}

/// Incremental hasher matching a [`Checksum`].
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    GitSha1(sha1::Sha1),
    None,
}

impl Hasher {
    /// A hasher for `checksum` of a file of `size` bytes.
    pub(crate) fn new(checksum: &Checksum, size: u64) -> Self {
        match checksum {
            Checksum::Sha256(_) => Self::Sha256(sha2::Sha256::new()),
            Checksum::GitSha1(_) => {
                let mut h = sha1::Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                Self::GitSha1(h)
            }
            Checksum::Unverifiable => Self::None,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::GitSha1(h) => h.update(bytes),
            Self::None => {}
        }
    }

    /// The hex digest (empty for [`Checksum::Unverifiable`]).
    pub(crate) fn finish(self) -> String {
        match self {
            Self::Sha256(h) => hex(&h.finalize()),
            Self::GitSha1(h) => hex(&h.finalize()),
            Self::None => String::new(),
        }
    }
}

/// The git blob id of `content` (what the Hub sends as `ETag` for non-LFS files).
#[must_use]
pub fn git_blob_sha1(content: &[u8]) -> String {
    let mut h = Hasher::new(&Checksum::GitSha1(String::new()), content.len() as u64);
    h.update(content);
    h.finish()
}

/// The SHA-256 of `content` (what the Hub sends as `X-Linked-Etag` for LFS files).
#[must_use]
pub fn sha256_hex(content: &[u8]) -> String {
    hex(&sha2::Sha256::digest(content))
}

/// What a blob already in the cache turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlobStatus {
    /// No blob (or something that is not a file).
    Missing,
    /// A blob of another size than the Hub's: a download to finish or redo.
    WrongSize,
    /// Its content matches the checksum (or was checked before and has not changed since; or
    /// its `ETag` is not a checksum and the size is right).
    Good,
    /// Same size, other content.
    Corrupt {
        /// The digest of what is on disk.
        actual: String,
    },
}

/// What identifies one version of a file without reading it: size, modification time and,
/// on Unix, device, inode and change time. Writing the content changes the modification and
/// change times; the change time cannot be set back, so no edit goes unnoticed.
fn stamp(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        format!(
            "{} {mtime} {} {} {}.{}",
            meta.len(),
            meta.dev(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec()
        )
    }
    #[cfg(not(unix))]
    {
        format!("{} {mtime}", meta.len())
    }
}

fn marker_text(etag: &str, meta: &std::fs::Metadata) -> String {
    format!("xgen-desk verified blob v1\n{etag}\n{}\n", stamp(meta))
}

/// Records that the blob for `etag` was just checked (by its download or by
/// [`check_blob`]), so the next run trusts it without hashing it again. Failing to record it
/// costs only a second hash later, so errors are logged.
pub(crate) fn mark_verified(cache: &RepoCache, etag: &str) {
    let blob = cache.blob(etag);
    let marker = cache.verified_marker(etag);
    let written = std::fs::metadata(&blob)
        .and_then(|meta| fsio::write_atomic(&marker, marker_text(etag, &meta).as_bytes()));
    if let Err(e) = written {
        tracing::debug!("could not record the check of {}: {e}", blob.display());
    }
}

/// Decides whether the blob for `etag` already in the cache can be used: its size must be
/// `size` (when known), and its content must match the checksum the `ETag` promises. The
/// content is hashed only when no record of an earlier check matches the file's current
/// size, times and inode, so a 27 GB checkpoint is read once, not at every start.
/// `on_bytes` is told how many bytes each read hashed (for progress).
///
/// # Errors
/// [`HubError::Cancelled`] when `cancel` is set while hashing; [`HubError::Io`] when the
/// blob cannot be read.
pub(crate) fn check_blob(
    cache: &RepoCache,
    etag: &str,
    size: Option<u64>,
    cancel: &CancelToken,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<BlobStatus, HubError> {
    let blob = cache.blob(etag);
    let io = |source| HubError::Io {
        path: blob.clone(),
        source,
    };
    let meta = match std::fs::metadata(&blob) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(BlobStatus::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BlobStatus::Missing),
        Err(e) => return Err(io(e)),
    };
    if size.is_some_and(|size| size != meta.len()) {
        return Ok(BlobStatus::WrongSize);
    }
    let checksum = Checksum::from_etag(etag);
    let Some(expected) = checksum.expected() else {
        return Ok(BlobStatus::Good);
    };
    let marker = cache.verified_marker(etag);
    if std::fs::read_to_string(&marker).is_ok_and(|text| text == marker_text(etag, &meta)) {
        return Ok(BlobStatus::Good);
    }
    let mut file = File::open(&blob).map_err(io)?;
    let mut hasher = Hasher::new(&checksum, meta.len());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if cancel.is_cancelled() {
            return Err(HubError::Cancelled);
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        hasher.update(&buf[..n]);
        on_bytes(n as u64);
    }
    let actual = hasher.finish();
    if actual != expected {
        return Ok(BlobStatus::Corrupt { actual });
    }
    // Recorded only when nothing changed the file while it was read.
    if std::fs::metadata(&blob).is_ok_and(|now| stamp(&now) == stamp(&meta)) {
        mark_verified(cache, etag);
    }
    Ok(BlobStatus::Good)
}
