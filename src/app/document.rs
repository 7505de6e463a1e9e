//! Documents: open, paste, the exact token meter, and summaries in one pass or in parts. Each
//! background piece (reading a file, counting tokens, a summary read in parts) is a job this
//! feature owns.
//!
//! Longer than 600 lines: the document feature's three jobs (reading, counting, reading ahead)
//! and the summary job share one per-conversation state; its drawing is in `chat_view.rs`.

use std::path::Path;

use super::chat::{
    document_prefix as chat_document_prefix, reply_message, ActiveReply, Chat, ReplySource,
};
use super::conversations::Conversations;
use super::job::{Job, Waker};
use super::model::ModelSlot;
use super::settings::{self, Settings};
use super::store::{ChatMessage, Conversation, ReplyStats};
use super::{first_sentence, Notice, Notices};
use crate::catalog::unix_now;
use crate::documents::Document;
use crate::engine::{
    EngineError, Inference, PrereadEvent, PrereadHandle, PrereadRequest, Sampling,
};
use crate::isolate::Isolation;
use crate::prompt::summarize_request;
use crate::summarize::{self, EngineModel, SummarizeOptions};

/// Token figures of the attached document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentMeter {
    /// Tokens of the document text alone.
    pub document_tokens: usize,
    /// Tokens of the whole summary prompt (template + request + document).
    pub prompt_tokens: usize,
    /// Tokens reserved for the summary.
    pub reserved: usize,
    /// The context size.
    pub n_ctx: usize,
    /// Parts the document is read in (1 when it fits).
    pub parts: usize,
    /// The counts are estimates (a server that cannot tokenize), not exact.
    pub estimated: bool,
}

impl DocumentMeter {
    /// The summary prompt and its reply fit in the context.
    #[must_use]
    pub fn fits(&self) -> bool {
        self.prompt_tokens + self.reserved <= self.n_ctx
    }
}

/// The extensions the open dialog offers.
pub(crate) const DOCUMENT_EXTENSIONS: &[&str] = &[
    "txt", "md", "markdown", "pdf", "docx", "odt", "epub", "html", "htm",
];

type MeterResult = (String, Result<DocumentMeter, EngineError>);

/// A document being read into the engine ahead of any request.
pub(crate) struct Preread {
    conversation: String,
    handle: PrereadHandle,
    /// Tokens read, of tokens to read.
    pub(crate) progress: (usize, usize),
    /// Reading ended (all of it, or as far as it got).
    pub(crate) finished: bool,
}

/// Reading, measuring and summarizing documents.
#[derive(Default)]
pub(crate) struct Documents {
    picking: Option<Job<Option<std::path::PathBuf>>>,
    reading: Option<Job<Result<Document, String>>>,
    meter: Option<(String, DocumentMeter)>,
    meter_job: Option<Job<MeterResult>>,
    preread: Option<Preread>,
}

impl Documents {
    pub(crate) fn is_reading(&self) -> bool {
        self.reading.is_some()
    }

    /// Token figures of `conversation`'s document, once counted.
    pub(crate) fn meter(&self, conversation: &str) -> Option<DocumentMeter> {
        self.meter
            .as_ref()
            .filter(|(id, _)| id == conversation)
            .map(|(_, m)| *m)
    }

    /// The read-ahead of `conversation`'s document: (tokens read, tokens, finished).
    pub(crate) fn preread(&self, conversation: &str) -> Option<(usize, usize, bool)> {
        self.preread
            .as_ref()
            .filter(|p| p.conversation == conversation)
            .map(|p| (p.progress.0, p.progress.1, p.finished))
    }

    /// Starts reading the document on screen into the engine, once it is known to fit the
    /// context, so that whatever is asked first finds it read. The engine reads between other
    /// requests and keeps what it read on disk in steps.
    pub(crate) fn start_preread(
        &mut self,
        conversation: &Conversation,
        model: &ModelSlot,
        settings: &Settings,
    ) {
        let Some(meter) = self.meter(&conversation.id) else {
            return;
        };
        if !meter.fits()
            || self
                .preread
                .as_ref()
                .is_some_and(|p| p.conversation == conversation.id)
        {
            return;
        }
        let Some(doc) = conversation.document.as_ref() else {
            return;
        };
        // The conversation's own first turn when it starts with the document, else the turn a
        // summary would start with: both begin with the same document tokens.
        let mut probe = conversation.clone();
        if chat_document_prefix(&probe, 0).is_none() {
            probe.messages = vec![ChatMessage::user(summarize_request(
                &doc.text,
                settings.summary_style,
            ))];
        }
        let mut messages = probe.prompt(&settings.system_prompt);
        let system_messages = messages.len() - probe.messages.len();
        messages.truncate(system_messages + 1);
        let Some(prefix) = chat_document_prefix(&probe, system_messages) else {
            return;
        };
        let handle = model.backend().preread(PrereadRequest { messages, prefix });
        if let Some(previous) = self.preread.take() {
            previous.handle.cancel();
        }
        self.preread = Some(Preread {
            conversation: conversation.id.clone(),
            handle,
            progress: (0, meter.prompt_tokens),
            finished: false,
        });
    }

    /// Opens a native dialog for a document; the file picked is read.
    pub(crate) fn pick(&mut self, waker: &Waker, notices: &mut Notices) {
        match super::job::pick_file(waker, "Documents", DOCUMENT_EXTENSIONS) {
            Ok(job) => self.picking = Some(job),
            Err(e) => notices.error("The file dialog could not be opened.", &e),
        }
    }

    /// Reads a document file on a worker thread, in a child process with time and memory
    /// limits (a file that crashes or hangs a reader becomes a notice); it is attached when
    /// read.
    pub(crate) fn open(
        &mut self,
        path: &Path,
        isolation: &Isolation,
        waker: &Waker,
        notices: &mut Notices,
    ) {
        let path = path.to_path_buf();
        let isolation = isolation.clone();
        let job = Job::spawn("xgen-read-document", waker, move |r| {
            let cancel = r.cancel_token().clone();
            let result = crate::documents::extract_isolated_until(&path, &isolation, &|| {
                cancel.is_cancelled()
            })
            .map_err(|e| crate::error_text::chain(&e));
            r.send(result, false);
        });
        match job {
            Ok(job) => self.reading = Some(job),
            Err(e) => notices.error("The document could not be read.", &e),
        }
    }

    /// Attaches a document to the conversation on screen (a new one when that has content),
    /// so its summary prompt is the prefix the engine caches and follow-ups do not re-read it.
    pub(crate) fn attach(
        &mut self,
        document: Document,
        conversations: &mut Conversations,
        notices: &mut Notices,
    ) {
        let c = conversations.current();
        if !c.messages.is_empty() || c.document.is_some() {
            conversations.start_new();
        }
        let c = conversations.current_mut();
        if c.title == "New chat" {
            c.title.clone_from(&document.name);
        }
        c.document = Some(document);
        c.updated = unix_now();
        conversations.save_current(notices);
        self.meter = None;
    }

    /// Attaches text (a paste) as a document.
    pub(crate) fn attach_text(
        &mut self,
        name: &str,
        text: &str,
        conversations: &mut Conversations,
        notices: &mut Notices,
    ) {
        match Document::from_text(name, text) {
            Ok(doc) => self.attach(doc, conversations, notices),
            Err(e) => notices.error(&first_sentence(&e.to_string()), &e),
        }
    }

    /// Removes the document from the conversation on screen.
    pub(crate) fn detach(&mut self, conversations: &mut Conversations, notices: &mut Notices) {
        conversations.current_mut().document = None;
        self.meter = None;
        conversations.save_current(notices);
    }

    /// Counts the tokens of the document on screen on a worker thread (the engine answers
    /// between two tokens of a reply).
    pub(crate) fn request_meter(
        &mut self,
        conversation: &Conversation,
        model: &ModelSlot,
        settings: &Settings,
        waker: &Waker,
        notices: &mut Notices,
    ) {
        // What the engine read ahead belongs to the old figures (another model, conversation
        // or system prompt): it starts again once the new ones are in.
        if let Some(previous) = self.preread.take() {
            previous.handle.cancel();
        }
        let Some(doc) = conversation.document.clone() else {
            self.meter = None;
            self.meter_job = None;
            return;
        };
        // The ready model counts, or XGen's tokenizer while the model still loads.
        let Some((engine, n_ctx)) = model.counter() else {
            return;
        };
        let id = conversation.id.clone();
        let system = settings.system_prompt.clone();
        let style = settings.summary_style;
        let reserved = settings.summary_length.max_tokens() as usize;
        let job = Job::spawn("xgen-count-tokens", waker, move |r| {
            let result = count(&*engine, &doc, &system, style, reserved, n_ctx);
            r.send((id, result), false);
        });
        match job {
            Ok(job) => self.meter_job = Some(job),
            Err(e) => notices.error("The document's tokens could not be counted.", &e),
        }
    }

    /// Summarizes the document on screen with the chosen style and length: in one request
    /// when it fits, else with the summarizer on a worker thread.
    pub(crate) fn summarize(
        &self,
        chat: &mut Chat,
        conversations: &mut Conversations,
        model: &ModelSlot,
        settings: &Settings,
        waker: &Waker,
        notices: &mut Notices,
    ) {
        if chat.is_generating() {
            return;
        }
        let Some(message) = summary_message(conversations.current(), settings) else {
            return;
        };
        let fits = self
            .meter(&conversations.current().id)
            .is_some_and(|m| m.fits());
        if !fits {
            start_summary_job(
                message,
                chat,
                conversations,
                model,
                settings,
                waker,
                notices,
            );
            return;
        }
        let c = conversations.current_mut();
        // A new summary replaces the conversation about the document.
        c.messages.clear();
        c.messages.push(message);
        c.updated = unix_now();
        chat.start_reply(
            conversations,
            model,
            settings,
            summary_sampling(settings),
            notices,
        );
    }

    /// Applies a picked file, a finished read or count. Returns a document that was read, to
    /// attach.
    pub(crate) fn poll(
        &mut self,
        isolation: &Isolation,
        waker: &Waker,
        notices: &mut Notices,
    ) -> Option<Document> {
        if let Some(job) = self.picking.as_mut() {
            let picked = job.drain().pop().flatten();
            if job.is_finished() {
                self.picking = None;
            }
            if let Some(path) = picked {
                self.open(&path, isolation, waker, notices);
            }
        }
        let mut read = None;
        if let Some(job) = self.reading.as_mut() {
            for result in job.drain() {
                match result {
                    Ok(doc) => read = Some(doc),
                    // The document readers' messages are written for people, with what to
                    // do; show them whole.
                    Err(e) => notices.message(&e),
                }
            }
            if job.is_finished() {
                self.reading = None;
            }
        }
        if let Some(preread) = self.preread.as_mut() {
            loop {
                match preread.handle.try_recv() {
                    Ok(Some(PrereadEvent::Progress { done, total })) => {
                        preread.progress = (done, total);
                    }
                    Ok(Some(PrereadEvent::Done { done, total, .. })) => {
                        preread.progress = (done, total);
                        preread.finished = true;
                    }
                    Ok(Some(PrereadEvent::Failed(error))) => {
                        preread.finished = true;
                        tracing::warn!("reading ahead failed: {error}");
                    }
                    // A stopped engine is reported by the model slot.
                    Ok(None) | Err(_) => break,
                }
            }
        }
        if let Some(job) = self.meter_job.as_mut() {
            for (conversation, result) in job.drain() {
                match result {
                    Ok(m) => self.meter = Some((conversation, m)),
                    Err(EngineError::NoModel | EngineError::Stopped(_)) => {}
                    Err(e) => notices.error("The document's tokens could not be counted.", &e),
                }
            }
            if job.is_finished() {
                self.meter_job = None;
            }
        }
        read
    }
}

fn count(
    engine: &dyn Inference,
    doc: &Document,
    system: &str,
    style: crate::prompt::SummaryStyle,
    reserved: usize,
    n_ctx: usize,
) -> Result<DocumentMeter, EngineError> {
    let mut c = Conversation::new();
    c.messages
        .push(ChatMessage::user(summarize_request(&doc.text, style)));
    let document_tokens = engine.count_tokens(&doc.text)?;
    let prompt_tokens = engine.count_prompt_tokens(&c.prompt(system))?;
    let mut meter = DocumentMeter {
        document_tokens,
        prompt_tokens,
        reserved,
        n_ctx,
        parts: 1,
        estimated: !engine.exact_counts(),
    };
    if !meter.fits() {
        // The summarizer's own plan says how many parts it will read.
        let mut model = EngineModel::new(engine, n_ctx as u32, Sampling::default());
        let options = SummarizeOptions::new(style, reserved as u32);
        meter.parts = summarize::plan(&mut model, doc, &options).map_or(0, |plan| plan.parts());
    }
    Ok(meter)
}

/// Sampling for summaries: the chat's, with the summary length.
pub(crate) fn summary_sampling(settings: &Settings) -> Sampling {
    Sampling {
        max_tokens: settings.summary_length.max_tokens(),
        ..settings.sampling.clone()
    }
}

/// The message that asks for a summary of `conversation`'s document.
fn summary_message(conversation: &Conversation, settings: &Settings) -> Option<ChatMessage> {
    let doc = conversation.document.as_ref()?;
    let style = settings.summary_style;
    let mut message = ChatMessage::user(summarize_request(&doc.text, style));
    message.label = Some(format!(
        "{} of **{}**",
        settings::style_label(style),
        doc.name
    ));
    Some(message)
}

/// What the summary job reports.
pub(crate) enum SummaryMsg {
    Progress(summarize::Progress),
    Piece(String),
    Done(Result<summarize::Summary, String>),
}

/// A document read in parts, running on its own thread.
pub(crate) struct SummaryJob {
    job: Job<SummaryMsg>,
    /// What it is doing, in words.
    pub(crate) status: String,
    /// Parts read, of parts.
    pub(crate) coverage: Option<(usize, usize)>,
    notes: Vec<String>,
}

impl SummaryJob {
    pub(crate) fn cancel(&self) {
        self.job.cancel();
    }
}

/// Summarizes a document that does not fit (or is not measured yet) with the summarizer: its
/// plan reads it in one pass or in parts; each model call is a request of its own, stopped by
/// the job's cancel token.
fn start_summary_job(
    mut message: ChatMessage,
    chat: &mut Chat,
    conversations: &mut Conversations,
    model: &ModelSlot,
    settings: &Settings,
    waker: &Waker,
    notices: &mut Notices,
) {
    let Some(info) = model.info() else {
        notices.push(super::chat::load_a_model_first());
        return;
    };
    let n_ctx = info.n_ctx;
    let Some(doc) = conversations.current().document.clone() else {
        return;
    };
    let options =
        SummarizeOptions::new(settings.summary_style, settings.summary_length.max_tokens());
    let sampling = settings.sampling.clone();
    let engine = model.backend();
    let job = Job::spawn("xgen-summarize", waker, move |r| {
        let mut model = EngineModel::new(&*engine, n_ctx, sampling);
        let result = summarize::summarize(
            &mut model,
            &doc,
            &options,
            r.cancel_token(),
            &mut |p| r.send(SummaryMsg::Progress(p.clone()), true),
            &mut |piece| r.send(SummaryMsg::Piece(piece.to_owned()), true),
        )
        .map_err(|e| crate::error_text::chain(&e));
        r.send(SummaryMsg::Done(result), false);
    });
    let job = match job {
        Ok(job) => job,
        Err(e) => {
            notices.error("The summary could not be started.", &e);
            return;
        }
    };
    if let Some(label) = message.label.as_mut() {
        label.push_str(" (read in parts)");
    }
    let c = conversations.current_mut();
    c.messages.clear();
    c.messages.push(message);
    c.messages.push(ChatMessage::assistant(String::new()));
    c.updated = unix_now();
    let id = c.id.clone();
    conversations.save_current(notices);
    let job = SummaryJob {
        job,
        status: "Planning…".to_owned(),
        coverage: None,
        notes: Vec::new(),
    };
    chat.reply = Some(ActiveReply::new(ReplySource::Summary(job), id));
}

/// Applies what the summary job reported; true when it ended.
pub(crate) fn poll_summary(
    reply: &mut ActiveReply,
    conversations: &mut Conversations,
    notices: &mut Notices,
) -> bool {
    let ReplySource::Summary(job) = &mut reply.source else {
        return true;
    };
    let messages = job.job.drain();
    let ended_silently = job.job.is_finished();
    for message in messages {
        match message {
            SummaryMsg::Progress(p) => {
                if let ReplySource::Summary(job) = &mut reply.source {
                    on_progress(job, p);
                }
            }
            SummaryMsg::Piece(piece) => reply.push_text(conversations, &piece),
            SummaryMsg::Done(result) => {
                let notes = match &mut reply.source {
                    ReplySource::Summary(job) => std::mem::take(&mut job.notes),
                    ReplySource::Engine(_) => Vec::new(),
                };
                on_done(reply, result, notes, conversations, notices);
                return true;
            }
        }
    }
    if ended_silently {
        on_done(
            reply,
            Err("the summary stopped unexpectedly".to_owned()),
            Vec::new(),
            conversations,
            notices,
        );
        return true;
    }
    false
}

fn on_progress(job: &mut SummaryJob, progress: summarize::Progress) {
    match progress {
        summarize::Progress::Planned { parts, .. } => job.coverage = Some((0, parts)),
        summarize::Progress::Step {
            phase, coverage, ..
        } => {
            job.coverage = Some((coverage.read, coverage.total));
            job.status = match phase {
                summarize::Phase::SinglePass => "Reading the document".to_owned(),
                summarize::Phase::Read { part, parts } => {
                    format!("Reading part {part} of {parts}")
                }
                summarize::Phase::Combine {
                    round,
                    group,
                    groups,
                } => format!("Combining notes (round {round}, group {group} of {groups})"),
                summarize::Phase::Final { inputs } => {
                    format!("Writing the summary from {inputs} notes")
                }
            };
        }
        summarize::Progress::Partial {
            phase,
            location,
            text,
            coverage,
            ..
        } => {
            job.coverage = Some((coverage.read, coverage.total));
            if let summarize::Phase::Read { part, parts } = phase {
                let place = location.map_or_else(String::new, |l| format!(", {l}"));
                job.notes
                    .push(format!("[Part {part} of {parts}{place}] {}", text.trim()));
            }
        }
    }
}

fn on_done(
    reply: &ActiveReply,
    result: Result<summarize::Summary, String>,
    notes: Vec<String>,
    conversations: &mut Conversations,
    notices: &mut Notices,
) {
    let id = reply.conversation.clone();
    match result {
        Ok(summary) => {
            if let Some(m) = reply_message(conversations, &id) {
                m.stopped = summary.cancelled;
                m.stats = summary.final_timings.as_ref().map(ReplyStats::from);
                if !summary.single_pass {
                    m.label = Some(format!(
                        "{}\n\n*Read in {} parts ({:.0}% of the document), {} model calls, {:.0} s.*",
                        m.content.trim_end(),
                        summary.coverage.total,
                        summary.coverage.percent(),
                        summary.model_calls,
                        summary.total_secs
                    ));
                }
            }
            let Some(c) = conversations.by_id_mut(&id) else {
                return;
            };
            // Follow-up questions are answered from the notes on each part, which fit in the
            // context where the whole document does not.
            if !summary.single_pass && !notes.is_empty() {
                let name = c
                    .document
                    .as_ref()
                    .map_or("the document", |d| d.name.as_str())
                    .to_owned();
                if let Some(first) = c.messages.first_mut() {
                    first.content = format!(
                        "Here are notes on {name}, part by part:\n\n{}\n\nPlease summarize the document from these notes.",
                        notes.join("\n\n")
                    );
                }
            }
            if summary.cancelled && c.messages.last().is_some_and(|m| m.content.is_empty()) {
                c.messages.pop();
            }
        }
        Err(e) => {
            // What the final pass wrote before it failed is kept, marked.
            if let Some(c) = conversations.by_id_mut(&id) {
                c.end_failed_reply();
            }
            notices.push(Notice {
                message: first_sentence(&e),
                details: Some(e),
                action: None,
            });
        }
    }
    conversations.save(&id, notices);
}
