//! The chat: the composer and the reply being written. A reply owns its engine request
//! handle (or, for a document read in parts, the summary job), so Stop reaches exactly it and
//! an engine that dies ends it with a notice instead of a window that waits forever.

use std::time::Instant;

use super::conversations::Conversations;
use super::document::{self, SummaryJob};
use super::model::ModelSlot;
use super::store::{ChatMessage, Conversation, ReplyStats};
use super::{first_sentence, Notice, NoticeAction, Notices, Settings};
use crate::catalog::unix_now;
use crate::engine::{
    CachePrefix, EngineError, GenerateRequest, ReplyEvent, ReplyHandle, Sampling, StopReason,
};
use crate::prompt::{document_len, document_turn, Role};

/// Where a reply's text comes from.
pub(crate) enum ReplySource {
    /// One request to the engine.
    Engine(ReplyHandle),
    /// A document read in parts, on its own thread.
    Summary(SummaryJob),
}

/// The reply being written.
pub(crate) struct ActiveReply {
    pub(crate) source: ReplySource,
    /// The conversation it belongs to.
    pub(crate) conversation: String,
    prefill: Option<(usize, usize)>,
    prefill_first: Option<(Instant, usize)>,
}

impl ActiveReply {
    pub(crate) fn new(source: ReplySource, conversation: String) -> Self {
        Self {
            source,
            conversation,
            prefill: None,
            prefill_first: None,
        }
    }

    fn stop(&self) {
        match &self.source {
            ReplySource::Engine(handle) => handle.cancel(),
            ReplySource::Summary(job) => job.cancel(),
        }
    }

    /// Text arrived: append it to the conversation's last (assistant) message.
    pub(crate) fn push_text(&mut self, conversations: &mut Conversations, text: &str) {
        if let Some(m) = reply_message(conversations, &self.conversation) {
            m.content.push_str(text);
        }
    }
}

/// The composer and the running reply.
#[derive(Default)]
pub(crate) struct Chat {
    /// The message being typed.
    pub(crate) composer: String,
    pub(crate) reply: Option<ActiveReply>,
}

impl Chat {
    pub(crate) fn is_generating(&self) -> bool {
        self.reply.is_some()
    }

    /// Prompt reading progress of the running reply: (done, total).
    pub(crate) fn prefill(&self) -> Option<(usize, usize)> {
        self.reply.as_ref().and_then(|r| r.prefill)
    }

    /// Seconds left reading the prompt, from the speed so far.
    pub(crate) fn prefill_eta(&self) -> Option<f64> {
        let r = self.reply.as_ref()?;
        let (done, total) = r.prefill?;
        let (since, first_done) = r.prefill_first?;
        let read = done.checked_sub(first_done).filter(|n| *n > 0)?;
        let secs = since.elapsed().as_secs_f64() / read as f64 * total.saturating_sub(done) as f64;
        Some(secs)
    }

    pub(crate) fn summary_job(&self) -> Option<&SummaryJob> {
        match &self.reply.as_ref()?.source {
            ReplySource::Summary(job) => Some(job),
            ReplySource::Engine(_) => None,
        }
    }

    /// Sends the composer's text (Enter). A first question about a document carries it.
    pub(crate) fn send(
        &mut self,
        conversations: &mut Conversations,
        model: &ModelSlot,
        settings: &Settings,
        notices: &mut Notices,
    ) {
        let text = self.composer.trim().to_owned();
        if text.is_empty() || self.reply.is_some() {
            return;
        }
        self.composer.clear();
        let c = conversations.current_mut();
        match (&c.document, c.messages.is_empty()) {
            (Some(doc), true) => {
                let mut m = ChatMessage::user(document_turn(&doc.text, &text));
                m.label = Some(format!("{text}\n\n*about **{}***", doc.name));
                c.messages.push(m);
            }
            _ => c.messages.push(ChatMessage::user(text)),
        }
        c.title_from_first_message();
        c.updated = unix_now();
        self.start_reply(
            conversations,
            model,
            settings,
            settings.sampling.clone(),
            notices,
        );
    }

    /// Stops the reply being written (Esc).
    pub(crate) fn stop(&self) {
        if let Some(reply) = &self.reply {
            reply.stop();
        }
    }

    /// Writes the last reply again.
    pub(crate) fn regenerate(
        &mut self,
        conversations: &mut Conversations,
        model: &ModelSlot,
        settings: &Settings,
        notices: &mut Notices,
    ) {
        if self.reply.is_some() {
            return;
        }
        let c = conversations.current_mut();
        if c.messages.last().is_some_and(|m| m.role == Role::Assistant) {
            c.messages.pop();
        }
        if c.messages.last().is_none_or(|m| m.role != Role::User) {
            return;
        }
        let summary = c.messages.len() == 1 && c.messages[0].label.is_some();
        let sampling = if summary {
            document::summary_sampling(settings)
        } else {
            settings.sampling.clone()
        };
        self.start_reply(conversations, model, settings, sampling, notices);
    }

    /// Puts the last message back in the composer and removes it and its reply.
    pub(crate) fn edit_last(&mut self, conversations: &mut Conversations, notices: &mut Notices) {
        if self.reply.is_some() {
            return;
        }
        let c = conversations.current_mut();
        let Some(last_user) = c.messages.iter().rposition(|m| m.role == Role::User) else {
            return;
        };
        if c.messages[last_user].label.is_some() {
            return;
        }
        self.composer = c.messages[last_user].content.clone();
        c.messages.truncate(last_user);
        conversations.save_current(notices);
    }

    /// Starts a reply to the conversation on screen, which ends with the person's message.
    pub(crate) fn start_reply(
        &mut self,
        conversations: &mut Conversations,
        model: &ModelSlot,
        settings: &Settings,
        sampling: Sampling,
        notices: &mut Notices,
    ) {
        if model.info().is_none() {
            notices.push(load_a_model_first());
            // Keep what the person wrote.
            let c = conversations.current_mut();
            if let Some(m) = c.messages.pop() {
                if m.label.is_none() && m.role == Role::User {
                    self.composer = m.content;
                }
            }
            return;
        }
        let c = conversations.current();
        let prompt = c.prompt(&settings.system_prompt);
        // The document at the start of the first turn is kept in the disk state cache once
        // read, so every request about it — now, or after a restart — finds it read.
        let system_messages = prompt.len() - c.messages.len();
        let document = document_prefix(c, system_messages);
        let conversation = c.id.clone();
        conversations
            .current_mut()
            .messages
            .push(ChatMessage::assistant(String::new()));
        conversations.save_current(notices);
        let mut request = GenerateRequest::chat(prompt, sampling);
        if let Some(prefix) = document {
            request = request.with_cache_prefix(prefix);
        }
        let handle = model.backend().generate(request);
        self.reply = Some(ActiveReply::new(ReplySource::Engine(handle), conversation));
    }

    /// Applies what arrived for the running reply.
    pub(crate) fn poll(&mut self, conversations: &mut Conversations, notices: &mut Notices) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let finished = match &mut reply.source {
            ReplySource::Engine(_) => poll_engine(reply, conversations, notices),
            ReplySource::Summary(_) => document::poll_summary(reply, conversations, notices),
        };
        if finished {
            self.reply = None;
        }
    }

    /// Ends the running reply here (its model is being replaced), marked as stopped.
    pub(crate) fn abandon(&mut self, conversations: &mut Conversations, notices: &mut Notices) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        reply.stop();
        if let Some(m) = reply_message(conversations, &reply.conversation) {
            m.stopped = true;
        }
        conversations.save(&reply.conversation, notices);
    }
}

/// Returns true when the reply ended.
fn poll_engine(
    reply: &mut ActiveReply,
    conversations: &mut Conversations,
    notices: &mut Notices,
) -> bool {
    loop {
        let ReplySource::Engine(handle) = &mut reply.source else {
            return true;
        };
        let event = match handle.try_recv() {
            Ok(Some(event)) => event,
            Ok(None) => return handle.is_finished(),
            Err(error) => {
                end_with_error(reply, conversations, notices, &error);
                return true;
            }
        };
        match event {
            ReplyEvent::Prompt { done, total } => {
                reply.prefill = Some((done, total));
                reply.prefill_first.get_or_insert((Instant::now(), done));
            }
            ReplyEvent::Text(text) => reply.push_text(conversations, &text),
            ReplyEvent::Done { reason, timings } => {
                if let Some(m) = reply_message(conversations, &reply.conversation) {
                    m.stats = Some(ReplyStats::from(&timings));
                    m.stopped = reason == StopReason::Cancelled;
                }
                if reason == StopReason::ContextFull {
                    notices.push(Notice::text(
                        "The context is full: start a new chat, or raise the context size in Settings.",
                    ));
                }
                conversations.save(&reply.conversation, notices);
                return true;
            }
            ReplyEvent::Failed(error) => {
                end_with_error(reply, conversations, notices, &error);
                return true;
            }
        }
    }
}

/// A reply that failed keeps what was streamed (marked as cut off); an empty one is removed.
fn end_with_error(
    reply: &ActiveReply,
    conversations: &mut Conversations,
    notices: &mut Notices,
    error: &EngineError,
) {
    if let Some(c) = conversations.by_id_mut(&reply.conversation) {
        c.end_failed_reply();
    }
    conversations.save(&reply.conversation, notices);
    if matches!(error, EngineError::Stopped(_)) {
        // The model slot reports the stopped engine once, with Reload.
        return;
    }
    notices.push(Notice {
        message: first_sentence(&error.to_string()),
        details: Some(error.to_string()),
        action: None,
    });
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

pub(crate) fn reply_message<'a>(
    conversations: &'a mut Conversations,
    conversation: &str,
) -> Option<&'a mut ChatMessage> {
    conversations
        .by_id_mut(conversation)
        .and_then(|c| c.messages.last_mut())
        .filter(|m| m.role == Role::Assistant)
}

pub(crate) fn load_a_model_first() -> Notice {
    Notice {
        message: "Load a model first: open Models to download XGen or open a GGUF file.".into(),
        details: None,
        action: Some(NoticeAction::OpenModels),
    }
}
