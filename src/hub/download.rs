//! The file transfer: HEAD for size and checksum, then a streaming GET with `Range` that resumes
//! `blobs/<etag>.incomplete`, hashes as it writes, and checks the cancel flag every chunk.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, ETAG,
    LOCATION, RANGE,
};
use reqwest::StatusCode;
use xgen_fsio::LockWait;

use super::verify::{check_blob, mark_verified, BlobStatus, Checksum, Hasher};
use super::BoxError;
use super::{DownloadPlan, Hub, HubError, HubOptions, Meter, PlannedFile, ProgressFn, RepoCache};
use crate::cancel::CancelToken;

const CHUNK: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 5;

/// What a HEAD on a file's resolve URL tells.
pub(super) struct FileMeta {
    pub(super) etag: String,
    pub(super) size: u64,
}

/// The two HTTP clients: one that never follows redirects (HEAD, to read the Hub's own headers
/// rather than the CDN's), one that follows them (GET).
pub(super) struct Http {
    no_redirect: Client,
    follow: Client,
    endpoint: String,
    token: Option<String>,
    max_retries: u32,
}

impl Http {
    pub(super) fn new(opts: &HubOptions) -> Result<Self, HubError> {
        let build = |policy| {
            Client::builder()
                .user_agent(super::user_agent())
                .connect_timeout(Duration::from_secs(20))
                .timeout(opts.read_timeout)
                .redirect(policy)
                .build()
                .map_err(|source| HubError::Network {
                    file: opts.endpoint.clone(),
                    source: Box::new(source),
                })
        };
        Ok(Self {
            no_redirect: build(reqwest::redirect::Policy::none())?,
            follow: build(reqwest::redirect::Policy::limited(MAX_REDIRECTS))?,
            endpoint: opts.endpoint.trim_end_matches('/').to_owned(),
            token: opts.token.clone(),
            max_retries: opts.max_retries,
        })
    }

    fn resolve_url(&self, repo: &str, commit: &str, file: &str) -> Result<reqwest::Url, HubError> {
        let bad = |what: &str| HubError::BadResponse {
            url: self.endpoint.clone(),
            what: what.to_owned(),
        };
        let mut url =
            reqwest::Url::parse(&self.endpoint).map_err(|_| bad("invalid endpoint URL"))?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| bad("endpoint URL cannot have a path"))?;
            segments.pop_if_empty();
            segments.extend(repo.split('/'));
            segments.push("resolve");
            segments.push(commit);
            segments.extend(file.split('/'));
        }
        Ok(url)
    }

    /// Authorization (when a token is set) and `Accept-Encoding: identity`: sizes, ranges and
    /// checksums refer to the stored bytes, so no transfer compression (as `huggingface_hub`).
    fn auth(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if let Some(value) = self
            .token
            .as_ref()
            .and_then(|token| format!("Bearer {token}").parse().ok())
        {
            headers.insert(AUTHORIZATION, value);
        }
        headers
    }

    /// HEAD the file at `commit`, following only relative redirects (renamed repos) like
    /// `huggingface_hub`: an absolute redirect goes to the CDN, and the Hub's headers on that
    /// redirect (`X-Linked-Etag`, `X-Linked-Size`) are the ones that describe the file.
    pub(super) fn head(
        &self,
        hub: &Hub,
        repo: &str,
        revision: &str,
        commit: &str,
        file: &str,
    ) -> Result<FileMeta, HubError> {
        let mut url = self.resolve_url(repo, commit, file)?;
        let mut response = None;
        for _ in 0..=MAX_REDIRECTS {
            let r = self
                .no_redirect
                .head(url.clone())
                .headers(self.auth())
                .send()
                .map_err(|source| HubError::Network {
                    file: file.to_owned(),
                    source: Box::new(source),
                })?;
            let relative_next = if r.status().is_redirection() {
                r.headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .filter(|l| reqwest::Url::parse(l).is_err())
                    .and_then(|l| url.join(l).ok())
            } else {
                None
            };
            if let Some(next) = relative_next {
                url = next;
                continue;
            }
            response = Some(r);
            break;
        }
        let Some(r) = response else {
            return Err(HubError::BadResponse {
                url: url.to_string(),
                what: "too many redirects".to_owned(),
            });
        };
        check_status(hub, &r, repo, revision, file)?;
        let headers = r.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let bad = |what: &str| HubError::BadResponse {
            url: url.to_string(),
            what: what.to_owned(),
        };
        let etag = text("x-linked-etag")
            .or_else(|| text(ETAG.as_str()))
            .map(normalize_etag)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad("missing ETag header"))?;
        // The ETag names the blob file: a hostile server must not choose a path with it.
        super::check_etag(&etag).map_err(hub.unsafe_name(repo, "ETag"))?;
        let size = text("x-linked-size")
            .or_else(|| text(CONTENT_LENGTH.as_str()))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| bad("missing X-Linked-Size / Content-Length header"))?;
        Ok(FileMeta { etag, size })
    }

    /// Downloads one file into its blob, resuming and retrying; verifies it before the rename.
    #[allow(
        clippy::too_many_arguments,
        reason = "the download's parts (hub, plan, file, cache, meter, progress, cancel) are distinct borrows of its caller"
    )]
    pub(super) fn fetch_blob(
        &self,
        hub: &Hub,
        plan: &DownloadPlan,
        file: &PlannedFile,
        cache: &RepoCache,
        meter: &mut Meter,
        progress: &mut ProgressFn<'_>,
        cancel: &CancelToken,
    ) -> Result<(), HubError> {
        let blob = cache.blob(&file.etag);
        let partial_path = cache.incomplete(&file.etag);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| HubError::Io { path, source }
        };
        if let Some(dir) = partial_path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let _lock = lock_blob(cache, &file.etag, cancel)?;
        // Another process may have finished it while we waited for the lock.
        match check_blob(cache, &file.etag, Some(file.size), cancel, &mut |_| {})? {
            BlobStatus::Good => {
                meter.skip(file.size, progress);
                return Ok(());
            }
            BlobStatus::Corrupt { actual } => super::discard_corrupt_blob(cache, file, &actual),
            BlobStatus::Missing | BlobStatus::WrongSize => {}
        }
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial_path)
            .map_err(io(&partial_path))?;
        let mut have = out.metadata().map_err(io(&partial_path))?.len();
        if have > file.size {
            out.set_len(0).map_err(io(&partial_path))?;
            have = 0;
        }
        let checksum = Checksum::from_etag(&file.etag);
        let mut hasher = Hasher::new(&checksum, file.size);
        hash_prefix(&mut out, have, &mut hasher, cancel).map_err(|e| match e {
            PrefixError::Cancelled => HubError::Cancelled,
            PrefixError::Io(source) => HubError::Io {
                path: partial_path.clone(),
                source,
            },
        })?;
        meter.skip(have, progress);

        let url = self.resolve_url(&plan.repo, &plan.commit, &file.name)?;
        let mut failures = 0;
        while have < file.size {
            if cancel.is_cancelled() {
                out.sync_data().map_err(io(&partial_path))?;
                return Err(HubError::Cancelled);
            }
            let result =
                self.get_range(hub, plan, file, &url, have)
                    .and_then(|(response, start)| {
                        if start < have {
                            // The server ignored the Range header: start over.
                            out.set_len(0).map_err(io(&partial_path))?;
                            out.seek(SeekFrom::Start(0)).map_err(io(&partial_path))?;
                            meter.rewind(have, progress);
                            have = 0;
                            hasher = Hasher::new(&checksum, file.size);
                        }
                        stream(
                            response,
                            &mut out,
                            &mut have,
                            file.size,
                            &mut hasher,
                            meter,
                            progress,
                            cancel,
                        )
                        .map_err(|e| match e {
                            StreamError::Io(source) => HubError::Io {
                                path: partial_path.clone(),
                                source,
                            },
                            StreamError::Network(source) => HubError::Network {
                                file: file.name.clone(),
                                source,
                            },
                            StreamError::Cancelled => HubError::Cancelled,
                            StreamError::TooLong => HubError::SizeMismatch {
                                file: file.name.clone(),
                                expected: file.size,
                                actual: file.size + 1,
                            },
                        })
                    });
            match result {
                Ok(()) => {}
                Err(HubError::Network { file: name, source }) => {
                    failures += 1;
                    if failures > self.max_retries {
                        // Keep what arrived for the next attempt; the network error is the one
                        // to report.
                        out.sync_data().ok();
                        return Err(HubError::Network { file: name, source });
                    }
                    tracing::warn!(file = %name, attempt = failures, "download interrupted, resuming: {source}");
                    let backoff = Duration::from_millis(250 * 2u64.pow(failures.min(5)));
                    sleep_unless_cancelled(backoff, cancel);
                }
                Err(HubError::Cancelled) => {
                    out.sync_data().map_err(io(&partial_path))?;
                    return Err(HubError::Cancelled);
                }
                Err(HubError::SizeMismatch { .. }) => {
                    drop(out);
                    xgen_fsio::remove_quietly(&partial_path);
                    return Err(HubError::SizeMismatch {
                        file: file.name.clone(),
                        expected: file.size,
                        actual: have.max(file.size + 1),
                    });
                }
                Err(other) => {
                    out.sync_data().ok();
                    return Err(other);
                }
            }
        }
        out.sync_all().map_err(io(&partial_path))?;
        drop(out);
        let actual = hasher.finish();
        if let Some(expected) = checksum.expected().filter(|e| *e != actual) {
            xgen_fsio::remove_quietly(&partial_path);
            meter.rewind(file.size, progress);
            return Err(HubError::Checksum {
                file: file.name.clone(),
                algorithm: checksum.algorithm(),
                expected: expected.to_owned(),
                actual,
            });
        }
        if matches!(checksum, Checksum::Unverifiable) {
            tracing::warn!(file = %file.name, etag = %file.etag, "ETag is not a checksum; only the size was verified");
        }
        xgen_fsio::rename_durable(&partial_path, &blob).map_err(io(&blob))?;
        if !matches!(checksum, Checksum::Unverifiable) {
            mark_verified(cache, &file.etag);
        }
        Ok(())
    }

    /// GET from `offset`; returns the response and the offset the body starts at.
    fn get_range(
        &self,
        hub: &Hub,
        plan: &DownloadPlan,
        file: &PlannedFile,
        url: &reqwest::Url,
        offset: u64,
    ) -> Result<(Response, u64), HubError> {
        let mut request = self.follow.get(url.clone()).headers(self.auth());
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let response = request.send().map_err(|source| HubError::Network {
            file: file.name.clone(),
            source: Box::new(source),
        })?;
        let status = response.status();
        if status == StatusCode::PARTIAL_CONTENT {
            let start = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range_start);
            return match start {
                Some(start) if start == offset => Ok((response, start)),
                _ => Err(HubError::BadResponse {
                    url: url.to_string(),
                    what: format!("Content-Range does not start at the requested byte {offset}"),
                }),
            };
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            // Our partial file is at least as long as the server's: the size check decides.
            return Err(HubError::SizeMismatch {
                file: file.name.clone(),
                expected: file.size,
                actual: offset,
            });
        }
        check_status(hub, &response, &plan.repo, &plan.revision, &file.name)?;
        Ok((response, 0))
    }
}

fn check_status(
    hub: &Hub,
    r: &Response,
    repo: &str,
    revision: &str,
    file: &str,
) -> Result<(), HubError> {
    let status = r.status();
    if status.is_success() || status.is_redirection() {
        return Ok(());
    }
    let endpoint = hub.opts.endpoint.clone();
    let error_code = r
        .headers()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Err(match status {
        StatusCode::UNAUTHORIZED if error_code == "RepoNotFound" => HubError::RepoNotFound {
            repo: repo.to_owned(),
            endpoint,
        },
        StatusCode::UNAUTHORIZED => HubError::AuthRequired {
            repo: repo.to_owned(),
            endpoint,
        },
        StatusCode::FORBIDDEN => HubError::Forbidden {
            repo: repo.to_owned(),
            endpoint,
        },
        StatusCode::NOT_FOUND if error_code == "RepoNotFound" => HubError::RepoNotFound {
            repo: repo.to_owned(),
            endpoint,
        },
        StatusCode::NOT_FOUND if error_code == "RevisionNotFound" => HubError::RevisionNotFound {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        },
        StatusCode::NOT_FOUND => HubError::FileNotFound {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            file: file.to_owned(),
        },
        other => HubError::Http {
            url: r.url().to_string(),
            status: other.as_u16(),
        },
    })
}

fn normalize_etag(raw: &str) -> String {
    let raw = raw.trim();
    raw.strip_prefix("W/")
        .unwrap_or(raw)
        .trim_matches('"')
        .to_owned()
}

/// `bytes 100-199/200` -> 100.
fn parse_content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

enum PrefixError {
    Cancelled,
    Io(std::io::Error),
}

/// Hashes the first `len` bytes already on disk and leaves the cursor at `len`.
fn hash_prefix(
    file: &mut File,
    len: u64,
    hasher: &mut Hasher,
    cancel: &CancelToken,
) -> Result<(), PrefixError> {
    file.seek(SeekFrom::Start(0)).map_err(PrefixError::Io)?;
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        if cancel.is_cancelled() {
            return Err(PrefixError::Cancelled);
        }
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let n = file.read(&mut buf[..want]).map_err(PrefixError::Io)?;
        if n == 0 {
            return Err(PrefixError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    file.seek(SeekFrom::Start(len)).map_err(PrefixError::Io)?;
    Ok(())
}

enum StreamError {
    Io(std::io::Error),
    Network(BoxError),
    Cancelled,
    TooLong,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one resumable stream: the response, its file and the running totals it updates"
)]
fn stream(
    mut response: Response,
    out: &mut File,
    have: &mut u64,
    size: u64,
    hasher: &mut Hasher,
    meter: &mut Meter,
    progress: &mut ProgressFn<'_>,
    cancel: &CancelToken,
) -> Result<(), StreamError> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.is_cancelled() {
            return Err(StreamError::Cancelled);
        }
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(network_error(e)),
        };
        if *have + n as u64 > size {
            return Err(StreamError::TooLong);
        }
        out.write_all(&buf[..n]).map_err(StreamError::Io)?;
        hasher.update(&buf[..n]);
        *have += n as u64;
        meter.advance(n as u64, progress);
    }
    if *have < size {
        // The connection closed early without an error (some servers do): treat as dropped.
        return Err(StreamError::Network(early_eof()));
    }
    Ok(())
}

/// Turns a body read error into a network error (reqwest wraps its errors in `io::Error`).
fn network_error(e: std::io::Error) -> StreamError {
    StreamError::Network(Box::new(e))
}

fn early_eof() -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "connection closed before the end of the file",
    ))
}

/// Takes Python-compatible `.locks/<repo>/<etag>.lock`, waiting (and watching `cancel`) while
/// another process downloads the same blob.
fn lock_blob(cache: &RepoCache, etag: &str, cancel: &CancelToken) -> Result<File, HubError> {
    let path = cache.lock_file(etag);
    let give_up = || cancel.is_cancelled();
    let wait = LockWait::Poll {
        interval: Duration::from_millis(200),
        give_up: &give_up,
    };
    match xgen_fsio::lock_file(&path, wait) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(HubError::Cancelled),
        Err(source) => Err(HubError::Io { path, source }),
    }
}

fn sleep_unless_cancelled(total: Duration, cancel: &CancelToken) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total && !cancel.is_cancelled() {
        std::thread::sleep(step);
        slept += step;
    }
}
