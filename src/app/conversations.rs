//! The conversations: the list in the sidebar, the one on screen, and their files. Every change
//! is saved at once (one JSON file per conversation, written atomically).

use std::path::Path;

use super::job::{save_markdown, write_markdown, Job, Waker};
use super::notices::Notices;
use super::store::{Conversation, ConversationStore};
use crate::catalog::unix_now;

/// The conversations and which one is on screen.
pub(crate) struct Conversations {
    store: ConversationStore,
    list: Vec<Conversation>,
    current: usize,
    export: Option<Job<String>>,
}

impl Conversations {
    /// Reads the saved conversations; an unreadable one is reported and left as it is.
    pub(crate) fn load(store: ConversationStore, notices: &mut Notices) -> Self {
        let mut list = match store.load_all() {
            Ok((list, unreadable)) => {
                for e in unreadable {
                    notices.error(
                        "A saved conversation could not be read; it was left as it is.",
                        &e,
                    );
                }
                list
            }
            Err(e) => {
                notices.error("Saved conversations could not be listed.", &e);
                Vec::new()
            }
        };
        if list.is_empty() {
            list.push(Conversation::new());
        }
        Self {
            store,
            list,
            current: 0,
            export: None,
        }
    }

    /// All conversations, most recent first.
    pub(crate) fn all(&self) -> &[Conversation] {
        &self.list
    }

    /// The conversation on screen.
    pub(crate) fn current(&self) -> &Conversation {
        &self.list[self.current.min(self.list.len() - 1)]
    }

    pub(crate) fn current_mut(&mut self) -> &mut Conversation {
        let i = self.current.min(self.list.len() - 1);
        &mut self.list[i]
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Conversation> {
        self.list.iter().find(|c| c.id == id)
    }

    pub(crate) fn by_id_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        self.list.iter_mut().find(|c| c.id == id)
    }

    /// Shows a new, empty conversation (the current one when it is still empty).
    pub(crate) fn start_new(&mut self) {
        let c = self.current();
        if c.messages.is_empty() && c.document.is_none() {
            return;
        }
        self.list.insert(0, Conversation::new());
        self.current = 0;
    }

    /// Adds a finished conversation (a result of the queue) at the top of the list and saves
    /// it; the one on screen stays on screen.
    pub(crate) fn add(&mut self, conversation: Conversation, notices: &mut Notices) {
        let id = conversation.id.clone();
        let current = self.current().id.clone();
        self.list.insert(0, conversation);
        self.current = self.list.iter().position(|c| c.id == current).unwrap_or(0);
        self.save(&id, notices);
    }

    /// Shows conversation `id`; false when there is none.
    pub(crate) fn select(&mut self, id: &str) -> bool {
        match self.list.iter().position(|c| c.id == id) {
            Some(i) => {
                self.current = i;
                true
            }
            None => false,
        }
    }

    /// Renames a conversation (blank titles are ignored).
    pub(crate) fn rename(&mut self, id: &str, title: &str, notices: &mut Notices) {
        let title = title.trim();
        if title.is_empty() {
            return;
        }
        if let Some(c) = self.by_id_mut(id) {
            c.title = title.to_owned();
            c.updated = unix_now();
        }
        self.save(id, notices);
    }

    /// Deletes a conversation and its file.
    pub(crate) fn delete(&mut self, id: &str, notices: &mut Notices) {
        let Some(i) = self.list.iter().position(|c| c.id == id) else {
            return;
        };
        if self.store.is_read_only() {
            notices.message(
                "This window is read-only (another xgen-desk window is open): close that one to delete conversations.",
            );
            return;
        }
        if let Err(e) = self.store.delete(id) {
            notices.error("The conversation could not be deleted.", &e);
            return;
        }
        let current_id = self.current().id.clone();
        self.list.remove(i);
        if self.list.is_empty() {
            self.list.push(Conversation::new());
        }
        self.current = self
            .list
            .iter()
            .position(|c| c.id == current_id)
            .unwrap_or(0);
    }

    /// Saves conversation `id`; a failure is shown and the conversation stays open.
    pub(crate) fn save(&mut self, id: &str, notices: &mut Notices) {
        // A read-only window (another one holds the data directory) said so once, at start.
        if self.store.is_read_only() {
            return;
        }
        let Some(c) = self.list.iter().find(|c| c.id == id) else {
            return;
        };
        if let Err(e) = self.store.save(c) {
            notices.error(
                "The conversation could not be saved; it stays open here. Check free disk space.",
                &e,
            );
        }
    }

    /// Saves the conversation on screen.
    pub(crate) fn save_current(&mut self, notices: &mut Notices) {
        let id = self.current().id.clone();
        self.save(&id, notices);
    }

    /// Writes conversation `id` as Markdown: to `to`, or where a save dialog (off the UI
    /// thread) says. A failure becomes a notice.
    pub(crate) fn export(
        &mut self,
        id: &str,
        to: Option<&Path>,
        waker: &Waker,
        notices: &mut Notices,
    ) {
        let Some(c) = self.list.iter().find(|c| c.id == id) else {
            notices.message(&format!("There is no conversation {id} to export."));
            return;
        };
        let markdown = c.to_markdown();
        if let Some(path) = to {
            if let Err(failure) = write_markdown(path, &markdown) {
                notices.message(&failure);
            }
            return;
        }
        let file_name = format!("{}.md", sanitize_file_name(&c.title));
        match save_markdown(waker, file_name, markdown) {
            Ok(job) => self.export = Some(job),
            Err(e) => notices.error("The export could not be started.", &e),
        }
    }

    /// Reports a failed export.
    pub(crate) fn poll(&mut self, notices: &mut Notices) {
        let Some(job) = self.export.as_mut() else {
            return;
        };
        for failure in job.drain() {
            notices.message(&failure);
        }
        if job.is_finished() {
            self.export = None;
        }
    }
}

/// A file name from a conversation title: letters, digits, spaces and dashes.
fn sanitize_file_name(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim();
    if s.is_empty() {
        "conversation".to_owned()
    } else {
        s.to_owned()
    }
}
