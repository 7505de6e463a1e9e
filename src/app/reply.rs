//! The reply being written: one engine request, a summary run for a document read in parts, a
//! question about a long document (its passages chosen first, then one engine request), or a
//! search of every part. It owns its request handle (or the run), so Stop reaches exactly it
//! and an engine that dies ends it with a notice instead of a window that waits forever; what
//! arrives is written into its conversation's last message and saved when it ends, and then
//! checked against the document.

use std::ops::Range;
use std::time::Instant;

use super::checks::{IndexCell, ReadPassages};
use super::conversations::Conversations;
use super::job::Job;
use super::notices::{first_sentence, Notice, NoticeAction};
use super::part_search::{coverage_line, PartSearchRun};
use super::shared::Shared;
use super::store::{ChatMessage, Conversation, ReplyStats};
use super::summary_run::{record_summary, RunError, SummaryRun};
use crate::engine::{
    CachePrefix, EngineError, GenerateRequest, ReplyEvent, ReplyHandle, Sampling, StopReason,
};
use crate::prompt::{document_len, document_turn, Message, Role};
use crate::sources::{describe_read, read_for_question, ReadOptions, Reading};
use crate::summarize::{EngineModel, PartNotes, Summary};

/// The passages chosen for a question, with what was read in words.
type ChosenPassages = Result<(Reading, String), String>;

/// Where a reply's text comes from.
enum Source {
    /// One request to the engine.
    Engine(ReplyHandle),
    /// A document read in parts, on its own thread.
    Summary(SummaryRun),
    /// A question about a document longer than the context: the passages it reads are being
    /// chosen on a job thread; then the engine answers ([`Source::Engine`]).
    Choosing {
        job: Job<ChosenPassages>,
        sampling: Sampling,
    },
    /// A question asked of every part of a long document, on its own thread.
    EveryPart(PartSearchRun),
}

/// The reply being written.
pub(crate) struct Reply {
    source: Source,
    /// The conversation it belongs to.
    conversation: String,
    /// Prompt tokens read, of all.
    prefill: Option<(usize, usize)>,
    /// When the first prompt progress arrived, and how far it was then.
    prefill_first: Option<(Instant, usize)>,
    /// What its question read, when not the whole document (for its check and the meter).
    read: ReadPassages,
    /// That in words ("read 9 passages, pages 3-5, 31, 40 of 120").
    read_said: Option<String>,
}

/// A question about a long document, for [`Reply::read_and_ask`].
pub(crate) struct LongQuestion {
    /// The conversation so far, without the document (the system prompt first, if any).
    pub(crate) prior: Vec<Message>,
    /// The question.
    pub(crate) question: String,
    /// The part notes of a summary in parts, if the conversation has one.
    pub(crate) notes: Vec<String>,
    /// The document's index (built or being built).
    pub(crate) index: IndexCell,
}

impl Reply {
    fn new(source: Source, conversation: String) -> Self {
        Self {
            source,
            conversation,
            prefill: None,
            prefill_first: None,
            read: ReadPassages::Whole,
            read_said: None,
        }
    }

    /// Asks the engine for a reply to the conversation on screen, which ends with the person's
    /// message; an empty assistant message receives it. The model must be ready.
    pub(crate) fn ask(shared: &mut Shared, sampling: Sampling) -> Self {
        let c = shared.conversations.current();
        let prompt = c.prompt(&shared.settings.system_prompt);
        // The document at the start of the first turn is kept in the disk state cache once
        // read, so every request about it — now, or after a restart — finds it read.
        let system_messages = prompt.len() - c.messages.len();
        let document = document_prefix(c, system_messages);
        let conversation = c.id.clone();
        shared
            .conversations
            .current_mut()
            .messages
            .push(ChatMessage::assistant(String::new()));
        shared.conversations.save_current(&mut shared.notices);
        let mut request = GenerateRequest::chat(prompt, sampling);
        if let Some(prefix) = document {
            request = request.with_cache_prefix(prefix);
        }
        let handle = shared.model.backend().generate(request);
        Self::new(Source::Engine(handle), conversation)
    }

    /// A reply written by a summary run into the last message of `conversation`.
    pub(crate) fn summary(run: SummaryRun, conversation: String) -> Self {
        Self::new(Source::Summary(run), conversation)
    }

    /// A reply written by a search of every part into the last message of `conversation`.
    pub(crate) fn every_part(run: PartSearchRun, conversation: String) -> Self {
        Self::new(Source::EveryPart(run), conversation)
    }

    /// Answers the question that ends the conversation on screen, about a document that does
    /// not fit the context: its most relevant passages are chosen on a job thread (once the
    /// document's index is built), then the engine answers from them. An empty assistant
    /// message receives the answer. The model must be ready.
    pub(crate) fn read_and_ask(
        shared: &mut Shared,
        asked: LongQuestion,
        sampling: Sampling,
    ) -> std::io::Result<Self> {
        let n_ctx = shared.model.info().map_or(0, |i| i.n_ctx);
        let engine = shared.model.backend();
        let max_tokens = sampling.max_tokens;
        let model_sampling = sampling.clone();
        let job = Job::spawn("xgen-read-passages", &shared.waker, move |r| {
            let Some(index) = asked.index.wait() else {
                r.send(Err("the document could not be indexed".to_owned()), false);
                return;
            };
            let mut model = EngineModel::new(&*engine, n_ctx, model_sampling);
            let result = read_for_question(
                &mut model,
                &index,
                &asked.prior,
                &asked.question,
                &asked.notes,
                &ReadOptions::new(max_tokens),
            )
            .map(|reading| {
                let said = describe_read(
                    &reading.read,
                    index.page_count(),
                    index.document_chars(),
                    reading.whole,
                );
                (reading, said)
            })
            .map_err(|e| crate::error_text::chain(&e));
            r.send(result, false);
        })?;
        let c = shared.conversations.current_mut();
        let conversation = c.id.clone();
        c.messages.push(ChatMessage::assistant(String::new()));
        shared.conversations.save_current(&mut shared.notices);
        Ok(Self::new(Source::Choosing { job, sampling }, conversation))
    }

    /// The conversation it is written into.
    pub(crate) fn conversation(&self) -> &str {
        &self.conversation
    }

    /// The summary run writing it, when it is a document read in parts.
    pub(crate) fn summary_run(&self) -> Option<&SummaryRun> {
        match &self.source {
            Source::Summary(run) => Some(run),
            _ => None,
        }
    }

    /// The search of every part writing it.
    pub(crate) fn part_search(&self) -> Option<&PartSearchRun> {
        match &self.source {
            Source::EveryPart(run) => Some(run),
            _ => None,
        }
    }

    /// The passages its question reads are being chosen.
    pub(crate) fn is_choosing_passages(&self) -> bool {
        matches!(self.source, Source::Choosing { .. })
    }

    /// What its question read, in words, when it read part of the document.
    pub(crate) fn read_said(&self) -> Option<&str> {
        self.read_said.as_deref()
    }

    /// The byte ranges of the document its question read, when it read part of it.
    pub(crate) fn read_ranges(&self) -> Vec<Range<usize>> {
        match &self.read {
            ReadPassages::Whole => Vec::new(),
            ReadPassages::Passages(passages) => passages.iter().map(|p| p.bytes.clone()).collect(),
            ReadPassages::Ranges(ranges) => ranges.clone(),
        }
    }

    /// Prompt reading progress: (done, total).
    pub(crate) fn prefill(&self) -> Option<(usize, usize)> {
        self.prefill
    }

    /// Seconds left reading the prompt, from the speed so far.
    pub(crate) fn prefill_eta(&self) -> Option<f64> {
        let (done, total) = self.prefill?;
        let (since, first_done) = self.prefill_first?;
        let read = done.checked_sub(first_done).filter(|n| *n > 0)?;
        let secs = since.elapsed().as_secs_f64() / read as f64 * total.saturating_sub(done) as f64;
        Some(secs)
    }

    /// Asks it to stop; it ends (marked as stopped) once the engine says so.
    pub(crate) fn stop(&self) {
        match &self.source {
            Source::Engine(handle) => handle.cancel(),
            Source::Summary(run) => run.cancel(),
            Source::Choosing { job, .. } => job.cancel(),
            Source::EveryPart(run) => run.cancel(),
        }
    }

    /// Applies what arrived; true when the reply ended (and was saved).
    pub(crate) fn poll(&mut self, shared: &mut Shared) -> bool {
        match &mut self.source {
            Source::Engine(_) => self.poll_engine(shared),
            Source::Summary(run) => {
                let update = run.poll();
                append(shared, &self.conversation, &update.text);
                let Some(result) = update.done else {
                    return false;
                };
                self.end_summary(result, shared);
                true
            }
            Source::Choosing { job, sampling } => {
                let chosen = job.drain().pop();
                let cancelled = job.is_cancelled();
                let finished = job.is_finished();
                let sampling = sampling.clone();
                match chosen {
                    Some(_) if cancelled => self.end_unanswered(shared, None),
                    Some(Ok((reading, said))) => {
                        self.ask_from(reading, said, sampling, shared);
                        return self.poll(shared);
                    }
                    Some(Err(error)) => self.end_unanswered(shared, Some(&error)),
                    None if finished => self.end_unanswered(
                        shared,
                        (!cancelled).then_some("choosing the passages stopped unexpectedly"),
                    ),
                    None => return false,
                }
                true
            }
            Source::EveryPart(run) => {
                let update = run.poll();
                append(shared, &self.conversation, &update.text);
                let Some(result) = update.done else {
                    return false;
                };
                self.end_part_search(result, shared);
                true
            }
        }
    }

    /// The passages are chosen: the engine answers from them. A question that finds the whole
    /// document fitting after all, first in its conversation, takes the layout of a first
    /// question about a document that fits (the document, then the question), so that the
    /// engine's caches hold the document and later questions go on from it.
    fn ask_from(
        &mut self,
        reading: Reading,
        said: String,
        sampling: Sampling,
        shared: &mut Shared,
    ) {
        let system_messages = reading
            .messages
            .iter()
            .take_while(|m| m.role == Role::System)
            .count();
        let first_question = reading.messages.len() == system_messages + 1;
        let mut prefix = None;
        if reading.whole && first_question {
            if let Some(c) = shared.conversations.by_id_mut(&self.conversation) {
                if let (Some(doc), Some(asked)) = (c.document.as_ref(), c.messages.first_mut()) {
                    let question = std::mem::take(&mut asked.content);
                    asked.content = document_turn(&doc.text, &question);
                    asked.label = Some(format!("{question}\n\n*about **{}***", doc.name));
                    prefix = Some(CachePrefix::Document {
                        message: system_messages,
                        bytes: document_len(&doc.text),
                    });
                }
            }
        }
        if !reading.whole {
            self.read = ReadPassages::Passages(reading.read);
            self.read_said = Some(said);
        }
        let mut request = GenerateRequest::chat(reading.messages, sampling);
        if let Some(prefix) = prefix {
            request = request.with_cache_prefix(prefix);
        }
        self.source = Source::Engine(shared.model.backend().generate(request));
    }

    /// The question ended before its answer started (stopped, or its passages could not be
    /// chosen): the empty reply is removed; a failure is said.
    fn end_unanswered(&self, shared: &mut Shared, error: Option<&str>) {
        if let Some(c) = shared.conversations.by_id_mut(&self.conversation) {
            c.end_failed_reply();
        }
        shared
            .conversations
            .save(&self.conversation, &mut shared.notices);
        if let Some(error) = error {
            shared.notices.push(Notice {
                message: format!(
                    "The passages to read could not be chosen: {}",
                    first_sentence(error)
                ),
                details: Some(error.to_owned()),
                action: None,
            });
        }
    }

    /// The search of every part ended: the line on what it read under the answer, and the
    /// parts that had an answer as what it read; a failure keeps what was written.
    fn end_part_search(
        &mut self,
        result: Result<crate::sources::PartSearch, String>,
        shared: &mut Shared,
    ) {
        let id = &self.conversation;
        match result {
            Ok(search) => {
                self.read = ReadPassages::Ranges(
                    search
                        .parts
                        .iter()
                        .filter(|p| p.relevant)
                        .map(|p| p.bytes.clone())
                        .collect(),
                );
                if let Some(m) = reply_message(&mut shared.conversations, id) {
                    m.stopped = search.cancelled;
                    m.stats = search.final_timings.as_ref().map(ReplyStats::from);
                    if !search.cancelled {
                        m.label = Some(format!(
                            "{}\n\n{}",
                            m.content.trim_end(),
                            coverage_line(&search)
                        ));
                    }
                }
                if let Some(c) = shared.conversations.by_id_mut(id) {
                    if c.messages.last().is_some_and(|m| m.content.is_empty()) {
                        c.messages.pop();
                    }
                }
            }
            Err(error) => {
                if let Some(c) = shared.conversations.by_id_mut(id) {
                    c.end_failed_reply();
                }
                shared.notices.push(Notice {
                    message: first_sentence(&error),
                    details: Some(error),
                    action: None,
                });
            }
        }
        shared.conversations.save(id, &mut shared.notices);
    }

    /// Once it ended: has its reply checked against the document (with what its question
    /// read).
    pub(crate) fn check(self, shared: &mut Shared) {
        let Some(c) = shared.conversations.by_id(&self.conversation) else {
            return;
        };
        let Some(last) = c.messages.len().checked_sub(1) else {
            return;
        };
        if c.document.is_none() || c.messages[last].check.is_some() {
            return;
        }
        shared.checks.check_reply(c, last, self.read, &shared.waker);
    }

    /// Ends it here (its model is being replaced), marked as stopped.
    pub(crate) fn abandon(self, shared: &mut Shared) {
        self.stop();
        if let Some(m) = reply_message(&mut shared.conversations, &self.conversation) {
            m.stopped = true;
        }
        shared
            .conversations
            .save(&self.conversation, &mut shared.notices);
    }

    fn poll_engine(&mut self, shared: &mut Shared) -> bool {
        loop {
            let Source::Engine(handle) = &mut self.source else {
                return true;
            };
            let event = match handle.try_recv() {
                Ok(Some(event)) => event,
                Ok(None) => return handle.is_finished(),
                Err(error) => {
                    self.end_with_error(shared, &error);
                    return true;
                }
            };
            match event {
                ReplyEvent::Prompt { done, total } => {
                    self.prefill = Some((done, total));
                    self.prefill_first.get_or_insert((Instant::now(), done));
                }
                ReplyEvent::Text(text) => append(shared, &self.conversation, &text),
                ReplyEvent::Done { reason, timings } => {
                    if let Some(m) = reply_message(&mut shared.conversations, &self.conversation) {
                        m.stats = Some(ReplyStats::from(&timings));
                        m.stopped = reason == StopReason::Cancelled;
                    }
                    if reason == StopReason::ContextFull {
                        shared.notices.push(Notice::text(
                            "The context is full: start a new chat, or raise the context size in Settings.",
                        ));
                    }
                    shared
                        .conversations
                        .save(&self.conversation, &mut shared.notices);
                    return true;
                }
                ReplyEvent::Failed(error) => {
                    self.end_with_error(shared, &error);
                    return true;
                }
            }
        }
    }

    /// A reply that failed keeps what was streamed (marked as cut off); an empty one is
    /// removed.
    fn end_with_error(&self, shared: &mut Shared, error: &EngineError) {
        if let Some(c) = shared.conversations.by_id_mut(&self.conversation) {
            c.end_failed_reply();
        }
        shared
            .conversations
            .save(&self.conversation, &mut shared.notices);
        if matches!(error, EngineError::Stopped(_)) {
            // The model slot reports the stopped engine once, with Reload.
            return;
        }
        shared.notices.push(Notice {
            message: first_sentence(&error.to_string()),
            details: Some(error.to_string()),
            action: None,
        });
    }

    /// The summary run ended: its figures, and for a document read in parts the notes that
    /// follow-up questions are answered from; a failure keeps what the final pass wrote.
    fn end_summary(&self, result: Result<Summary, RunError>, shared: &mut Shared) {
        let id = &self.conversation;
        match result {
            Ok(summary) => {
                let none = PartNotes::default();
                let notes = self.summary_run().map_or(&none, SummaryRun::notes);
                if let Some(c) = shared.conversations.by_id_mut(id) {
                    finish_summary(c, &summary, notes);
                }
            }
            Err(error) => {
                if let Some(c) = shared.conversations.by_id_mut(id) {
                    c.end_failed_reply();
                }
                let message = error.message().to_owned();
                shared.notices.push(Notice {
                    message: first_sentence(&message),
                    details: Some(message),
                    action: None,
                });
            }
        }
        shared.conversations.save(id, &mut shared.notices);
    }
}

/// Records a finished summary in its conversation (the request first, the reply last).
fn finish_summary(c: &mut Conversation, summary: &Summary, notes: &PartNotes) {
    let name = c
        .document
        .as_ref()
        .map_or("the document", |d| d.name.as_str())
        .to_owned();
    if let [request, .., reply] = c.messages.as_mut_slice() {
        if reply.role == Role::Assistant {
            reply.stopped = summary.cancelled;
            record_summary(request, reply, summary, notes, &name);
        }
    }
    if summary.cancelled && c.messages.last().is_some_and(|m| m.content.is_empty()) {
        c.messages.pop();
    }
}

/// The document part of a conversation's prompt, when its first message starts with its
/// document (`system_messages` messages come before it).
pub(crate) fn document_prefix(c: &Conversation, system_messages: usize) -> Option<CachePrefix> {
    let doc = c.document.as_ref()?;
    let first = c.messages.first()?;
    let bytes = document_len(&doc.text);
    (first.role == Role::User
        && first
            .content
            .as_bytes()
            .starts_with(&doc.text.as_bytes()[..bytes]))
    .then_some(CachePrefix::Document {
        message: system_messages,
        bytes,
    })
}

/// Appends streamed text to the reply of `conversation` (its check, of the text before, goes).
fn append(shared: &mut Shared, conversation: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(m) = reply_message(&mut shared.conversations, conversation) {
        m.content.push_str(text);
        m.check = None;
    }
}

/// The conversation's last message, when it is the assistant's (the one a reply writes into).
fn reply_message<'a>(
    conversations: &'a mut Conversations,
    conversation: &str,
) -> Option<&'a mut ChatMessage> {
    conversations
        .by_id_mut(conversation)
        .and_then(|c| c.messages.last_mut())
        .filter(|m| m.role == Role::Assistant)
}

/// What to say when something needs a model and none is loaded.
pub(crate) fn load_a_model_first() -> Notice {
    Notice {
        message: "Load a model first: open Models to download XGen or open a GGUF file.".into(),
        details: None,
        action: Some(NoticeAction::OpenModels),
    }
}
