//! Documents: open, paste, attach to the conversation on screen, the exact token meter and the
//! reading ahead into the engine. Each background piece (the file dialog, reading a file,
//! counting tokens, reading ahead) is a job this feature owns; its card above the conversation
//! is in `view.rs`. Summarizing the document is the chat's (a summary is a reply).

mod view;

use std::path::{Path, PathBuf};

use super::job::{pick_file, Job};
use super::notices::first_sentence;
use super::reply::document_prefix;
use super::shared::Shared;
use super::store::{ChatMessage, Conversation};
use crate::catalog::unix_now;
use crate::documents::{Document, Format, ReadProgress};
use crate::engine::{
    EngineError, Inference, PrereadEvent, PrereadHandle, PrereadRequest, Sampling,
};
use crate::prompt::{summarize_request, SummaryStyle};
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

type MeterResult = (String, Result<DocumentMeter, EngineError>);

/// What a job reading a document file sends (here and in the queue): pages read by OCR as
/// they are done, then the document or why it could not be read, in words.
pub(crate) enum ReadMessage {
    Progress(ReadProgress),
    Done(Result<Document, String>),
}

/// A document being read into the engine ahead of any request.
struct Preread {
    conversation: String,
    handle: PrereadHandle,
    /// Tokens read, of tokens to read.
    progress: (usize, usize),
    /// Reading ended (all of it, or as far as it got).
    finished: bool,
}

/// Reading, measuring and reading ahead documents.
#[derive(Default)]
pub(crate) struct Documents {
    picking: Option<Job<Option<PathBuf>>>,
    reading: Option<Job<ReadMessage>>,
    /// Pages of the file being read that OCR has read, of those it reads.
    reading_progress: Option<ReadProgress>,
    meter: Option<(String, DocumentMeter)>,
    meter_job: Option<Job<MeterResult>>,
    /// The conversation whose document the meter was last asked for.
    metered: Option<String>,
    preread: Option<Preread>,
}

impl Documents {
    /// A file is being read.
    pub(crate) fn is_reading(&self) -> bool {
        self.reading.is_some()
    }

    /// Pages of the file being read that OCR has read, once it reads any (a scan).
    pub(crate) fn reading_progress(&self) -> Option<ReadProgress> {
        self.reading_progress.filter(|_| self.reading.is_some())
    }

    /// Token figures of `conversation`'s document, once counted.
    pub(crate) fn meter(&self, conversation: &str) -> Option<DocumentMeter> {
        self.meter
            .as_ref()
            .filter(|(id, _)| id == conversation)
            .map(|(_, m)| *m)
    }

    /// `conversation`'s document is counted and fits in one request with its summary.
    pub(crate) fn fits(&self, conversation: &str) -> bool {
        self.meter(conversation).is_some_and(|m| m.fits())
    }

    /// The read-ahead of `conversation`'s document: (tokens read, tokens, finished).
    pub(crate) fn preread(&self, conversation: &str) -> Option<(usize, usize, bool)> {
        self.preread
            .as_ref()
            .filter(|p| p.conversation == conversation)
            .map(|p| (p.progress.0, p.progress.1, p.finished))
    }

    /// Opens a native dialog for a document; the file picked is read.
    pub(crate) fn pick(&mut self, shared: &mut Shared) {
        match pick_file(&shared.waker, "Documents", Format::all_extensions()) {
            Ok(job) => self.picking = Some(job),
            Err(e) => shared
                .notices
                .error("The file dialog could not be opened.", &e),
        }
    }

    /// Reads a document file on a worker thread, in a child process with time and memory
    /// limits (a file that crashes or hangs a reader becomes a notice); it is attached when
    /// read.
    pub(crate) fn open(&mut self, path: &Path, shared: &mut Shared) {
        let path = path.to_path_buf();
        let isolation = shared.opts.isolation.clone();
        let job = Job::spawn("xgen-read-document", &shared.waker, move |r| {
            let cancel = r.cancel_token().clone();
            let result = crate::documents::extract_isolated_reporting(
                &path,
                &isolation,
                &|| cancel.is_cancelled(),
                &|progress| r.send(ReadMessage::Progress(progress), true),
            )
            .map_err(|e| crate::error_text::chain(&e));
            r.send(ReadMessage::Done(result), false);
        });
        self.reading_progress = None;
        match job {
            Ok(job) => self.reading = Some(job),
            Err(e) => shared.notices.error("The document could not be read.", &e),
        }
    }

    /// Attaches a document to the conversation on screen (a new one when that has content),
    /// so its summary prompt is the prefix the engine caches and follow-ups do not re-read it.
    pub(crate) fn attach(&mut self, document: Document, shared: &mut Shared) {
        let conversations = &mut shared.conversations;
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
        conversations.save_current(&mut shared.notices);
        self.meter = None;
    }

    /// Attaches text (a paste) as a document.
    pub(crate) fn attach_text(&mut self, name: &str, text: &str, shared: &mut Shared) {
        match Document::from_text(name, text) {
            Ok(doc) => self.attach(doc, shared),
            Err(e) => shared.notices.error(&first_sentence(&e.to_string()), &e),
        }
    }

    /// Removes the document from the conversation on screen.
    pub(crate) fn detach(&mut self, shared: &mut Shared) {
        shared.conversations.current_mut().document = None;
        self.meter = None;
        shared.conversations.save_current(&mut shared.notices);
    }

    /// Counts the tokens of the document on screen on a worker thread (the engine answers
    /// between two tokens of a reply).
    pub(crate) fn request_meter(&mut self, shared: &mut Shared) {
        let conversation = shared.conversations.current();
        self.metered = conversation
            .document
            .as_ref()
            .map(|_| conversation.id.clone());
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
        let Some((engine, n_ctx)) = shared.model.counter() else {
            return;
        };
        let id = conversation.id.clone();
        let settings = &shared.settings;
        let system = settings.system_prompt.clone();
        let style = settings.summary_style;
        let reserved = settings.summary_length.max_tokens() as usize;
        let job = Job::spawn("xgen-count-tokens", &shared.waker, move |r| {
            let result = count(&*engine, &doc, &system, style, reserved, n_ctx);
            r.send((id, result), false);
        });
        match job {
            Ok(job) => self.meter_job = Some(job),
            Err(e) => shared
                .notices
                .error("The document's tokens could not be counted.", &e),
        }
    }

    /// Applies a picked file, a finished read, count or reading ahead. A document that was
    /// read is attached: true then (the chat shows it).
    pub(crate) fn poll(&mut self, shared: &mut Shared) -> bool {
        if let Some(job) = self.picking.as_mut() {
            let picked = job.drain().pop().flatten();
            if job.is_finished() {
                self.picking = None;
            }
            if let Some(path) = picked {
                self.open(&path, shared);
            }
        }
        let mut read = None;
        if let Some(job) = self.reading.as_mut() {
            for message in job.drain() {
                match message {
                    ReadMessage::Progress(progress) => self.reading_progress = Some(progress),
                    ReadMessage::Done(Ok(doc)) => read = Some(doc),
                    // The document readers' messages are written for people, with what to
                    // do; show them whole.
                    ReadMessage::Done(Err(e)) => shared.notices.message(&e),
                }
            }
            if job.is_finished() {
                self.reading = None;
                self.reading_progress = None;
            }
        }
        self.poll_preread();
        if let Some(job) = self.meter_job.as_mut() {
            for (conversation, result) in job.drain() {
                match result {
                    Ok(m) => self.meter = Some((conversation, m)),
                    Err(EngineError::NoModel | EngineError::Stopped(_)) => {}
                    Err(e) => shared
                        .notices
                        .error("The document's tokens could not be counted.", &e),
                }
            }
            if job.is_finished() {
                self.meter_job = None;
            }
        }
        let Some(doc) = read else {
            return false;
        };
        self.attach(doc, shared);
        true
    }

    fn poll_preread(&mut self) {
        let Some(preread) = self.preread.as_mut() else {
            return;
        };
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

    /// Keeps the meter on the conversation on screen and the model, and once the document is
    /// known to fit, has the engine read it ahead.
    pub(crate) fn follow(&mut self, shared: &mut Shared) {
        let c = shared.conversations.current();
        let wanted = c.document.as_ref().map(|_| c.id.clone());
        if wanted != self.metered && shared.model.counter().is_some() {
            self.request_meter(shared);
        }
        if shared.model.info().is_some() {
            self.start_preread(shared);
        }
    }

    /// Starts reading the document on screen into the engine, once it is known to fit the
    /// context, so that whatever is asked first finds it read. The engine reads between other
    /// requests and keeps what it read on disk in steps.
    fn start_preread(&mut self, shared: &Shared) {
        let conversation = shared.conversations.current();
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
        if document_prefix(&probe, 0).is_none() {
            probe.messages = vec![ChatMessage::user(summarize_request(
                &doc.text,
                shared.settings.summary_style,
            ))];
        }
        let mut messages = probe.prompt(&shared.settings.system_prompt);
        let system_messages = messages.len() - probe.messages.len();
        messages.truncate(system_messages + 1);
        let Some(prefix) = document_prefix(&probe, system_messages) else {
            return;
        };
        let handle = shared
            .model
            .backend()
            .preread(PrereadRequest { messages, prefix });
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
}

/// The meter of `doc`: its tokens, its summary prompt's, and the parts it is read in when that
/// does not fit.
fn count(
    engine: &dyn Inference,
    doc: &Document,
    system: &str,
    style: SummaryStyle,
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
