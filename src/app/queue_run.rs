//! The summary of one file of the queue: a job on its own thread that runs the summarizer
//! over the shared engine (one pass or map-reduce, as for a single document), the progress it
//! reports, and its result turned into a conversation with the document attached; and the
//! next file read ahead into a spare server slot while this one is written ([`Ahead`]).

use super::conversations::Conversations;
use super::job::{Job, Waker};
use super::queue::{QueueItem, QueueStatus};
use super::settings::{style_label, Settings};
use super::store::{ChatMessage, Conversation, ReplyStats};
use super::Notices;
use crate::backend::Backend;
use crate::documents::Document;
use crate::engine::{CachePrefix, EngineError, PrereadEvent, PrereadHandle, PrereadRequest};
use crate::prompt::{document_len, summarize_request, SummaryStyle};
use crate::summarize::{
    self, Coverage, EngineModel, Phase, Progress, SummarizeError, SummarizeOptions, Summary,
};

/// What a summary job reports.
pub(crate) enum Msg {
    Prefill(usize, usize),
    Progress(Progress),
    Piece(String),
    Done(Result<Summary, Stop>),
}

/// Why a summary job ended without a summary.
pub(crate) enum Stop {
    /// The engine stopped or lost its model: the file waits for the model to come back.
    Interrupted,
    /// This file cannot be summarized.
    Failed(String),
}

/// The file being summarized.
pub(crate) struct Running {
    pub(crate) id: u64,
    job: Job<Msg>,
    style: SummaryStyle,
    max_tokens: u32,
    /// Notes on each part, for follow-up questions when the document was read in parts.
    notes: Vec<String>,
    parts: usize,
    parts_read: usize,
    /// In a step that reads the document (one pass or a part), not in combining or writing.
    reading: bool,
    prefill: f32,
    written: usize,
}

impl Running {
    /// Starts summarizing `document` (file `id`) with the style, length and sampling of
    /// `settings`.
    pub(crate) fn start(
        id: u64,
        document: Document,
        engine: Backend,
        n_ctx: u32,
        settings: &Settings,
        waker: &Waker,
    ) -> std::io::Result<Self> {
        let style = settings.summary_style;
        let max_tokens = settings.summary_length.max_tokens();
        let options = SummarizeOptions::new(style, max_tokens);
        let sampling = settings.sampling.clone();
        let job = Job::spawn("xgen-queue-summarize", waker, move |r| {
            let mut model =
                EngineModel::new(&*engine, n_ctx, sampling).with_document(&document, style);
            model.on_prefill = Some(Box::new(|done, total| {
                r.send(Msg::Prefill(done, total), true);
            }));
            let result = summarize::summarize(
                &mut model,
                &document,
                &options,
                r.cancel_token(),
                &mut |p| r.send(Msg::Progress(p.clone()), true),
                &mut |piece| r.send(Msg::Piece(piece.to_owned()), true),
            )
            .map_err(|e| match e {
                SummarizeError::Engine(EngineError::Stopped(_) | EngineError::NoModel) => {
                    Stop::Interrupted
                }
                other => Stop::Failed(crate::error_text::chain(&other)),
            });
            r.send(Msg::Done(result), false);
        });
        Ok(Self {
            id,
            job: job?,
            style,
            max_tokens,
            notes: Vec::new(),
            parts: 1,
            parts_read: 0,
            reading: false,
            prefill: 0.0,
            written: 0,
        })
    }

    /// The final summary is being streamed: the document (or its last part) has been read,
    /// and one request of the engine is in use.
    pub(crate) fn is_writing(&self) -> bool {
        self.written > 0
    }

    /// Applies what the job reported to `item`; the end, once the job ended.
    pub(crate) fn poll(&mut self, item: &mut QueueItem) -> Option<Result<Summary, Stop>> {
        let messages = self.job.drain();
        for message in messages {
            match message {
                Msg::Prefill(done, total) => {
                    let fraction = done as f32 / total.max(1) as f32;
                    self.prefill = fraction;
                }
                Msg::Progress(progress) => self.on_progress(item, progress),
                Msg::Piece(text) => {
                    if self.written == 0 {
                        "Writing the summary".clone_into(&mut item.detail);
                    }
                    self.written += 1;
                    item.summary.push_str(&text);
                }
                Msg::Done(result) => return Some(result),
            }
            item.progress = Some(self.progress());
        }
        self.job
            .is_finished()
            .then(|| Err(Stop::Failed("the summary stopped unexpectedly".to_owned())))
    }

    /// Reading counts for most of the time on a CPU: 80 %, writing the rest.
    fn progress(&self) -> f32 {
        let current = if self.reading { self.prefill } else { 0.0 };
        let read = if self.written > 0 {
            1.0
        } else {
            ((self.parts_read as f32 + current) / self.parts.max(1) as f32).min(1.0)
        };
        let written = (self.written as f32 / self.max_tokens.max(1) as f32).min(1.0);
        0.8 * read + 0.2 * written
    }

    fn on_progress(&mut self, item: &mut QueueItem, progress: Progress) {
        match progress {
            Progress::Planned {
                document_tokens,
                parts,
                ..
            } => {
                item.tokens = Some(document_tokens);
                item.coverage = Some(Coverage {
                    read: 0,
                    total: parts,
                });
                self.parts = parts;
            }
            Progress::Step {
                phase, coverage, ..
            } => {
                item.coverage = Some(coverage);
                self.parts_read = coverage.read;
                self.prefill = 0.0;
                self.reading = matches!(phase, Phase::SinglePass | Phase::Read { .. });
                item.detail = match phase {
                    Phase::SinglePass => "Reading the document".to_owned(),
                    Phase::Read { part, parts } => format!("Reading part {part} of {parts}"),
                    Phase::Combine {
                        round,
                        group,
                        groups,
                    } => format!("Combining notes (round {round}, group {group} of {groups})"),
                    Phase::Final { inputs } => format!("Writing the summary from {inputs} notes"),
                };
            }
            Progress::Partial {
                phase,
                location,
                text,
                coverage,
                ..
            } => {
                item.coverage = Some(coverage);
                self.parts_read = coverage.read;
                if let Phase::Read { part, parts } = phase {
                    let place = location.map_or_else(String::new, |l| format!(", {l}"));
                    self.notes
                        .push(format!("[Part {part} of {parts}{place}] {}", text.trim()));
                }
            }
        }
    }

    /// The job ended: the result becomes a conversation, or the file fails or waits again.
    pub(crate) fn finish(
        self,
        item: &mut QueueItem,
        result: Result<Summary, Stop>,
        conversations: &mut Conversations,
        notices: &mut Notices,
    ) {
        let summary = match result {
            Ok(summary) if summary.cancelled => {
                item.set_idle(QueueStatus::Cancelled, "Cancelled");
                return;
            }
            Ok(summary) => summary,
            Err(Stop::Interrupted) => {
                item.set_idle(QueueStatus::Read, "Waits for the model");
                return;
            }
            Err(Stop::Failed(reason)) => {
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
        let conversation = result_conversation(document, &summary, self.style, self.notes);
        item.conversation = Some(conversation.id.clone());
        conversations.add(conversation, notices);
    }
}

/// The next file of the queue, read ahead while the file before it is written.
///
/// Where requests are answered side by side (a server with several slots), the summary being
/// written holds one slot and another reads the next file's one-pass prompt up to the end of
/// its document, so that its summary then reads only the request (llama-server gives a request
/// the slot whose cache shares most with it). The local engine reads it in a second context of
/// its own, between the steps of the summary being written, where memory allows
/// ([`crate::engine::Engine::preread_alongside`]), and hands it over through the disk state
/// cache. A document longer than the context ends at once, having read nothing (it is read in
/// parts).
pub(crate) struct Ahead {
    pub(crate) id: u64,
    handle: PrereadHandle,
}

impl Ahead {
    /// Starts reading `document` (file `id`) ahead: in a second context of the local engine,
    /// or on a server that answers several requests at once; `None` on one that does not.
    pub(crate) fn start(
        id: u64,
        document: &Document,
        engine: &Backend,
        style: SummaryStyle,
    ) -> Option<Self> {
        let request = PrereadRequest {
            messages: summarize::single_pass_messages(document, style),
            prefix: CachePrefix::Document {
                message: 0,
                bytes: document_len(&document.text),
            },
        };
        let handle = match engine {
            Backend::Local(engine) => engine.preread_alongside(request),
            _ if engine.parallel_slots() >= 2 => engine.preread(request),
            _ => return None,
        };
        Some(Self { id, handle })
    }

    /// What to show for the file from what arrived since the last call: the tokens read so far
    /// and in all, or why it is not read ahead (not enough memory for a second context, …).
    /// A failure only ends the reading ahead: the summary reads the document itself.
    pub(crate) fn poll(&mut self) -> Option<String> {
        let mut last = None;
        while let Ok(Some(event)) = self.handle.try_recv() {
            last = Some(match event {
                PrereadEvent::Progress { done, total } | PrereadEvent::Done { done, total, .. } => {
                    format!("Read ahead: {done} of {total} tokens")
                }
                PrereadEvent::Failed(error) => format!("Not read ahead: {error}"),
            });
        }
        last
    }

    /// The reading ahead ended (done, failed, or nothing to read).
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// A conversation that holds `document` and its summary, laid out as the document panel's
/// own summary is, so follow-up questions reuse the same prompt.
fn result_conversation(
    document: Document,
    summary: &Summary,
    style: SummaryStyle,
    notes: Vec<String>,
) -> Conversation {
    let mut request = ChatMessage::user(summarize_request(&document.text, style));
    request.label = Some(format!("{} of **{}**", style_label(style), document.name));
    let mut reply = ChatMessage::assistant(summary.text.clone());
    reply.stats = summary.final_timings.as_ref().map(ReplyStats::from);
    if !summary.single_pass {
        if let Some(label) = request.label.as_mut() {
            label.push_str(" (read in parts)");
        }
        // Follow-up questions are answered from the notes on each part, which fit in the
        // context where the whole document does not.
        if !notes.is_empty() {
            request.content = format!(
                "Here are notes on {}, part by part:\n\n{}\n\nPlease summarize the document from these notes.",
                document.name,
                notes.join("\n\n")
            );
        }
        reply.label = Some(format!(
            "{}\n\n*Read in {} parts ({:.0}% of the document), {} model calls, {:.0} s.*",
            summary.text.trim_end(),
            summary.coverage.total,
            summary.coverage.percent(),
            summary.model_calls,
            summary.total_secs
        ));
    }
    let mut conversation = Conversation::new();
    conversation.title.clone_from(&document.name);
    conversation.messages = vec![request, reply];
    conversation.document = Some(document);
    conversation
}
