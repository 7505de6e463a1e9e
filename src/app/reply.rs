//! The reply being written: one engine request, or a summary run for a document read in parts.
//! It owns its request handle (or the run), so Stop reaches exactly it and an engine that dies
//! ends it with a notice instead of a window that waits forever; what arrives is written into
//! its conversation's last message and saved when it ends.

use std::time::Instant;

use super::conversations::Conversations;
use super::notices::{first_sentence, Notice, NoticeAction};
use super::shared::Shared;
use super::store::{ChatMessage, Conversation, ReplyStats};
use super::summary_run::{record_summary, RunError, SummaryRun};
use crate::engine::{
    CachePrefix, EngineError, GenerateRequest, ReplyEvent, ReplyHandle, Sampling, StopReason,
};
use crate::prompt::{document_len, Role};
use crate::summarize::{PartNotes, Summary};

/// Where a reply's text comes from.
enum Source {
    /// One request to the engine.
    Engine(ReplyHandle),
    /// A document read in parts, on its own thread.
    Summary(SummaryRun),
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
}

impl Reply {
    fn new(source: Source, conversation: String) -> Self {
        Self {
            source,
            conversation,
            prefill: None,
            prefill_first: None,
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

    /// The conversation it is written into.
    pub(crate) fn conversation(&self) -> &str {
        &self.conversation
    }

    /// The summary run writing it, when it is a document read in parts.
    pub(crate) fn summary_run(&self) -> Option<&SummaryRun> {
        match &self.source {
            Source::Summary(run) => Some(run),
            Source::Engine(_) => None,
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
        }
    }

    /// Applies what arrived; true when the reply ended (and was saved).
    pub(crate) fn poll(&mut self, shared: &mut Shared) -> bool {
        match &mut self.source {
            Source::Engine(_) => self.poll_engine(shared),
            Source::Summary(run) => {
                let update = run.poll();
                if !update.text.is_empty() {
                    if let Some(m) = reply_message(&mut shared.conversations, &self.conversation) {
                        m.content.push_str(&update.text);
                    }
                }
                let Some(result) = update.done else {
                    return false;
                };
                self.end_summary(result, shared);
                true
            }
        }
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
                ReplyEvent::Text(text) => {
                    if let Some(m) = reply_message(&mut shared.conversations, &self.conversation) {
                        m.content.push_str(&text);
                    }
                }
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
