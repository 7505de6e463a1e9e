//! Answers you can check: where each sentence of a reply comes from in its document, which of
//! its claims (numbers, amounts, percentages, dates, names) the document does not make, and
//! which passages a question about a long document reads.
//!
//! - [`DocumentIndex::build`] reads a document once (sentences, paragraphs, word statistics,
//!   the figures, dates and words it holds); keep it beside the document and reuse it for every
//!   reply.
//! - [`DocumentIndex::check`] aligns a reply with the document: per sentence or bullet, its
//!   supporting passages best first ([`Source`]: page, heading, byte range in
//!   [`Document::text`], character offsets into the text `xgen-desk extract` prints, text,
//!   score) and whether it is supported, plus every claim and where it was found. The result
//!   ([`ReplyCheck`]) is a view over the reply: the reply's text is never changed, and the check
//!   is saved beside it (it is serde-serialisable and versioned, [`CHECK_VERSION`]).
//! - [`read_for_question`] picks the paragraphs a question about a document longer than the
//!   context reads, in document order with their page and heading markers, to fill a token
//!   budget counted by the model's own tokenizer; [`describe_read`] says what was read in words
//!   ("read 9 passages, pages 3-5, 31, 40 of 120").
//! - [`search_every_part`] asks a question of every part of a long document and combines the
//!   answers, with coverage; [`suggests_every_part`] says when a question wants it.
//!
//! How it works and why: `docs/sources.md`.

mod align;
mod claims;
mod every_part;
mod extract_text;
mod footnotes;
mod index;
mod reply;
mod retrieve;
mod text;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use claims::ClaimKind;
pub use every_part::{
    every_part_messages, search_every_part, suggests_every_part, PartAnswer, PartSearch,
    PartSearchProgress, NOT_IN_THIS_PART,
};
pub use extract_text::{extract_text, pieces, write_extract_text, Piece};
pub use footnotes::with_footnotes;
pub use index::DocumentIndex;
pub use retrieve::{
    describe_read, question_turn, read_for_question, ReadOptions, Reading, NOTES_HEADER,
};

pub(crate) use text::FoldedText;

#[cfg(doc)]
use crate::documents::Document;

/// The version of [`ReplyCheck`]'s layout. A check saved with another version is not read
/// (it is dropped when the conversation loads, and made again when needed).
pub const CHECK_VERSION: u32 = 1;

/// What a reply was checked against, besides the document.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckContext<'a> {
    /// What the person asked (for a summary: the request, "Please summarize the article
    /// above."). A sentence that only repeats it is not checked, and its words count for
    /// little as evidence.
    pub question: Option<&'a str>,
}

/// A reply checked against its document: a view over the reply's text, saved with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyCheck {
    /// [`CHECK_VERSION`] when it was made.
    pub version: u32,
    /// The reply's sentences and bullets, in order.
    pub sentences: Vec<SentenceCheck>,
    /// The reply's claims, in order, each with where it was found.
    pub claims: Vec<Claim>,
    /// The passages the question read, when it read only part of the document (empty when it
    /// read the whole document).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<Passage>,
    /// Characters in the document's extracted text (for "of N" in what was read).
    #[serde(default)]
    pub document_chars: usize,
}

impl ReplyCheck {
    /// Whether this check can be used (it was made with this layout).
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.version == CHECK_VERSION
    }

    /// The claims the document makes nowhere (the reply's footer counts them: "2 claims not
    /// found in the document").
    pub fn not_found(&self) -> impl Iterator<Item = &Claim> {
        self.claims.iter().filter(|c| c.found == Found::Nowhere)
    }

    /// Sentences that were checked and are not supported ("not found in the document").
    pub fn unsupported(&self) -> impl Iterator<Item = &SentenceCheck> {
        self.sentences.iter().filter(|s| s.checked && !s.supported)
    }

    /// Whether every sentence is supported and every claim found where its sentence's sources
    /// are.
    #[must_use]
    pub fn all_supported(&self) -> bool {
        self.sentences.iter().all(|s| s.supported) && self.not_found().next().is_none()
    }

    /// Attaches what a question read (from [`Reading::read`]).
    #[must_use]
    pub fn with_read(mut self, read: Vec<Passage>) -> Self {
        self.read = read;
        self
    }
}

/// One sentence or bullet of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceCheck {
    /// The sentence as read (Markdown marks left out).
    pub text: String,
    /// Bytes of the reply it spans, as written (Markdown marks inside included): the chips go
    /// after `span.end`.
    pub span: Range<usize>,
    /// What it is: only statements are checked.
    pub kind: SentenceKind,
    /// Whether it was checked (a statement); headings, code, sentences that only repeat the
    /// question and very short ones are not, and count as supported.
    pub checked: bool,
    /// The passages that support it, best first (at most four).
    pub sources: Vec<Source>,
    /// True when its passages cover it and every claim in it is found in them.
    pub supported: bool,
    /// How well its best passages cover it, 0 to 1.
    pub score: f32,
}

/// What a sentence of a reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentenceKind {
    /// A statement about the document: checked.
    Statement,
    /// A Markdown heading.
    Heading,
    /// Code.
    Code,
    /// Mostly the question's own words (and no figure, date or name of its own).
    Restatement,
    /// Says nothing checkable: under three words ("Yes.", "In short"), or a lead-in ending in
    /// a colon ("Here are the key points:"), without a figure, date or name.
    Short,
}

/// A passage of the document that supports a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The page it is on (PDF), if the document has pages.
    pub page: Option<u32>,
    /// The heading it is under, if the document has headings.
    pub heading: Option<String>,
    /// Character offset of its start in the text `xgen-desk extract` prints.
    pub start: usize,
    /// Character offset of its end in that text.
    pub end: usize,
    /// The passage.
    pub text: String,
    /// How well it supports the sentence on its own, 0 to 1.
    pub score: f32,
    /// Bytes of [`Document::text`] (for the document view: scroll there, highlight).
    pub bytes: Range<usize>,
}

/// A passage a question read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// The page it starts on, if the document has pages.
    pub page: Option<u32>,
    /// The page it ends on, when that is another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u32>,
    /// The heading it is under, if any.
    pub heading: Option<String>,
    /// Character offset of its start in the text `xgen-desk extract` prints.
    pub start: usize,
    /// Character offset of its end in that text.
    pub end: usize,
    /// The passage, as the model read it.
    pub text: String,
    /// Bytes of [`Document::text`].
    pub bytes: Range<usize>,
}

/// A checkable claim of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// As written in the reply.
    pub text: String,
    /// Bytes of the reply (to mark it).
    pub span: Range<usize>,
    /// Number, amount, percentage, date, name or literal.
    pub kind: ClaimKind,
    /// Its value as compared with the document's: `12000000`, `12%`, `USD 12000000`,
    /// `2018-03-03`, `2018-03`, `--03-03` (no year), `ian murdock` (case-folded words).
    pub normal: String,
    /// The sentence it is in (index into [`ReplyCheck::sentences`]).
    pub sentence: usize,
    /// Where the document makes it.
    pub found: Found,
}

/// Where the document makes a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// In (or beside) one of its sentence's sources.
    InSources,
    /// In the document, but not where its sentence's sources are (a figure or name taken from
    /// elsewhere): the sentence is not supported.
    Elsewhere,
    /// Nowhere in the document.
    Nowhere,
}
