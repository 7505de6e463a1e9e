//! The queue on disk: one JSON file, written atomically on every change of state (never from a
//! read-only second window), read at start; an unreadable file is moved aside, not overwritten.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Queue, QueueItem, QueueStatus};
use crate::app::notices::Notices;

/// The version of the saved queue's format.
const FORMAT_VERSION: u32 = 1;

/// The saved form.
#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    paused: bool,
    items: Vec<QueueItem>,
}

impl Queue {
    /// The queue saved in `file` (none yet: empty). Work that was under way when the app
    /// ended waits for its turn again. A read-only window never writes the file and starts
    /// paused.
    pub(crate) fn load(file: PathBuf, read_only: bool, notices: &mut Notices) -> Self {
        let mut queue = Self::empty(file, read_only);
        let bytes = match std::fs::read(&queue.file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return queue,
            Err(e) => {
                notices.error("The saved queue could not be read.", &e);
                return queue;
            }
        };
        match serde_json::from_slice::<Saved>(&bytes) {
            Ok(saved) if saved.version == FORMAT_VERSION => {
                // A second window shows the queue the first one runs, without running it
                // twice (Resume there runs it anyway).
                queue.paused = saved.paused || read_only;
                queue.items = saved.items;
                for item in &mut queue.items {
                    if item.status.is_pending() {
                        item.set_idle(QueueStatus::Waiting, "");
                    }
                }
                queue.next_id = queue.items.iter().map(|i| i.id + 1).max().unwrap_or(1);
                queue.visible = !queue.items.is_empty();
            }
            _ => queue.set_aside(notices),
        }
        queue
    }

    /// Moves an unreadable queue file aside (so it is not overwritten) and says so.
    fn set_aside(&self, notices: &mut Notices) {
        let aside = self.file.with_extension("unreadable.json");
        if self.read_only {
            notices.message("The saved queue could not be read; this window starts an empty one.");
        } else if let Err(e) = std::fs::rename(&self.file, &aside) {
            notices.error("The saved queue could not be read or moved aside.", &e);
        } else {
            notices.message(&format!(
                "The saved queue could not be read; it was kept as {} and a new queue starts.",
                aside.display()
            ));
        }
    }

    /// Writes the queue to its file.
    pub(super) fn save(&self, notices: &mut Notices) {
        // A read-only window (another one holds the data directory) said so once, at start.
        if self.read_only {
            return;
        }
        let saved = Saved {
            version: FORMAT_VERSION,
            paused: self.paused,
            items: self.items.clone(),
        };
        let result = serde_json::to_vec_pretty(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| xgen_fsio::write_atomic(&self.file, &bytes));
        if let Err(e) = result {
            notices.error(
                "The queue could not be saved; it goes on here. Check free disk space.",
                &e,
            );
        }
    }
}
