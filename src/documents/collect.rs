//! Many documents at once: the files named, and the documents found in the folders named
//! (recursively, known formats only), for the app's queue and `xgen-desk summarize DIR/`.
//!
//! A folder can be anything a person drops: a home directory, a checkout with thousands of
//! files, a tree with a symbolic link to its own parent. So the walk is bounded three ways
//! (files found, folder depth, entries looked at) and visits each real folder once, which ends
//! symbolic-link loops; whatever a bound cut off is said in a note, never silently dropped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Format;

/// Bounds on collecting documents from folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectLimits {
    /// Most files collected in all.
    pub max_files: usize,
    /// Deepest folder searched below a folder named (1: only its own files).
    pub max_depth: usize,
    /// Most folder entries looked at in all (files of other formats included).
    pub max_entries: usize,
}

impl Default for CollectLimits {
    /// 500 files (days of summaries on a laptop), 16 folders deep, 100,000 entries (well
    /// under a second on a local disk).
    fn default() -> Self {
        Self {
            max_files: 500,
            max_depth: 16,
            max_entries: 100_000,
        }
    }
}

/// The documents to read, in order, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Files named (whatever their extension: the readers say what they cannot read) and
    /// documents found in folders, each once, in the order given with each folder's documents
    /// sorted by path.
    pub files: Vec<PathBuf>,
    /// Sentences about what was left out (a limit reached, a folder that could not be listed,
    /// a folder without documents).
    pub notes: Vec<String>,
}

/// Collects the documents `paths` name: a file is taken as it is, a folder is searched
/// recursively for files whose extension is a known format ([`Format::from_extension`]),
/// pictures excepted, skipping hidden files and folders. A path that does not exist is kept, so that reading it
/// reports it.
#[must_use]
pub fn collect_documents(paths: &[PathBuf], limits: &CollectLimits) -> Collected {
    let mut walk = Walk {
        limits: *limits,
        out: Collected::default(),
        seen_files: HashSet::new(),
        seen_dirs: HashSet::new(),
        entries: 0,
        full: false,
    };
    for path in paths {
        if walk.full {
            break;
        }
        if path.is_dir() {
            let before = walk.out.files.len();
            walk.dir(path, 1);
            if walk.out.files.len() == before && !walk.full {
                walk.out.notes.push(format!(
                    "{} holds no documents ({})",
                    path.display(),
                    Format::usual_extensions(", ", ", ")
                ));
            }
        } else {
            walk.file(path);
            if walk.full {
                walk.out.notes.push(format!(
                    "only the first {} documents are taken; {} and what follows were left out",
                    limits.max_files,
                    path.display()
                ));
            }
        }
    }
    walk.out
}

struct Walk {
    limits: CollectLimits,
    out: Collected,
    seen_files: HashSet<PathBuf>,
    seen_dirs: HashSet<PathBuf>,
    entries: usize,
    full: bool,
}

impl Walk {
    fn file(&mut self, path: &Path) {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.seen_files.insert(key) {
            return;
        }
        if self.out.files.len() >= self.limits.max_files {
            self.full = true;
            return;
        }
        self.out.files.push(path.to_path_buf());
    }

    fn dir(&mut self, dir: &Path, depth: usize) {
        // A folder reached again (a link to a parent, or two names for one folder) is skipped.
        let Ok(real) = std::fs::canonicalize(dir) else {
            self.out
                .notes
                .push(format!("{} could not be opened", dir.display()));
            return;
        };
        if !self.seen_dirs.insert(real) {
            return;
        }
        let listing = match std::fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(e) => {
                self.out
                    .notes
                    .push(format!("{} could not be listed: {e}", dir.display()));
                return;
            }
        };
        let mut entries: Vec<PathBuf> = listing.flatten().map(|e| e.path()).collect();
        entries.sort();
        let mut deeper = false;
        for path in entries {
            if self.full {
                return;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                self.full = true;
                self.out.notes.push(format!(
                    "the search stopped after {} entries; documents in {} and further were left out",
                    self.limits.max_entries,
                    dir.display()
                ));
                return;
            }
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // `is_dir` and `is_file` follow symbolic links: a link to a document is a document.
            if path.is_dir() {
                if depth < self.limits.max_depth {
                    self.dir(&path, depth + 1);
                } else {
                    deeper = true;
                }
            } else if path.is_file() && is_folder_document(&path) {
                self.file(&path);
                if self.full {
                    self.out.notes.push(format!(
                        "only the first {} documents are taken; the rest of {} was left out",
                        self.limits.max_files,
                        dir.display()
                    ));
                    return;
                }
            }
        }
        if deeper {
            self.out.notes.push(format!(
                "folders more than {} levels deep were not searched (in {})",
                self.limits.max_depth,
                dir.display()
            ));
        }
    }
}

/// Whether a file found in a folder is taken as a document: a known format, except pictures.
/// The pictures in a folder of documents are mostly figures, photos and logos, each of which
/// would end as "OCR found no text" or a caption summarized as a document; a picture is read
/// (by OCR) when it is named itself: dropped, opened or given on the command line.
fn is_folder_document(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .is_some_and(|format| format != Format::Image)
}

/// Whether `path`'s extension names a format xgen-desk reads.
#[must_use]
pub fn is_known_document(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .is_some()
}
