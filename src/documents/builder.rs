//! The text builder every reader writes through, so that all formats separate blocks, place
//! markers and stop at the character limit the same way.

use super::{OcrSummary, Section, SectionKind};

/// Text and markers as a format reader produces them.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub(crate) text: String,
    pub(crate) sections: Vec<Section>,
    pub(crate) warnings: Vec<String>,
    /// Reading stopped because the text passed the character limit; `text` is incomplete.
    pub(crate) overflow: bool,
    /// Characters counted when `overflow` is set (more than the limit).
    pub(crate) chars: usize,
    /// The pages read by OCR, when any were.
    pub(crate) ocr: Option<OcrSummary>,
}

/// How two blocks of text are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sep {
    /// Nothing yet (start of the text).
    None,
    /// A line break.
    Line,
    /// A blank line.
    Paragraph,
}

/// Builds a [`Body`] block by block, so that every format separates paragraphs the same way
/// (a blank line, which the chunker cuts at first) and places markers at the start of the
/// text they mark.
///
/// It counts the characters it holds and stops taking text once they pass its limit, so that
/// a document that expands (pages listed many times, nested tables) is refused as soon as it
/// is too long instead of after all of it has been built; [`TextBuilder::is_full`] tells a
/// reader it can stop.
#[derive(Debug)]
pub(crate) struct TextBuilder {
    body: Body,
    pending_sep: Sep,
    pending_sections: Vec<(SectionKind, String)>,
    chars: usize,
    max_chars: usize,
}

/// `text` without characters of Unicode's private use areas: in PDFs, Word files and web
/// pages they are icon-font glyphs (Font Awesome's link icon after every heading of a Sphinx
/// page, Wingdings bullets) that mean nothing to a reader and cost tokens.
fn without_private_use(text: &str) -> std::borrow::Cow<'_, str> {
    let private = |c: char| matches!(u32::from(c), 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD);
    if text.contains(private) {
        text.replace(private, "").into()
    } else {
        text.into()
    }
}

impl TextBuilder {
    /// A builder that stops taking text past `max_chars` characters.
    pub(crate) fn with_limit(max_chars: usize) -> Self {
        Self {
            body: Body::default(),
            pending_sep: Sep::None,
            pending_sections: Vec::new(),
            chars: 0,
            max_chars,
        }
    }

    /// Whether the text passed the limit (the document will be refused as too long).
    pub(crate) fn is_full(&self) -> bool {
        self.body.overflow
    }

    /// Marks the start of a page or heading at the next block.
    pub(crate) fn mark(&mut self, kind: SectionKind, label: impl Into<String>) {
        self.pending_sections.push((kind, label.into()));
    }

    /// Asks for at least `sep` before the next block.
    pub(crate) fn separate(&mut self, sep: Sep) {
        self.pending_sep = self.pending_sep.max(sep);
    }

    /// Adds a block of text (trimmed; blank blocks are dropped), separated from the previous
    /// one by at least `sep`.
    pub(crate) fn block(&mut self, text: &str, sep: Sep) {
        self.push(without_private_use(text).trim(), sep);
    }

    /// Adds preformatted text: only blank lines around it are dropped, indentation is kept.
    pub(crate) fn verbatim(&mut self, text: &str, sep: Sep) {
        let text = without_private_use(text);
        let text = text.trim_end();
        let first_line = text
            .char_indices()
            .take_while(|(_, c)| c.is_whitespace())
            .filter(|(_, c)| *c == '\n')
            .last()
            .map_or(0, |(i, _)| i + 1);
        self.push(&text[first_line..], sep);
    }

    /// Adds `text` as the next block, with the pending markers at its start; returns where it
    /// starts in the text, or `None` when it was blank or over the limit.
    fn push(&mut self, text: &str, sep: Sep) -> Option<usize> {
        self.separate(sep);
        if self.body.overflow || text.trim().is_empty() {
            return None;
        }
        let separator = match (self.body.text.is_empty(), self.pending_sep) {
            (true, _) => "",
            (false, Sep::Paragraph) => "\n\n",
            (false, Sep::Line | Sep::None) => "\n",
        };
        self.chars = self
            .chars
            .saturating_add(separator.len() + text.chars().count());
        if self.chars > self.max_chars {
            self.body.overflow = true;
            self.body.chars = self.chars;
            return None;
        }
        self.body.text.push_str(separator);
        self.pending_sep = Sep::None;
        let offset = self.body.text.len();
        for (kind, label) in self.pending_sections.drain(..) {
            self.body.sections.push(Section {
                offset,
                kind,
                label,
            });
        }
        self.body.text.push_str(text);
        Some(offset)
    }

    /// Appends a body read on its own (a chapter of a book) as the next block, after a blank
    /// line, with its markers; `start` marks its beginning (`None`: its own first marker is
    /// there). Its characters count against the limit like any text.
    pub(crate) fn append(&mut self, body: Body, start: Option<(SectionKind, String)>) {
        if self.body.overflow {
            return;
        }
        if body.overflow {
            self.body.overflow = true;
            self.body.chars = self.chars.saturating_add(body.chars);
            return;
        }
        if body.text.trim().is_empty() {
            return;
        }
        self.body.warnings.extend(body.warnings);
        self.pending_sections.extend(start);
        if let Some(offset) = self.push(&body.text, Sep::Paragraph) {
            self.body
                .sections
                .extend(body.sections.into_iter().map(|s| Section {
                    offset: offset + s.offset,
                    ..s
                }));
        }
    }

    /// Characters taken so far.
    pub(crate) fn chars(&self) -> usize {
        self.chars
    }

    /// The character limit.
    pub(crate) fn max_chars(&self) -> usize {
        self.max_chars
    }

    pub(crate) fn warn(&mut self, warning: String) {
        self.body.warnings.push(warning);
    }

    /// Records which pages OCR read, with the sentence about them among the warnings.
    pub(crate) fn ocr(&mut self, summary: OcrSummary, total_pages: usize) {
        self.body.warnings.push(summary.sentence(total_pages));
        self.body.ocr = Some(summary);
    }

    pub(crate) fn finish(self) -> Body {
        self.body
    }
}
