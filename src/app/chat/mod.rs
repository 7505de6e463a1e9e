//! The chat: the composer, the reply being written ([`Reply`]) and the screen that shows the
//! conversation (`view.rs`, with `checked.rs` for a reply drawn with its sources). Sending,
//! regenerating, summarizing and searching every part all start a reply here; one runs at a
//! time.
//!
//! A question about a document that does not fit the context reads the document's passages
//! that bear on it (and the part notes of a summary in parts), chosen when it is sent; its
//! message holds the question alone, so the conversation never holds the document.

mod checked;
mod view;

use std::ops::Range;

use egui_commonmark::CommonMarkCache;

use super::part_search::{PartSearchRun, SEARCHED_EVERY_PART};
use super::reply::{document_prefix, load_a_model_first, LongQuestion, Reply};
use super::shared::Shared;
use super::store::{ChatMessage, Conversation};
use super::summary_run::{mark_read_in_parts, request_message, SummaryRun};
use crate::catalog::unix_now;
use crate::engine::Sampling;
use crate::prompt::{document_turn, Message, Role};
use crate::sources::describe_read;
use crate::summarize::PartNotes;

/// What the last question about the document on screen read, when it read part of it.
pub(crate) struct LastRead {
    /// Byte ranges of the document's text, in order.
    pub(crate) ranges: Vec<Range<usize>>,
    /// In words: "read 9 passages, pages 3-5, 31, 40 of 120".
    pub(crate) said: String,
}

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

    /// Sends the composer's text (Enter). A first question about a document that `fits` the
    /// context carries it; about one that does not (or is not measured yet), it reads the
    /// passages that bear on it.
    pub(crate) fn send(&mut self, shared: &mut Shared, fits: Option<bool>) {
        let text = self.composer.trim().to_owned();
        if text.is_empty() || self.reply.is_some() {
            return;
        }
        self.composer.clear();
        let c = shared.conversations.current_mut();
        match (&c.document, c.messages.is_empty(), fits) {
            (Some(doc), true, Some(true)) => {
                let mut m = ChatMessage::user(document_turn(&doc.text, &text));
                m.label = Some(format!("{text}\n\n*about **{}***", doc.name));
                c.messages.push(m);
            }
            _ => c.messages.push(ChatMessage::user(text)),
        }
        c.title_from_first_message();
        c.updated = unix_now();
        let sampling = shared.settings.sampling.clone();
        self.start_reply(shared, sampling, fits);
    }

    /// Asks a question of every part of the long document on screen and combines the answers:
    /// the composer's question, or with `again` the last question (its answer is replaced).
    pub(crate) fn search_every_part(&mut self, shared: &mut Shared, again: bool) {
        if self.reply.is_some() {
            return;
        }
        let Some(info) = shared.model.info() else {
            shared.notices.push(load_a_model_first());
            return;
        };
        let n_ctx = info.n_ctx;
        let c = shared.conversations.current_mut();
        let Some(document) = c.document.clone() else {
            return;
        };
        let question = if again {
            if c.messages.last().is_some_and(|m| m.role == Role::Assistant) {
                c.messages.pop();
            }
            match c.messages.last() {
                Some(m) if m.role == Role::User && m.label.is_none() => m.content.clone(),
                _ => return,
            }
        } else {
            let text = self.composer.trim().to_owned();
            if text.is_empty() {
                return;
            }
            self.composer.clear();
            c.messages.push(ChatMessage::user(text.clone()));
            c.title_from_first_message();
            text
        };
        c.updated = unix_now();
        let engine = shared.model.backend();
        let sampling = shared.settings.sampling.clone();
        match PartSearchRun::start(document, question, engine, n_ctx, sampling, &shared.waker) {
            Ok(run) => {
                let c = shared.conversations.current_mut();
                c.messages.push(ChatMessage::assistant(String::new()));
                let id = c.id.clone();
                shared.conversations.save_current(&mut shared.notices);
                self.reply = Some(Reply::every_part(run, id));
            }
            Err(e) => shared
                .notices
                .error("The search of every part could not be started.", &e),
        }
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

    /// Writes the last reply again (a question about a long document chooses its passages
    /// again, with `fits` as for [`Chat::send`]).
    pub(crate) fn regenerate(&mut self, shared: &mut Shared, fits: Option<bool>) {
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
        self.start_reply(shared, sampling, fits);
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
        self.start_reply(shared, sampling, Some(true));
    }

    /// Starts a reply to the conversation on screen, which ends with the person's message: a
    /// question about a document that does not fit reads its passages first. Without a model,
    /// what the person wrote goes back to the composer.
    fn start_reply(&mut self, shared: &mut Shared, sampling: Sampling, fits: Option<bool>) {
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
        let c = shared.conversations.current();
        if reads_passages(c, fits) {
            let Some(index) = shared.checks.index(c, &shared.waker) else {
                return;
            };
            let asked = long_question(c, &shared.settings.system_prompt, index);
            match Reply::read_and_ask(shared, asked, sampling) {
                Ok(reply) => self.reply = Some(reply),
                Err(e) => shared
                    .notices
                    .error("The question could not be started.", &e),
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

    /// Applies what arrived for the running reply; once it ended, has it checked.
    pub(crate) fn poll(&mut self, shared: &mut Shared) {
        if self.reply.as_mut().is_some_and(|r| r.poll(shared)) {
            if let Some(reply) = self.reply.take() {
                reply.check(shared);
            }
        }
    }

    /// The message of the conversation on screen the reply is being written into.
    pub(crate) fn writing(&self, shared: &Shared) -> Option<usize> {
        let c = shared.conversations.current();
        self.reply
            .as_ref()
            .filter(|r| r.conversation() == c.id)
            .and_then(|_| c.messages.len().checked_sub(1))
    }

    /// What the last question about the document on screen read, when it read part of it:
    /// the question being answered, else the last reply's check.
    pub(crate) fn last_read(&self, shared: &Shared) -> Option<LastRead> {
        let c = shared.conversations.current();
        let doc = c.document.as_ref()?;
        if let Some(reply) = self.reply.as_ref().filter(|r| r.conversation() == c.id) {
            if reply.is_choosing_passages() {
                return Some(LastRead {
                    ranges: Vec::new(),
                    said: "choosing the passages to read…".to_owned(),
                });
            }
            if let Some(run) = reply.part_search() {
                return Some(LastRead {
                    ranges: Vec::new(),
                    said: run.status().to_lowercase(),
                });
            }
            if let Some(said) = reply.read_said() {
                return Some(LastRead {
                    ranges: reply.read_ranges(),
                    said: said.to_owned(),
                });
            }
            return None;
        }
        let last = c
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant)?;
        let ranges = |check: &crate::sources::ReplyCheck| {
            check.read.iter().map(|p| p.bytes.clone()).collect()
        };
        // An answer from every part says so on its line (also when no part had an answer, or
        // before its check is done).
        let every_part = last.label.as_deref().and_then(|l| {
            let at = l.rfind(SEARCHED_EVERY_PART)?;
            Some(l[at..].trim_end_matches(['*', '.', ' ', '\n']).to_owned())
        });
        if let Some(said) = every_part {
            return Some(LastRead {
                ranges: last.check.as_ref().map(ranges).unwrap_or_default(),
                said,
            });
        }
        let check = last.check.as_ref().filter(|k| !k.read.is_empty())?;
        Some(LastRead {
            ranges: ranges(check),
            said: describe_read(&check.read, doc.page_count(), check.document_chars, false),
        })
    }

    /// Ends the running reply here (its model is being replaced), marked as stopped.
    pub(crate) fn abandon(&mut self, shared: &mut Shared) {
        if let Some(reply) = self.reply.take() {
            reply.abandon(shared);
        }
    }
}

/// Whether the question that ends `c` reads the passages of its document that bear on it: the
/// document does not fit (or is not measured yet), and the conversation does not hold the
/// whole document already (a summary in one pass, a first question that fit).
fn reads_passages(c: &Conversation, fits: Option<bool>) -> bool {
    c.document.is_some()
        && fits != Some(true)
        && c.messages
            .last()
            .is_some_and(|m| m.role == Role::User && m.label.is_none())
        && document_prefix(c, 0).is_none()
}

/// The question that ends `c` as a question about its long document: the turns before it
/// (the request of a summary in parts in a few words, its notes apart), the question, and the
/// notes.
fn long_question(c: &Conversation, system: &str, index: super::checks::IndexCell) -> LongQuestion {
    let mut prior = Vec::new();
    if !system.trim().is_empty() {
        prior.push(Message::system(system));
    }
    let mut notes = Vec::new();
    let asked = c.messages.len().saturating_sub(1);
    for (i, m) in c.messages[..asked].iter().enumerate() {
        if i == 0 && m.role == Role::User && m.label.is_some() {
            // A summary's request: its notes (a summary in parts) come as notes; the document
            // itself never comes whole.
            if let Some(parts) = PartNotes::from_prompt(&m.content) {
                notes = parts.notes().to_vec();
            }
            prior.push(Message::user("Please summarize the document."));
            continue;
        }
        prior.push(Message {
            role: m.role,
            content: m.content.clone(),
        });
    }
    LongQuestion {
        prior,
        question: c
            .messages
            .get(asked)
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        notes,
        index,
    }
}
