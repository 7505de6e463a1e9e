//! One summary run, used by the chat (a document that does not fit is read in parts) and by the
//! queue (each file): the summarizer on a thread of its own over the shared engine, one pass or
//! map-reduce; what it reports, kept for the screen (what it does in words, the coverage, the
//! document's tokens, a progress fraction, the notes on each part); and the messages its result
//! becomes, the same for a chat and for a file of the queue.

use super::job::{Job, Waker};
use super::settings::Settings;
use super::store::{ChatMessage, ReplyStats};
use crate::backend::Backend;
use crate::documents::Document;
use crate::engine::EngineError;
use crate::prompt::{summarize_request, SummaryStyle};
use crate::summarize::{
    self, Coverage, EngineModel, PartNotes, Phase, Progress, SummarizeError, SummarizeOptions,
    Summary,
};

/// What the run's thread reports.
enum Msg {
    Prefill(usize, usize),
    Progress(Progress),
    Piece(String),
    Done(Result<Summary, RunError>),
}

/// Why a run ended without a summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunError {
    /// The engine stopped or lost its model: the document can be summarized once it is back.
    Interrupted(String),
    /// This document cannot be summarized.
    Failed(String),
}

impl RunError {
    /// What went wrong, the whole chain.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Interrupted(message) | Self::Failed(message) => message,
        }
    }
}

/// What arrived since the last poll.
#[derive(Default)]
pub(crate) struct RunUpdate {
    /// Text of the summary written since.
    pub(crate) text: String,
    /// Something was reported: the status, coverage and progress may have changed.
    pub(crate) reported: bool,
    /// The run ended, with this result.
    pub(crate) done: Option<Result<Summary, RunError>>,
}

/// A summary being written.
pub(crate) struct SummaryRun {
    job: Job<Msg>,
    style: SummaryStyle,
    max_tokens: u32,
    status: String,
    coverage: Option<Coverage>,
    tokens: Option<usize>,
    notes: PartNotes,
    /// In a step that reads the document (one pass or a part), not in combining or writing.
    reading: bool,
    prefill: f32,
    /// Pieces of the final summary received.
    written: usize,
}

impl SummaryRun {
    /// Starts summarizing `document` with the style, length and sampling of `settings` on
    /// `engine`, whose context holds `n_ctx` tokens. With `cache_document`, a one-pass summary
    /// keeps the document in the disk state cache (and finds it there when it was read ahead).
    ///
    /// # Errors
    /// When no thread can be started.
    pub(crate) fn start(
        document: Document,
        settings: &Settings,
        engine: Backend,
        n_ctx: u32,
        cache_document: bool,
        waker: &Waker,
    ) -> std::io::Result<Self> {
        let style = settings.summary_style;
        let max_tokens = settings.summary_length.max_tokens();
        let options = SummarizeOptions::new(style, max_tokens);
        let sampling = settings.sampling.clone();
        let job = Job::spawn("xgen-summarize", waker, move |r| {
            let mut model = EngineModel::new(&*engine, n_ctx, sampling);
            if cache_document {
                model = model.with_document(&document, style);
            }
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
            .map_err(|e| {
                let message = crate::error_text::chain(&e);
                match e {
                    SummarizeError::Engine(EngineError::Stopped(_) | EngineError::NoModel) => {
                        RunError::Interrupted(message)
                    }
                    _ => RunError::Failed(message),
                }
            });
            r.send(Msg::Done(result), false);
        })?;
        Ok(Self {
            job,
            style,
            max_tokens,
            status: "Planning…".to_owned(),
            coverage: None,
            tokens: None,
            notes: PartNotes::default(),
            reading: false,
            prefill: 0.0,
            written: 0,
        })
    }

    /// Asks the run to stop (its summary ends marked as cancelled).
    pub(crate) fn cancel(&self) {
        self.job.cancel();
    }

    /// What arrived since the last call; once the run ended, its result.
    pub(crate) fn poll(&mut self) -> RunUpdate {
        let mut update = RunUpdate::default();
        for message in self.job.drain() {
            update.reported = true;
            match message {
                Msg::Prefill(done, total) => self.prefill = done as f32 / total.max(1) as f32,
                Msg::Progress(progress) => self.on_progress(&progress),
                Msg::Piece(text) => {
                    self.written += 1;
                    update.text.push_str(&text);
                }
                Msg::Done(result) => {
                    update.done = Some(result);
                    return update;
                }
            }
        }
        if self.job.is_finished() {
            update.done = Some(Err(RunError::Failed(
                "the summary stopped unexpectedly".to_owned(),
            )));
        }
        update
    }

    fn on_progress(&mut self, progress: &Progress) {
        self.notes.record(progress);
        match progress {
            Progress::Planned {
                document_tokens,
                parts,
                ..
            } => {
                self.tokens = Some(*document_tokens);
                self.coverage = Some(Coverage {
                    read: 0,
                    total: *parts,
                });
            }
            Progress::Step {
                phase, coverage, ..
            } => {
                self.coverage = Some(*coverage);
                self.prefill = 0.0;
                self.reading = matches!(phase, Phase::SinglePass | Phase::Read { .. });
                self.status = phase_label(phase);
            }
            Progress::Partial { coverage, .. } => self.coverage = Some(*coverage),
        }
    }

    /// What it is doing, in words ("Reading part 2 of 5").
    pub(crate) fn status(&self) -> &str {
        &self.status
    }

    /// Parts read of all parts, once planned.
    pub(crate) fn coverage(&self) -> Option<Coverage> {
        self.coverage
    }

    /// Tokens of the document, once counted.
    pub(crate) fn tokens(&self) -> Option<usize> {
        self.tokens
    }

    /// The notes on each part read so far.
    pub(crate) fn notes(&self) -> &PartNotes {
        &self.notes
    }

    /// The style it summarizes in.
    pub(crate) fn style(&self) -> SummaryStyle {
        self.style
    }

    /// The final summary is being streamed: the document (or its last part) has been read,
    /// and one request of the engine is in use.
    pub(crate) fn is_writing(&self) -> bool {
        self.written > 0
    }

    /// How far it is, 0 to 1: reading counts for most of the time on a CPU (80 %), writing
    /// for the rest.
    pub(crate) fn progress(&self) -> f32 {
        let parts = self.coverage.map_or(1, |c| c.total).max(1);
        let parts_read = self.coverage.map_or(0, |c| c.read);
        let current = if self.reading { self.prefill } else { 0.0 };
        let read = if self.written > 0 {
            1.0
        } else {
            ((parts_read as f32 + current) / parts as f32).min(1.0)
        };
        let written = (self.written as f32 / self.max_tokens.max(1) as f32).min(1.0);
        0.8 * read + 0.2 * written
    }
}

/// What a model call of the summary does, in words.
fn phase_label(phase: &Phase) -> String {
    match phase {
        Phase::SinglePass => "Reading the document".to_owned(),
        Phase::Read { part, parts } => format!("Reading part {part} of {parts}"),
        Phase::Combine {
            round,
            group,
            groups,
        } => format!("Combining notes (round {round}, group {group} of {groups})"),
        Phase::Final { inputs } => format!("Writing the summary from {inputs} notes"),
    }
}

/// The message that asks for a summary of `document` in `style`, shown as "Bullet points of
/// **report.pdf**".
pub(crate) fn request_message(document: &Document, style: SummaryStyle) -> ChatMessage {
    let mut message = ChatMessage::user(summarize_request(&document.text, style));
    message.label = Some(format!("{} of **{}**", style.label(), document.name));
    message
}

/// Marks a summary's request as read in parts.
pub(crate) fn mark_read_in_parts(request: &mut ChatMessage) {
    if let Some(label) = request.label.as_mut() {
        label.push_str(" (read in parts)");
    }
}

/// What a finished summary adds to its request and its reply (whose text is the summary): the
/// reply's figures; for a document read in parts, a line under the reply on the parts read, and
/// the notes on each part as the request, so that follow-up questions are answered from them
/// (they fit in the context where the whole document named `document` does not).
pub(crate) fn record_summary(
    request: &mut ChatMessage,
    reply: &mut ChatMessage,
    summary: &Summary,
    notes: &PartNotes,
    document: &str,
) {
    reply.stats = summary.final_timings.as_ref().map(ReplyStats::from);
    if summary.single_pass {
        return;
    }
    reply.label = Some(format!(
        "{}\n\n*Read in {} parts ({:.0}% of the document), {} model calls, {:.0} s.*",
        reply.content.trim_end(),
        summary.coverage.total,
        summary.coverage.percent(),
        summary.model_calls,
        summary.total_secs
    ));
    if let Some(prompt) = notes.prompt(document) {
        request.content = prompt;
    }
}
