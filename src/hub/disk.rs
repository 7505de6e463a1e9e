//! Free-disk checks before long operations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::HubError;

/// Returns the bytes available to this user on the filesystem holding a path. Injectable so tests
/// can simulate a full disk.
pub type DiskSpaceFn = Arc<dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync>;

/// The real free-space probe (`statvfs` / `GetDiskFreeSpaceEx` via `fs4`), applied to the
/// nearest existing ancestor of the path.
#[must_use]
pub fn system_disk_space() -> DiskSpaceFn {
    Arc::new(|path: &Path| fs4::available_space(existing_ancestor(path)))
}

/// Space one step needs in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskNeed {
    /// Where the bytes will be written.
    pub dir: PathBuf,
    /// How many bytes still have to be written there.
    pub bytes: u64,
    /// What they are, for the error message ("download", "F16 GGUF", ...).
    pub what: String,
}

/// Checks that every filesystem has room for everything that will be written to it (needs on the
/// same filesystem add up) before anything starts.
///
/// # Errors
/// [`HubError::NotEnoughDisk`] with the needed and available bytes and a breakdown;
/// [`HubError::Io`] if the free space cannot be read.
pub fn check_disk(needs: &[DiskNeed], space: &DiskSpaceFn) -> Result<(), HubError> {
    let mut groups: Vec<(FsKey, PathBuf, u64, Vec<String>)> = Vec::new();
    for need in needs.iter().filter(|n| n.bytes > 0) {
        let key = fs_key(&need.dir);
        let part = format!("{} {}", need.what, crate::hub::format_bytes(need.bytes));
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(group) => {
                group.2 = group.2.saturating_add(need.bytes);
                group.3.push(part);
            }
            None => groups.push((key, need.dir.clone(), need.bytes, vec![part])),
        }
    }
    for (_, dir, needed, parts) in groups {
        let available = space(&dir).map_err(|source| HubError::Io {
            path: dir.clone(),
            source,
        })?;
        if available < needed {
            return Err(HubError::NotEnoughDisk {
                dir,
                needed,
                available,
                breakdown: parts.join(" + "),
            });
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum FsKey {
    #[cfg(unix)]
    Device(u64),
    Path(PathBuf),
}

fn fs_key(dir: &Path) -> FsKey {
    let existing = existing_ancestor(dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(meta) = std::fs::metadata(&existing) {
            return FsKey::Device(meta.dev());
        }
    }
    // Without device ids, directories on the same drive/root are grouped together.
    FsKey::Path(existing.components().take(2).collect::<PathBuf>())
}

/// The path itself if it exists, else its nearest existing ancestor (`.` as a last resort).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
