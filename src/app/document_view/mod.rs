//! The document view: a side panel with the document's text exactly as the model reads it
//! (the text, with a marker line before each page and heading), a search (Ctrl+F), a jump to
//! a page, the passage of a source chip highlighted, and the passages the last question read
//! tinted.
//!
//! The text is cut into rows ([`rows::Rows`], byte ranges of the document's text, never
//! copies) on a job thread, once per document and width; the view draws only the rows on
//! screen, so a 4-million-character document scrolls as fast as a page.

pub(crate) mod rows;
mod view;

use std::ops::Range;

use super::job::{Job, Waker};
use crate::documents::Document;
use crate::sources::FoldedText;
use rows::Rows;

/// Which document, at which width, a set of rows is for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowsKey {
    conversation: String,
    /// The document's size in bytes (a replaced document is another one).
    bytes: usize,
    columns: usize,
}

/// Rows built for a document, with its text folded for the search the way the sources
/// compare words (case, compatibility forms), made once with the rows.
struct Built {
    key: RowsKey,
    rows: Rows,
    folded: FoldedText,
}

/// The document view's state.
#[derive(Default)]
pub(crate) struct DocumentView {
    visible: bool,
    built: Option<Built>,
    building: Option<(RowsKey, Job<Built>)>,
    /// Bytes of the document's text to highlight (a source's passage).
    highlight: Option<Range<usize>>,
    /// A byte offset to bring on screen at the next frame.
    scroll_to: Option<usize>,
    /// The search's text, and its matches (bytes of the document's text).
    search: String,
    matches: Vec<Range<usize>>,
    /// The match on screen (index into `matches`).
    current_match: usize,
    /// What the search found, in words, once run.
    search_said: Option<String>,
    /// The page typed in "Go to page".
    page_input: String,
    /// The first row on screen at the last frame.
    top_row: usize,
    /// The search field takes the focus at the next frame (Ctrl+F).
    focus_search: bool,
}

impl DocumentView {
    /// Whether it is shown.
    pub(crate) fn is_visible(&self) -> bool {
        self.visible
    }

    /// Shows or hides it.
    pub(crate) fn show(&mut self, visible: bool) {
        self.visible = visible;
        if !visible {
            self.highlight = None;
        }
    }

    /// Shows it with the search field focused (Ctrl+F).
    pub(crate) fn start_search(&mut self) {
        self.visible = true;
        self.focus_search = true;
    }

    /// Shows it scrolled to `bytes` of the document's text, highlighted.
    pub(crate) fn open_at(&mut self, bytes: Range<usize>) {
        self.visible = true;
        self.scroll_to = Some(bytes.start);
        self.highlight = Some(bytes);
    }

    /// Whether `self.built` holds rows of `document` (of `conversation`); starts cutting it
    /// at `columns` columns when those are not built (rows of another width stay on screen
    /// meanwhile).
    fn ensure_rows(
        &mut self,
        conversation: &str,
        document: &Document,
        columns: usize,
        waker: &Waker,
    ) -> bool {
        let key = RowsKey {
            conversation: conversation.to_owned(),
            bytes: document.text.len(),
            columns,
        };
        if let Some((_, job)) = self.building.as_mut() {
            if let Some(built) = job.drain().pop() {
                self.built = Some(built);
                self.building = None;
            } else if job.is_finished() {
                self.building = None;
            }
        }
        let current = self.built.as_ref().is_some_and(|b| b.key == key);
        let under_way = self.building.as_ref().is_some_and(|(k, _)| *k == key);
        if !current && !under_way {
            let document = document.clone();
            let job_key = key.clone();
            match Job::spawn("xgen-document-rows", waker, move |r| {
                let cancel = r.cancel_token().clone();
                let Some(rows) = Rows::build(&document.text, &document.sections, columns, &|| {
                    cancel.is_cancelled()
                }) else {
                    return;
                };
                let folded = FoldedText::new(&document.text);
                r.send(
                    Built {
                        key: job_key,
                        rows,
                        folded,
                    },
                    false,
                );
            }) {
                // Dropping the job of another width or document stops it.
                Ok(job) => self.building = Some((key.clone(), job)),
                Err(e) => tracing::error!("cannot cut the document into rows: {e}"),
            }
        }
        // Rows of the same document at another width still show it while the new ones are cut.
        self.built
            .as_ref()
            .is_some_and(|b| b.key.conversation == key.conversation && b.key.bytes == key.bytes)
    }

    /// Runs the search for the typed text in `text` (the document the rows were built of):
    /// every match, case folded in any script.
    fn run_search(&mut self, text: &str) {
        let query = self.search.trim();
        self.matches.clear();
        self.current_match = 0;
        let Some(built) = self.built.as_ref() else {
            return;
        };
        if query.is_empty() {
            self.search_said = None;
            return;
        }
        self.matches = built.folded.find(text, query);
        self.search_said = Some(match self.matches.len() {
            0 => "not found".to_owned(),
            1 => "1 match".to_owned(),
            n => format!("{n} matches"),
        });
        if let Some(first) = self.matches.first() {
            self.scroll_to = Some(first.start);
            self.highlight = Some(first.clone());
        }
    }

    /// Goes to the next match (after the last, the first again).
    fn next_match(&mut self) {
        if self.matches.is_empty() {
            return;
        }
        self.current_match = (self.current_match + 1) % self.matches.len();
        let at = self.matches[self.current_match].clone();
        self.scroll_to = Some(at.start);
        self.highlight = Some(at);
    }
}
