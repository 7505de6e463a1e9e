//! `xgen-fsio`: the file discipline of xgen-desk's crates: durable atomic writes, unique
//! temporary names, directory fsync after renames, lock files, paths built from outside data
//! kept inside their directory, and hex.
//!
//! A crate of its own, below both: the converter (`xgen-quantize`) writes its GGUF with the same
//! discipline the app uses for its conversations, settings, registry and caches, and neither
//! crate should reach into the other for it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written and
/// fsynced, renamed over `path`, then the directory is fsynced so the rename survives a crash.
/// Readers see the old or the new content, never a mix.
///
/// # Errors
/// Any I/O error; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir)?;
    let tmp = temp_path_beside(path, "tmp");
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        remove_quietly(&tmp);
    }
    result
}

/// Flushes to disk what was written to the file at `path` through another handle (a C library
/// that does not fsync, a callback that closed its file). The file is opened for writing: on
/// Windows, `FlushFileBuffers` refuses a read-only handle ("Access denied").
///
/// # Errors
/// When the file cannot be opened or synced.
pub fn sync_file(path: &Path) -> std::io::Result<()> {
    File::options().write(true).open(path)?.sync_all()
}

/// Renames `from` to `to`, then fsyncs the directory of `to` so the rename is durable.
///
/// # Errors
/// Any I/O error of the rename or the directory sync.
pub fn rename_durable(from: &Path, to: &Path) -> std::io::Result<()> {
    rename_replacing(from, to)?;
    sync_dir(&parent_dir(to))
}

/// `std::fs::rename`, which replaces `to`. On Windows a rename onto a file that another
/// rename is replacing at that moment (two saves of one key) can be refused with "Access
/// denied" where the system lacks POSIX rename semantics (Wine; Windows before 10 1809): the
/// other rename ends within moments, so a refused rename is tried again a few times.
fn rename_replacing(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        const TRIES: u32 = 20;
        let mut tries = 1;
        loop {
            match std::fs::rename(from, to) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && tries < TRIES => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }
    #[cfg(not(windows))]
    {
        std::fs::rename(from, to)
    }
}

/// Fsyncs a directory so that renames in it are durable. On Windows, where a directory cannot
/// be opened for syncing, `MoveFileEx` (what `rename` calls) is already write-through for the
/// directory entry, so this does nothing.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The directory a file lives in (`.` for a bare file name).
#[must_use]
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary path beside `path` that no other process, and no other call in this process,
/// uses: `.{name}.{tag}-{pid}-{n}`. Two writers of the same file never share a temporary file,
/// so one can never rename or delete the other's half-written data.
#[must_use]
pub fn temp_path_beside(path: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    parent_dir(path).join(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

/// Removes a file as a best-effort cleanup (a half-written temporary file, a stale entry): a
/// file that is already gone is fine, and any other failure is logged, not returned, because
/// the caller is already reporting the error that matters.
pub fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!("could not remove {}: {e}", path.display()),
    }
}

/// How [`lock_file`] waits while another process (or another handle in this one) holds the
/// lock.
#[derive(Clone, Copy)]
pub enum LockWait<'a> {
    /// Not at all: the lock is taken now or not.
    No,
    /// Until it is free.
    Blocking,
    /// Trying again every `interval` until it is free, or until `give_up` says so.
    Poll {
        /// How long to sleep between tries.
        interval: Duration,
        /// Asked before each sleep; true ends the wait without the lock.
        give_up: &'a dyn Fn() -> bool,
    },
}

/// Takes an exclusive lock on the file `path` (created with its directory if missing, never
/// truncated), held until the returned file is closed or the process ends. `Ok(None)` when
/// another holder keeps it and `wait` gives up. The lock file itself is never removed: a
/// removal could race with the next holder opening it.
///
/// # Errors
/// When the file cannot be created, opened or locked (not: when another holds it).
pub fn lock_file(path: &Path, wait: LockWait<'_>) -> std::io::Result<Option<File>> {
    let file = open_lock_file(path)?;
    if let LockWait::Blocking = wait {
        file.lock()?;
        return Ok(Some(file));
    }
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        match wait {
            LockWait::Poll { interval, give_up } if !give_up() => std::thread::sleep(interval),
            _ => return Ok(None),
        }
    }
}

/// [`lock_file`] waiting until the lock is free ([`LockWait::Blocking`]).
///
/// # Errors
/// When the file cannot be created, opened or locked.
pub fn lock_file_waiting(path: &Path) -> std::io::Result<File> {
    lock_file(path, LockWait::Blocking)?.ok_or_else(|| std::io::ErrorKind::WouldBlock.into())
}

/// Takes a shared lock on the file `path` (as [`lock_file`] opens it), waiting while another
/// holds it exclusively: readers share it, a [`lock_file`] holder excludes them all.
///
/// # Errors
/// When the file cannot be created, opened or locked.
pub fn lock_file_shared(path: &Path) -> std::io::Result<File> {
    let file = open_lock_file(path)?;
    file.lock_shared()?;
    Ok(file)
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(parent_dir(path))?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Lowercase hexadecimal of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Why a name from outside data cannot be used as a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not an acceptable file name here: {reason}")]
pub struct UnsafePath {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Joins a relative name that came from outside (a file list from a server, a shard index, a
/// JSON id) onto `base`, refusing anything that could land outside `base` or mean different
/// things on different systems: empty names, absolute paths and drive prefixes, `..` and `.`
/// components, backslashes, NUL and other control characters. Forward slashes separate
/// subdirectories (`a/b.bin` is accepted).
///
/// # Errors
/// [`UnsafePath`] naming what is wrong.
pub fn confined_join(base: &Path, name: &str) -> Result<PathBuf, UnsafePath> {
    check_relative_name(name)?;
    Ok(base.join(name))
}

/// The checks of [`confined_join`] without the join.
///
/// # Errors
/// [`UnsafePath`] naming what is wrong.
pub fn check_relative_name(name: &str) -> Result<(), UnsafePath> {
    let refuse = |reason| {
        Err(UnsafePath {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > 4096 {
        return refuse("it is longer than 4096 bytes");
    }
    if name.chars().any(char::is_control) {
        return refuse("it contains NUL or control characters");
    }
    if name.contains('\\') {
        return refuse("it contains a backslash");
    }
    if name.starts_with('/') || name.contains(':') {
        return refuse("it is an absolute path or names a drive");
    }
    for part in name.split('/') {
        match part {
            "" => return refuse("it has an empty path component"),
            "." | ".." => return refuse("it has a `.` or `..` component"),
            _ => {}
        }
    }
    // Whatever the platform's parser makes of it, it must be plain names only.
    if !Path::new(name)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return refuse("it is not a plain relative path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On Windows a file opened read-only cannot be flushed (`FlushFileBuffers` says "Access
    /// denied"): the state cache and the quantizer failed every save there until they synced
    /// through a handle opened for writing.
    #[test]
    fn a_file_written_elsewhere_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("written");
        std::fs::write(&path, b"data").unwrap();
        sync_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        assert!(sync_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn confined_join_accepts_plain_names() {
        let base = Path::new("/data");
        assert_eq!(
            confined_join(base, "model-00001-of-00003.safetensors").unwrap(),
            base.join("model-00001-of-00003.safetensors")
        );
        assert_eq!(
            confined_join(base, "sub/dir/file.bin").unwrap(),
            base.join("sub/dir/file.bin")
        );
    }

    #[test]
    fn confined_join_refuses_escapes() {
        let base = Path::new("/data");
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "./a",
            "a//b",
            "a\\..\\b",
            "C:\\Windows",
            "c:x",
            "a\0b",
            "a\nb",
            "a/",
        ] {
            assert!(confined_join(base, bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn temp_paths_are_unique_and_beside() {
        let a = temp_path_beside(Path::new("/d/f.json"), "tmp");
        let b = temp_path_beside(Path::new("/d/f.json"), "tmp");
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/d")));
        assert!(a
            .to_string_lossy()
            .contains(&std::process::id().to_string()));
    }

    #[test]
    fn a_lock_file_is_held_by_one_handle_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let first = lock_file(&path, LockWait::No).unwrap();
        assert!(
            first.is_some(),
            "the directory is created and the lock taken"
        );
        assert!(lock_file(&path, LockWait::No).unwrap().is_none());
        let tries = std::cell::Cell::new(0);
        let give_up = || {
            tries.set(tries.get() + 1);
            tries.get() > 2
        };
        let polled = LockWait::Poll {
            interval: Duration::from_millis(1),
            give_up: &give_up,
        };
        assert!(lock_file(&path, polled).unwrap().is_none());
        assert_eq!(
            tries.get(),
            3,
            "it asked before each sleep until told to give up"
        );
        drop(first);
        assert!(lock_file(&path, LockWait::Blocking).unwrap().is_some());
        assert!(path.is_file(), "the lock file stays");
    }

    #[test]
    fn shared_locks_exclude_only_the_exclusive_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let reader = lock_file_shared(&path).unwrap();
        let second_reader = lock_file_shared(&path).unwrap();
        assert!(
            lock_file(&path, LockWait::No).unwrap().is_none(),
            "readers keep the writer out"
        );
        drop((reader, second_reader));
        let writer = lock_file(&path, LockWait::No).unwrap();
        assert!(writer.is_some(), "the last reader gone, the writer gets it");
        let released = std::sync::atomic::AtomicBool::new(false);
        let after_the_writer = std::thread::scope(|scope| {
            let reading = scope.spawn(|| {
                let _reader = lock_file_shared(&path).unwrap();
                released.load(Ordering::SeqCst)
            });
            std::thread::sleep(Duration::from_millis(100));
            released.store(true, Ordering::SeqCst);
            drop(writer);
            reading.join().unwrap()
        });
        assert!(after_the_writer, "a reader waits for the writer");
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != "f.json")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
