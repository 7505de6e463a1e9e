//! The files of the queue: where each stands, what is known of it and its summary. Plain data,
//! saved with the queue.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::documents::{Document, Format};
use crate::sources::ReplyCheck;
use crate::summarize::Coverage;

/// Where a file of the queue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueStatus {
    /// Waiting for its turn.
    Waiting,
    /// Being read, in a child process.
    Reading,
    /// Read; waiting for the model (the file after the one being summarized).
    Read,
    /// Being summarized.
    Summarizing,
    /// Summarized; the result is a conversation.
    Done,
    /// Could not be read or summarized; the item's `detail` says why.
    Failed,
    /// Held until resumed.
    Paused,
    /// Cancelled (Retry puts it back in the queue).
    Cancelled,
}

impl QueueStatus {
    /// A word for the panel.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Reading => "Reading",
            Self::Read => "Read, next",
            Self::Summarizing => "Summarizing",
            Self::Done => "Done",
            Self::Failed => "Failed",
            Self::Paused => "Paused",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Still to be summarized (and not held).
    #[must_use]
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Reading | Self::Read | Self::Summarizing
        )
    }
}

/// One file of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Unique within the queue.
    pub id: u64,
    /// The file.
    #[serde(with = "crate::paths::any_path")]
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// The format it was read as, once read.
    pub format: Option<Format>,
    /// Tokens of its text, once counted.
    pub tokens: Option<usize>,
    /// Where it stands.
    pub status: QueueStatus,
    /// What it is doing, or why it failed, in words.
    pub detail: String,
    /// Parts read of all parts, once planned.
    pub coverage: Option<Coverage>,
    /// The summary (streamed while it is written).
    pub summary: String,
    /// The conversation that holds the result, for follow-up questions.
    pub conversation: Option<String>,
    /// The summary checked against the document (its sources, the claims it does not make),
    /// once checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<ReplyCheck>,
    /// How far the current step is, 0 to 1 (not saved).
    #[serde(skip)]
    pub progress: Option<f32>,
    /// The text, read and not yet summarized (not saved: read again after a restart).
    #[serde(skip)]
    pub(crate) document: Option<Document>,
}

impl QueueItem {
    pub(crate) fn new(id: u64, path: PathBuf) -> Self {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self {
            id,
            path,
            name,
            format: None,
            tokens: None,
            status: QueueStatus::Waiting,
            detail: String::new(),
            coverage: None,
            summary: String::new(),
            conversation: None,
            check: None,
            progress: None,
            document: None,
        }
    }

    /// Back to a state nothing runs in: `status`, the summary under way dropped.
    pub(crate) fn set_idle(&mut self, status: QueueStatus, detail: &str) {
        self.status = status;
        detail.clone_into(&mut self.detail);
        self.progress = None;
        self.summary.clear();
        self.check = None;
        if matches!(status, QueueStatus::Failed | QueueStatus::Cancelled) {
            self.document = None;
        }
    }
}
