//! The queue: several files dropped at once (or a folder, or `xgen-desk A B C`) summarized one
//! after another, each the way a single document is (read in a child process, then one pass or
//! map-reduce through the summarizer on the shared engine). A file that cannot be read or
//! summarized is marked with the reason and the queue goes on. Each result becomes a
//! conversation with the document attached, so follow-up questions work as for one document.
//!
//! The next file is read while the previous one is summarized, never more than one ahead (a
//! read document can be megabytes); on a server with several slots its document is also read
//! into a spare slot while the previous summary is written ([`Ahead`]), and its summary waits
//! for that reading to end. The queue, with the summaries written so far, is saved to
//! one JSON file on every change of state (atomically; never from a read-only second window),
//! so it survives a restart: work that was under way starts again from the file.
//!
//! Longer than 600 lines: the queue's state, its persistence and its per-file actions form one
//! state machine; the summary job is in `queue_run.rs`, the panel in `queue_view.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::conversations::Conversations;
use super::job::{Job, Waker};
use super::model::ModelSlot;
use super::queue_run::{Ahead, Running};
use super::settings::Settings;
use super::Notices;
use crate::documents::{self, CollectLimits, Collected, Document, Format};
use crate::isolate::Isolation;
use crate::summarize::report::{report_markdown, ReportEntry, ReportOutcome};
use crate::summarize::Coverage;

/// The version of the saved queue's format.
const FORMAT_VERSION: u32 = 1;

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
    /// How far the current step is, 0 to 1 (not saved).
    #[serde(skip)]
    pub progress: Option<f32>,
    /// The text, read and not yet summarized (not saved: read again after a restart).
    #[serde(skip)]
    pub(crate) document: Option<Document>,
}

impl QueueItem {
    fn new(id: u64, path: PathBuf) -> Self {
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
        if matches!(status, QueueStatus::Failed | QueueStatus::Cancelled) {
            self.document = None;
        }
    }
}

/// What the panel's buttons do to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// Hold a waiting or running file (what it wrote so far is dropped).
    Pause,
    /// Put a paused file back in the queue.
    Resume,
    /// Stop a file and take it out of the queue's work.
    Cancel,
    /// Put a failed or cancelled file back in the queue.
    Retry,
    /// Take a file that is not running off the list (its conversation stays).
    Remove,
}

/// The saved form.
#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    paused: bool,
    items: Vec<QueueItem>,
}

/// What the queue uses of the rest of the app each frame.
pub(crate) struct QueueEnv<'a> {
    pub(crate) isolation: &'a Isolation,
    pub(crate) waker: &'a Waker,
    pub(crate) model: &'a ModelSlot,
    pub(crate) settings: &'a Settings,
    /// A chat reply or a document's summary is being written.
    pub(crate) chat_busy: bool,
}

/// The queue of files to summarize, and its background work.
pub(crate) struct Queue {
    items: Vec<QueueItem>,
    /// No new work starts; what ran was put back.
    paused: bool,
    /// The panel is shown.
    pub(crate) visible: bool,
    file: PathBuf,
    read_only: bool,
    dirty: bool,
    next_id: u64,
    collecting: Vec<Job<Collected>>,
    reading: Option<(u64, Job<Result<Document, String>>)>,
    running: Option<Running>,
    /// The next file read ahead into a server slot.
    ahead: Option<Ahead>,
    export: Option<Job<String>>,
}

impl Queue {
    /// The queue saved in `file` (none yet: empty). Work that was under way when the app
    /// ended waits for its turn again. A read-only window never writes the file and starts
    /// paused.
    pub(crate) fn load(file: PathBuf, read_only: bool, notices: &mut Notices) -> Self {
        let mut queue = Self {
            items: Vec::new(),
            paused: false,
            visible: false,
            file,
            read_only,
            dirty: false,
            next_id: 1,
            collecting: Vec::new(),
            reading: None,
            running: None,
            ahead: None,
            export: None,
        };
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

    /// The files, in order.
    pub(crate) fn items(&self) -> &[QueueItem] {
        &self.items
    }

    /// No new work starts while paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Something runs in the background (reading, summarizing, listing folders).
    pub(crate) fn is_busy(&self) -> bool {
        self.reading.is_some() || self.running.is_some() || !self.collecting.is_empty()
    }

    /// Adds files and the documents in folders (searched on a worker thread: a folder can be
    /// large) to the end of the queue.
    pub(crate) fn add(&mut self, paths: Vec<PathBuf>, waker: &Waker, notices: &mut Notices) {
        let job = Job::spawn("xgen-list-documents", waker, move |r| {
            r.send(
                documents::collect_documents(&paths, &CollectLimits::default()),
                false,
            );
        });
        match job {
            Ok(job) => self.collecting.push(job),
            Err(e) => notices.error("The files could not be added to the queue.", &e),
        }
        self.visible = true;
    }

    /// Applies what the background work reported, starts the next work, saves changes.
    pub(crate) fn poll(
        &mut self,
        env: &QueueEnv<'_>,
        conversations: &mut Conversations,
        notices: &mut Notices,
    ) {
        self.poll_collecting(notices);
        self.poll_reading();
        self.poll_running(conversations, notices);
        if let Some(job) = self.export.as_mut() {
            for failure in job.drain() {
                notices.message(&failure);
            }
            if job.is_finished() {
                self.export = None;
            }
        }
        if !self.paused {
            self.start_reading(env.isolation, env.waker);
            // A reply the person asked for goes first: the next file waits for it.
            if !env.chat_busy {
                self.start_summary(env.waker, env.model, env.settings);
            }
            self.read_ahead(env.model, env.settings);
        }
        if self.dirty {
            self.dirty = false;
            self.save(notices);
        }
    }

    fn poll_collecting(&mut self, notices: &mut Notices) {
        let mut found = Vec::new();
        self.collecting.retain_mut(|job| {
            found.extend(job.drain());
            !job.is_finished()
        });
        for collected in found {
            for note in &collected.notes {
                notices.message(&sentence(note));
            }
            for path in collected.files {
                let queued = self
                    .items
                    .iter()
                    .any(|i| i.path == path && i.status.is_pending());
                if !queued {
                    self.items.push(QueueItem::new(self.next_id, path));
                    self.next_id += 1;
                    self.dirty = true;
                }
            }
        }
    }

    fn poll_reading(&mut self) {
        let Some((id, job)) = self.reading.as_mut() else {
            return;
        };
        let id = *id;
        let results = job.drain();
        let finished = job.is_finished();
        let Some(item) = self.items.iter_mut().find(|i| i.id == id) else {
            self.reading = None;
            return;
        };
        for result in results {
            match result {
                Ok(document) => {
                    item.format = Some(document.format);
                    item.document = Some(document);
                    item.status = QueueStatus::Read;
                    item.detail.clear();
                }
                // The readers' messages say what was wrong and what to do, in words.
                Err(reason) => item.set_idle(QueueStatus::Failed, &reason),
            }
            self.dirty = true;
        }
        if finished {
            if item.status == QueueStatus::Reading {
                item.set_idle(
                    QueueStatus::Failed,
                    "the document reader stopped unexpectedly",
                );
                self.dirty = true;
            }
            self.reading = None;
        }
    }

    fn poll_running(&mut self, conversations: &mut Conversations, notices: &mut Notices) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let Some(item) = self.items.iter_mut().find(|i| i.id == run.id) else {
            self.running = None;
            return;
        };
        let Some(result) = run.poll(item) else {
            return;
        };
        if let Some(run) = self.running.take() {
            run.finish(item, result, conversations, notices);
        }
        self.dirty = true;
    }

    /// Reads the first waiting file, unless one read file already waits for its turn.
    fn start_reading(&mut self, isolation: &Isolation, waker: &Waker) {
        if self.reading.is_some() || self.items.iter().any(|i| i.status == QueueStatus::Read) {
            return;
        }
        let Some(item) = self
            .items
            .iter_mut()
            .find(|i| i.status == QueueStatus::Waiting)
        else {
            return;
        };
        let path = item.path.clone();
        let isolation = isolation.clone();
        let job = Job::spawn("xgen-queue-read", waker, move |r| {
            let cancel = r.cancel_token().clone();
            let result =
                documents::extract_isolated_until(&path, &isolation, &|| cancel.is_cancelled())
                    .map_err(|e| e.to_string());
            r.send(result, false);
        });
        match job {
            Ok(job) => {
                item.status = QueueStatus::Reading;
                "Reading the file".clone_into(&mut item.detail);
                self.reading = Some((item.id, job));
            }
            Err(e) => item.set_idle(
                QueueStatus::Failed,
                &format!("could not start reading it: {e}"),
            ),
        }
        self.dirty = true;
    }

    /// Summarizes the first read file once the engine has a model and nothing else of the
    /// queue runs.
    fn start_summary(&mut self, waker: &Waker, model: &ModelSlot, settings: &Settings) {
        if self.running.is_some() {
            return;
        }
        let Some(info) = model.info() else {
            return;
        };
        let n_ctx = info.n_ctx;
        let Some(item) = self
            .items
            .iter_mut()
            .find(|i| i.status == QueueStatus::Read)
        else {
            return;
        };
        // Being read into a server slot: its summary starts from there once that ends.
        if self
            .ahead
            .as_ref()
            .is_some_and(|a| a.id == item.id && !a.is_finished())
        {
            return;
        }
        let Some(document) = item.document.clone() else {
            item.set_idle(QueueStatus::Waiting, "");
            return;
        };
        match Running::start(item.id, document, model.backend(), n_ctx, settings, waker) {
            Ok(run) => {
                item.status = QueueStatus::Summarizing;
                "Planning".clone_into(&mut item.detail);
                item.progress = Some(0.0);
                item.summary.clear();
                self.running = Some(run);
            }
            Err(e) => item.set_idle(
                QueueStatus::Failed,
                &format!("could not start the summary: {e}"),
            ),
        }
        self.dirty = true;
    }

    /// While a summary is written, reads the next read file ahead: into a spare server slot,
    /// or into a second context of the local engine (see [`Ahead`]); one file at a time.
    fn read_ahead(&mut self, model: &ModelSlot, settings: &Settings) {
        if let Some(ahead) = self.ahead.as_mut() {
            if let Some(detail) = ahead.poll() {
                if let Some(item) = self
                    .items
                    .iter_mut()
                    .find(|i| i.id == ahead.id && i.status == QueueStatus::Read)
                {
                    item.detail = detail;
                }
            }
            if !ahead.is_finished() {
                return;
            }
        }
        if !self.running.as_ref().is_some_and(Running::is_writing) {
            return;
        }
        let Some(next) = self.items.iter().find(|i| i.status == QueueStatus::Read) else {
            return;
        };
        if self.ahead.as_ref().is_some_and(|a| a.id == next.id) {
            return;
        }
        let Some(document) = next.document.as_ref() else {
            return;
        };
        self.ahead = Ahead::start(next.id, document, &model.backend(), settings.summary_style);
    }

    /// Stops whatever runs for file `id` (dropping a job stops its work).
    fn stop_work(&mut self, id: u64) {
        if self.reading.as_ref().is_some_and(|(i, _)| *i == id) {
            self.reading = None;
        }
        if self.running.as_ref().is_some_and(|r| r.id == id) {
            self.running = None;
        }
        if self.ahead.as_ref().is_some_and(|a| a.id == id) {
            self.ahead = None;
        }
    }

    /// A button of file `id`.
    pub(crate) fn act(&mut self, id: u64, action: QueueAction) {
        let Some(index) = self.items.iter().position(|i| i.id == id) else {
            return;
        };
        let status = self.items[index].status;
        match action {
            QueueAction::Pause if status.is_pending() => {
                self.stop_work(id);
                self.items[index].set_idle(QueueStatus::Paused, "Paused");
            }
            QueueAction::Resume if status == QueueStatus::Paused => {
                let item = &mut self.items[index];
                let next = if item.document.is_some() {
                    QueueStatus::Read
                } else {
                    QueueStatus::Waiting
                };
                item.set_idle(next, "");
            }
            QueueAction::Cancel if status.is_pending() || status == QueueStatus::Paused => {
                self.stop_work(id);
                self.items[index].set_idle(QueueStatus::Cancelled, "Cancelled");
            }
            QueueAction::Retry
                if matches!(status, QueueStatus::Failed | QueueStatus::Cancelled) =>
            {
                let item = &mut self.items[index];
                item.set_idle(QueueStatus::Waiting, "");
                item.coverage = None;
                item.tokens = None;
            }
            QueueAction::Remove
                if !matches!(status, QueueStatus::Reading | QueueStatus::Summarizing) =>
            {
                self.items.remove(index);
            }
            _ => return,
        }
        self.dirty = true;
    }

    /// Pauses the whole queue (what runs is put back, in its place) or resumes it.
    pub(crate) fn set_paused(&mut self, paused: bool) {
        if paused {
            self.interrupt();
        }
        self.paused = paused;
        self.dirty = true;
    }

    /// Stops what runs and puts it back in its place (the model is being replaced).
    pub(crate) fn interrupt(&mut self) {
        self.reading = None;
        self.running = None;
        self.ahead = None;
        for item in &mut self.items {
            match item.status {
                QueueStatus::Reading => item.set_idle(QueueStatus::Waiting, ""),
                QueueStatus::Summarizing => item.set_idle(QueueStatus::Read, ""),
                _ => continue,
            }
            self.dirty = true;
        }
    }

    /// Takes finished and failed files off the list (their conversations stay).
    pub(crate) fn clear_finished(&mut self) {
        self.items.retain(|i| {
            !matches!(
                i.status,
                QueueStatus::Done | QueueStatus::Failed | QueueStatus::Cancelled
            )
        });
        self.dirty = true;
    }

    /// The report of every summarized file and every failure, as Markdown.
    pub(crate) fn report(&self) -> String {
        let entries: Vec<ReportEntry<'_>> = self
            .items
            .iter()
            .filter_map(|i| {
                let outcome = match (i.status, i.coverage) {
                    (QueueStatus::Done, Some(coverage)) => ReportOutcome::Summary {
                        text: &i.summary,
                        coverage,
                    },
                    (QueueStatus::Failed, _) => ReportOutcome::Failed { reason: &i.detail },
                    _ => return None,
                };
                Some(ReportEntry {
                    name: &i.name,
                    source: &i.path,
                    format: i.format,
                    tokens: i.tokens,
                    outcome,
                })
            })
            .collect();
        report_markdown(&entries)
    }

    /// Writes [`Queue::report`] to `path` (the export without the dialog).
    pub(crate) fn export_to(&self, path: &Path) -> Result<()> {
        xgen_quantize::fsio::write_atomic(path, self.report().as_bytes())
            .with_context(|| format!("could not write {}", path.display()))
    }

    /// Asks where to save the report (off the UI thread), then writes it.
    pub(crate) fn export(&mut self, waker: &Waker, notices: &mut Notices) {
        let report = self.report();
        let job = Job::spawn("xgen-export-queue", waker, move |r| {
            let Some(path) = rfd::FileDialog::new()
                .set_file_name("summaries.md")
                .add_filter("Markdown", &["md"])
                .save_file()
            else {
                return;
            };
            if let Err(e) = xgen_quantize::fsio::write_atomic(&path, report.as_bytes()) {
                r.send(format!("could not write {}: {e}", path.display()), false);
            }
        });
        match job {
            Ok(job) => self.export = Some(job),
            Err(e) => notices.error("The export could not be started.", &e),
        }
    }

    fn save(&self, notices: &mut Notices) {
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
            .and_then(|bytes| xgen_quantize::fsio::write_atomic(&self.file, &bytes));
        if let Err(e) = result {
            notices.error(
                "The queue could not be saved; it goes on here. Check free disk space.",
                &e,
            );
        }
    }
}

/// A note (`x could not be listed: ...`) as a sentence for a notice.
fn sentence(note: &str) -> String {
    let mut chars = note.chars();
    let mut s: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}
