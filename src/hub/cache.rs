//! The Hugging Face cache layout, shared with Python's `huggingface_hub`:
//!
//! ```text
//! <cache>/models--<owner>--<name>/
//!     blobs/<etag>                 file contents, named by the Hub's ETag (sha256 for LFS files)
//!     blobs/<etag>.incomplete      a download in progress (resumed with an HTTP Range request)
//!     snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag> (on Windows a hard
//!                                  link to the blob, or failing that a copy)
//!     refs/<revision>              the commit a branch/tag/PR ref resolved to
//! <cache>/.locks/models--<owner>--<name>/<etag>.lock
//! ```
//!
//! Ours only: `models--<owner>--<name>/.xgen-verified/<etag>` records that a blob's content was
//! checked against its checksum, and for which size, modification time and inode, so a blob
//! already on disk (from an earlier run or from Python) is hashed once rather than at every
//! start. It lives beside `blobs/`, not in it, so Python's cache scanner does not see it.
//!
//! Every name below a repository's folder comes from outside: the repository id and revision
//! from the person or the catalog, file names, commits and `ETag`s from the endpoint, which
//! may be hostile. [`check_repo_id`], [`check_revision`], [`check_etag`], [`is_commit_hash`]
//! and `fsio::check_relative_name` (file names) decide which ones may become paths; the
//! [`crate::hub::Hub`] checks them before any is used, and [`RepoCache::link_snapshot`] and
//! [`RepoCache::write_ref`] check again, since they are public.

use std::path::{Path, PathBuf};

use xgen_fsio::{self as fsio, UnsafePath};

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

    /// The `ETag` of the blob the snapshot file `pointer` stands for: the blob of this
    /// repository a symbolic link resolves to (how the cache is written on Unix, and by
    /// Python), or the one a hard link shares its data with (how it is written on Windows).
    /// `None` for a copy, a link elsewhere, or anything that cannot be examined.
    #[must_use]
    pub fn blob_of(&self, pointer: &Path) -> Option<String> {
        let meta = std::fs::symlink_metadata(pointer).ok()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(pointer).ok()?;
            let etag = target.file_name()?.to_str()?.to_owned();
            check_etag(&etag).ok()?;
            let into_blobs = std::fs::canonicalize(pointer).ok()?
                == std::fs::canonicalize(self.blob(&etag)).ok()?;
            return into_blobs.then_some(etag);
        }
        if !meta.is_file() {
            return None;
        }
        let id = file_identity(pointer)?;
        std::fs::read_dir(self.repo_dir().join("blobs"))
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| check_etag(name).is_ok())
            .find(|etag| file_identity(&self.blob(etag)) == Some(id))
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
    /// content of its ref file (`None` for a revision [`check_revision`] refuses).
    #[must_use]
    pub fn resolve_commit(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_owned());
        }
        check_revision(revision).ok()?;
        let commit = std::fs::read_to_string(self.ref_file(revision)).ok()?;
        let commit = commit.trim();
        is_commit_hash(commit).then(|| commit.to_owned())
    }

    /// `models--owner--name/.xgen-verified/<etag>`: the record that the blob for `etag` was
    /// checked against its checksum (see the module documentation).
    #[must_use]
    pub fn verified_marker(&self, etag: &str) -> PathBuf {
        self.repo_dir().join(".xgen-verified").join(etag)
    }

    /// Records that `revision` points at `commit` (no-op when `revision` is the commit).
    ///
    /// # Errors
    /// `InvalidInput` when `revision` is not a safe ref name ([`check_revision`]) or `commit`
    /// not a commit id; I/O errors writing the ref file.
    pub fn write_ref(&self, revision: &str, commit: &str) -> std::io::Result<()> {
        if revision == commit {
            return Ok(());
        }
        check_revision(revision).map_err(invalid_input)?;
        check_commit(commit).map_err(invalid_input)?;
        let path = self.ref_file(revision);
        if std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit) {
            return Ok(());
        }
        fsio::write_atomic(&path, commit.as_bytes())
    }

    /// Points `snapshots/<commit>/<file>` at the blob for `etag` (relative symlink on Unix, a
    /// hard link, or failing that a copy, on Windows). An existing link or file there is
    /// replaced atomically (a new link is renamed over it); a directory is never touched, and
    /// neither is anything outside the snapshot: the names are checked, and every folder on the
    /// way must be a real directory (a link standing in for one could lead anywhere).
    ///
    /// # Errors
    /// `InvalidInput` for an unsafe commit, file name or `ETag`; an error naming the path when
    /// a directory, or something that is not a directory, stands in the way; I/O errors.
    pub fn link_snapshot(&self, commit: &str, file: &str, etag: &str) -> std::io::Result<PathBuf> {
        check_commit(commit).map_err(invalid_input)?;
        fsio::check_relative_name(file).map_err(invalid_input)?;
        check_etag(etag).map_err(invalid_input)?;
        let mut parent = self.snapshot_dir(commit);
        std::fs::create_dir_all(&parent)?;
        let (dirs, name) = file.rsplit_once('/').unwrap_or(("", file));
        for part in dirs.split('/').filter(|p| !p.is_empty()) {
            parent.push(part);
            ensure_real_dir(&parent)?;
        }
        let pointer = parent.join(name);
        // snapshots/<commit>/<dirs of file>/<name> -> ../../(../ per dir)blobs/<etag>
        #[cfg(unix)]
        let target = {
            let mut target = PathBuf::new();
            for _ in 0..=file.split('/').count() {
                target.push("..");
            }
            target.join("blobs").join(etag)
        };
        match std::fs::symlink_metadata(&pointer) {
            Ok(meta) if meta.is_dir() => {
                return Err(std::io::Error::other(format!(
                    "{} is a directory where the file {file} belongs; it was left alone: move it \
                     away and download again",
                    pointer.display()
                )));
            }
            #[cfg(unix)]
            Ok(meta)
                if meta.file_type().is_symlink()
                    && std::fs::read_link(&pointer).is_ok_and(|t| t == target) =>
            {
                return Ok(pointer);
            }
            // Already the blob's hard link: left as it is (a model loaded from it keeps it
            // mapped, and Windows refuses to replace a mapped file).
            #[cfg(not(unix))]
            Ok(meta)
                if meta.is_file()
                    && file_identity(&pointer)
                        .is_some_and(|id| file_identity(&self.blob(etag)) == Some(id)) =>
            {
                return Ok(pointer);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let tmp = fsio::temp_path_beside(&pointer, "link");
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&target, &tmp);
        // Windows: a symbolic link needs administrator rights or developer mode; a hard link
        // shares the blob's data without them (the 27 GB checkpoint is not stored twice), and
        // a copy is the last resort, on a file system without hard links.
        #[cfg(not(unix))]
        let made = std::fs::hard_link(self.blob(etag), &tmp)
            .or_else(|_| std::fs::copy(self.blob(etag), &tmp).map(|_| ()));
        let result = made.and_then(|()| fsio::rename_durable(&tmp, &pointer));
        if result.is_err() {
            fsio::remove_quietly(&tmp);
        }
        result.map(|()| pointer)
    }
}

/// What tells two names of one file apart from two files (following links): device and inode
/// on Unix; volume serial number and file index on Windows, where a snapshot file is a hard
/// link to its blob and only this says so. `None` when the file cannot be examined.
#[allow(
    unsafe_code,
    reason = "Windows says which file a name is only through GetFileInformationByHandle"
)]
pub(crate) fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle as _;
        use windows_sys::Win32::Storage::FileSystem::{
            GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
        };
        let file = std::fs::File::open(path).ok()?;
        let mut info = BY_HANDLE_FILE_INFORMATION::default();
        // SAFETY: the handle is open for the call (`file` lives to the end of the block) and
        // `info` is a live struct of the type the call fills.
        let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &raw mut info) } != 0;
        ok.then(|| {
            (
                u64::from(info.dwVolumeSerialNumber),
                (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
            )
        })
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = path;
        None
    }
}

/// Makes sure `dir` is a directory of its own, not a link to one: creates it when missing.
fn ensure_real_dir(dir: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::create_dir(dir) {
                Ok(()) => return Ok(()),
                // Another download created it meanwhile: check what it is.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::symlink_metadata(dir)?
                }
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{} is in the way: the snapshot needs a folder there, and a file or a link stands in \
             its place; it was left alone: move it away and download again",
            dir.display()
        )))
    }
}

fn invalid_input(e: UnsafePath) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
}

fn check_commit(commit: &str) -> Result<(), UnsafePath> {
    if is_commit_hash(commit) {
        Ok(())
    } else {
        Err(UnsafePath {
            name: commit.to_owned(),
            reason: "it is not a 40-hex-digit commit id",
        })
    }
}

/// Checks a revision before it names `refs/<revision>`: a commit id, or a ref name as git
/// allows them (`main`, `v1.0`, `refs/pr/20`) that is also a safe relative path on every
/// system: no `..`, no part starting with `.` or ending with `.lock`, no backslash, NUL,
/// whitespace or `~^:?*[<>|"`, no `@{`, at most 255 bytes.
///
/// # Errors
/// [`UnsafePath`] naming what is wrong.
pub fn check_revision(revision: &str) -> Result<(), UnsafePath> {
    if is_commit_hash(revision) {
        return Ok(());
    }
    fsio::check_relative_name(revision)?;
    let refuse = |reason| {
        Err(UnsafePath {
            name: revision.to_owned(),
            reason,
        })
    };
    if revision.len() > 255 {
        return refuse("a revision name is at most 255 bytes");
    }
    if revision.contains("..") || revision.contains("@{") || revision == "@" {
        return refuse("git does not allow `..`, `@{` or a lone `@` in a ref name");
    }
    if revision
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return refuse("a part of the ref name starts with `.` or ends with `.lock`");
    }
    if revision.chars().any(|c| {
        c.is_whitespace() || matches!(c, '~' | '^' | '?' | '*' | '[' | '<' | '>' | '|' | '"')
    }) {
        return refuse("it contains whitespace or one of ~^?*[<>|\"");
    }
    Ok(())
}

/// Checks a Hub repository id (`owner/name`) with the Hub's own rules: each part 1 to 96
/// letters, digits, `-`, `_` or `.`, not starting or ending with `-` or `.`, no `--` or `..`.
/// The id becomes the cache folder `models--owner--name`.
///
/// # Errors
/// [`UnsafePath`] naming what is wrong.
pub fn check_repo_id(repo: &str) -> Result<(), UnsafePath> {
    let refuse = |reason| {
        Err(UnsafePath {
            name: repo.to_owned(),
            reason,
        })
    };
    let Some((owner, name)) = repo.split_once('/') else {
        return refuse("a repository id is `owner/name`");
    };
    for part in [owner, name] {
        if part.is_empty() || part.len() > 96 {
            return refuse("owner and name are each 1 to 96 characters");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return refuse("only letters, digits, `-`, `_` and `.` are allowed in owner and name");
        }
        if part.starts_with(['-', '.'])
            || part.ends_with(['-', '.'])
            || part.contains("--")
            || part.contains("..")
        {
            return refuse(
                "owner and name may not start or end with `-` or `.`, or contain `--` or `..`",
            );
        }
    }
    Ok(())
}

/// Checks an `ETag` (normalized: no quotes, no `W/`) before it names a blob: 1 to 128
/// letters, digits, `-`, `_` or `.`, not starting with `.` and not ending with `.incomplete`
/// (the name of a partial download). The Hub's are hex digests; mirrors' are similar.
///
/// # Errors
/// [`UnsafePath`] naming what is wrong.
pub fn check_etag(etag: &str) -> Result<(), UnsafePath> {
    let refuse = |reason| {
        Err(UnsafePath {
            name: etag.to_owned(),
            reason,
        })
    };
    if etag.is_empty() || etag.len() > 128 {
        return refuse("an ETag that names a file is 1 to 128 characters");
    }
    if !etag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return refuse("only letters, digits, `-`, `_` and `.` are allowed in an ETag");
    }
    if etag.starts_with('.') || etag.ends_with(".incomplete") {
        return refuse("it starts with `.` or ends with `.incomplete`");
    }
    Ok(())
}

/// Whether `revision` is a full 40-hex-digit commit hash.
#[must_use]
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_follow_the_hub_rules() {
        for good in [
            "Salesforce/xgen-7b-8k-inst",
            "a/b",
            "TheBloke/Llama-2_7B.GGUF",
        ] {
            assert!(check_repo_id(good).is_ok(), "{good:?}");
        }
        for bad in [
            "", "noslash", "a/b/c", "../x", "a/..", "a/.b", "a/b-", "a--b/c", "a\\b/c", "a/b c",
            "/a",
        ] {
            assert!(check_repo_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn etags_name_plain_files_only() {
        for good in [
            &"a".repeat(64),
            "5f1a-2b3c",
            "d41d8cd98f00b204e9800998ecf8427e-3",
        ] {
            assert!(check_etag(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "c:x",
            "x.incomplete",
            "a b",
        ] {
            assert!(check_etag(bad).is_err(), "{bad:?}");
        }
        assert!(check_etag(&"a".repeat(129)).is_err());
    }
}
