//! The Hugging Face cache layout, shared with Python's `huggingface_hub`:
//!
//! ```text
//! <cache>/models--<owner>--<name>/
//!     blobs/<etag>                 file contents, named by the Hub's ETag (sha256 for LFS files)
//!     blobs/<etag>.incomplete      a download in progress (resumed with an HTTP Range request)
//!     snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag> (a copy on Windows)
//!     refs/<revision>              the commit a branch/tag/PR ref resolved to
//! <cache>/.locks/models--<owner>--<name>/<etag>.lock
//! ```

use std::path::{Path, PathBuf};

/// One model repository in a Hugging Face cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCache {
    cache_dir: PathBuf,
    folder: String,
}

impl RepoCache {
    /// The cache of model repo `repo` (`owner/name`) under `cache_dir`.
    #[must_use]
    pub fn new(cache_dir: &Path, repo: &str) -> Self {
        let folder = std::iter::once("models")
            .chain(repo.split('/'))
            .collect::<Vec<_>>()
            .join("--");
        Self {
            cache_dir: cache_dir.to_path_buf(),
            folder,
        }
    }

    /// `<cache>/models--owner--name`.
    #[must_use]
    pub fn repo_dir(&self) -> PathBuf {
        self.cache_dir.join(&self.folder)
    }

    /// The blob for `etag`.
    #[must_use]
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.repo_dir().join("blobs").join(etag)
    }

    /// The partial download of the blob for `etag`.
    #[must_use]
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.repo_dir()
            .join("blobs")
            .join(format!("{etag}.incomplete"))
    }

    /// `snapshots/<commit>`.
    #[must_use]
    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.repo_dir().join("snapshots").join(commit)
    }

    /// `snapshots/<commit>/<file>`.
    #[must_use]
    pub fn snapshot_file(&self, commit: &str, file: &str) -> PathBuf {
        let mut path = self.snapshot_dir(commit);
        path.extend(file.split('/'));
        path
    }

    /// `refs/<revision>` (`refs/refs/pr/20` for a PR ref, as Python writes it).
    #[must_use]
    pub fn ref_file(&self, revision: &str) -> PathBuf {
        let mut path = self.repo_dir().join("refs");
        path.extend(revision.split('/'));
        path
    }

    /// The lock file Python's `huggingface_hub` also takes while writing the blob for `etag`.
    #[must_use]
    pub fn lock_file(&self, etag: &str) -> PathBuf {
        self.cache_dir
            .join(".locks")
            .join(&self.folder)
            .join(format!("{etag}.lock"))
    }

    /// The commit `revision` resolves to in the cache: itself if it is a commit hash, else the
    /// content of its ref file.
    #[must_use]
    pub fn resolve_commit(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_owned());
        }
        let commit = std::fs::read_to_string(self.ref_file(revision)).ok()?;
        let commit = commit.trim();
        is_commit_hash(commit).then(|| commit.to_owned())
    }

    /// Records that `revision` points at `commit` (no-op when `revision` is the commit).
    ///
    /// # Errors
    /// I/O errors writing the ref file.
    pub fn write_ref(&self, revision: &str, commit: &str) -> std::io::Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.ref_file(revision);
        if std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit) {
            return Ok(());
        }
        crate::catalog::write_atomic(&path, commit.as_bytes())
    }

    /// Points `snapshots/<commit>/<file>` at the blob for `etag` (relative symlink on Unix, a
    /// copy elsewhere), replacing whatever was there.
    ///
    /// # Errors
    /// I/O errors creating the directories or the link.
    pub fn link_snapshot(&self, commit: &str, file: &str, etag: &str) -> std::io::Result<PathBuf> {
        let pointer = self.snapshot_file(commit, file);
        let parent = pointer
            .parent()
            .map_or_else(|| self.snapshot_dir(commit), Path::to_path_buf);
        std::fs::create_dir_all(&parent)?;
        match std::fs::symlink_metadata(&pointer) {
            Ok(_) => std::fs::remove_file(&pointer)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        #[cfg(unix)]
        {
            // snapshots/<commit>/<dirs of file>/<name> -> ../../(../ per dir)blobs/<etag>
            let depth = file.split('/').count() + 1;
            let mut target = PathBuf::new();
            for _ in 0..depth {
                target.push("..");
            }
            target.push("blobs");
            target.push(etag);
            std::os::unix::fs::symlink(&target, &pointer)?;
        }
        #[cfg(not(unix))]
        {
            std::fs::copy(self.blob(etag), &pointer)?;
        }
        Ok(pointer)
    }
}

/// Whether `revision` is a full 40-hex-digit commit hash.
#[must_use]
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}
