//! Answers you can check, in the app: each conversation's document is read into a
//! [`DocumentIndex`] once, on a thread of its own, and every reply about it (a summary in one
//! pass or in parts, an answer, a regenerate, a file of the queue) is checked against it on a
//! job thread: its sentences' sources and the claims the document does not make.
//!
//! A check is stored in its message only while the message still holds the text that was
//! checked, so a check never describes another text; a reply that has none (written before
//! checks existed, or a check of another layout) is checked when its conversation is shown.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use clap::ValueEnum as _;

use super::conversations::Conversations;
use super::job::{Job, Waker};
use super::notices::Notices;
use super::store::Conversation;
use crate::documents::Document;
use crate::engine::Wake;
use crate::prompt::{document_len, summarize_request, Role, SummaryStyle};
use crate::sources::{CheckContext, DocumentIndex, Passage, ReplyCheck};

/// Documents kept indexed at once (an index takes several times its text in memory).
const KEPT_INDEXES: usize = 3;

/// A document's index, being built or built, shared by the jobs that need it. `None` inside
/// when building it failed.
#[derive(Clone, Default)]
pub(crate) struct IndexCell(Arc<OnceLock<Option<Arc<DocumentIndex>>>>);

impl IndexCell {
    /// Starts indexing `document` on a thread of its own; the UI is woken when it is done.
    fn build(document: Document, waker: &Waker) -> std::io::Result<Self> {
        let cell = Self::default();
        let filled = cell.clone();
        let waker = waker.clone();
        std::thread::Builder::new()
            .name("xgen-index-document".to_owned())
            .spawn(move || {
                // A panic here would leave every job that waits for the index waiting forever:
                // it becomes "no index" instead, and the checks are skipped.
                let built =
                    std::panic::catch_unwind(AssertUnwindSafe(|| DocumentIndex::build(&document)))
                        .ok()
                        .map(Arc::new);
                if built.is_none() {
                    tracing::error!("indexing {} failed", document.name);
                }
                filled.0.set(built).ok();
                waker.wake(Wake::Now);
            })?;
        Ok(cell)
    }

    /// The index, once built; waits for it (on a job's thread, never the UI's). `None` when it
    /// could not be built.
    pub(crate) fn wait(&self) -> Option<Arc<DocumentIndex>> {
        self.0.wait().clone()
    }
}

/// What a question read, for its check.
#[derive(Debug, Clone, Default)]
pub(crate) enum ReadPassages {
    /// The whole document (or nothing to say).
    #[default]
    Whole,
    /// These passages.
    Passages(Vec<Passage>),
    /// These byte ranges of the document's text (the parts a search of every part found the
    /// answer in).
    Ranges(Vec<Range<usize>>),
}

/// Where a check goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    conversation: String,
    message: usize,
    /// The file of the queue whose summary it is.
    queue_item: Option<u64>,
}

/// A check under way.
struct Pending {
    target: Target,
    /// The text checked: the check is stored only where the message still holds it.
    text: String,
    job: Job<ReplyCheck>,
}

/// An indexed document: the conversation it belongs to, its size (a replaced document is
/// another one) and the index.
struct Indexed {
    conversation: String,
    bytes: usize,
    cell: IndexCell,
}

/// The documents' indexes and the checks under way.
#[derive(Default)]
pub(crate) struct Checks {
    /// Most recently used first.
    indexes: Vec<Indexed>,
    pending: Vec<Pending>,
    /// Replies whose check was asked for, by conversation, message and a hash of the text, so
    /// that one whose check cannot be stored is not checked again every frame.
    asked: HashSet<(String, usize, u64)>,
}

impl Checks {
    /// The index of `conversation`'s document, started now if it is not built or being built;
    /// `None` without a document.
    pub(crate) fn index(
        &mut self,
        conversation: &Conversation,
        waker: &Waker,
    ) -> Option<IndexCell> {
        let document = conversation.document.as_ref()?;
        self.index_document(&conversation.id, document, waker)
    }

    /// The index of `document`, the document of conversation `conversation` (which may not be
    /// in the list yet: a file of the queue).
    pub(crate) fn index_document(
        &mut self,
        conversation: &str,
        document: &Document,
        waker: &Waker,
    ) -> Option<IndexCell> {
        let bytes = document.text.len();
        if let Some(i) = self
            .indexes
            .iter()
            .position(|x| x.conversation == conversation && x.bytes == bytes)
        {
            let entry = self.indexes.remove(i);
            let cell = entry.cell.clone();
            self.indexes.insert(0, entry);
            return Some(cell);
        }
        let cell = match IndexCell::build(document.clone(), waker) {
            Ok(cell) => cell,
            Err(e) => {
                tracing::error!("cannot start indexing {}: {e}", document.name);
                return None;
            }
        };
        self.indexes.insert(
            0,
            Indexed {
                conversation: conversation.to_owned(),
                bytes,
                cell: cell.clone(),
            },
        );
        // Jobs still using a dropped index keep it until they end.
        self.indexes.truncate(KEPT_INDEXES);
        Some(cell)
    }

    /// Whether a check is under way.
    pub(crate) fn is_busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the check of message `message` of `conversation` is under way.
    pub(crate) fn is_checking(&self, conversation: &str, message: usize) -> bool {
        self.pending
            .iter()
            .any(|p| p.target.conversation == conversation && p.target.message == message)
    }

    /// Checks reply `message` of `c` (about its document) on a job thread; `read`: what its
    /// question read. The check lands in the message once done, if it still holds this text.
    pub(crate) fn check_reply(
        &mut self,
        c: &Conversation,
        message: usize,
        read: ReadPassages,
        waker: &Waker,
    ) {
        let Some(text) = c
            .messages
            .get(message)
            .filter(|m| m.role == Role::Assistant && !m.content.trim().is_empty())
            .map(|m| m.content.clone())
        else {
            return;
        };
        let Some(cell) = self.index(c, waker) else {
            return;
        };
        let target = Target {
            conversation: c.id.clone(),
            message,
            queue_item: None,
        };
        self.start(target, text, question_of(c, message), read, cell, waker);
    }

    /// Checks the summary of file `item` of the queue, which is message `message` of
    /// conversation `conversation` about `document`.
    pub(crate) fn check_queue_summary(
        &mut self,
        item: u64,
        conversation: &Conversation,
        message: usize,
        waker: &Waker,
    ) {
        let (Some(document), Some(reply)) = (
            conversation.document.as_ref(),
            conversation.messages.get(message),
        ) else {
            return;
        };
        let Some(cell) = self.index_document(&conversation.id, document, waker) else {
            return;
        };
        let target = Target {
            conversation: conversation.id.clone(),
            message,
            queue_item: Some(item),
        };
        let question = question_of(conversation, message);
        self.start(
            target,
            reply.content.clone(),
            question,
            ReadPassages::Whole,
            cell,
            waker,
        );
    }

    fn start(
        &mut self,
        target: Target,
        text: String,
        question: String,
        read: ReadPassages,
        cell: IndexCell,
        waker: &Waker,
    ) {
        self.asked.insert((
            target.conversation.clone(),
            target.message,
            text_hash(&text),
        ));
        // A newer check of the same message replaces the one under way (dropping its job).
        self.pending.retain(|p| p.target != target);
        let checked = text.clone();
        let job = Job::spawn("xgen-check-reply", waker, move |r| {
            let Some(index) = cell.wait() else {
                return;
            };
            let question = question.trim();
            let context = CheckContext {
                question: (!question.is_empty()).then_some(question),
            };
            let check = index.check(&checked, &context);
            let check = match read {
                ReadPassages::Whole => check,
                ReadPassages::Passages(passages) => check.with_read(passages),
                ReadPassages::Ranges(ranges) => {
                    let passages = ranges
                        .into_iter()
                        .filter(|r| r.start <= r.end && r.end <= index.text().len())
                        .map(|r| index.passage(r))
                        .collect();
                    check.with_read(passages)
                }
            };
            r.send(check, false);
        });
        match job {
            Ok(job) => self.pending.push(Pending { target, text, job }),
            Err(e) => tracing::error!("cannot start checking a reply: {e}"),
        }
    }

    /// Keeps the conversation on screen checked: its document indexed, and each reply about it
    /// without a check checked; `writing`: the message being written, left alone.
    pub(crate) fn follow(&mut self, c: &Conversation, writing: Option<usize>, waker: &Waker) {
        if c.document.is_none() {
            return;
        }
        if self.index(c, waker).is_none() {
            return;
        }
        let unchecked: Vec<usize> = c
            .messages
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.role == Role::Assistant
                    && m.check.is_none()
                    && Some(*i) != writing
                    && !m.content.trim().is_empty()
                    && !self
                        .asked
                        .contains(&(c.id.clone(), *i, text_hash(&m.content)))
            })
            .map(|(i, _)| i)
            .collect();
        for message in unchecked {
            self.check_reply(c, message, ReadPassages::Whole, waker);
        }
    }

    /// Stores the checks that are done in their messages (and saves those conversations);
    /// returns the checks of the queue's summaries, by file.
    pub(crate) fn poll(
        &mut self,
        conversations: &mut Conversations,
        notices: &mut Notices,
    ) -> Vec<(u64, String, ReplyCheck)> {
        let mut done = Vec::new();
        self.pending.retain_mut(|p| {
            if let Some(check) = p.job.drain().pop() {
                done.push((p.target.clone(), std::mem::take(&mut p.text), check));
                return false;
            }
            !p.job.is_finished()
        });
        let mut for_queue = Vec::new();
        for (target, text, check) in done {
            if let Some(m) = conversations
                .by_id_mut(&target.conversation)
                .and_then(|c| c.messages.get_mut(target.message))
                .filter(|m| m.role == Role::Assistant && m.content == text)
            {
                m.check = Some(check.clone());
                conversations.save(&target.conversation, notices);
            } else {
                // The message changed meanwhile: its new text is checked when it is shown.
                self.asked.remove(&(
                    target.conversation.clone(),
                    target.message,
                    text_hash(&text),
                ));
            }
            if let Some(item) = target.queue_item {
                for_queue.push((item, text, check));
            }
        }
        for_queue
    }
}

/// What reply `index` of `c` answers, for its check: a summary's request in words (without
/// the document), or the person's question.
pub(crate) fn question_of(c: &Conversation, index: usize) -> String {
    let Some(asked) = c.messages[..index.min(c.messages.len())]
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
    else {
        return String::new();
    };
    if let Some(label) = &asked.label {
        for &style in SummaryStyle::value_variants() {
            if label.starts_with(&format!("{} of **", style.label())) {
                return summarize_request("", style).trim().to_owned();
            }
        }
    }
    if let Some(doc) = &c.document {
        let prefix = &doc.text[..document_len(&doc.text)];
        if let Some(rest) = asked.content.strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
    asked.content.trim().to_owned()
}

fn text_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
