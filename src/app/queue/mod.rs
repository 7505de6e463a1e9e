//! The queue: several files dropped at once (or a folder, or `xgen-desk A B C`) summarized one
//! after another, each the way a single document is (read in a child process, then one pass or
//! map-reduce through a [`SummaryRun`] on the shared engine). A file that cannot be read or
//! summarized is marked with the reason and the queue goes on. Each result becomes a
//! conversation with the document attached, so follow-up questions work as for one document.
//!
//! The next file is read while the previous one is summarized, never more than one ahead (a
//! read document can be megabytes); it is also read into the engine while the previous summary
//! is written ([`Ahead`]), and its summary waits for that reading to end. The queue, with the
//! summaries written so far, is saved to one JSON file on every change of state (`saved.rs`), so
//! it survives a restart: work that was under way starts again from the file.
//!
//! The files are plain data (`item.rs`); this state machine updates them from what its jobs
//! report; the panel is `view.rs`.

mod ahead;
mod item;
mod saved;
mod view;

use std::path::PathBuf;

use super::command::{QueueAction, QueueCommand};
use super::document::ReadMessage;
use super::job::{save_markdown, write_markdown, Job};
use super::notices::Notices;
use super::shared::Shared;
use super::store::{ChatMessage, Conversation};
use super::summary_run::{
    mark_read_in_parts, record_summary, request_message, RunError, SummaryRun,
};
use crate::documents::{self, CollectLimits, Collected};
use crate::sources::{with_footnotes, ReplyCheck};
use crate::summarize::report::{report_markdown, ReportEntry, ReportOutcome};
use crate::summarize::Summary;
use ahead::Ahead;
pub use item::{QueueItem, QueueStatus};

/// The file being summarized.
struct Running {
    id: u64,
    run: SummaryRun,
}

/// The queue of files to summarize, and its background work.
pub(crate) struct Queue {
    items: Vec<QueueItem>,
    /// No new work starts; what ran was put back.
    paused: bool,
    /// The panel is shown.
    visible: bool,
    file: PathBuf,
    read_only: bool,
    dirty: bool,
    next_id: u64,
    collecting: Vec<Job<Collected>>,
    reading: Option<(u64, Job<ReadMessage>)>,
    running: Option<Running>,
    /// The next file read ahead into a server slot.
    ahead: Option<Ahead>,
    export: Option<Job<String>>,
}

impl Queue {
    /// A queue with no files, saved in `file`.
    fn empty(file: PathBuf, read_only: bool) -> Self {
        Self {
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
        }
    }

    /// The files, in order.
    pub(crate) fn items(&self) -> &[QueueItem] {
        &self.items
    }

    /// The panel is shown.
    pub(crate) fn is_visible(&self) -> bool {
        self.visible
    }

    /// Something runs in the background (reading, summarizing, listing folders).
    pub(crate) fn is_busy(&self) -> bool {
        self.reading.is_some() || self.running.is_some() || !self.collecting.is_empty()
    }

    /// Adds files and the documents in folders (searched on a worker thread: a folder can be
    /// large) to the end of the queue.
    pub(crate) fn add(&mut self, paths: Vec<PathBuf>, shared: &mut Shared) {
        let job = Job::spawn("xgen-list-documents", &shared.waker, move |r| {
            r.send(
                documents::collect_documents(&paths, &CollectLimits::default()),
                false,
            );
        });
        match job {
            Ok(job) => self.collecting.push(job),
            Err(e) => shared
                .notices
                .error("The files could not be added to the queue.", &e),
        }
        self.visible = true;
    }

    /// Carries out a command of the queue panel.
    pub(crate) fn run(&mut self, command: QueueCommand, shared: &mut Shared) {
        match command {
            QueueCommand::File { id, action } => self.act(id, action),
            QueueCommand::SetPaused(paused) => self.set_paused(paused),
            QueueCommand::ClearFinished => self.clear_finished(),
            QueueCommand::Export { to: Some(path) } => {
                if let Err(failure) = write_markdown(&path, &self.report()) {
                    shared.notices.message(&failure);
                }
            }
            QueueCommand::Export { to: None } => {
                match save_markdown(&shared.waker, "summaries.md".to_owned(), self.report()) {
                    Ok(job) => self.export = Some(job),
                    Err(e) => shared.notices.error("The export could not be started.", &e),
                }
            }
            QueueCommand::Show(visible) => self.visible = visible,
        }
    }

    /// Applies what the background work reported, starts the next work, saves changes. While
    /// `chat_busy` (a reply the person asked for is written), no summary starts: it goes first.
    pub(crate) fn poll(&mut self, shared: &mut Shared, chat_busy: bool) {
        self.poll_collecting(&mut shared.notices);
        self.poll_reading();
        self.poll_running(shared);
        if let Some(job) = self.export.as_mut() {
            for failure in job.drain() {
                shared.notices.message(&failure);
            }
            if job.is_finished() {
                self.export = None;
            }
        }
        if !self.paused {
            self.start_reading(shared);
            if !chat_busy {
                self.start_summary(shared);
            }
            self.read_ahead(shared);
        }
        if self.dirty {
            self.dirty = false;
            self.save(&mut shared.notices);
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
        for message in results {
            let result = match message {
                ReadMessage::Progress(progress) => {
                    // Pages of a scan read by OCR: shown, not saved.
                    item.detail = progress.describe();
                    item.progress = Some(progress.done as f32 / progress.total.max(1) as f32);
                    continue;
                }
                ReadMessage::Done(result) => result,
            };
            item.progress = None;
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

    /// Shows what the summary run reported on its file; once it ended, its result.
    fn poll_running(&mut self, shared: &mut Shared) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let Some(item) = self.items.iter_mut().find(|i| i.id == running.id) else {
            self.running = None;
            return;
        };
        let update = running.run.poll();
        if update.reported {
            let run = &running.run;
            item.summary.push_str(&update.text);
            item.tokens = run.tokens().or(item.tokens);
            item.coverage = run.coverage().or(item.coverage);
            item.detail = if run.is_writing() {
                "Writing the summary".to_owned()
            } else {
                run.status().to_owned()
            };
            item.progress = Some(run.progress());
        }
        let Some(result) = update.done else {
            return;
        };
        if let Some(running) = self.running.take() {
            finish(item, result, &running.run, shared);
        }
        self.dirty = true;
    }

    /// Reads the first waiting file, unless one read file already waits for its turn.
    fn start_reading(&mut self, shared: &Shared) {
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
        let isolation = shared.opts.isolation.clone();
        let job = Job::spawn("xgen-queue-read", &shared.waker, move |r| {
            let cancel = r.cancel_token().clone();
            let result = documents::extract_isolated_reporting(
                &path,
                &isolation,
                &|| cancel.is_cancelled(),
                &|progress| r.send(ReadMessage::Progress(progress), true),
            )
            .map_err(|e| e.to_string());
            r.send(ReadMessage::Done(result), false);
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
    fn start_summary(&mut self, shared: &Shared) {
        if self.running.is_some() {
            return;
        }
        let Some(info) = shared.model.info() else {
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
        let engine = shared.model.backend();
        match SummaryRun::start(
            document,
            &shared.settings,
            engine,
            n_ctx,
            true,
            &shared.waker,
        ) {
            Ok(run) => {
                item.status = QueueStatus::Summarizing;
                run.status().clone_into(&mut item.detail);
                item.progress = Some(0.0);
                item.summary.clear();
                self.running = Some(Running { id: item.id, run });
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
    fn read_ahead(&mut self, shared: &Shared) {
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
        if !self.running.as_ref().is_some_and(|r| r.run.is_writing()) {
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
        let engine = shared.model.backend();
        self.ahead = Ahead::start(next.id, document, &engine, shared.settings.summary_style);
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
    fn act(&mut self, id: u64, action: QueueAction) {
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
    fn set_paused(&mut self, paused: bool) {
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

    /// Stores the checks of summaries (file, text checked, check) in their files, while they
    /// still hold that text.
    pub(crate) fn take_checks(
        &mut self,
        checks: Vec<(u64, String, ReplyCheck)>,
        shared: &mut Shared,
    ) {
        for (id, text, check) in checks {
            if let Some(item) = self
                .items
                .iter_mut()
                .find(|i| i.id == id && i.status == QueueStatus::Done && i.summary == text)
            {
                item.check = Some(check);
                self.dirty = true;
            }
        }
        if self.dirty {
            self.dirty = false;
            self.save(&mut shared.notices);
        }
    }

    /// Takes finished and failed files off the list (their conversations stay).
    fn clear_finished(&mut self) {
        self.items.retain(|i| {
            !matches!(
                i.status,
                QueueStatus::Done | QueueStatus::Failed | QueueStatus::Cancelled
            )
        });
        self.dirty = true;
    }

    /// The report of every summarized file and every failure, as Markdown.
    fn report(&self) -> String {
        // A checked summary carries its sources and unfound claims as footnotes, numbered
        // across the report.
        let mut footnote = 0;
        let texts: Vec<Option<String>> = self
            .items
            .iter()
            .map(|i| {
                let check = i.check.as_ref()?;
                let (text, notes) = with_footnotes(&i.summary, check, &mut footnote)?;
                Some(if notes.is_empty() {
                    text
                } else {
                    format!("{}\n\n{}", text.trim_end(), notes.trim_end())
                })
            })
            .collect();
        let entries: Vec<ReportEntry<'_>> = self
            .items
            .iter()
            .zip(&texts)
            .filter_map(|(i, checked)| {
                let outcome = match (i.status, i.coverage) {
                    (QueueStatus::Done, Some(coverage)) => ReportOutcome::Summary {
                        text: checked.as_deref().unwrap_or(&i.summary),
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
}

/// The summary run of `item` ended: the result becomes a conversation with the document
/// attached (laid out as a summary in the chat is, so follow-up questions reuse its prompt), or
/// the file fails or waits again.
fn finish(
    item: &mut QueueItem,
    result: Result<Summary, RunError>,
    run: &SummaryRun,
    shared: &mut Shared,
) {
    let summary = match result {
        Ok(summary) if summary.cancelled => {
            item.set_idle(QueueStatus::Cancelled, "Cancelled");
            return;
        }
        Ok(summary) => summary,
        Err(RunError::Interrupted(_)) => {
            item.set_idle(QueueStatus::Read, "Waits for the model");
            return;
        }
        Err(RunError::Failed(reason)) => {
            item.set_idle(QueueStatus::Failed, &reason);
            return;
        }
    };
    let Some(document) = item.document.take() else {
        item.set_idle(QueueStatus::Waiting, "");
        return;
    };
    item.status = QueueStatus::Done;
    item.progress = None;
    item.coverage = Some(summary.coverage);
    item.summary.clone_from(&summary.text);
    item.detail = format!(
        "{:.0} s, {} model call{}",
        summary.total_secs,
        summary.model_calls,
        if summary.model_calls == 1 { "" } else { "s" }
    );
    let mut request = request_message(&document, run.style());
    let mut reply = ChatMessage::assistant(summary.text.clone());
    if !summary.single_pass {
        mark_read_in_parts(&mut request);
    }
    record_summary(
        &mut request,
        &mut reply,
        &summary,
        run.notes(),
        &document.name,
    );
    let mut conversation = Conversation::new();
    conversation.title.clone_from(&document.name);
    conversation.messages = vec![request, reply];
    conversation.document = Some(document);
    item.conversation = Some(conversation.id.clone());
    let id = conversation.id.clone();
    shared.conversations.add(conversation, &mut shared.notices);
    // Checked against the document (never the notes of a summary in parts), off this thread.
    if let Some(conversation) = shared.conversations.by_id(&id) {
        shared
            .checks
            .check_queue_summary(item.id, conversation, 1, &shared.waker);
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
