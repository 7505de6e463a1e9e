//! OpenDocument text (.odt): `content.xml` from the ZIP, read with `quick-xml`. Paragraphs
//! (`text:p`) become blocks, headings (`text:h`, and `Title`/`Subtitle` paragraphs) markers,
//! tables one line per row with cells separated by ` | ` (the same table text as a `.docx`);
//! `text:s`, `text:tab` and `text:line-break` are a space, a tab and a line break. Comments
//! (`office:annotation`), the deleted text kept by change tracking (`text:tracked-changes`),
//! footnotes and generated tables of contents are left out.
//!
//! Bounded like the `.docx` reader: the XML is parsed while it is unpacked and never past
//! [`MAX_XML_BYTES`], tables nest at most `MAX_TABLE_DEPTH` deep, and reading stops as soon as
//! the text passes the character limit.

use std::io::{BufReader, Cursor};

use quick_xml::events::BytesStart;
use quick_xml::Reader;

use super::office::{attribute, finish_body, read_events, Capped, Tables, XmlText, MAX_XML_BYTES};
use super::{Body, DocumentError, Limits, SectionKind, Sep, TextBuilder};

/// Most spaces one `text:s` stands for: a word processor writes a few; more is padding built
/// to inflate the text.
const MAX_SPACES: usize = 1_000;

/// Deepest nesting of paragraphs (a text box's paragraphs sit inside the paragraph that
/// anchors it; deeper is crafted).
const MAX_PARAGRAPH_DEPTH: usize = 16;

/// Elements whose content is not read: comments, tracked deletions, footnotes, generated
/// indexes.
const SKIPPED: &[&[u8]] = &[
    b"annotation",
    b"tracked-changes",
    b"note",
    b"table-of-content",
    b"alphabetical-index",
    b"illustration-index",
    b"table-index",
    b"object-index",
    b"user-index",
    b"bibliography",
];

/// An `.odt` document.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    const CONTENT: &str = "content.xml";
    let broken = |reason: String| DocumentError::BrokenOdt {
        name: name.to_owned(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| broken(format!("not a ZIP archive: {e}")))?;
    let part = archive
        .by_name(CONTENT)
        .map_err(|_| broken(format!("it has no {CONTENT}")))?;
    let capped = Capped {
        inner: part,
        left: MAX_XML_BYTES,
        hit: false,
    };
    let mut reader = Reader::from_reader(BufReader::new(capped));
    let result = parse(&mut reader, limits.max_text_chars);
    if reader.get_ref().get_ref().hit {
        return Err(broken(format!(
            "its {CONTENT} unpacks to more than {} MiB, far more than any real document: the file is damaged or built to exhaust memory",
            MAX_XML_BYTES >> 20
        )));
    }
    result.map_err(broken)
}

/// What kind of paragraph is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Paragraph,
    Heading,
}

struct State {
    out: TextBuilder,
    tables: Tables,
    paragraph: String,
    kind: Kind,
    /// Open skipped elements.
    skipping: usize,
    /// Paragraphs open around the current one, with their text and kind so far.
    outer: Vec<(String, Kind)>,
    /// Paragraphs open, at any depth.
    open_paragraphs: usize,
    /// Characters gathered so far, in paragraphs, tables and the output together.
    chars: usize,
    max_chars: usize,
}

impl State {
    fn new(max_chars: usize) -> Self {
        Self {
            out: TextBuilder::with_limit(max_chars),
            tables: Tables::default(),
            paragraph: String::new(),
            kind: Kind::Paragraph,
            skipping: 0,
            outer: Vec::new(),
            open_paragraphs: 0,
            chars: 0,
            max_chars,
        }
    }

    fn end_paragraph(&mut self) {
        let text = std::mem::take(&mut self.paragraph);
        let trimmed = text.trim();
        if !self.tables.open.is_empty() {
            if !trimmed.is_empty() {
                self.tables.paragraph(trimmed);
            }
        } else if self.kind == Kind::Heading && !trimmed.is_empty() {
            self.out
                .mark(SectionKind::Heading, trimmed.replace('\n', " "));
            self.out.block(trimmed, Sep::Paragraph);
            self.out.separate(Sep::Paragraph);
        } else {
            self.out.block(trimmed, Sep::Paragraph);
        }
        self.paragraph = text;
        self.paragraph.clear();
    }

    fn push_text(&mut self, text: &str) {
        if self.open_paragraphs == 0 {
            return;
        }
        self.chars = self.chars.saturating_add(text.chars().count());
        self.paragraph.push_str(text);
    }

    fn finish(self) -> Body {
        finish_body(self.out, self.tables, self.chars, self.max_chars)
    }
}

impl XmlText for State {
    fn full(&self) -> bool {
        self.chars > self.max_chars || self.out.is_full()
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), String> {
        let local = e.local_name();
        let local = local.as_ref();
        if self.skipping > 0 || SKIPPED.contains(&local) {
            if !empty {
                self.skipping += 1;
            }
            return Ok(());
        }
        match local {
            b"p" | b"h" if !empty => {
                let kind = if local == b"h"
                    || attribute(e, b"style-name").is_some_and(|s| s == "Title" || s == "Subtitle")
                {
                    Kind::Heading
                } else {
                    Kind::Paragraph
                };
                if self.open_paragraphs > 0 && self.outer.len() < MAX_PARAGRAPH_DEPTH {
                    let text = std::mem::take(&mut self.paragraph);
                    self.outer.push((text, self.kind));
                    self.kind = kind;
                } else if self.open_paragraphs == 0 {
                    self.paragraph.clear();
                    self.kind = kind;
                }
                self.open_paragraphs += 1;
            }
            b"s" => {
                let count = attribute(e, b"c")
                    .and_then(|c| c.trim().parse::<usize>().ok())
                    .unwrap_or(1)
                    .clamp(1, MAX_SPACES);
                self.push_text(&" ".repeat(count));
            }
            b"tab" => self.push_text("\t"),
            b"line-break" => self.push_text("\n"),
            b"table" if !empty => self.tables.start_table()?,
            b"table-row" if !empty => self.tables.start_row(),
            b"table-cell" => {
                self.tables.start_cell();
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, local: &[u8]) {
        if self.skipping > 0 {
            self.skipping -= 1;
            return;
        }
        match local {
            b"p" | b"h" => {
                self.end_paragraph();
                self.open_paragraphs = self.open_paragraphs.saturating_sub(1);
                if self.open_paragraphs == self.outer.len() {
                    if let Some((text, kind)) = self.outer.pop() {
                        self.paragraph = text;
                        self.kind = kind;
                    }
                }
            }
            b"table-row" => self.tables.end_row(),
            b"table" => {
                if let Some(text) = self.tables.end_table() {
                    self.out.block(&text, Sep::Paragraph);
                }
                if self.tables.open.is_empty() {
                    self.out.separate(Sep::Paragraph);
                }
            }
            _ => {}
        }
    }

    /// Character data: runs of white space count as one space, as OpenDocument says (`text:s`
    /// writes the others).
    fn text(&mut self, text: &str) {
        if self.skipping > 0 || self.open_paragraphs == 0 {
            return;
        }
        let mut collapsed = String::with_capacity(text.len());
        let mut space = self.paragraph.ends_with(' ');
        for c in text.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                if !space {
                    collapsed.push(' ');
                }
                space = true;
            } else {
                collapsed.push(c);
                space = false;
            }
        }
        self.push_text(&collapsed);
    }
}

fn parse<R: std::io::BufRead>(reader: &mut Reader<R>, max_chars: usize) -> Result<Body, String> {
    let mut state = State::new(max_chars);
    read_events(reader, "content.xml", &mut state)?;
    Ok(state.finish())
}
