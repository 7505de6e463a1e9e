//! Conversations on disk: one JSON file per conversation, written atomically on every change,
//! so a crash or a kill mid-save leaves the previous version intact.
//!
//! A conversation's file is the one it was read from (the store remembers it); only a new
//! conversation gets a name, `<id>.json`, and only from an id of plain letters, digits, `-` and
//! `_` (`is_valid_id`). Ids read from the files are checked the same way, so a hand-edited or
//! planted file whose id is `../x` is reported as unreadable rather than followed.
//!
//! While another window of the app holds the data directory ([`crate::paths::DataDirLock`]),
//! the store opens read-only ([`ConversationStore::read_only`]): it lists and loads, and refuses
//! to save or delete, so two windows never overwrite each other's conversations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::catalog::unix_now;
use crate::documents::Document;
use crate::engine::{ThreadUse, Timings};
use crate::prompt::{Message, Role};
use crate::sources::ReplyCheck;
use xgen_fsio::write_atomic;

/// What can go wrong with saved conversations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a conversation.
    #[error("{path} is not a saved conversation")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A file's conversation id is not one the app makes; the file is left alone.
    #[error(
        "{path} names its conversation {id:?}, which is not a valid id (1 to {MAX_ID_LEN} \
         letters, digits, `-` or `_`); the file was left as it is"
    )]
    BadId {
        /// The file.
        path: PathBuf,
        /// The id it holds (at most 200 characters of it).
        id: String,
    },
    /// Two files hold a conversation of the same id; the second one is left alone, so saving
    /// the first never overwrites it.
    #[error(
        "{path} holds conversation {id}, which was already read from {first}; the file was left \
         as it is"
    )]
    DuplicateId {
        /// The file left alone.
        path: PathBuf,
        /// The id.
        id: String,
        /// The file the conversation was read from.
        first: PathBuf,
    },
    /// A conversation to save or delete has an id no file may be named after.
    #[error(
        "conversation id {id:?} is not valid (1 to {MAX_ID_LEN} letters, digits, `-` or `_`); \
         nothing was written"
    )]
    UnsafeId {
        /// The id (at most 200 characters of it).
        id: String,
    },
    /// The store is read-only: another xgen-desk window uses the data directory.
    #[error(
        "conversations in {dir} are open read-only because another xgen-desk window is using \
         them; changes here are not saved. Close the other window and open this one again to \
         save"
    )]
    ReadOnly {
        /// The conversations directory.
        dir: PathBuf,
    },
}

/// The longest conversation id.
pub const MAX_ID_LEN: usize = 128;

/// Whether `id` can be a conversation's id, and so name its file: 1 to [`MAX_ID_LEN`] ASCII
/// letters, digits, `-` or `_` (the ids [`Conversation::new`] makes are digits and dashes).
#[must_use]
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// At most 200 characters of an id, for messages.
fn shown_id(id: &str) -> String {
    id.chars().take(200).collect()
}

/// Figures about one reply.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplyStats {
    /// Seconds to the first token.
    pub ttft_secs: f64,
    /// Generated tokens per second.
    pub tok_per_sec: f64,
    /// Tokens generated.
    pub tokens: usize,
    /// Prompt tokens read (not taken from the cache).
    pub prompt_evaluated: usize,
    /// Prompt tokens in all.
    pub prompt_tokens: usize,
    /// Generated tokens that came from drafts the model agreed with.
    #[serde(default)]
    pub drafted_kept: usize,
    /// The threads the reply ran with (none from an inference server).
    #[serde(default)]
    pub threads: ThreadUse,
}

impl From<&Timings> for ReplyStats {
    fn from(t: &Timings) -> Self {
        Self {
            ttft_secs: t.ttft_secs,
            tok_per_sec: t.generation_tok_per_sec(),
            tokens: t.generated_tokens,
            prompt_evaluated: t.prompt_evaluated,
            prompt_tokens: t.prompt_tokens,
            drafted_kept: t.draft_accepted,
            threads: t.threads,
        }
    }
}

/// One message of a saved conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text sent to the model.
    pub content: String,
    /// A short stand-in shown instead of `content` (a document request shows its file name,
    /// not the whole document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Figures, for replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ReplyStats>,
    /// The reply was stopped before its end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// The reply broke off because the engine or the server failed (a lost connection, a
    /// server error); the text that came before is kept, and Regenerate asks again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_off: bool,
    /// For a reply about a document: its sentences' sources and the claims the document does
    /// not make, checked against `content` as it is (clear it when `content` changes). A check
    /// of another layout version, or one that cannot be read, loads as `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "current_check"
    )]
    pub check: Option<ReplyCheck>,
}

/// Reads a saved check leniently: one this version cannot use is dropped, never a reason to
/// refuse the conversation.
fn current_check<'de, D>(deserializer: D) -> Result<Option<ReplyCheck>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value::<ReplyCheck>(value)
        .ok()
        .filter(ReplyCheck::is_current))
}

impl ChatMessage {
    /// A message from the person.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            label: None,
            stats: None,
            stopped: false,
            cut_off: false,
            check: None,
        }
    }

    /// An (initially empty) reply.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            ..Self::user(content)
        }
    }

    /// What the message list shows.
    #[must_use]
    pub fn shown(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.content)
    }
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Unique id; names the file of a new conversation, so it must pass `is_valid_id`.
    pub id: String,
    /// Title shown in the sidebar.
    pub title: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// Seconds since the Unix epoch of the last change.
    pub updated: u64,
    /// The messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The document being discussed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
}

impl Conversation {
    /// After a reply failed: what it streamed is kept, marked as cut off; an empty one is
    /// removed.
    pub(crate) fn end_failed_reply(&mut self) {
        match self.messages.last_mut() {
            Some(m) if m.role == Role::Assistant && m.content.is_empty() => {
                self.messages.pop();
            }
            Some(m) if m.role == Role::Assistant => {
                m.stopped = true;
                m.cut_off = true;
            }
            _ => {}
        }
    }

    /// An empty conversation with a fresh id.
    #[must_use]
    pub fn new() -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = unix_now();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            id: format!("{now}-{nanos:09}-{n}"),
            title: "New chat".to_owned(),
            created: now,
            updated: now,
            messages: Vec::new(),
            document: None,
        }
    }

    /// The messages as the model sees them, after an optional system prompt.
    #[must_use]
    pub fn prompt(&self, system: &str) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.messages.len() + 1);
        if !system.trim().is_empty() {
            out.push(Message::system(system));
        }
        out.extend(self.messages.iter().map(|m| Message {
            role: m.role,
            content: m.content.clone(),
        }));
        out
    }

    /// Sets the title from the first message when it still has the default one.
    pub fn title_from_first_message(&mut self) {
        if self.title != "New chat" {
            return;
        }
        if let Some(first) = self.messages.iter().find(|m| m.role == Role::User) {
            let line = first.shown().lines().next().unwrap_or_default().trim();
            let mut title: String = line.chars().take(48).collect();
            if line.chars().count() > 48 {
                title.push('…');
            }
            if !title.is_empty() {
                self.title = title;
            }
        }
    }

    /// The conversation as Markdown (title, then each turn). A checked reply carries its
    /// sources and the claims the document does not make as footnotes (`[^1]`).
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.title);
        let mut footnote = 0usize;
        for m in &self.messages {
            let who = match m.role {
                Role::User => "You",
                Role::Assistant => "Assistant",
                Role::System => "System",
            };
            let (text, notes) = match &m.check {
                Some(check) => with_footnotes(m, check, &mut footnote),
                None => (m.shown().trim().to_owned(), String::new()),
            };
            out.push_str(&format!("**{who}:**\n\n{text}\n\n"));
            if !notes.is_empty() {
                out.push_str(&notes);
                out.push('\n');
            }
        }
        out
    }
}

/// A checked reply with its sources and unfound claims as footnotes; the footnotes are
/// numbered from `next + 1` on. A summary's label adds a line about how it was read.
fn with_footnotes(m: &ChatMessage, check: &ReplyCheck, next: &mut usize) -> (String, String) {
    let Some((mut text, notes)) = crate::sources::with_footnotes(&m.content, check, next) else {
        // The check is not of this text: show the text alone.
        return (m.shown().trim().to_owned(), String::new());
    };
    if let Some(rest) = m
        .label
        .as_deref()
        .and_then(|l| l.strip_prefix(m.content.trim_end()))
    {
        text = format!("{}{rest}", text.trim_end());
    }
    (text.trim().to_owned(), notes)
}

impl Default for Conversation {
    fn default() -> Self {
        Self::new()
    }
}

/// The directory of saved conversations.
#[derive(Debug, Clone)]
pub struct ConversationStore {
    dir: PathBuf,
    read_only: bool,
    /// The file each conversation was read from or saved to, by id (shared by clones).
    files: Arc<Mutex<HashMap<String, PathBuf>>>,
}

impl ConversationStore {
    /// A store in `dir` (created on first save).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            read_only: false,
            files: Arc::default(),
        }
    }

    /// A store in `dir` that lists and loads but refuses to save or delete
    /// ([`StoreError::ReadOnly`]): for a window opened while another one holds the data
    /// directory.
    #[must_use]
    pub fn read_only(dir: impl Into<PathBuf>) -> Self {
        Self {
            read_only: true,
            ..Self::new(dir)
        }
    }

    /// Whether saves and deletes are refused.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        // The map stays consistent whatever panicked while holding it: every change is one
        // insert or remove.
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file of conversation `id`: the one it was read from, else `<id>.json` for a valid id.
    fn file(&self, id: &str) -> Result<PathBuf, StoreError> {
        if let Some(path) = self.files().get(id) {
            return Ok(path.clone());
        }
        if !is_valid_id(id) {
            return Err(StoreError::UnsafeId { id: shown_id(id) });
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::ReadOnly {
                dir: self.dir.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// Every readable conversation, most recently changed first, plus the files that could not
    /// be read (they are left alone, never overwritten): not JSON, not a conversation, an
    /// invalid id, or an id another file already holds.
    ///
    /// # Errors
    /// When the directory exists but cannot be listed.
    pub fn load_all(&self) -> Result<(Vec<Conversation>, Vec<StoreError>), StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(source) => {
                return Err(StoreError::Io {
                    action: "list",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut read = Vec::new();
        let mut unreadable = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let is_json = path.extension().is_some_and(|e| e == "json");
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !is_json || hidden {
                continue;
            }
            match Self::read(&path) {
                Ok(c) => read.push((path, c)),
                Err(e) => unreadable.push(e),
            }
        }
        // Of two files with one id, the one named after it is the conversation's (then the
        // first by name, so the choice does not depend on the listing order).
        read.sort_by_cached_key(|(path, c)| {
            let named_after = path.file_stem().is_some_and(|s| *s == *c.id);
            (!named_after, path.clone())
        });
        let mut files = self.files();
        files.clear();
        let mut conversations = Vec::with_capacity(read.len());
        for (path, c) in read {
            if let Some(first) = files.get(&c.id) {
                unreadable.push(StoreError::DuplicateId {
                    path,
                    id: c.id,
                    first: first.clone(),
                });
                continue;
            }
            files.insert(c.id.clone(), path);
            conversations.push(c);
        }
        drop(files);
        conversations.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.id.cmp(&a.id)));
        Ok((conversations, unreadable))
    }

    fn read(path: &Path) -> Result<Conversation, StoreError> {
        let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let conversation: Conversation =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if !is_valid_id(&conversation.id) {
            return Err(StoreError::BadId {
                path: path.to_path_buf(),
                id: shown_id(&conversation.id),
            });
        }
        Ok(conversation)
    }

    /// Saves a conversation atomically, to the file it was read from (a new one: `<id>.json`).
    ///
    /// # Errors
    /// [`StoreError::ReadOnly`] in a read-only store, [`StoreError::UnsafeId`] for an id no
    /// file may be named after, or when the file cannot be written (the previous version is
    /// kept).
    pub fn save(&self, conversation: &Conversation) -> Result<(), StoreError> {
        self.check_writable()?;
        let path = self.file(&conversation.id)?;
        let bytes =
            serde_json::to_vec_pretty(conversation).map_err(|source| StoreError::Parse {
                path: path.clone(),
                source,
            })?;
        write_atomic(&path, &bytes).map_err(|source| StoreError::Io {
            action: "save",
            path: path.clone(),
            source,
        })?;
        self.files().insert(conversation.id.clone(), path);
        Ok(())
    }

    /// Deletes a conversation's file (no error if it was never saved).
    ///
    /// # Errors
    /// [`StoreError::ReadOnly`] in a read-only store, [`StoreError::UnsafeId`] for an id no
    /// file may be named after, or when the file exists and cannot be removed.
    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        let path = self.file(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    action: "delete",
                    path,
                    source,
                })
            }
        }
        self.files().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        assert!(is_valid_id(&Conversation::new().id));
        assert!(is_valid_id("loop"));
        assert!(is_valid_id(&"a".repeat(MAX_ID_LEN)));
        for bad in ["", "../x", "a/b", "a\\b", "a.json", "a b", "é", "a\0"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert!(!is_valid_id(&"a".repeat(MAX_ID_LEN + 1)));
    }

    #[test]
    fn title_comes_from_the_first_line_of_the_first_message() {
        let mut c = Conversation::new();
        c.messages
            .push(ChatMessage::user("What is XGen?\nMore text"));
        c.title_from_first_message();
        assert_eq!(c.title, "What is XGen?");
        c.messages[0].content = "x".repeat(100);
        c.title = "New chat".into();
        c.title_from_first_message();
        assert_eq!(c.title.chars().count(), 49);
    }

    #[test]
    fn markdown_export_shows_labels_not_documents() {
        let mut c = Conversation::new();
        let mut m = ChatMessage::user("Please summarize...\n\nlong document");
        m.label = Some("Summarize report.txt".into());
        c.messages.push(m);
        c.messages.push(ChatMessage::assistant("A summary."));
        let md = c.to_markdown();
        assert!(md.contains("**You:**\n\nSummarize report.txt"));
        assert!(md.contains("**Assistant:**\n\nA summary."));
        assert!(!md.contains("long document"));
    }

    fn checked_reply() -> (Conversation, ChatMessage) {
        let document = Document::from_text(
            "report.txt",
            "The council met on 3 May 2021.\n\nIt approved a budget of 12 million euros.",
        )
        .unwrap();
        let index = crate::sources::DocumentIndex::build(&document);
        let mut reply =
            ChatMessage::assistant("The council met on 3 May 2021. It approved 14,285 tables.");
        reply.check = Some(index.check(&reply.content, &crate::sources::CheckContext::default()));
        let mut c = Conversation::new();
        c.document = Some(document);
        c.messages.push(ChatMessage::user("Summarize"));
        c.messages.push(reply.clone());
        (c, reply)
    }

    #[test]
    fn a_reply_check_is_saved_and_read_back_and_old_or_unknown_ones_load_without_it() {
        let (c, reply) = checked_reply();
        let json = serde_json::to_string(&c).unwrap();
        let back: Conversation = serde_json::from_str(&json).unwrap();
        assert_eq!(back.messages[1].check, reply.check);
        // A file from before checks existed.
        let old = r#"{"role":"assistant","content":"Hi"}"#;
        let m: ChatMessage = serde_json::from_str(old).unwrap();
        assert_eq!(m.check, None);
        // A check of another layout, or one that cannot be read, loads as none.
        for check in [
            r#"{"version":99,"sentences":[],"claims":[]}"#,
            r#"{"version":1,"sentences":7}"#,
        ] {
            let text = format!(r#"{{"role":"assistant","content":"Hi","check":{check}}}"#);
            let m: ChatMessage = serde_json::from_str(&text).unwrap();
            assert_eq!(m.check, None, "{check}");
        }
    }

    #[test]
    fn markdown_export_gives_sources_and_unfound_claims_as_footnotes() {
        let (c, _) = checked_reply();
        let md = c.to_markdown();
        assert!(
            md.contains("The council met on 3 May 2021.[^1] It approved 14,285 tables.[^2]"),
            "{md}"
        );
        assert!(
            md.contains("[^1]: \"The council met on 3 May 2021.\""),
            "{md}"
        );
        assert!(
            md.contains("[^2]: ") && md.contains("\"14,285\" is not in the document."),
            "{md}"
        );
    }

    #[test]
    fn prompt_puts_the_system_prompt_first_and_keeps_full_content() {
        let mut c = Conversation::new();
        let mut m = ChatMessage::user("full text");
        m.label = Some("label".into());
        c.messages.push(m);
        let p = c.prompt("Be brief.");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].role, Role::System);
        assert_eq!(p[1].content, "full text");
        assert_eq!(c.prompt("  ").len(), 1);
    }
}
