//! Checking downloads against the checksum the Hub publishes in its `ETag`.
//!
//! For LFS files (all weights) the `X-Linked-Etag` is the file's SHA-256. For small files kept
//! in git the `ETag` is the git blob id: SHA-1 of `"blob <len>\0"` followed by the content.

use sha1::Digest as _;
use xgen_quantize::fsio::hex;

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
