//! The chat: the composer, the reply being written ([`Reply`]) and the screen that shows the
//! conversation (`view.rs`). Sending, regenerating and summarizing all start a reply here; one
//! runs at a time.

mod view;

use egui_commonmark::CommonMarkCache;

use super::reply::{load_a_model_first, Reply};
use super::shared::Shared;
use super::store::ChatMessage;
use super::summary_run::{mark_read_in_parts, request_message, SummaryRun};
use crate::catalog::unix_now;
use crate::engine::Sampling;
use crate::prompt::{document_turn, Role};

/// The composer and the running reply.
#[derive(Default)]
pub(crate) struct Chat {
    /// The message being typed.
    composer: String,
    reply: Option<Reply>,
    /// Rendered Markdown of the messages on screen.
    markdown: CommonMarkCache,
}

impl Chat {
    /// The message being typed.
    pub(crate) fn composer(&self) -> &str {
        &self.composer
    }

    /// True while a reply is being written.
    pub(crate) fn is_generating(&self) -> bool {
        self.reply.is_some()
    }

    /// The reply being written.
    pub(crate) fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// Sends the composer's text (Enter). A first question about a document carries it.
    pub(crate) fn send(&mut self, shared: &mut Shared) {
        let text = self.composer.trim().to_owned();
        if text.is_empty() || self.reply.is_some() {
            return;
        }
        self.composer.clear();
        let c = shared.conversations.current_mut();
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
        let sampling = shared.settings.sampling.clone();
        self.start_reply(shared, sampling);
    }

    /// Stops the reply being written (Esc).
    pub(crate) fn stop(&self) {
        if let Some(reply) = &self.reply {
            reply.stop();
        }
    }

    /// Stops the reply being written when it belongs to `conversation`.
    pub(crate) fn stop_in(&self, conversation: &str) {
        if let Some(reply) = self
            .reply
            .as_ref()
            .filter(|r| r.conversation() == conversation)
        {
            reply.stop();
        }
    }

    /// Writes the last reply again.
    pub(crate) fn regenerate(&mut self, shared: &mut Shared) {
        if self.reply.is_some() {
            return;
        }
        let c = shared.conversations.current_mut();
        if c.messages.last().is_some_and(|m| m.role == Role::Assistant) {
            c.messages.pop();
        }
        if c.messages.last().is_none_or(|m| m.role != Role::User) {
            return;
        }
        let summary = c.messages.len() == 1 && c.messages[0].label.is_some();
        let sampling = if summary {
            shared.settings.summary_sampling()
        } else {
            shared.settings.sampling.clone()
        };
        self.start_reply(shared, sampling);
    }

    /// Puts the last message back in the composer and removes it and its reply.
    pub(crate) fn edit_last(&mut self, shared: &mut Shared) {
        if self.reply.is_some() {
            return;
        }
        let c = shared.conversations.current_mut();
        let Some(last_user) = c.messages.iter().rposition(|m| m.role == Role::User) else {
            return;
        };
        if c.messages[last_user].label.is_some() {
            return;
        }
        self.composer = c.messages[last_user].content.clone();
        c.messages.truncate(last_user);
        shared.conversations.save_current(&mut shared.notices);
    }

    /// Summarizes the document on screen with the chosen style and length: in one request
    /// when it is known to `fit`, else with a summary run, which reads it in one pass or in
    /// parts as its plan says. A new summary replaces the conversation about the document.
    pub(crate) fn summarize(&mut self, shared: &mut Shared, fits: bool) {
        if self.reply.is_some() {
            return;
        }
        let Some(doc) = shared.conversations.current().document.as_ref() else {
            return;
        };
        let message = request_message(doc, shared.settings.summary_style);
        if !fits {
            self.start_summary_run(shared, message);
            return;
        }
        let c = shared.conversations.current_mut();
        c.messages.clear();
        c.messages.push(message);
        c.updated = unix_now();
        let sampling = shared.settings.summary_sampling();
        self.start_reply(shared, sampling);
    }

    /// Starts a reply to the conversation on screen, which ends with the person's message.
    /// Without a model, what the person wrote goes back to the composer.
    fn start_reply(&mut self, shared: &mut Shared, sampling: Sampling) {
        if shared.model.info().is_none() {
            shared.notices.push(load_a_model_first());
            let c = shared.conversations.current_mut();
            if let Some(m) = c.messages.pop() {
                if m.label.is_none() && m.role == Role::User {
                    self.composer = m.content;
                }
            }
            return;
        }
        self.reply = Some(Reply::ask(shared, sampling));
    }

    /// Summarizes a document that does not fit (or is not measured yet) with a summary run:
    /// each model call is a request of its own, stopped by the run's cancel.
    fn start_summary_run(&mut self, shared: &mut Shared, mut message: ChatMessage) {
        let Some(info) = shared.model.info() else {
            shared.notices.push(load_a_model_first());
            return;
        };
        let n_ctx = info.n_ctx;
        let Some(doc) = shared.conversations.current().document.clone() else {
            return;
        };
        let engine = shared.model.backend();
        let run =
            match SummaryRun::start(doc, &shared.settings, engine, n_ctx, false, &shared.waker) {
                Ok(run) => run,
                Err(e) => {
                    shared
                        .notices
                        .error("The summary could not be started.", &e);
                    return;
                }
            };
        mark_read_in_parts(&mut message);
        let c = shared.conversations.current_mut();
        c.messages.clear();
        c.messages.push(message);
        c.messages.push(ChatMessage::assistant(String::new()));
        c.updated = unix_now();
        let id = c.id.clone();
        shared.conversations.save_current(&mut shared.notices);
        self.reply = Some(Reply::summary(run, id));
    }

    /// Applies what arrived for the running reply.
    pub(crate) fn poll(&mut self, shared: &mut Shared) {
        if self.reply.as_mut().is_some_and(|r| r.poll(shared)) {
            self.reply = None;
        }
    }

    /// Ends the running reply here (its model is being replaced), marked as stopped.
    pub(crate) fn abandon(&mut self, shared: &mut Shared) {
        if let Some(reply) = self.reply.take() {
            reply.abandon(shared);
        }
    }
}
