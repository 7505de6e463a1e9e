//! The app's own files against hostile or concurrent use: conversation files named from the
//! file system with validated ids, a read-only store, one running app per data directory
//! (across processes), and a registry that deletes only what setup made.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use xgen_desk::app::{Conversation, ConversationStore, StoreError};
use xgen_desk::catalog::{InstalledModel, InstalledSource};
use xgen_desk::hub::{HubOptions, RepoCache};
use xgen_desk::paths::{AppPaths, DataDirLock, LockError};
use xgen_desk::pipeline::SetupOptions;

use crate::common::temp_dir;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A saved conversation's JSON with `id`.
fn conversation_json(id: &str, title: &str) -> String {
    let mut c = Conversation::new();
    c.id = id.to_owned();
    c.title = title.to_owned();
    serde_json::to_string(&c).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn conversation_id_with_dot_dot_is_not_followed_out_of_the_directory() {
    let tmp = temp_dir();
    let dir = tmp.path().join("data/conversations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("planted.json"),
        conversation_json("../../escaped", "planted"),
    )
    .unwrap();
    let store = ConversationStore::new(&dir);
    let (list, unreadable) = store.load_all().unwrap();
    assert!(list.is_empty(), "not loaded: {list:?}");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(
        matches!(&unreadable[0], StoreError::BadId { path, id } if path.ends_with("planted.json") && id == "../../escaped"),
        "{}",
        unreadable[0]
    );
    assert!(
        unreadable[0].to_string().contains("left as it is"),
        "{}",
        unreadable[0]
    );
    // What the app does with every conversation it loaded: save it. Nothing may land outside.
    for c in &list {
        store.save(c).unwrap();
    }
    let mut bad = Conversation::new();
    bad.id = "../../escaped".into();
    let err = store.save(&bad).expect_err("an unsafe id is not saved");
    assert!(matches!(err, StoreError::UnsafeId { .. }), "{err}");
    let err = store
        .delete("../../escaped")
        .expect_err("nor deleted by name");
    assert!(matches!(err, StoreError::UnsafeId { .. }), "{err}");
    assert!(!tmp.path().join("escaped.json").exists());
    assert!(!tmp.path().join("data/escaped.json").exists());
    assert_eq!(files_in(&dir), ["planted.json"], "the planted file is kept");
}

#[test]
fn conversations_are_saved_to_the_file_they_were_read_from() {
    let tmp = temp_dir();
    let dir = tmp.path().join("conversations");
    std::fs::create_dir_all(&dir).unwrap();
    // A file whose name is not its id (renamed by hand, or copied from another machine), and
    // a second file claiming the same id.
    std::fs::write(dir.join("renamed.json"), conversation_json("abc", "first")).unwrap();
    std::fs::write(dir.join("zz-copy.json"), conversation_json("abc", "copy")).unwrap();
    let store = ConversationStore::new(&dir);
    let (mut list, unreadable) = store.load_all().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title, "first");
    assert!(
        matches!(&unreadable[..], [StoreError::DuplicateId { path, first, .. }] if path.ends_with("zz-copy.json") && first.ends_with("renamed.json")),
        "{unreadable:?}"
    );

    list[0].title = "changed".into();
    store.save(&list[0]).unwrap();
    assert_eq!(
        files_in(&dir),
        ["renamed.json", "zz-copy.json"],
        "no abc.json beside it"
    );
    assert!(std::fs::read_to_string(dir.join("renamed.json"))
        .unwrap()
        .contains("changed"));
    assert!(
        std::fs::read_to_string(dir.join("zz-copy.json"))
            .unwrap()
            .contains("copy"),
        "the duplicate is never overwritten"
    );

    store.delete("abc").unwrap();
    assert_eq!(files_in(&dir), ["zz-copy.json"]);

    // A new conversation gets a file named after its (valid) id.
    let c = Conversation::new();
    store.save(&c).unwrap();
    assert!(dir.join(format!("{}.json", c.id)).is_file());
}

#[test]
fn read_only_store_lists_and_refuses_changes() {
    let tmp = temp_dir();
    let dir = tmp.path().join("conversations");
    let mut c = Conversation::new();
    c.title = "kept".into();
    ConversationStore::new(&dir).save(&c).unwrap();
    let before = std::fs::read(dir.join(format!("{}.json", c.id))).unwrap();

    let store = ConversationStore::read_only(&dir);
    assert!(store.is_read_only());
    let (list, unreadable) = store.load_all().unwrap();
    assert!(unreadable.is_empty());
    assert_eq!(list, vec![c.clone()]);
    let mut changed = c.clone();
    changed.title = "changed".into();
    let err = store.save(&changed).expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = store.save(&Conversation::new()).expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    let err = store.delete(&c.id).expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert_eq!(
        std::fs::read(dir.join(format!("{}.json", c.id))).unwrap(),
        before
    );
    assert_eq!(files_in(&dir).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// One running app per data directory

/// The child process of [`second_instance_is_told_who_holds_the_data_directory`]: this test
/// binary run again on this test alone. It takes the lock of the data directory under the
/// home the parent names as its role, says so on stdout and holds it until killed. Run on its
/// own it takes a lock in a fresh directory, and after releasing it takes it again.
#[test]
fn lock_holder_child() {
    let Some(home) = xgen_testkit::child::role() else {
        let tmp = temp_dir();
        let paths = AppPaths::under(tmp.path());
        drop(DataDirLock::acquire(&paths).unwrap());
        drop(DataDirLock::acquire(&paths).expect("a released lock can be taken again"));
        return;
    };
    let _lock = DataDirLock::acquire(&AppPaths::under(PathBuf::from(home))).unwrap();
    println!("LOCKED {}", std::process::id());
    loop {
        std::thread::park();
    }
}

/// Kills the child when the test ends, whatever happens.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn second_instance_is_told_who_holds_the_data_directory() {
    let tmp = temp_dir();
    let paths = AppPaths::under(tmp.path());
    let mut child = KillOnDrop(
        xgen_testkit::child::command("stores::lock_holder_child", &tmp.path().to_string_lossy())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the lock holder"),
    );
    // libtest prints `test name ... ` before the test's own output, on the same line.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    crate::common::spawn("lock-child-stdout", move || {
        let locked = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("LOCKED ")
                    .map(|(_, pid)| pid.trim().to_owned())
            });
        let _ = tx.send(locked);
    });
    let locked = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the child answers within a minute")
        .expect("the child took the lock");
    assert_eq!(locked, child.0.id().to_string());

    let err = DataDirLock::acquire(&paths).expect_err("held by the child");
    assert!(
        matches!(err, LockError::Held { pid: Some(pid) } if pid == child.0.id()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "xgen-desk is already running (process {}); this window opens read-only",
            child.0.id()
        )
    );

    // The holder's death releases the lock: no stale lock file to clean up.
    drop(child);
    let lock = DataDirLock::acquire(&paths).expect("free after the holder died");
    assert_eq!(
        std::fs::read_to_string(paths.instance_pid_file())
            .unwrap()
            .trim(),
        std::process::id().to_string()
    );
    // Within one process too, a second holder is refused, and dropping releases.
    let err = DataDirLock::acquire(&paths).expect_err("held by this process");
    assert!(
        matches!(err, LockError::Held { pid: Some(pid) } if pid == std::process::id()),
        "{err:?}"
    );
    drop(lock);
    assert!(
        !paths.instance_pid_file().exists(),
        "pid removed on release"
    );
    DataDirLock::acquire(&paths).expect("free after drop");
}

// ---------------------------------------------------------------------------------------------
// The registry deletes only what setup made

fn setup_options(root: &Path) -> SetupOptions {
    let paths = AppPaths::under(root);
    let hub = HubOptions::new(paths.hf_cache_dir());
    SetupOptions::new(paths, hub)
}

fn entry(id: &str, path: PathBuf, source: InstalledSource) -> InstalledModel {
    InstalledModel {
        id: id.to_owned(),
        display_name: id.to_owned(),
        path,
        quantization: "Q4_K_M".to_owned(),
        size_bytes: 4,
        context_length: 8192,
        source,
        installed_at: 1_700_000_000,
        modified: None,
    }
}

fn catalog_source() -> InstalledSource {
    InstalledSource::Catalog {
        id: "xgen-7b-8k-inst".into(),
        repo: "Salesforce/xgen-7b-8k-inst".into(),
        revision: "refs/pr/20".into(),
        commit: COMMIT.into(),
    }
}

fn hub_source(file: &str) -> InstalledSource {
    InstalledSource::HubGguf {
        repo: "someone/tiny-GGUF".into(),
        revision: "main".into(),
        commit: COMMIT.into(),
        file: file.into(),
    }
}

#[test]
fn hand_edited_registry_cannot_make_delete_remove_files_outside_the_models_dir() {
    let tmp = temp_dir();
    let opts = setup_options(tmp.path());
    let models = opts.paths.models_dir().to_path_buf();
    std::fs::create_dir_all(&models).unwrap();
    // Files that are not setup's: a stand-in for /etc/passwd, a person's own GGUF elsewhere,
    // one reached through `..`, and one a link in the models directory leads to.
    let passwd = tmp.path().join("passwd");
    let own = tmp.path().join("own/model.gguf");
    std::fs::create_dir_all(own.parent().unwrap()).unwrap();
    let beside = tmp.path().join("beside.gguf");
    let linked = tmp.path().join("linked.gguf");
    for f in [&passwd, &own, &beside, &linked] {
        std::fs::write(f, b"mine").unwrap();
    }
    let registry = opts.registry();
    registry
        .add(entry("passwd", passwd.clone(), catalog_source()))
        .unwrap();
    registry
        .add(entry("own", own.clone(), catalog_source()))
        .unwrap();
    registry
        .add(entry(
            "dotdot",
            models.join("../beside.gguf"),
            catalog_source(),
        ))
        .unwrap();
    registry
        .add(entry("hub-own", own.clone(), hub_source("model.gguf")))
        .unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&linked, models.join("link.gguf")).unwrap();
        registry
            .add(entry("link", models.join("link.gguf"), catalog_source()))
            .unwrap();
    }
    for entry in registry.list().unwrap() {
        let removed = registry.remove(&entry.id).unwrap();
        assert_eq!(removed.as_ref().map(|m| &m.id), Some(&entry.id));
    }
    assert!(registry.list().unwrap().is_empty(), "the entries are gone");
    for f in [&passwd, &own, &beside, &linked] {
        assert_eq!(std::fs::read(f).unwrap(), b"mine", "{} kept", f.display());
    }

    // What setup did make is deleted: a GGUF in the models directory, and a downloaded one
    // (its snapshot link and blob) in the cache.
    let converted = models.join("xgen-7b-8k-inst-q4_k_m.gguf");
    std::fs::write(&converted, b"gguf").unwrap();
    registry
        .add(entry("converted", converted.clone(), catalog_source()))
        .unwrap();
    registry.remove("converted").unwrap();
    assert!(!converted.exists(), "setup's own file is deleted");

    let cache = RepoCache::new(&opts.hub.cache_dir, "someone/tiny-GGUF");
    let etag = "a".repeat(64);
    std::fs::create_dir_all(cache.repo_dir().join("blobs")).unwrap();
    std::fs::write(cache.blob(&etag), b"gguf").unwrap();
    let pointer = cache.link_snapshot(COMMIT, "sub/tiny.gguf", &etag).unwrap();
    registry
        .add(entry("hub", pointer.clone(), hub_source("sub/tiny.gguf")))
        .unwrap();
    registry.remove("hub").unwrap();
    assert!(std::fs::symlink_metadata(&pointer).is_err(), "link deleted");
    assert!(!cache.blob(&etag).exists(), "blob deleted");
}

#[test]
fn a_blob_another_snapshot_uses_is_kept() {
    let tmp = temp_dir();
    let opts = setup_options(tmp.path());
    let cache = RepoCache::new(&opts.hub.cache_dir, "someone/tiny-GGUF");
    let etag = "b".repeat(64);
    std::fs::create_dir_all(cache.repo_dir().join("blobs")).unwrap();
    std::fs::write(cache.blob(&etag), b"gguf").unwrap();
    let other_commit = "f".repeat(40);
    let ours = cache.link_snapshot(COMMIT, "tiny.gguf", &etag).unwrap();
    let theirs = cache
        .link_snapshot(&other_commit, "tiny.gguf", &etag)
        .unwrap();
    let registry = opts.registry();
    registry
        .add(entry("hub", ours.clone(), hub_source("tiny.gguf")))
        .unwrap();
    registry.remove("hub").unwrap();
    assert!(
        std::fs::symlink_metadata(&ours).is_err(),
        "our link deleted"
    );
    assert!(cache.blob(&etag).is_file(), "the shared blob is kept");
    assert_eq!(std::fs::read(&theirs).unwrap(), b"gguf");
}
