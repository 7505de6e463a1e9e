//! Conversations and chat: create, select, rename, delete, export; send, stop, regenerate, edit.

#[allow(clippy::wildcard_imports)]
use super::*;

impl XgenApp {
    // ----- conversations -----

    /// Starts a new, empty conversation and shows it.
    pub fn new_conversation(&mut self) {
        if self.conversation().messages.is_empty() && self.conversation().document.is_none() {
            self.view = View::Chat;
            return;
        }
        self.conversations.insert(0, Conversation::new());
        self.current = 0;
        self.view = View::Chat;
        self.meter = None;
    }

    /// Shows conversation `id`.
    pub fn select_conversation(&mut self, id: &str) {
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.current = i;
            self.view = View::Chat;
            self.request_meter();
        }
    }

    /// Renames a conversation.
    pub fn rename_conversation(&mut self, id: &str, title: &str) {
        let title = title.trim();
        if title.is_empty() {
            return;
        }
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.conversations[i].title = title.to_owned();
            self.conversations[i].updated = unix_now();
            self.save_conversation(i);
        }
    }

    /// Deletes a conversation.
    pub fn delete_conversation(&mut self, id: &str) {
        if self.reply.as_ref().is_some_and(|r| r.conversation == id) {
            self.stop();
        }
        let Some(i) = self.conversations.iter().position(|c| c.id == id) else {
            return;
        };
        if let Err(e) = self.store.delete(id) {
            self.push_notice("The conversation could not be deleted.", &e);
            return;
        }
        let current_id = self.conversation().id.clone();
        self.conversations.remove(i);
        if self.conversations.is_empty() {
            self.conversations.push(Conversation::new());
        }
        self.current = self
            .conversations
            .iter()
            .position(|c| c.id == current_id)
            .unwrap_or(0);
    }

    /// Asks where to save the conversation as Markdown, then writes it.
    pub fn export_conversation(&mut self, id: &str) {
        let Some(c) = self.conversations.iter().find(|c| c.id == id) else {
            return;
        };
        let markdown = c.to_markdown();
        let file_name = format!("{}.md", sanitize_file_name(&c.title));
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-export".into())
            .spawn(move || {
                let Some(path) = rfd::FileDialog::new()
                    .set_file_name(file_name)
                    .add_filter("Markdown", &["md"])
                    .save_file()
                else {
                    return;
                };
                if let Err(e) = crate::catalog::write_atomic(&path, markdown.as_bytes()) {
                    waker.send(AppEvent::Document(Err(format!(
                        "could not write {}: {e}",
                        path.display()
                    ))));
                }
            });
        if let Err(e) = spawned {
            self.push_notice("The export could not be started.", &e);
        }
    }

    /// Writes the conversation as Markdown to `path` (the export without the dialog).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn export_conversation_to(&self, id: &str, path: &Path) -> Result<()> {
        let c = self
            .conversations
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| anyhow!("no conversation {id}"))?;
        crate::catalog::write_atomic(path, c.to_markdown().as_bytes())
            .with_context(|| format!("could not write {}", path.display()))
    }

    pub(super) fn save_conversation(&mut self, index: usize) {
        let Some(c) = self.conversations.get(index) else {
            return;
        };
        if let Err(e) = self.store.save(c) {
            self.push_notice(
                "The conversation could not be saved; it stays open here. Check free disk space.",
                &e,
            );
        }
    }

    pub(super) fn save_conversation_id(&mut self, id: &str) {
        if let Some(i) = self.conversations.iter().position(|c| c.id == id) {
            self.save_conversation(i);
        }
    }

    // ----- chat -----

    /// Sends the composer's text (Enter).
    pub fn send(&mut self) {
        let text = self.composer.trim().to_owned();
        if text.is_empty() || self.reply.is_some() {
            return;
        }
        self.composer.clear();
        let needs_summary =
            self.conversation().messages.is_empty() && self.conversation().document.is_some();
        if needs_summary {
            // A question about a document: the document goes in the first message.
            let Some(doc) = self.conversation().document.clone() else {
                return;
            };
            let mut m = ChatMessage::user(format!(
                "{text}\n\nAnswer using this document:\n\n{}",
                doc.text.trim_end()
            ));
            m.label = Some(format!("{text}\n\n*about **{}***", doc.name));
            self.conversation_mut().messages.push(m);
        } else {
            self.conversation_mut()
                .messages
                .push(ChatMessage::user(text));
        }
        self.conversation_mut().title_from_first_message();
        self.conversation_mut().updated = unix_now();
        let sampling = self.settings.sampling.clone();
        self.start_reply(sampling);
    }

    /// Stops the reply being written (Esc).
    pub fn stop(&mut self) {
        if let Some(job) = &self.job {
            job.cancel.cancel();
        }
        if self.reply.is_some() {
            self.engine.cancel();
        }
    }

    /// Writes the last reply again.
    pub fn regenerate(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let c = self.conversation_mut();
        if c.messages.last().is_some_and(|m| m.role == Role::Assistant) {
            c.messages.pop();
        }
        if c.messages.last().is_none_or(|m| m.role != Role::User) {
            return;
        }
        let summary = c.messages.len() == 1 && c.messages[0].label.is_some();
        let sampling = if summary {
            self.summary_sampling()
        } else {
            self.settings.sampling.clone()
        };
        self.start_reply(sampling);
    }

    /// Puts the last message back in the composer and removes it and its reply.
    pub fn edit_last(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let c = self.conversation_mut();
        let Some(last_user) = c.messages.iter().rposition(|m| m.role == Role::User) else {
            return;
        };
        if c.messages[last_user].label.is_some() {
            return;
        }
        let text = c.messages[last_user].content.clone();
        c.messages.truncate(last_user);
        self.composer = text;
        self.save_conversation(self.current);
    }

    pub(super) fn start_reply(&mut self, sampling: Sampling) {
        if !matches!(self.model, ModelState::Ready(_)) {
            self.notices.push(Notice {
                message: "Load a model first: open Models to download XGen or open a GGUF file."
                    .into(),
                details: None,
            });
            // Keep what the person wrote.
            let c = self.conversation_mut();
            if let Some(m) = c.messages.pop() {
                if m.label.is_none() && m.role == Role::User {
                    self.composer = m.content;
                }
            }
            return;
        }
        let prompt = self.conversation().prompt(&self.settings.system_prompt);
        // The turn that carries a document is saved to the disk state cache after it is read,
        // so reopening the conversation later does not read the document again.
        let document_turn = self.conversation().document.is_some()
            && self
                .conversation()
                .messages
                .first()
                .is_some_and(|m| m.label.is_some());
        let system_messages = prompt.len() - self.conversation().messages.len();
        let id = self.engine.next_request_id();
        let conversation = self.conversation().id.clone();
        self.conversation_mut()
            .messages
            .push(ChatMessage::assistant(String::new()));
        self.save_conversation(self.current);
        self.reply = Some(Reply {
            id,
            conversation,
            started: Instant::now(),
            prefill: None,
            prefill_first: None,
            first_piece: None,
        });
        let mut request = GenerateRequest::chat(id, prompt, sampling);
        if document_turn {
            request = request.with_cache_prefix(CachePrefix::Messages(system_messages + 1));
        }
        self.engine.generate(request);
    }

    pub(super) fn reply_message(&mut self, conversation: &str) -> Option<&mut ChatMessage> {
        self.conversations
            .iter_mut()
            .find(|c| c.id == conversation)
            .and_then(|c| c.messages.last_mut())
            .filter(|m| m.role == Role::Assistant)
    }

    pub(super) fn finish_reply_locally(&mut self, reply: &Reply, stopped: bool) {
        if let Some(m) = self.reply_message(&reply.conversation) {
            m.stopped = stopped;
        }
        self.save_conversation_id(&reply.conversation.clone());
    }
}

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

/// Saves conversation `loop` in `dir` forever, alternating a version whose messages say "A"
/// with one whose messages say "B" (each about 1 MB, so a kill often lands mid-write). Used by
/// the test that kills a save.
///
/// # Errors
/// The first failed save.
pub fn save_loop(dir: &Path) -> Result<()> {
    let store = ConversationStore::new(dir);
    let mut versions = Vec::new();
    for letter in ["A", "B"] {
        let mut c = Conversation::new();
        c.id = "loop".to_owned();
        c.title = letter.to_owned();
        c.messages = (0..64)
            .map(|_| ChatMessage::user(letter.repeat(16 * 1024)))
            .collect();
        versions.push(c);
    }
    loop {
        for c in &versions {
            store.save(c)?;
        }
    }
}
