//! A Hugging Face Hub on 127.0.0.1 for tests: the endpoints and headers `hf-hub` and
//! `huggingface_hub` use, with fault injection and request accounting.
//!
//! - `GET /api/models/{owner}/{name}/revision/{rev}`: repo info (`sha`, `siblings`).
//! - `HEAD|GET /{owner}/{name}/resolve/{rev}/{path}`: small files answer 200 with the git blob
//!   SHA-1 as `ETag`; LFS files answer `302` to `/cdn/{sha256}` with `X-Linked-Etag` (sha256) and
//!   `X-Linked-Size`, like the real Hub. Both carry `X-Repo-Commit`.
//! - `HEAD|GET /cdn/{sha256}`: the bytes, honouring `Range: bytes=N-` / `N-M` with 206.
//!
//! Faults: drop the connection after N body bytes, flip a byte, ignore `Range`, require a token.

#![allow(dead_code, reason = "faults and repositories each test picks from")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use xgen_desk::catalog::CatalogModel;
use xgen_desk::hub::{git_blob_sha1, sha256_hex};
use xgen_testkit::fixture::{write_tiny_xgen_checkpoint, TinyConfig};

/// Files at or above this size are served as LFS files (redirect + `X-Linked-Etag`).
pub const LFS_THRESHOLD: usize = 10 * 1024;

/// A file of a mock repository.
#[derive(Clone, Debug)]
pub struct MockFile {
    pub name: String,
    pub content: Vec<u8>,
}

impl MockFile {
    pub fn new(name: &str, content: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.to_owned(),
            content: content.into(),
        }
    }

    pub fn is_lfs(&self) -> bool {
        self.content.len() >= LFS_THRESHOLD
    }

    /// The ETag the Hub publishes (sha256 for LFS, git blob sha1 otherwise).
    pub fn etag(&self) -> String {
        if self.is_lfs() {
            sha256_hex(&self.content)
        } else {
            git_blob_sha1(&self.content)
        }
    }
}

/// A repository with one commit, reachable by the commit hash and any of `refs`.
#[derive(Clone, Debug)]
pub struct MockRepo {
    pub id: String,
    pub commit: String,
    pub refs: Vec<String>,
    pub files: Vec<MockFile>,
    /// Resolve requests without `Authorization: Bearer <token>` get 401 (403 with a wrong one).
    pub token: Option<String>,
}

impl MockRepo {
    pub fn new(id: &str, commit: &str, files: Vec<MockFile>) -> Self {
        Self {
            id: id.to_owned(),
            commit: commit.to_owned(),
            refs: vec!["main".to_owned()],
            files,
            token: None,
        }
    }

    /// All regular files under `dir`, named by their relative path.
    pub fn from_dir(id: &str, commit: &str, dir: &Path) -> std::io::Result<Self> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<MockFile>) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    walk(root, &path, out)?;
                } else {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    let name = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push(MockFile::new(&name, std::fs::read(&path)?));
                }
            }
            Ok(())
        }
        let mut files = Vec::new();
        walk(dir, dir, &mut files)?;
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self::new(id, commit, files))
    }

    /// `model`'s repository at `model.revision`, holding a tiny XGen-shaped checkpoint (the
    /// project's fixture: exact vocabulary, random fp32 weights) under the catalog's file names:
    /// as many safetensors shards as the catalog lists, and small stand-ins for the catalog's
    /// other files (`tokenization_xgen.py`). A catalog of PyTorch `.bin` shards gets the same
    /// fixture re-saved in torch's zip format by `quantize/tests/suite/torch_bin.py`.
    pub fn tiny_xgen(model: &CatalogModel, commit: &str, seed: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let count = |ext: &str| model.files.iter().filter(|f| f.name.ends_with(ext)).count();
        let bin_shards = count(".bin");
        let config = TinyConfig {
            shards: count(".safetensors").max(bin_shards),
            ..TinyConfig::default()
        };
        write_tiny_xgen_checkpoint(dir.path(), &config, seed).expect("tiny checkpoint");
        let mut published = dir.path().to_path_buf();
        if bin_shards > 0 {
            published = dir.path().join("bin");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/quantize/tests/suite/torch_bin.py"
            );
            // The .bin shards are written by Python's own pickle and zipfile, so that the
            // converter is tested against files it did not write itself. Windows' Python
            // installers name it `python`; under Wine, scripts/test-windows.sh puts a Windows
            // Python on the PATH (scripts/fetch-windows-python.sh). Without one this fails, as
            // it says: it is not skipped.
            let python = if cfg!(windows) { "python" } else { "python3" };
            let status = std::process::Command::new(python)
                .arg(script)
                .arg(dir.path())
                .arg(&published)
                // Python cannot start under Wine with a standard input that is no valid handle.
                .stdin(std::process::Stdio::null())
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "run `{python}` for quantize/tests/suite/torch_bin.py, which writes \
                         the .bin fixture ({e}): put Python 3 on the PATH{}",
                        if cfg!(windows) {
                            " (under Wine: scripts/test-windows.sh does, with \
                             scripts/fetch-windows-python.sh)"
                        } else {
                            ""
                        }
                    )
                });
            assert!(status.success(), "torch_bin.py failed");
        }
        let mut repo = Self::from_dir(model.repo, commit, &published).expect("read checkpoint");
        for file in model.files {
            if !repo.files.iter().any(|f| f.name == file.name) {
                let stand_in = format!("# stand-in for {} in tests\n", file.name);
                repo.files
                    .push(MockFile::new(file.name, stand_in.into_bytes()));
            }
        }
        assert_eq!(
            repo.files.len(),
            model.files.len(),
            "fixture names = catalog names"
        );
        if model.revision == "main" {
            repo
        } else {
            repo.with_ref(model.revision)
        }
    }

    pub fn with_ref(mut self, name: &str) -> Self {
        self.refs.push(name.to_owned());
        self
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn file(&self, name: &str) -> &MockFile {
        self.files
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no mock file {name}"))
    }
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Decoded path, without the query.
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
    /// Body bytes written for it.
    pub body_bytes: u64,
}

#[derive(Default)]
struct Faults {
    /// File name -> (body bytes to send before dropping, how many more times).
    drop_after: HashMap<String, (u64, u32)>,
    throttle: Option<u64>,
    /// File name -> absolute offset whose byte is flipped in every response.
    flip_at: HashMap<String, u64>,
    ignore_range: bool,
    offline: bool,
}

struct State {
    repos: Mutex<Vec<MockRepo>>,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
    body_bytes: AtomicU64,
    stop: AtomicBool,
}

/// The running mock; stops when dropped.
pub struct MockHub {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl MockHub {
    pub fn start(repos: Vec<MockRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            repos: Mutex::new(repos),
            faults: Mutex::new(Faults::default()),
            seen: Mutex::new(Vec::new()),
            body_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("mock-hub".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if st.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let st = Arc::clone(&st);
                    crate::common::spawn("mock-hub-conn", move || serve(conn, &st));
                }
            })
            .expect("spawn mock hub");
        Self {
            addr,
            state,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Send bodies at about `bytes_per_sec` (None: as fast as possible).
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        self.state.faults.lock().unwrap().throttle = bytes_per_sec;
    }

    /// Drop the connection after `bytes` body bytes of the next `times` GETs of `file`.
    pub fn drop_after(&self, file: &str, bytes: u64, times: u32) {
        self.state
            .faults
            .lock()
            .unwrap()
            .drop_after
            .insert(file.to_owned(), (bytes, times));
    }

    /// Serve `file` with the byte at `offset` flipped (headers still announce the true ETag).
    pub fn flip_byte(&self, file: &str, offset: u64) {
        self.state
            .faults
            .lock()
            .unwrap()
            .flip_at
            .insert(file.to_owned(), offset);
    }

    /// Stop flipping bytes.
    pub fn clear_flips(&self) {
        self.state.faults.lock().unwrap().flip_at.clear();
    }

    /// Answer `Range` requests with the whole file (200), like some proxies.
    pub fn ignore_range(&self, ignore: bool) {
        self.state.faults.lock().unwrap().ignore_range = ignore;
    }

    /// Answer every request with 503 (to prove offline mode makes none).
    pub fn go_down(&self, down: bool) {
        self.state.faults.lock().unwrap().offline = down;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.state.seen.lock().unwrap().clear();
        self.state.body_bytes.store(0, Ordering::SeqCst);
    }

    /// Body bytes written since start or [`MockHub::clear_requests`].
    pub fn body_bytes(&self) -> u64 {
        self.state.body_bytes.load(Ordering::SeqCst)
    }

    /// Body bytes written for GETs whose path ends with `suffix` (file name or sha).
    pub fn body_bytes_for(&self, suffix: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(suffix))
            .map(|r| r.body_bytes)
            .sum()
    }

    /// GET requests for a file's content (by file name for small files, by sha for LFS files).
    pub fn content_gets(&self, file: &MockFile) -> Vec<Seen> {
        let key = if file.is_lfs() {
            format!("/cdn/{}", file.etag())
        } else {
            format!("/{}", file.name)
        };
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&key))
            .collect()
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(conn: &TcpStream) -> Option<Req> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    // Drain a request body, if any (none expected).
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
    }
    let path = target.split('?').next().unwrap_or("").to_owned();
    Some(Req {
        method,
        path,
        headers,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// For GET bodies of a file: its name (fault lookup) and the absolute offset of `body[0]`.
    file: Option<(String, u64)>,
}

impl Resp {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            file: None,
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
    fn json(status: u16, body: String) -> Self {
        let mut r = Self::new(status).header("Content-Type", "application/json");
        r.body = body.into_bytes();
        r
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    }
}

fn serve(mut conn: TcpStream, state: &State) {
    let Some(req) = read_request(&conn) else {
        return;
    };
    let host = req.headers.get("host").cloned().unwrap_or_default();
    let resp = route(&req, state, &host);
    let is_get = req.method == "GET";
    let mut body = if is_get {
        resp.body.clone()
    } else {
        Vec::new()
    };
    let mut drop_at = None;
    if let Some((file, start)) = &resp.file {
        if is_get {
            let mut faults = state.faults.lock().unwrap();
            if let Some(&offset) = faults.flip_at.get(file) {
                if offset >= *start && offset < start + body.len() as u64 {
                    body[(offset - start) as usize] ^= 0xff;
                }
            }
            if let Some((bytes, times)) = faults.drop_after.get_mut(file) {
                if *times > 0 {
                    *times -= 1;
                    drop_at = Some((*bytes as usize).min(body.len()));
                }
            }
        }
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    let mut has_len = false;
    for (k, v) in &resp.headers {
        has_len |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let _ = conn.write_all(head.as_bytes());
    let to_send = drop_at.unwrap_or(body.len());
    let mut sent = 0;
    for chunk in body[..to_send].chunks(16 * 1024) {
        if conn.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len();
        let throttle = state.faults.lock().unwrap().throttle;
        if let Some(rate) = throttle {
            std::thread::sleep(Duration::from_secs_f64(
                chunk.len() as f64 / rate.max(1) as f64,
            ));
        }
    }
    let _ = conn.flush();
    state.body_bytes.fetch_add(sent as u64, Ordering::SeqCst);
    state.seen.lock().unwrap().push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        range: req.headers.get("range").cloned(),
        authorization: req.headers.get("authorization").cloned(),
        body_bytes: sent as u64,
    });
    if drop_at.is_some() {
        let _ = conn.shutdown(Shutdown::Both);
    }
}

fn route(req: &Req, state: &State, host: &str) -> Resp {
    if state.faults.lock().unwrap().offline {
        return Resp::new(503);
    }
    let repos = state.repos.lock().unwrap();
    let raw: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    // /api/models/{owner}/{name}/revision/{rev}
    if raw.len() >= 6 && raw[0] == "api" && raw[1] == "models" && raw[4] == "revision" {
        let id = format!("{}/{}", percent_decode(raw[2]), percent_decode(raw[3]));
        let rev = percent_decode(&raw[5..].join("/"));
        let Some(repo) = repos.iter().find(|r| r.id == id) else {
            return Resp::json(404, r#"{"error":"Repository not found"}"#.into())
                .header("X-Error-Code", "RepoNotFound");
        };
        if rev != repo.commit && !repo.refs.contains(&rev) {
            return Resp::json(404, format!(r#"{{"error":"Invalid rev id: {rev}"}}"#))
                .header("X-Error-Code", "RevisionNotFound");
        }
        let siblings: Vec<String> = repo
            .files
            .iter()
            .map(|f| {
                format!(
                    r#"{{"rfilename":{}}}"#,
                    serde_json::to_string(&f.name).unwrap()
                )
            })
            .collect();
        let body = format!(
            r#"{{"_id":"mock","id":{},"author":"{}","sha":"{}","private":false,"gated":false,"disabled":false,"tags":[],"siblings":[{}]}}"#,
            serde_json::to_string(&repo.id).unwrap(),
            repo.id.split('/').next().unwrap_or(""),
            repo.commit,
            siblings.join(",")
        );
        return Resp::json(200, body);
    }
    // /cdn/{sha256}
    if raw.len() == 2 && raw[0] == "cdn" {
        let sha = raw[1];
        let Some(file) = repos
            .iter()
            .flat_map(|r| r.files.iter())
            .find(|f| f.is_lfs() && f.etag() == sha)
        else {
            return Resp::new(404);
        };
        return content(req, state, file, Vec::new());
    }
    // /{owner}/{name}/resolve/{rev}/{path...}
    if raw.len() >= 5 && raw[2] == "resolve" {
        let id = format!("{}/{}", percent_decode(raw[0]), percent_decode(raw[1]));
        let rev = percent_decode(raw[3]);
        let name = raw[4..]
            .iter()
            .map(|s| percent_decode(s))
            .collect::<Vec<_>>()
            .join("/");
        let Some(repo) = repos.iter().find(|r| r.id == id) else {
            return Resp::new(404).header("X-Error-Code", "RepoNotFound");
        };
        if let Some(token) = &repo.token {
            match req.headers.get("authorization") {
                None => return Resp::new(401).header("X-Error-Code", "GatedRepo"),
                Some(auth) if auth != &format!("Bearer {token}") => {
                    return Resp::new(403).header("X-Error-Code", "GatedRepo");
                }
                Some(_) => {}
            }
        }
        if rev != repo.commit && !repo.refs.contains(&rev) {
            return Resp::new(404).header("X-Error-Code", "RevisionNotFound");
        }
        let Some(file) = repo.files.iter().find(|f| f.name == name) else {
            return Resp::new(404)
                .header("X-Error-Code", "EntryNotFound")
                .header("X-Repo-Commit", repo.commit.clone());
        };
        if file.is_lfs() {
            return Resp::new(302)
                .header("Location", format!("http://{host}/cdn/{}", file.etag()))
                .header("X-Repo-Commit", repo.commit.clone())
                .header("X-Linked-Etag", format!("\"{}\"", file.etag()))
                .header("X-Linked-Size", file.content.len().to_string())
                .header("ETag", "\"pointer-etag\"")
                .header("Content-Length", "0");
        }
        let extra = vec![
            ("X-Repo-Commit".to_owned(), repo.commit.clone()),
            ("ETag".to_owned(), format!("\"{}\"", file.etag())),
        ];
        return content(req, state, file, extra);
    }
    Resp::new(404)
}

/// The bytes of `file`, honouring `Range: bytes=a-` / `a-b`.
fn content(req: &Req, state: &State, file: &MockFile, extra: Vec<(String, String)>) -> Resp {
    let len = file.content.len() as u64;
    let ignore_range = state.faults.lock().unwrap().ignore_range;
    let range = req
        .headers
        .get("range")
        .filter(|_| !ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| {
            let (a, b) = r.split_once('-')?;
            let a: u64 = a.trim().parse().ok()?;
            let b: u64 = if b.trim().is_empty() {
                len.saturating_sub(1)
            } else {
                b.trim().parse().ok()?
            };
            Some((a, b.min(len.saturating_sub(1))))
        });
    let mut resp = match range {
        Some((a, _)) if a >= len => {
            return Resp::new(416).header("Content-Range", format!("bytes */{len}"));
        }
        Some((a, b)) => {
            let mut r = Resp::new(206).header("Content-Range", format!("bytes {a}-{b}/{len}"));
            r.body = file.content[a as usize..=b as usize].to_vec();
            r.file = Some((file.name.clone(), a));
            r
        }
        None => {
            let mut r = Resp::new(200);
            r.body = file.content.clone();
            r.file = Some((file.name.clone(), 0));
            r
        }
    };
    resp = resp.header("Accept-Ranges", "bytes");
    for (k, v) in extra {
        resp = resp.header(&k, v);
    }
    resp
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
