//! Downloads from the Hugging Face Hub into the shared Hugging Face cache.
//!
//! `hf-hub` resolves the repository (revision to commit, file list, typed errors for missing
//! or gated repos); the file transfer is ours because hf-hub cannot resume, report progress per
//! chunk or be cancelled mid-file. Files land in the standard cache layout ([`RepoCache`]), so
//! Python tools see ours and we reuse theirs, and each one is checked against the checksum the Hub
//! publishes ([`Checksum`]) before it becomes visible in `snapshots/`.
//!
//! Flow: [`Hub::plan`] (metadata only) -> [`check_disk`] -> [`Hub::download`]. [`Hub::fetch`]
//! does all three; in offline mode it only looks in the cache ([`Hub::cached`]).
//!
//! Longer than 600 lines: the Hub client's resolution of repositories and revisions and its
//! typed errors; transfer (`download.rs`), cache layout (`cache.rs`), checksums (`verify.rs`),
//! disk checks and progress have files of their own.

mod cache;
mod disk;
mod download;
mod progress;
mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use cache::file_identity;
pub use cache::{check_etag, check_repo_id, check_revision, is_commit_hash, RepoCache};
pub use disk::{check_disk, system_disk_space, DiskNeed, DiskSpaceFn};
pub(crate) use progress::Meter;
pub use progress::{Progress, ProgressFn, Stage};
use verify::BlobStatus;

use crate::cancel::CancelToken;
pub use verify::{git_blob_sha1, sha256_hex, Checksum};

/// A boxed error cause (network errors come from several layers).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the Hub and where to cache.
#[derive(Clone)]
pub struct HubOptions {
    /// Hub base URL (`HF_ENDPOINT`, default [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    /// Access token for gated or private repos (`HF_TOKEN`, `HF_TOKEN_PATH`, or the file written
    /// by `huggingface-cli login`).
    pub token: Option<String>,
    /// The Hugging Face hub cache directory.
    pub cache_dir: PathBuf,
    /// Use only what is cached; never touch the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Reconnections (with Range) after a dropped connection before giving up on a file.
    pub max_retries: u32,
    /// Per-read timeout: a connection silent for this long counts as dropped.
    pub read_timeout: Duration,
    /// Free-space probe (replaceable in tests).
    pub disk_space: DiskSpaceFn,
}

impl std::fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubOptions")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("max_retries", &self.max_retries)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl HubOptions {
    /// Options for `cache_dir` with the public endpoint, no token, online.
    #[must_use]
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            token: None,
            cache_dir: cache_dir.into(),
            offline: false,
            max_retries: 5,
            read_timeout: Duration::from_secs(60),
            disk_space: system_disk_space(),
        }
    }

    /// Options from the process environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_TOKEN_PATH`,
    /// `HF_HOME/token`, `HF_HUB_DISABLE_IMPLICIT_TOKEN`, `HF_HUB_OFFLINE`), caching in
    /// `cache_dir` (usually [`crate::paths::AppPaths::hf_cache_dir`]).
    #[must_use]
    pub fn from_env(cache_dir: impl Into<PathBuf>) -> Self {
        Self::resolve(cache_dir, |name| std::env::var_os(name))
    }

    /// Like [`HubOptions::from_env`], reading variables through `env`.
    #[must_use]
    pub fn resolve(cache_dir: impl Into<PathBuf>, env: impl Fn(&str) -> Option<OsString>) -> Self {
        let mut opts = Self::new(cache_dir);
        let var = |name: &str| {
            env(name)
                .map(|v| v.to_string_lossy().trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(endpoint) = var("HF_ENDPOINT") {
            opts.endpoint = endpoint.trim_end_matches('/').to_owned();
        }
        opts.offline = var("HF_HUB_OFFLINE").is_some_and(|v| is_truthy(&v));
        if !var("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_some_and(|v| is_truthy(&v)) {
            let read = |p: PathBuf| {
                std::fs::read_to_string(p)
                    .ok()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
            };
            opts.token = var("HF_TOKEN")
                .or_else(|| var("HF_TOKEN_PATH").and_then(|p| read(PathBuf::from(p))))
                .or_else(|| crate::paths::hf_home_from(&env).and_then(|h| read(h.join("token"))));
        }
        opts
    }
}

fn is_truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Download errors. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Offline mode and the cache lacks files.
    #[error(
        "offline mode: {repo}@{revision} is not fully in the Hugging Face cache ({}); missing: {}. \
         Connect to the internet and run without offline mode (unset HF_HUB_OFFLINE)",
        cache_dir.display(), missing.join(", ")
    )]
    OfflineMissing {
        /// Repository.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// The cache searched.
        cache_dir: PathBuf,
        /// Files not in the cache.
        missing: Vec<String>,
    },
    /// The repository does not exist (or is private and the token cannot see it).
    #[error(
        "repository {repo} not found on {endpoint}; check the name, or set HF_TOKEN if it is private"
    )]
    RepoNotFound {
        /// Repository.
        repo: String,
        /// Hub endpoint.
        endpoint: String,
    },
    /// The revision does not exist.
    #[error("revision {revision} not found in {repo}")]
    RevisionNotFound {
        /// Repository.
        repo: String,
        /// Revision.
        revision: String,
    },
    /// A file is not in the repository at that revision.
    #[error("{file} not found in {repo}@{revision}")]
    FileNotFound {
        /// Repository.
        repo: String,
        /// Revision.
        revision: String,
        /// File.
        file: String,
    },
    /// The repository needs a token.
    #[error(
        "{repo} requires a Hugging Face access token: create one at {endpoint}/settings/tokens and \
         set HF_TOKEN, or run `huggingface-cli login`"
    )]
    AuthRequired {
        /// Repository.
        repo: String,
        /// Hub endpoint.
        endpoint: String,
    },
    /// The token is not allowed (gated repo whose terms were not accepted).
    #[error(
        "access to {repo} is restricted: accept its terms at {endpoint}/{repo} with the account of \
         your HF_TOKEN, then try again"
    )]
    Forbidden {
        /// Repository.
        repo: String,
        /// Hub endpoint.
        endpoint: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Http {
        /// Request URL.
        url: String,
        /// Status code.
        status: u16,
    },
    /// The server's answer lacks something we need.
    #[error("unexpected answer from {url}: {what}")]
    BadResponse {
        /// Request URL.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// The network failed (after retries). Partial files are kept and resume next time.
    #[error(
        "network error fetching {file}: {source}; what was downloaded is kept and the next attempt \
         resumes from there"
    )]
    Network {
        /// File (or URL) being fetched.
        file: String,
        /// The cause.
        source: BoxError,
    },
    /// A downloaded file does not match the Hub's checksum. It was deleted.
    #[error(
        "{file} is corrupt: {algorithm} {actual} does not match the Hub's {expected}; the bad copy \
         was deleted, run the download again"
    )]
    Checksum {
        /// File.
        file: String,
        /// Algorithm (`sha256` or `git-sha1`).
        algorithm: &'static str,
        /// Published digest.
        expected: String,
        /// Digest of what was received.
        actual: String,
    },
    /// The server sent a different number of bytes than announced.
    #[error("{file}: expected {expected} bytes, received {actual}; run the download again")]
    SizeMismatch {
        /// File.
        file: String,
        /// Announced size.
        expected: u64,
        /// Received size.
        actual: u64,
    },
    /// Not enough free space for what is about to be written.
    #[error(
        "not enough disk space on the drive of {}: need {} ({breakdown}), {} available; free up \
         space or move the data (HF_HUB_CACHE / XGEN_DESK_HOME) to a larger drive",
        dir.display(), format_bytes(*needed), format_bytes(*available)
    )]
    NotEnoughDisk {
        /// A directory on the drive.
        dir: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
        /// What the needed bytes are made of.
        breakdown: String,
    },
    /// Cancelled by the user; partial files are kept for resuming.
    #[error("download cancelled; run it again to resume")]
    Cancelled,
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A repository id, revision, file name, commit or `ETag` cannot be used as a path in
    /// the cache: it could land outside the repository's folder, or mean different things on
    /// different systems. Nothing was written for it.
    #[error(
        "{what} {:?} of {repo} cannot be used as a name in the download cache ({}); nothing \
         was written for it. If it came from the Hub endpoint ({endpoint}), that server may \
         not be trustworthy",
        source.name, source.reason
    )]
    UnsafeName {
        /// Repository.
        repo: String,
        /// What the name is (`file name`, `revision`, ...).
        what: &'static str,
        /// The endpoint the download talks to.
        endpoint: String,
        /// The name and what is wrong with it.
        source: xgen_fsio::UnsafePath,
    },
    /// Any other error from `hf-hub`.
    #[error("Hugging Face Hub: {0}")]
    Hub(hf_hub::HFError),
}

/// `1234567890` -> `"1.23 GB"` (decimal units, like the Hub's web pages).
#[must_use]
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// One file of a [`DownloadPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path in the repository.
    pub name: String,
    /// Size published by the Hub.
    pub size: u64,
    /// Normalized `ETag`: the blob name in the cache and the checksum.
    pub etag: String,
    /// A blob of the right size is already in the cache. [`Hub::download`] checks its content
    /// before using it (once: see [`RepoCache::verified_marker`]) and fetches it again if it
    /// does not match.
    pub cached: bool,
    /// Bytes of an interrupted download already on disk (0 if none or cached).
    pub partial: u64,
}

impl PlannedFile {
    /// Bytes still to transfer.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        if self.cached {
            0
        } else {
            self.size.saturating_sub(self.partial)
        }
    }
}

/// What a download will do: the resolved commit and each file's size, checksum and cache state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPlan {
    /// Repository.
    pub repo: String,
    /// Revision asked for.
    pub revision: String,
    /// Commit the revision resolved to.
    pub commit: String,
    /// Files, in the order asked for.
    pub files: Vec<PlannedFile>,
}

impl DownloadPlan {
    /// Total size of all files.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Bytes still to transfer.
    #[must_use]
    pub fn remaining_bytes(&self) -> u64 {
        self.files.iter().map(PlannedFile::remaining).sum()
    }
}

/// A complete set of files in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Repository.
    pub repo: String,
    /// Revision asked for.
    pub revision: String,
    /// Commit.
    pub commit: String,
    /// `snapshots/<commit>`: the files are below it under their repository paths.
    pub dir: PathBuf,
    /// Each requested file's path (a symlink into `blobs/` on Unix).
    pub files: Vec<PathBuf>,
}

/// A Hub connection with a cache. Cheap to keep; blocking calls (run it on a worker thread).
pub struct Hub {
    opts: HubOptions,
    api: Option<hf_hub::HFClientSync>,
    http: Option<download::Http>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A client for `opts`. In offline mode nothing network-related is built.
    ///
    /// # Errors
    /// [`HubError::Hub`] or [`HubError::BadResponse`] if the endpoint is not a valid URL or the
    /// HTTP clients cannot be created.
    pub fn new(opts: HubOptions) -> Result<Self, HubError> {
        if opts.offline {
            return Ok(Self {
                opts,
                api: None,
                http: None,
            });
        }
        let mut builder = hf_hub::HFClient::builder()
            .endpoint(opts.endpoint.clone())
            .cache_dir(opts.cache_dir.clone())
            .user_agent(user_agent());
        if let Some(token) = &opts.token {
            builder = builder.token(token.clone());
        }
        let api = builder.build_sync().map_err(HubError::Hub)?;
        let http = download::Http::new(&opts)?;
        Ok(Self {
            opts,
            api: Some(api),
            http: Some(http),
        })
    }

    /// The options in use.
    #[must_use]
    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// The cache of `repo`.
    #[must_use]
    pub fn repo_cache(&self, repo: &str) -> RepoCache {
        RepoCache::new(&self.opts.cache_dir, repo)
    }

    /// Looks `files` of `repo@revision` up in the cache only (no network).
    ///
    /// # Errors
    /// [`HubError::OfflineMissing`] naming every file that is not cached.
    pub fn cached(
        &self,
        repo: &str,
        revision: &str,
        files: &[String],
    ) -> Result<Snapshot, HubError> {
        self.check_request(repo, revision, files)?;
        let cache = self.repo_cache(repo);
        let missing_all = || HubError::OfflineMissing {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            cache_dir: self.opts.cache_dir.clone(),
            missing: if files.is_empty() {
                vec!["(all files)".to_owned()]
            } else {
                files.to_vec()
            },
        };
        let Some(commit) = cache.resolve_commit(revision) else {
            return Err(missing_all());
        };
        let dir = cache.snapshot_dir(&commit);
        if files.is_empty() && !dir.is_dir() {
            return Err(missing_all());
        }
        let mut present = Vec::with_capacity(files.len());
        let mut missing = Vec::new();
        for file in files {
            let path = cache.snapshot_file(&commit, file);
            if cached_file_is_good(&cache, &path)? {
                present.push((file, path));
            } else {
                missing.push((file, path));
            }
        }
        if !missing.is_empty() {
            return Err(HubError::OfflineMissing {
                repo: repo.to_owned(),
                revision: revision.to_owned(),
                cache_dir: self.opts.cache_dir.clone(),
                missing: missing.into_iter().map(|(f, _)| f.clone()).collect(),
            });
        }
        Ok(Snapshot {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            commit,
            dir,
            files: present.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Resolves `repo@revision` on the Hub and reads each file's size and checksum, and what
    /// the cache already has. `files` empty means every file of the revision. Writes
    /// `refs/<revision>`.
    ///
    /// # Errors
    /// [`HubError::OfflineMissing`] in offline mode (plans need the network); not-found, auth
    /// and network errors.
    pub fn plan(
        &self,
        repo: &str,
        revision: &str,
        files: &[String],
    ) -> Result<DownloadPlan, HubError> {
        self.check_request(repo, revision, files)?;
        let (Some(api), Some(http)) = (&self.api, &self.http) else {
            return Err(self.cached(repo, revision, files).err().unwrap_or(
                HubError::OfflineMissing {
                    repo: repo.to_owned(),
                    revision: revision.to_owned(),
                    cache_dir: self.opts.cache_dir.clone(),
                    missing: files.to_vec(),
                },
            ));
        };
        let (owner, name) = hf_hub::split_id(repo);
        let info = api
            .model(owner, name)
            .info()
            .revision(revision.to_owned())
            .send()
            .map_err(|e| self.map_hf_error(e, repo, revision))?;
        let commit =
            info.sha
                .filter(|s| is_commit_hash(s))
                .ok_or_else(|| HubError::BadResponse {
                    url: format!(
                        "{}/api/models/{repo}/revision/{revision}",
                        self.opts.endpoint
                    ),
                    what: "no commit sha in repository info".to_owned(),
                })?;
        let siblings: Vec<String> = info
            .siblings
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.rfilename)
            .collect();
        let wanted: Vec<String> = if files.is_empty() {
            siblings
        } else {
            if let Some(absent) = files.iter().find(|f| !siblings.contains(f)) {
                return Err(HubError::FileNotFound {
                    repo: repo.to_owned(),
                    revision: revision.to_owned(),
                    file: absent.clone(),
                });
            }
            files.to_vec()
        };
        // The file list comes from the endpoint: each name becomes a path in the snapshot.
        for file in &wanted {
            xgen_fsio::check_relative_name(file).map_err(self.unsafe_name(repo, "file name"))?;
        }
        let cache = self.repo_cache(repo);
        cache
            .write_ref(revision, &commit)
            .map_err(|source| HubError::Io {
                path: cache.ref_file(revision),
                source,
            })?;
        let mut planned = Vec::with_capacity(wanted.len());
        for file in wanted {
            let meta = http.head(self, repo, revision, &commit, &file)?;
            let blob = cache.blob(&meta.etag);
            let cached = std::fs::metadata(&blob).is_ok_and(|m| m.len() == meta.size);
            let partial = if cached {
                0
            } else {
                std::fs::metadata(cache.incomplete(&meta.etag))
                    .map_or(0, |m| m.len())
                    .min(meta.size)
            };
            planned.push(PlannedFile {
                name: file,
                size: meta.size,
                etag: meta.etag,
                cached,
                partial,
            });
        }
        Ok(DownloadPlan {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            commit,
            files: planned,
        })
    }

    /// Downloads what `plan` lists as missing (resuming partial files), verifies each file and
    /// links it into `snapshots/<commit>/`.
    ///
    /// # Errors
    /// [`HubError::Cancelled`] (partial file kept), [`HubError::Checksum`] (bad file deleted),
    /// network errors after [`HubOptions::max_retries`] reconnections, I/O errors.
    pub fn download(
        &self,
        plan: &DownloadPlan,
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<Snapshot, HubError> {
        self.check_plan(plan)?;
        let cache = self.repo_cache(&plan.repo);
        let mut meter = Meter::new(Stage::Download, 0, plan.total_bytes());
        meter.emit(progress);
        let mut paths = Vec::with_capacity(plan.files.len());
        for file in &plan.files {
            if cancel.is_cancelled() {
                return Err(HubError::Cancelled);
            }
            meter.set_item(&file.name);
            let mut hashed = 0;
            let status =
                verify::check_blob(&cache, &file.etag, Some(file.size), cancel, &mut |n| {
                    hashed += n;
                    meter.skip_quietly(n, progress);
                })?;
            if status == BlobStatus::Good {
                meter.skip(file.size.saturating_sub(hashed), progress);
            } else {
                meter.rewind(hashed, progress);
                if let BlobStatus::Corrupt { actual } = &status {
                    discard_corrupt_blob(&cache, file, actual);
                }
                let Some(http) = &self.http else {
                    return Err(HubError::OfflineMissing {
                        repo: plan.repo.clone(),
                        revision: plan.revision.clone(),
                        cache_dir: self.opts.cache_dir.clone(),
                        missing: vec![file.name.clone()],
                    });
                };
                http.fetch_blob(self, plan, file, &cache, &mut meter, progress, cancel)?;
            }
            let pointer = cache
                .link_snapshot(&plan.commit, &file.name, &file.etag)
                .map_err(|source| HubError::Io {
                    path: cache.snapshot_file(&plan.commit, &file.name),
                    source,
                })?;
            paths.push(pointer);
        }
        meter.emit(progress);
        Ok(Snapshot {
            repo: plan.repo.clone(),
            revision: plan.revision.clone(),
            commit: plan.commit.clone(),
            dir: cache.snapshot_dir(&plan.commit),
            files: paths,
        })
    }

    /// Plans, checks the free space for the download (plus `extra` needs such as conversion
    /// outputs), and downloads. Offline: returns the cached snapshot or names what is missing.
    ///
    /// # Errors
    /// Everything [`Hub::plan`], [`check_disk`] and [`Hub::download`] return.
    pub fn fetch(
        &self,
        repo: &str,
        revision: &str,
        files: &[String],
        extra: &[DiskNeed],
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<Snapshot, HubError> {
        if self.opts.offline {
            return self.cached(repo, revision, files);
        }
        let plan = self.plan(repo, revision, files)?;
        let mut needs = vec![DiskNeed {
            dir: self.opts.cache_dir.clone(),
            bytes: plan.remaining_bytes(),
            what: "download".to_owned(),
        }];
        needs.extend_from_slice(extra);
        check_disk(&needs, &self.opts.disk_space)?;
        self.download(&plan, progress, cancel)
    }

    /// Turns a refused name into [`HubError::UnsafeName`].
    fn unsafe_name(
        &self,
        repo: &str,
        what: &'static str,
    ) -> impl Fn(xgen_fsio::UnsafePath) -> HubError {
        let repo = repo.to_owned();
        let endpoint = self.opts.endpoint.clone();
        move |source| HubError::UnsafeName {
            repo: repo.clone(),
            what,
            endpoint: endpoint.clone(),
            source,
        }
    }

    /// Checks what the caller asks for before any of it names a path.
    fn check_request(&self, repo: &str, revision: &str, files: &[String]) -> Result<(), HubError> {
        check_repo_id(repo).map_err(self.unsafe_name(repo, "repository id"))?;
        check_revision(revision).map_err(self.unsafe_name(repo, "revision"))?;
        for file in files {
            xgen_fsio::check_relative_name(file).map_err(self.unsafe_name(repo, "file name"))?;
        }
        Ok(())
    }

    /// Checks a plan (its fields are public, so it may not come from [`Hub::plan`]).
    fn check_plan(&self, plan: &DownloadPlan) -> Result<(), HubError> {
        let names: Vec<String> = plan.files.iter().map(|f| f.name.clone()).collect();
        self.check_request(&plan.repo, &plan.revision, &names)?;
        if !is_commit_hash(&plan.commit) {
            return Err(self.unsafe_name(&plan.repo, "commit")(
                xgen_fsio::UnsafePath {
                    name: plan.commit.clone(),
                    reason: "it is not a 40-hex-digit commit id",
                },
            ));
        }
        for file in &plan.files {
            check_etag(&file.etag).map_err(self.unsafe_name(&plan.repo, "ETag"))?;
        }
        Ok(())
    }

    fn map_hf_error(&self, err: hf_hub::HFError, repo: &str, revision: &str) -> HubError {
        let endpoint = self.opts.endpoint.clone();
        match err {
            hf_hub::HFError::RepoNotFound { .. } => HubError::RepoNotFound {
                repo: repo.to_owned(),
                endpoint,
            },
            hf_hub::HFError::RevisionNotFound { .. } => HubError::RevisionNotFound {
                repo: repo.to_owned(),
                revision: revision.to_owned(),
            },
            hf_hub::HFError::AuthRequired { .. } => HubError::AuthRequired {
                repo: repo.to_owned(),
                endpoint,
            },
            hf_hub::HFError::Forbidden { .. } => HubError::Forbidden {
                repo: repo.to_owned(),
                endpoint,
            },
            other => HubError::Hub(other),
        }
    }
}

/// Deletes a cached blob whose content does not match its checksum, so it is fetched again.
fn discard_corrupt_blob(cache: &RepoCache, file: &PlannedFile, actual: &str) {
    tracing::warn!(
        file = %file.name,
        expected = %file.etag,
        %actual,
        "the cached copy does not match the Hub's checksum; fetching it again"
    );
    xgen_fsio::remove_quietly(&cache.verified_marker(&file.etag));
    xgen_fsio::remove_quietly(&cache.blob(&file.etag));
}

/// Whether a snapshot file found offline can be used: it exists, and when it is one of this
/// repository's blobs (a symbolic link to it on Unix, a hard link on Windows), that blob's
/// content matches its `ETag`. A corrupt blob is deleted (as online) and its file counts as
/// missing.
fn cached_file_is_good(cache: &RepoCache, path: &std::path::Path) -> Result<bool, HubError> {
    if !path.is_file() {
        return Ok(false);
    }
    // A copy, or a link someone else made: its ETag is unknown, only its presence can be
    // checked.
    let Some(etag) = cache.blob_of(path) else {
        return Ok(true);
    };
    match verify::check_blob(cache, &etag, None, &CancelToken::new(), &mut |_| {})? {
        BlobStatus::Good => Ok(true),
        BlobStatus::Corrupt { actual } => {
            tracing::warn!(
                file = %path.display(),
                expected = %etag,
                %actual,
                "the cached copy does not match its checksum; it was deleted"
            );
            xgen_fsio::remove_quietly(&cache.verified_marker(&etag));
            xgen_fsio::remove_quietly(&cache.blob(&etag));
            Ok(false)
        }
        BlobStatus::Missing | BlobStatus::WrongSize => Ok(false),
    }
}

fn user_agent() -> String {
    format!("xgen-desk/{}", env!("CARGO_PKG_VERSION"))
}
