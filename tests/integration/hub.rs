//! Downloads, the cache layout, resume, verification, cancel, disk and offline checks, the
//! registry and the setup pipeline, all over real HTTP on loopback against `mock_hub`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use xgen_desk::cancel::CancelToken;
use xgen_desk::catalog::{
    self, CatalogModel, InstalledModel, InstalledSource, ModelSource, QuantType, Registry,
    RegistryError, WeightFormat,
};
use xgen_desk::hub::{format_bytes, Hub, HubError, HubOptions, Progress, RepoCache, Stage};
use xgen_desk::paths::AppPaths;
use xgen_desk::pipeline::{self, PipelineError, SetupOptions, Steps, Validation};

use crate::mock_hub::{noise, MockFile, MockHub, MockRepo};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REPO: &str = "Salesforce/tiny-test";
const BIG: &str = "model-00001-of-00002.safetensors";
const BIG2: &str = "model-00002-of-00002.safetensors";

fn small_repo() -> MockRepo {
    MockRepo::new(
        REPO,
        COMMIT,
        vec![
            MockFile::new("config.json", br#"{"vocab_size": 51200}"#.to_vec()),
            MockFile::new(BIG, noise(700_000, 1)),
            MockFile::new(BIG2, noise(300_000, 2)),
            MockFile::new(
                "model.safetensors.index.json",
                br#"{"weight_map": {}}"#.to_vec(),
            ),
        ],
    )
    .with_ref("refs/pr/20")
}

fn names(repo: &MockRepo) -> Vec<String> {
    repo.files.iter().map(|f| f.name.clone()).collect()
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    hub: MockHub,
    repo: MockRepo,
}

impl Env {
    fn new(repo: MockRepo) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        let hub = MockHub::start(vec![repo.clone()]);
        Self {
            _tmp: tmp,
            root,
            hub,
            repo,
        }
    }

    fn cache(&self) -> PathBuf {
        self.root.join("hf")
    }

    fn opts(&self) -> HubOptions {
        let mut opts = HubOptions::new(self.cache());
        opts.endpoint = self.hub.endpoint();
        opts.max_retries = 2;
        opts.disk_space = Arc::new(|_: &Path| Ok(u64::MAX));
        opts
    }

    fn client(&self) -> Hub {
        Hub::new(self.opts()).expect("hub client")
    }

    fn fetch(
        &self,
        opts: HubOptions,
        revision: &str,
    ) -> Result<xgen_desk::hub::Snapshot, HubError> {
        self.fetch_with(opts, revision, &mut |_| {}, &CancelToken::new())
    }

    fn fetch_with(
        &self,
        opts: HubOptions,
        revision: &str,
        progress: &mut dyn FnMut(&Progress),
        cancel: &CancelToken,
    ) -> Result<xgen_desk::hub::Snapshot, HubError> {
        Hub::new(opts).expect("hub client").fetch(
            REPO,
            revision,
            &names(&self.repo),
            &[],
            progress,
            cancel,
        )
    }

    fn repo_cache(&self) -> RepoCache {
        RepoCache::new(&self.cache(), REPO)
    }
}

fn assert_snapshot_matches(env: &Env, snapshot: &xgen_desk::hub::Snapshot) {
    assert_eq!(snapshot.commit, COMMIT);
    assert_eq!(snapshot.files.len(), env.repo.files.len());
    for file in &env.repo.files {
        let path = snapshot.dir.join(&file.name);
        assert_eq!(
            std::fs::read(&path).expect("snapshot file"),
            file.content,
            "{}",
            file.name
        );
        let blob = env.repo_cache().blob(&file.etag());
        assert!(blob.is_file(), "blob for {} named by its etag", file.name);
        #[cfg(unix)]
        {
            let link = std::fs::read_link(&path).expect("snapshot entry is a symlink");
            assert!(
                link.is_relative(),
                "relative link like huggingface_hub: {}",
                link.display()
            );
            assert_eq!(
                std::fs::canonicalize(&path).unwrap(),
                std::fs::canonicalize(&blob).unwrap()
            );
        }
    }
    let blobs = env.repo_cache().repo_dir().join("blobs");
    let leftovers: Vec<_> = std::fs::read_dir(blobs)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files left: {leftovers:?}");
}

#[test]
fn downloads_a_revision_into_the_hf_cache_layout() {
    let env = Env::new(small_repo());
    let snapshot = env.fetch(env.opts(), "refs/pr/20").expect("fetch");
    assert_snapshot_matches(&env, &snapshot);
    assert_eq!(snapshot.dir, env.repo_cache().snapshot_dir(COMMIT));
    // Python writes refs/<revision> literally, so a PR ref lands in refs/refs/pr/20.
    let ref_file = env
        .cache()
        .join("models--Salesforce--tiny-test/refs/refs/pr/20");
    assert_eq!(std::fs::read_to_string(ref_file).unwrap(), COMMIT);
    // Every byte of content was sent exactly once.
    let total: u64 = env.repo.files.iter().map(|f| f.content.len() as u64).sum();
    assert_eq!(env.hub.body_bytes() - info_bytes(&env.hub), total);
}

/// Body bytes of the repo-info JSON answers (not file content).
fn info_bytes(hub: &MockHub) -> u64 {
    hub.requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .map(|r| r.body_bytes)
        .sum()
}

#[test]
fn progress_is_monotonic_and_reaches_the_total() {
    let env = Env::new(small_repo());
    let mut events: Vec<Progress> = Vec::new();
    env.fetch_with(
        env.opts(),
        "main",
        &mut |p| events.push(p.clone()),
        &CancelToken::new(),
    )
    .expect("fetch");
    let total: u64 = env.repo.files.iter().map(|f| f.content.len() as u64).sum();
    assert!(events.len() >= 3, "several events: {events:?}");
    assert!(events
        .iter()
        .all(|e| e.stage == Stage::Download && e.total == total));
    assert!(
        events.windows(2).all(|w| w[0].done <= w[1].done),
        "monotonic: {events:?}"
    );
    assert_eq!(events.last().map(|e| e.done), Some(total));
    assert!(
        events.iter().any(|e| e.item.as_deref() == Some(BIG)),
        "names the current file"
    );
    assert!(events.iter().all(|e| e.fraction() <= 1.0));
}

#[test]
fn cached_files_are_not_downloaded_again() {
    let env = Env::new(small_repo());
    env.fetch(env.opts(), "main").expect("first fetch");
    env.hub.clear_requests();
    let snapshot = env.fetch(env.opts(), "main").expect("second fetch");
    assert_snapshot_matches(&env, &snapshot);
    assert!(
        env.hub
            .requests()
            .iter()
            .all(|r| r.method != "GET" || r.path.starts_with("/api/")),
        "only metadata requests: {:?}",
        env.hub.requests()
    );
}

#[test]
fn dropped_connection_is_resumed_with_a_range_request() {
    let env = Env::new(small_repo());
    let big = env.repo.file(BIG).clone();
    env.hub.drop_after(BIG, 200_000, 1);
    let snapshot = env
        .fetch(env.opts(), "main")
        .expect("fetch survives a drop");
    assert_snapshot_matches(&env, &snapshot);
    let gets = env.hub.content_gets(&big);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(gets[0].body_bytes, 200_000);
    assert_eq!(gets[1].range.as_deref(), Some("bytes=200000-"));
    assert_eq!(
        gets[1].body_bytes,
        big.content.len() as u64 - 200_000,
        "only the remainder"
    );
}

#[test]
fn interrupted_download_resumes_after_restart() {
    let env = Env::new(small_repo());
    let big = env.repo.file(BIG).clone();
    env.hub.drop_after(BIG, 250_000, 1);
    let mut opts = env.opts();
    opts.max_retries = 0;
    let err = env.fetch(opts, "main").expect_err("no retries: fails");
    assert!(
        matches!(err, HubError::Network { ref file, .. } if file == BIG),
        "{err}"
    );
    let partial = env.repo_cache().incomplete(&big.etag());
    assert_eq!(
        std::fs::metadata(&partial).expect("partial kept").len(),
        250_000
    );

    // A new process: plan sees the partial file, download fetches only the rest.
    env.hub.clear_requests();
    let hub = env.client();
    let plan = hub.plan(REPO, "main", &names(&env.repo)).expect("plan");
    let planned = plan.files.iter().find(|f| f.name == BIG).unwrap();
    assert_eq!(planned.partial, 250_000);
    assert_eq!(planned.remaining(), big.content.len() as u64 - 250_000);
    let snapshot = hub
        .download(&plan, &mut |_| {}, &CancelToken::new())
        .expect("resume");
    assert_snapshot_matches(&env, &snapshot);
    let gets = env.hub.content_gets(&big);
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].range.as_deref(), Some("bytes=250000-"));
    assert_eq!(
        env.hub.body_bytes_for(&big.etag()),
        big.content.len() as u64 - 250_000
    );
}

#[test]
fn server_ignoring_range_restarts_the_file_cleanly() {
    let env = Env::new(small_repo());
    env.hub.drop_after(BIG, 100_000, 1);
    let mut opts = env.opts();
    opts.max_retries = 0;
    env.fetch(opts, "main").expect_err("interrupted");
    env.hub.ignore_range(true);
    let snapshot = env.fetch(env.opts(), "main").expect("full re-download");
    assert_snapshot_matches(&env, &snapshot);
}

#[test]
fn flipped_byte_is_detected_and_the_file_is_not_used() {
    let env = Env::new(small_repo());
    let big = env.repo.file(BIG).clone();
    env.hub.flip_byte(BIG, 123_456);
    let err = env
        .fetch(env.opts(), "main")
        .expect_err("checksum mismatch");
    match &err {
        HubError::Checksum {
            file,
            algorithm,
            expected,
            ..
        } => {
            assert_eq!(file, BIG);
            assert_eq!(*algorithm, "sha256");
            assert_eq!(expected, &big.etag());
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(
        err.to_string().contains(BIG),
        "message names the file: {err}"
    );
    let cache = env.repo_cache();
    assert!(!cache.blob(&big.etag()).exists(), "bad blob not kept");
    assert!(
        !cache.incomplete(&big.etag()).exists(),
        "bad partial not kept"
    );
    assert!(
        !cache.snapshot_file(COMMIT, BIG).exists(),
        "not linked into the snapshot"
    );

    env.hub.clear_flips();
    let snapshot = env.fetch(env.opts(), "main").expect("clean retry");
    assert_snapshot_matches(&env, &snapshot);
}

#[test]
fn flipped_byte_in_a_small_git_file_is_detected() {
    let env = Env::new(small_repo());
    env.hub.flip_byte("config.json", 3);
    let err = env
        .fetch(env.opts(), "main")
        .expect_err("git sha1 mismatch");
    assert!(
        matches!(&err, HubError::Checksum { file, algorithm: "git-sha1", .. } if file == "config.json"),
        "{err}"
    );
}

#[test]
fn cancel_stops_and_leaves_a_resumable_partial() {
    let env = Env::new(small_repo());
    let big = env.repo.file(BIG).clone();
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let mut events = 0;
    let err = env
        .fetch_with(
            env.opts(),
            "main",
            &mut |p| {
                events += 1;
                if p.item.as_deref() == Some(BIG) && p.done > 150_000 {
                    c.cancel();
                }
            },
            &cancel,
        )
        .expect_err("cancelled");
    assert!(matches!(err, HubError::Cancelled), "{err}");
    assert!(events > 0);
    let partial = env.repo_cache().incomplete(&big.etag());
    let kept = std::fs::metadata(&partial).expect("partial kept").len();
    assert!(
        kept > 0 && kept < big.content.len() as u64,
        "partial of {kept} bytes"
    );
    assert!(!env.repo_cache().blob(&big.etag()).exists());

    env.hub.clear_requests();
    let snapshot = env.fetch(env.opts(), "main").expect("resume after cancel");
    assert_snapshot_matches(&env, &snapshot);
    let gets = env.hub.content_gets(&big);
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].range, Some(format!("bytes={kept}-")));
    assert_eq!(gets[0].body_bytes, big.content.len() as u64 - kept);
}

#[test]
fn not_enough_disk_is_refused_before_downloading() {
    let env = Env::new(small_repo());
    let mut opts = env.opts();
    opts.disk_space = Arc::new(|_: &Path| Ok(1_000));
    let err = env.fetch(opts, "main").expect_err("refused");
    let total: u64 = env.repo.files.iter().map(|f| f.content.len() as u64).sum();
    match &err {
        HubError::NotEnoughDisk {
            needed, available, ..
        } => {
            assert_eq!(*needed, total);
            assert_eq!(*available, 1_000);
        }
        other => panic!("expected NotEnoughDisk, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format_bytes(total)) && msg.contains("1.00 kB"),
        "{msg}"
    );
    assert!(
        env.hub
            .requests()
            .iter()
            .all(|r| r.method == "HEAD" || r.path.starts_with("/api/")),
        "no content was requested"
    );
}

#[test]
fn disk_needs_on_one_drive_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let needs = [
        xgen_desk::hub::DiskNeed {
            dir: tmp.path().join("cache"),
            bytes: 600,
            what: "download".into(),
        },
        xgen_desk::hub::DiskNeed {
            dir: tmp.path().join("work"),
            bytes: 500,
            what: "F16 GGUF".into(),
        },
    ];
    let space: xgen_desk::hub::DiskSpaceFn = Arc::new(|_: &Path| Ok(1_000));
    let err = xgen_desk::hub::check_disk(&needs, &space).expect_err("1100 > 1000");
    assert!(
        matches!(
            err,
            HubError::NotEnoughDisk {
                needed: 1_100,
                available: 1_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("F16 GGUF"), "{err}");
}

#[test]
fn offline_mode_without_cache_names_the_missing_files() {
    let env = Env::new(small_repo());
    let mut opts = env.opts();
    opts.offline = true;
    let err = env.fetch(opts, "main").expect_err("nothing cached");
    match &err {
        HubError::OfflineMissing { missing, .. } => assert_eq!(missing, &names(&env.repo)),
        other => panic!("expected OfflineMissing, got {other}"),
    }
    assert!(err.to_string().contains(BIG), "{err}");
    assert!(env.hub.requests().is_empty(), "offline mode made requests");
}

#[test]
fn offline_mode_uses_the_cache_and_names_partial_gaps() {
    let env = Env::new(small_repo());
    env.fetch(env.opts(), "refs/pr/20").expect("online fetch");
    env.hub.go_down(true);
    env.hub.clear_requests();
    let mut opts = env.opts();
    opts.offline = true;
    let snapshot = env
        .fetch(opts.clone(), "refs/pr/20")
        .expect("offline from cache");
    assert_snapshot_matches(&env, &snapshot);
    assert!(env.hub.requests().is_empty());

    std::fs::remove_file(env.repo_cache().snapshot_file(COMMIT, BIG2)).unwrap();
    let err = env.fetch(opts, "refs/pr/20").expect_err("one file gone");
    assert!(
        matches!(&err, HubError::OfflineMissing { missing, .. } if missing == &vec![BIG2.to_owned()]),
        "{err}"
    );
}

#[test]
fn offline_option_comes_from_hf_hub_offline() {
    let opts = HubOptions::resolve("/tmp/cache", |name| match name {
        "HF_HUB_OFFLINE" => Some("1".into()),
        "HF_ENDPOINT" => Some("http://127.0.0.1:9/".into()),
        "HF_TOKEN" => Some("hf_test".into()),
        _ => None,
    });
    assert!(opts.offline);
    assert_eq!(opts.endpoint, "http://127.0.0.1:9");
    assert_eq!(opts.token.as_deref(), Some("hf_test"));
    assert!(
        !format!("{opts:?}").contains("hf_test"),
        "token not printed"
    );
}

#[test]
fn token_file_from_hf_home_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("token"), "hf_from_file\n").unwrap();
    let home = tmp.path().to_owned();
    let opts = HubOptions::resolve("/tmp/cache", move |name| {
        (name == "HF_HOME").then(|| home.clone().into_os_string())
    });
    assert_eq!(opts.token.as_deref(), Some("hf_from_file"));
}

#[test]
fn gated_repo_needs_the_right_token() {
    let env = Env::new(small_repo().with_token("hf_good"));
    let err = env.fetch(env.opts(), "main").expect_err("no token");
    assert!(matches!(err, HubError::AuthRequired { .. }), "{err}");
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");

    let mut opts = env.opts();
    opts.token = Some("hf_bad".into());
    let err = env.fetch(opts, "main").expect_err("wrong token");
    assert!(matches!(err, HubError::Forbidden { .. }), "{err}");

    let mut opts = env.opts();
    opts.token = Some("hf_good".into());
    let snapshot = env.fetch(opts, "main").expect("authorized");
    assert_snapshot_matches(&env, &snapshot);
    assert!(env
        .hub
        .requests()
        .iter()
        .filter(|r| r.path.contains("/resolve/"))
        .any(|r| r.authorization.as_deref() == Some("Bearer hf_good")));
}

#[test]
fn missing_file_and_revision_are_named() {
    let env = Env::new(small_repo());
    let hub = env.client();
    let err = hub
        .fetch(
            REPO,
            "main",
            &["nope.bin".to_owned()],
            &[],
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect_err("no such file");
    assert!(
        matches!(&err, HubError::FileNotFound { file, .. } if file == "nope.bin"),
        "{err}"
    );
    let err = hub
        .plan(REPO, "refs/pr/99", &[])
        .expect_err("no such revision");
    assert!(matches!(err, HubError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn empty_file_list_means_the_whole_revision() {
    let env = Env::new(small_repo());
    let snapshot = env
        .client()
        .fetch(REPO, "main", &[], &[], &mut |_| {}, &CancelToken::new())
        .expect("fetch all");
    assert_snapshot_matches(&env, &snapshot);
}

#[test]
fn app_paths_live_under_xgen_desk_home() {
    let paths = AppPaths::resolve(|name| (name == "XGEN_DESK_HOME").then(|| "/x".into())).unwrap();
    assert_eq!(paths.models_dir(), Path::new("/x/models"));
    assert_eq!(paths.work_dir(), Path::new("/x/work"));
    assert_eq!(paths.registry_file(), PathBuf::from("/x/data/models.json"));
    assert_eq!(paths.hf_cache_dir(), Path::new("/x/huggingface/hub"));
    let paths = AppPaths::resolve(|name| match name {
        "XGEN_DESK_HOME" => Some("/x".into()),
        "HF_HUB_CACHE" => Some("/shared/hub".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        paths.hf_cache_dir(),
        Path::new("/shared/hub"),
        "explicit HF cache wins"
    );
    let paths = AppPaths::resolve(|name| (name == "HF_HOME").then(|| "/hfhome".into())).unwrap();
    assert_eq!(paths.hf_cache_dir(), Path::new("/hfhome/hub"));
}

fn entry(id: &str, path: PathBuf, source: InstalledSource) -> InstalledModel {
    InstalledModel {
        id: id.to_owned(),
        display_name: id.to_uppercase(),
        path,
        quantization: "Q4_K_M".to_owned(),
        size_bytes: 42,
        context_length: 8192,
        source,
        installed_at: 1_700_000_000,
        modified: None,
    }
}

#[test]
fn registry_round_trip_replace_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = AppPaths::under(tmp.path());
    let registry = Registry::new(paths.registry_file());
    assert!(
        registry.list().unwrap().is_empty(),
        "missing file is an empty registry"
    );

    std::fs::create_dir_all(paths.models_dir()).unwrap();
    let owned = paths.models_dir().join("owned.gguf");
    let local = tmp.path().join("local.gguf");
    std::fs::write(&owned, b"gguf").unwrap();
    std::fs::write(&local, b"gguf").unwrap();
    let catalog_source = InstalledSource::Catalog {
        id: "xgen-7b-8k-inst".into(),
        repo: "Salesforce/xgen-7b-8k-inst".into(),
        revision: "refs/pr/20".into(),
        commit: COMMIT.into(),
    };
    registry
        .add(entry("a", owned.clone(), catalog_source.clone()))
        .unwrap();
    registry
        .add(entry("b", local.clone(), InstalledSource::LocalFile))
        .unwrap();
    let mut replaced = entry("a", owned.clone(), catalog_source);
    replaced.size_bytes = 7;
    registry.add(replaced.clone()).unwrap();

    let reopened =
        Registry::new(registry.path()).with_owned_dirs(paths.models_dir(), paths.hf_cache_dir());
    let list = reopened.list().unwrap();
    assert_eq!(
        list.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(reopened.get("a").unwrap(), Some(replaced));

    assert!(reopened.remove("a").unwrap().is_some());
    assert!(!owned.exists(), "our file is deleted");
    assert!(reopened.remove("b").unwrap().is_some());
    assert!(
        local.exists(),
        "a file registered in place is never deleted"
    );
    assert_eq!(reopened.remove("zzz").unwrap(), None);
    assert!(reopened.list().unwrap().is_empty());

    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
}

#[test]
fn registry_writes_are_atomic_and_serialized() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("models.json");
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let registry = Registry::new(&path);
            let dir = tmp.path().to_path_buf();
            crate::common::spawn("registry-writer", move || {
                registry
                    .add(entry(
                        &format!("m{i}"),
                        dir.join(format!("{i}.gguf")),
                        InstalledSource::LocalFile,
                    ))
                    .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let list = Registry::new(&path).list().unwrap();
    assert_eq!(list.len(), 8, "no lost update: {list:?}");
    // The file on disk is always complete JSON.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());

    xgen_fsio::write_atomic(&path, b"{ not json").unwrap();
    let err = Registry::new(&path).list().expect_err("corrupt");
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn catalog_has_the_spec_models() {
    let default = catalog::default_model();
    assert_eq!(default.repo, "Salesforce/xgen-7b-8k-inst");
    assert_eq!(default.revision, "refs/pr/20");
    assert_eq!(default.format, WeightFormat::Safetensors);
    assert_eq!(default.context_length, 8192);
    let gb = default.download_size() / 1_000_000_000;
    assert_eq!(gb, 27, "fp32 download about 27.6 GB");
    assert_eq!(default.f16_size() / 100_000_000, 138, "F16 about 13.8 GB");
    let q4 = default.quantized_size(QuantType::Q4KM);
    assert!(
        (4_000_000_000..4_500_000_000).contains(&q4),
        "Q4_K_M about 4.2 GB: {q4}"
    );
    // The disk check sizes the outputs by the weights the Hub really serves.
    let weights = default.weight_bytes();
    assert_eq!(weights, 27_590_000_000);
    assert_eq!(
        default.parameters_for_weight_bytes(weights),
        default.parameters
    );
    assert_eq!(
        default.parameters_for_weight_bytes(weights / 2),
        default.parameters / 2,
        "an fp16 copy of the same model"
    );
    assert_eq!(default.parameters_for_weight_bytes(0), default.parameters);
    assert!(catalog::is_weight_file("model-00001-of-00003.safetensors"));
    assert!(!catalog::is_weight_file("model.safetensors.index.json"));
    assert_eq!(
        catalog::find("xgen-7b-4k-base").unwrap().context_length,
        4096
    );
    assert_eq!(
        catalog::find("xgen-7b-8k-inst-bin").unwrap().revision,
        "main"
    );
    assert!(catalog::find("xgen-7b-8k-base").unwrap().convertible());
    assert!(catalog::find("xgen-7b-4k-base").unwrap().convertible());

    assert_eq!(
        ModelSource::parse("xgen-7b-8k-inst"),
        Some(ModelSource::Catalog(default))
    );
    assert_eq!(
        ModelSource::parse("TheBloke/foo-GGUF@v2/foo.Q4_K_M.gguf"),
        Some(ModelSource::HubGguf {
            repo: "TheBloke/foo-GGUF".into(),
            revision: "v2".into(),
            file: "foo.Q4_K_M.gguf".into()
        })
    );
    assert_eq!(ModelSource::parse("not-a-model"), None);
}

// ---------------------------------------------------------------------------------------------
// Pipeline

fn catalog_repo_files(model: &CatalogModel) -> Vec<MockFile> {
    model
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let len = if f.size > 1_000_000 {
                40_000 + i * 1000
            } else {
                100 + i
            };
            MockFile::new(f.name, noise(len, i as u64 + 10))
        })
        .collect()
}

#[test]
fn fetch_downloads_the_default_model_from_its_pr_revision() {
    let model = catalog::default_model();
    let repo = MockRepo::new(model.repo, COMMIT, catalog_repo_files(model)).with_ref("refs/pr/20");
    let mock = MockHub::start(vec![repo.clone()]);
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = HubOptions::new(tmp.path().join("hf"));
    opts.endpoint = mock.endpoint();
    opts.disk_space = Arc::new(|_: &Path| Ok(u64::MAX));
    let mut last = None;
    let snapshot = pipeline::fetch(
        model,
        &opts,
        &mut |p| last = Some(p.clone()),
        &CancelToken::new(),
    )
    .expect("fetch");
    for f in &repo.files {
        assert_eq!(
            std::fs::read(snapshot.dir.join(&f.name)).unwrap(),
            f.content
        );
    }
    let last = last.expect("progress");
    assert_eq!(last.done, last.total);
    assert!(mock
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/revision/refs%2Fpr%2F20")
            || r.path.ends_with("/revision/refs/pr/20")));
}

/// Fake conversion steps: write small files, count calls, fail on demand.
#[derive(Default)]
struct FakeSteps {
    converts: usize,
    quantizes: usize,
    fail_quantize: bool,
}

impl Steps for FakeSteps {
    fn convert(
        &mut self,
        checkpoint: &Path,
        _name: &str,
        out: &Path,
        progress: &mut xgen_desk::hub::ProgressFn<'_>,
        _cancel: &CancelToken,
    ) -> Result<(), xgen_desk::hub::BoxError> {
        assert!(checkpoint.join("config.json").is_file());
        self.converts += 1;
        progress(&Progress {
            stage: Stage::Convert,
            item: None,
            done: 1,
            total: 1,
            rate: None,
            eta: None,
        });
        std::fs::write(out, b"GGUF f16")?;
        Ok(())
    }

    fn quantize(
        &mut self,
        input: &Path,
        out: &Path,
        _quant: QuantType,
        progress: &mut xgen_desk::hub::ProgressFn<'_>,
    ) -> Result<(), xgen_desk::hub::BoxError> {
        assert!(input.is_file());
        self.quantizes += 1;
        if self.fail_quantize {
            return Err("llama.cpp said no".into());
        }
        progress(&Progress {
            stage: Stage::Quantize,
            item: None,
            done: 1,
            total: 1,
            rate: None,
            eta: None,
        });
        std::fs::write(out, b"GGUF q4")?;
        Ok(())
    }
}

/// Setup options for a fresh app home under `root`, downloading from `mock`, disk unlimited.
fn setup_options(mock: &MockHub, root: &Path) -> SetupOptions {
    let paths = AppPaths::under(root);
    let mut hub = HubOptions::new(paths.hf_cache_dir());
    hub.endpoint = mock.endpoint();
    hub.disk_space = Arc::new(|_: &Path| Ok(u64::MAX));
    let mut opts = SetupOptions::new(paths, hub);
    opts.threads = 2;
    opts
}

fn setup_env(model: &CatalogModel) -> (MockHub, tempfile::TempDir, SetupOptions) {
    let repo = MockRepo::new(model.repo, COMMIT, catalog_repo_files(model)).with_ref("refs/pr/20");
    let mock = MockHub::start(vec![repo]);
    let tmp = tempfile::tempdir().unwrap();
    let opts = setup_options(&mock, tmp.path());
    (mock, tmp, opts)
}

/// Setup of `model` to Q4_K_M with `steps`, any file passing validation, progress ignored.
fn fake_setup(
    model: &'static CatalogModel,
    opts: &SetupOptions,
    steps: &mut FakeSteps,
) -> Result<pipeline::SetupOutcome, PipelineError> {
    pipeline::setup_with(
        &ModelSource::Catalog(model),
        QuantType::Q4KM,
        opts,
        steps,
        &mut |_| Ok(Validation::default()),
        &mut |_| {},
        &CancelToken::new(),
    )
}

/// Appends each new stage a progress event reports.
fn record_stage(stages: &mut Vec<Stage>, progress: &Progress) {
    if stages.last() != Some(&progress.stage) {
        stages.push(progress.stage);
    }
}

/// No file content was requested: only repository info and HEAD checks.
fn nothing_downloaded(mock: &MockHub) -> bool {
    mock.requests()
        .iter()
        .all(|r| r.method != "GET" || r.path.starts_with("/api/"))
}

#[test]
fn setup_runs_every_stage_registers_and_cleans_up() {
    let model = catalog::default_model();
    let (_mock, _tmp, opts) = setup_env(model);
    let mut steps = FakeSteps::default();
    let mut stages = Vec::new();
    let validated = AtomicUsize::new(0);
    let installed = pipeline::setup_with(
        &ModelSource::Catalog(model),
        QuantType::Q4KM,
        &opts,
        &mut steps,
        &mut |path| {
            assert!(path.is_file());
            validated.fetch_add(1, Ordering::SeqCst);
            Ok(Validation {
                context_length: Some(8192),
            })
        },
        &mut |p| record_stage(&mut stages, p),
        &CancelToken::new(),
    )
    .expect("setup");
    assert!(!installed.already_installed);
    let installed = installed.model;
    assert_eq!(
        stages,
        [
            Stage::Download,
            Stage::Convert,
            Stage::Quantize,
            Stage::Verify
        ]
    );
    assert_eq!(validated.load(Ordering::SeqCst), 1);
    assert_eq!(installed.id, "xgen-7b-8k-inst-q4_k_m");
    assert_eq!(installed.quantization, "Q4_K_M");
    assert_eq!(
        installed.path,
        opts.paths.models_dir().join("xgen-7b-8k-inst-q4_k_m.gguf")
    );
    assert!(
        matches!(&installed.source, InstalledSource::Catalog { commit, .. } if commit == COMMIT)
    );
    assert_eq!(opts.registry().list().unwrap(), vec![installed.clone()]);
    assert!(
        !opts.paths.work_dir().join(model.id).exists(),
        "intermediate files removed"
    );

    // Asked again, it is found installed: nothing is fetched, converted or validated.
    let again = pipeline::setup_with(
        &ModelSource::Catalog(model),
        QuantType::Q4KM,
        &opts,
        &mut steps,
        &mut |_| panic!("validated again"),
        &mut |p| panic!("stage run again: {p:?}"),
        &CancelToken::new(),
    )
    .expect("second setup");
    assert!(again.already_installed);
    assert_eq!(again.model, installed);
    assert_eq!((steps.converts, steps.quantizes), (1, 1));
}

#[test]
fn failed_quantization_keeps_the_f16_and_the_next_run_reuses_it() {
    let model = catalog::default_model();
    let (mock, _tmp, opts) = setup_env(model);
    let mut steps = FakeSteps {
        fail_quantize: true,
        ..FakeSteps::default()
    };
    let err = fake_setup(model, &opts, &mut steps).expect_err("quantize fails");
    assert!(matches!(err, PipelineError::Quantize { .. }), "{err}");
    assert!(err.to_string().contains("F16 GGUF is kept"), "{err}");
    let (f16, _) = pipeline::output_paths(model, COMMIT, QuantType::Q4KM, &opts.paths);
    assert!(f16.is_file(), "F16 kept for resuming");
    assert!(opts.registry().list().unwrap().is_empty());

    steps.fail_quantize = false;
    mock.clear_requests();
    fake_setup(model, &opts, &mut steps).expect("second run");
    assert_eq!(steps.converts, 1, "conversion not repeated");
    assert_eq!(steps.quantizes, 2);
    assert!(nothing_downloaded(&mock), "download not repeated");
    assert!(!f16.exists());
}

#[test]
fn setup_refuses_when_the_whole_chain_does_not_fit() {
    let model = catalog::default_model();
    let (mock, _tmp, mut opts) = setup_env(model);
    // Room for the download but not for download + F16 + Q4_K_M, sized from the real files
    // (the F16 and Q4_K_M estimates are at least the GGUF overhead, 16 MiB each).
    let download: u64 = catalog_repo_files(model)
        .iter()
        .map(|f| f.content.len() as u64)
        .sum();
    let available = download + 1_000_000;
    opts.hub.disk_space = Arc::new(move |_: &Path| Ok(available));
    let err = fake_setup(model, &opts, &mut FakeSteps::default()).expect_err("not enough disk");
    match &err {
        PipelineError::Hub(HubError::NotEnoughDisk {
            needed,
            available,
            breakdown,
            ..
        }) => {
            assert_eq!(*available, download + 1_000_000);
            assert!(*needed > download + 32 * 1024 * 1024, "{needed}");
            assert!(
                *needed < 100_000_000,
                "estimated from the real 0.3 MB of weights, not the catalog's 27.6 GB: {needed}"
            );
            assert!(
                breakdown.contains("F16 GGUF") && breakdown.contains("Q4_K_M"),
                "{breakdown}"
            );
        }
        other => panic!("expected NotEnoughDisk, got {other}"),
    }
    assert!(nothing_downloaded(&mock));
}

/// A base model published as PyTorch `.bin` shards (the tiny fixture in torch's zip format, as
/// the catalog names them) runs through the real chain: download, convert, quantize, validate.
#[test]
fn bin_checkpoint_is_set_up_with_the_real_converter() {
    let model = catalog::find("xgen-7b-4k-base").unwrap();
    assert!(model.files.iter().any(|f| f.name.ends_with(".bin")));
    let mock = MockHub::start(vec![MockRepo::tiny_xgen(model, COMMIT, 8)]);
    let tmp = tempfile::tempdir().unwrap();
    let opts = setup_options(&mock, tmp.path());
    let mut stages = Vec::new();
    let outcome = pipeline::setup(
        &ModelSource::Catalog(model),
        QuantType::Q8_0,
        &opts,
        &mut |path: &Path| -> Result<Validation, xgen_desk::hub::BoxError> {
            let info = xgen_desk::engine::validate_model(path)?;
            Ok(Validation {
                context_length: Some(info.n_ctx_train),
            })
        },
        &mut |p| record_stage(&mut stages, p),
        &CancelToken::new(),
    )
    .expect("setup of a .bin checkpoint");
    assert_eq!(
        stages,
        [
            Stage::Download,
            Stage::Convert,
            Stage::Quantize,
            Stage::Verify
        ]
    );
    let installed = outcome.model;
    assert_eq!(installed.id, "xgen-7b-4k-base-q8_0");
    assert_eq!(installed.quantization, "Q8_0");
    // The fixture's config says 8192; what is installed is what the converted file declares.
    assert_eq!(installed.context_length, 8192);
    assert!(installed.path.is_file());
    assert_eq!(opts.registry().list().unwrap(), vec![installed]);
}

#[test]
fn hub_gguf_is_fetched_validated_and_removable() {
    let gguf = MockFile::new("tiny.Q8_0.gguf", noise(50_000, 99));
    let repo = MockRepo::new("someone/tiny-GGUF", COMMIT, vec![gguf.clone()]);
    let mock = MockHub::start(vec![repo]);
    let tmp = tempfile::tempdir().unwrap();
    let opts = setup_options(&mock, tmp.path());
    let source = ModelSource::parse("someone/tiny-GGUF/tiny.Q8_0.gguf").unwrap();
    let installed = pipeline::setup(
        &source,
        QuantType::Q4KM,
        &opts,
        &mut |_| {
            Ok(Validation {
                context_length: Some(2048),
            })
        },
        &mut |_| {},
        &CancelToken::new(),
    )
    .expect("setup hub gguf")
    .model;
    assert_eq!(installed.quantization, "Q8_0");
    assert_eq!(installed.context_length, 2048);
    assert_eq!(std::fs::read(&installed.path).unwrap(), gguf.content);
    let blob = RepoCache::new(opts.paths.hf_cache_dir(), "someone/tiny-GGUF").blob(&gguf.etag());
    assert!(blob.is_file());
    opts.registry().remove(&installed.id).unwrap();
    assert!(!blob.exists(), "removing frees the blob too");
}

#[test]
fn validation_failure_does_not_install() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("broken.gguf");
    std::fs::write(&file, b"not gguf").unwrap();
    let opts = SetupOptions::new(
        AppPaths::under(tmp.path()),
        HubOptions::new(tmp.path().join("hf")),
    );
    let err = pipeline::setup(
        &ModelSource::LocalGguf { path: file.clone() },
        QuantType::Q4KM,
        &opts,
        &mut |_| Err("bad magic".into()),
        &mut |_| {},
        &CancelToken::new(),
    )
    .expect_err("invalid");
    assert!(matches!(err, PipelineError::Validate { .. }), "{err}");
    assert!(opts.registry().list().unwrap().is_empty());
    assert!(file.exists(), "a local file is never deleted");
}

/// The real converter, quantizer and engine on a tiny XGen-shaped checkpoint published under
/// the default model's name: a cancel during conversion keeps the download and removes the
/// half-written F16, the next run converts, quantizes and validates (llama.cpp loads the file
/// and runs a token through it), and the run after that finds the model installed.
#[test]
fn setup_cancelled_in_convert_resumes_to_a_validated_install() {
    let model = catalog::default_model();
    let mock = MockHub::start(vec![MockRepo::tiny_xgen(model, COMMIT, 7)]);
    let tmp = tempfile::tempdir().unwrap();
    let opts = setup_options(&mock, tmp.path());
    let source = ModelSource::Catalog(model);
    let mut validate = |path: &Path| -> Result<Validation, xgen_desk::hub::BoxError> {
        let info = xgen_desk::engine::validate_model(path)?;
        Ok(Validation {
            context_length: Some(info.n_ctx_train),
        })
    };
    let work = opts.paths.work_dir().join(model.id);

    let cancel = CancelToken::new();
    let mut stages = Vec::new();
    let err = pipeline::setup(
        &source,
        QuantType::Q8_0,
        &opts,
        &mut validate,
        &mut |p| {
            record_stage(&mut stages, p);
            if p.stage == Stage::Convert {
                cancel.cancel();
            }
        },
        &cancel,
    )
    .expect_err("cancelled");
    assert!(matches!(err, PipelineError::Cancelled), "{err}");
    assert_eq!(stages, [Stage::Download, Stage::Convert]);
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "no partial F16 kept: {leftovers:?}");
    assert!(opts.registry().list().unwrap().is_empty());

    mock.clear_requests();
    stages.clear();
    let outcome = pipeline::setup(
        &source,
        QuantType::Q8_0,
        &opts,
        &mut validate,
        &mut |p| record_stage(&mut stages, p),
        &CancelToken::new(),
    )
    .expect("setup");
    assert!(nothing_downloaded(&mock), "the download was kept");
    assert_eq!(
        stages
            .iter()
            .filter(|s| **s != Stage::Download)
            .collect::<Vec<_>>(),
        [&Stage::Convert, &Stage::Quantize, &Stage::Verify]
    );
    assert!(!outcome.already_installed);
    let installed = outcome.model;
    assert_eq!(installed.id, "xgen-7b-8k-inst-q8_0");
    assert_eq!(installed.context_length, 8192);
    assert_eq!(installed.quantization, "Q8_0");
    assert!(installed.size_bytes > 0);
    assert!(!work.exists(), "intermediate files removed");

    let again = pipeline::setup(
        &source,
        QuantType::Q8_0,
        &opts,
        &mut |_| panic!("validated again"),
        &mut |p| panic!("stage run again: {p:?}"),
        &CancelToken::new(),
    )
    .expect("third setup");
    assert!(again.already_installed);
    assert_eq!(again.model, installed);
}

// ---------------------------------------------------------------------------------------------
// Names from outside data, and blobs already in the cache

/// Everything under `root` except the Hugging Face cache folder: what a download must never
/// create.
fn outside_cache(env: &Env) -> Vec<PathBuf> {
    std::fs::read_dir(&env.root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| *p != env.cache())
        .collect()
}

#[test]
fn file_name_with_dot_dot_from_the_endpoint_cannot_escape_the_snapshot() {
    // The endpoint lists a file whose name climbs out of snapshots/<commit>/ to the folder
    // that holds the cache (and a plain file the URL normalisation would map it to, so the
    // server answers for it).
    let escape = "../../../../escape.txt";
    let repo = MockRepo::new(
        REPO,
        COMMIT,
        vec![
            MockFile::new("config.json", b"{}".to_vec()),
            MockFile::new(escape, b"planted".to_vec()),
            MockFile::new("escape.txt", b"planted".to_vec()),
        ],
    );
    let env = Env::new(repo);
    let err = env
        .client()
        .fetch(REPO, "main", &[], &[], &mut |_| {}, &CancelToken::new())
        .expect_err("a hostile file name is refused");
    assert!(
        matches!(&err, HubError::UnsafeName { what: "file name", source, .. } if source.name == escape),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(escape) && msg.contains("nothing was written"),
        "{msg}"
    );
    assert!(
        outside_cache(&env).is_empty(),
        "written outside the cache: {:?}",
        outside_cache(&env)
    );
    assert!(
        nothing_downloaded(&env.hub),
        "no content fetched for a refused listing"
    );
}

#[test]
fn file_name_with_backslashes_from_the_endpoint_is_refused() {
    // `..\..\evil.txt` is one odd name on Linux but a path two folders up on Windows.
    let evil = "..\\..\\evil.txt";
    let repo = MockRepo::new(
        REPO,
        COMMIT,
        vec![
            MockFile::new("config.json", b"{}".to_vec()),
            MockFile::new(evil, b"planted".to_vec()),
        ],
    );
    let env = Env::new(repo);
    let err = env
        .client()
        .fetch(REPO, "main", &[], &[], &mut |_| {}, &CancelToken::new())
        .expect_err("a backslash name is refused");
    assert!(
        matches!(&err, HubError::UnsafeName { source, .. } if source.name == evil),
        "{err}"
    );
    let snapshot = env.repo_cache().snapshot_dir(COMMIT);
    let made: Vec<_> = std::fs::read_dir(&snapshot)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(made.is_empty(), "snapshot entries: {made:?}");
}

#[test]
fn revision_with_dot_dot_cannot_write_a_ref_outside_the_repo() {
    let hostile = "../../../escaped-ref";
    let env = Env::new(small_repo().with_ref(hostile));
    let err = env
        .client()
        .fetch(
            REPO,
            hostile,
            &names(&env.repo),
            &[],
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect_err("a hostile revision is refused");
    assert!(
        matches!(
            &err,
            HubError::UnsafeName {
                what: "revision",
                ..
            }
        ),
        "{err}"
    );
    assert!(env.hub.requests().is_empty(), "refused before any request");
    // The cache's own entry point refuses it too.
    let io = env
        .repo_cache()
        .write_ref(hostile, COMMIT)
        .expect_err("write_ref refuses");
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput, "{io}");
    assert!(env.repo_cache().resolve_commit(hostile).is_none());
    assert!(outside_cache(&env).is_empty(), "{:?}", outside_cache(&env));
    for bad in [
        "a\\b",
        "main\0",
        "/abs",
        "x/.hidden",
        "a..b",
        "topic.lock",
        "a b",
    ] {
        assert!(xgen_desk::hub::check_revision(bad).is_err(), "{bad:?}");
    }
    for good in ["main", "refs/pr/20", "v1.0", COMMIT] {
        assert!(xgen_desk::hub::check_revision(good).is_ok(), "{good:?}");
    }
}

#[test]
fn link_snapshot_never_touches_anything_outside_the_snapshot() {
    let env = Env::new(small_repo());
    let cache = env.repo_cache();
    let etag = env.repo.file(BIG).etag();

    // A name that climbs out: the file there is someone else's.
    let victim = env.root.join("victim.txt");
    std::fs::write(&victim, b"mine").unwrap();
    let err = cache
        .link_snapshot(COMMIT, "../../../../victim.txt", &etag)
        .expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"mine");

    // A folder of the snapshot replaced by a link to a folder outside: not followed.
    let outside = env.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("x.bin"), b"mine too").unwrap();
    let snapshot = cache.snapshot_dir(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, snapshot.join("sub")).unwrap();
        let err = cache
            .link_snapshot(COMMIT, "sub/x.bin", &etag)
            .expect_err("a linked folder is not followed");
        assert!(err.to_string().contains("in the way"), "{err}");
        assert_eq!(std::fs::read(outside.join("x.bin")).unwrap(), b"mine too");
    }

    // A directory where the file belongs is left alone, with its content.
    std::fs::create_dir_all(snapshot.join("dir.bin")).unwrap();
    std::fs::write(snapshot.join("dir.bin/keep"), b"keep").unwrap();
    let err = cache
        .link_snapshot(COMMIT, "dir.bin", &etag)
        .expect_err("a directory is not replaced");
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(
        std::fs::read(snapshot.join("dir.bin/keep")).unwrap(),
        b"keep"
    );

    // A plain file or a stale link in the snapshot is replaced by the right link (a symbolic
    // link on Unix, a hard link of the downloaded blob on Windows), which names the blob.
    std::fs::create_dir_all(cache.repo_dir().join("blobs")).unwrap();
    std::fs::write(cache.blob(&etag), &env.repo.file(BIG).content).unwrap();
    std::fs::write(snapshot.join(BIG), b"stale copy").unwrap();
    let pointer = cache.link_snapshot(COMMIT, BIG, &etag).expect("replaced");
    #[cfg(unix)]
    assert!(std::fs::symlink_metadata(&pointer)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(cache.blob_of(&pointer), Some(etag.clone()));
    assert_eq!(cache.blob_of(&snapshot.join("dir.bin")), None);
    let again = cache.link_snapshot(COMMIT, BIG, &etag).expect("idempotent");
    assert_eq!(again, pointer);
    assert_eq!(cache.blob_of(&pointer), Some(etag));
}

/// Overwrites one byte of `path` in place: same size, other content.
fn corrupt_in_place(path: &Path, offset: u64) {
    use std::io::{Seek, SeekFrom, Write};
    // The verification record keys on times as well: make sure the write lands in a later
    // clock tick than the check that wrote the record.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[0x5a]).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn corrupt_same_size_blob_in_the_cache_is_fetched_again() {
    let env = Env::new(small_repo());
    env.fetch(env.opts(), "main").expect("first fetch");
    let big = env.repo.file(BIG).clone();
    let config = env.repo.file("config.json").clone();
    let cache = env.repo_cache();
    corrupt_in_place(&cache.blob(&big.etag()), 4242);
    corrupt_in_place(&cache.blob(&config.etag()), 2);
    env.hub.clear_requests();

    let snapshot = env.fetch(env.opts(), "main").expect("second fetch");
    assert_snapshot_matches(&env, &snapshot);
    assert_eq!(
        env.hub.content_gets(&big).len(),
        1,
        "the LFS blob (sha256) was fetched again"
    );
    assert_eq!(
        env.hub.content_gets(&config).len(),
        1,
        "the git file (git-sha1) was fetched again"
    );
    assert!(
        env.hub.content_gets(env.repo.file(BIG2)).is_empty(),
        "a good blob is not fetched again"
    );
}

#[test]
fn blob_from_another_tool_is_checked_once_and_then_trusted() {
    let env = Env::new(small_repo());
    let cache = env.repo_cache();
    // As if Python's huggingface_hub had downloaded BIG: the blob is there, no record of ours.
    let big = env.repo.file(BIG).clone();
    std::fs::create_dir_all(cache.repo_dir().join("blobs")).unwrap();
    std::fs::write(cache.blob(&big.etag()), &big.content).unwrap();
    let marker = cache.verified_marker(&big.etag());
    assert!(!marker.exists());

    env.fetch(env.opts(), "main").expect("first fetch");
    assert!(env.hub.content_gets(&big).is_empty(), "a good blob is used");
    assert!(marker.is_file(), "its check is recorded");
    let recorded = std::fs::metadata(&marker).unwrap().modified().unwrap();
    assert!(
        !marker.starts_with(cache.repo_dir().join("blobs")),
        "the record is not kept among the blobs, where Python's tools look"
    );

    std::thread::sleep(std::time::Duration::from_millis(50));
    env.fetch(env.opts(), "main").expect("second fetch");
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        recorded,
        "not hashed again while unchanged"
    );
}

#[test]
fn offline_mode_does_not_use_a_corrupt_cached_file() {
    let env = Env::new(small_repo());
    env.fetch(env.opts(), "main").expect("online fetch");
    let big = env.repo.file(BIG).clone();
    corrupt_in_place(&env.repo_cache().blob(&big.etag()), 77);
    let mut opts = env.opts();
    opts.offline = true;
    let err = env.fetch(opts, "main").expect_err("corrupt file refused");
    assert!(
        matches!(&err, HubError::OfflineMissing { missing, .. } if missing == &vec![BIG.to_owned()]),
        "{err}"
    );
    assert!(
        !env.repo_cache().blob(&big.etag()).exists(),
        "the corrupt blob was deleted"
    );
    // Online again, it comes back.
    let snapshot = env.fetch(env.opts(), "main").expect("refetch");
    assert_snapshot_matches(&env, &snapshot);
}
