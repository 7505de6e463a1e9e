//! Word (.docx): `word/document.xml` from the ZIP, read with `quick-xml`. Paragraphs become
//! blocks, `Heading…`/`Title` paragraphs become markers, and tables become one line per row
//! with cells separated by ` | ` (a table inside a cell stays in that cell, its rows joined
//! with `; `).
//!
//! Bounded on hostile files: the XML is parsed while it is unpacked and never past
//! [`MAX_XML_BYTES`], whatever the archive claims; tables nest at most
//! [`MAX_TABLE_DEPTH`](super::office::MAX_TABLE_DEPTH) deep; nested tables write into one
//! buffer, so each character is copied once whatever the depth (copying the inner text at
//! every level made a 0.2 MB file of nested tables run for tens of minutes); and reading stops
//! as soon as the text passes the character limit. What DOCX shares with ODT is in
//! [`super::office`].

use std::io::{BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::office::{attribute, finish_body, read_events, Capped, Tables, XmlText, MAX_XML_BYTES};
use super::{Body, DocumentError, Limits, SectionKind, Sep, TextBuilder};

/// Deepest nesting of paragraphs (a text box in a paragraph is one level; deeper is crafted).
const MAX_PARAGRAPH_DEPTH: usize = 16;

/// A `.docx` document.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenDocx {
        name: name.to_owned(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| broken(format!("not a ZIP archive: {e}")))?;
    let main = main_part(&mut archive);
    let part = archive
        .by_name(&main)
        .map_err(|_| broken(format!("it has no {main}")))?;
    // The uncompressed size in the archive can lie: count what really comes out.
    let capped = Capped {
        inner: part,
        left: MAX_XML_BYTES,
        hit: false,
    };
    let mut reader = Reader::from_reader(BufReader::new(capped));
    let result = parse(&mut reader, &main, limits.max_text_chars);
    if reader.get_ref().get_ref().hit {
        return Err(broken(format!(
            "its {main} unpacks to more than {} MiB, far more than any real document: the file is damaged or built to exhaust memory",
            MAX_XML_BYTES >> 20
        )));
    }
    result.map_err(broken)
}

/// Most bytes of the package's relationships (`_rels/.rels`) read: a few hundred in practice.
const MAX_RELS_BYTES: u64 = 1 << 20;

/// The name of the main document part: the target of the package's `officeDocument`
/// relationship (`word/document.xml` by convention, but some writers name it otherwise, such
/// as `word/document2.xml`), or the conventional name when the relationships do not say.
fn main_part(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> String {
    const CONVENTIONAL: &str = "word/document.xml";
    let Ok(rels) = archive.by_name("_rels/.rels") else {
        return CONVENTIONAL.to_owned();
    };
    let mut reader = Reader::from_reader(BufReader::new(rels.take(MAX_RELS_BYTES)));
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"Relationship" => {
                let is_main =
                    attribute(&e, b"Type").is_some_and(|t| t.ends_with("/officeDocument"));
                if let Some(target) = attribute(&e, b"Target").filter(|_| is_main) {
                    let target = target.trim_start_matches('/');
                    if !target.is_empty() && !target.contains("..") {
                        return target.to_owned();
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => return CONVENTIONAL.to_owned(),
            Ok(_) => {}
        }
        buf.clear();
    }
}

struct State {
    out: TextBuilder,
    tables: Tables,
    paragraph: String,
    style: Option<String>,
    in_text: bool,
    in_properties: usize,
    /// Open `mc:Fallback` elements: Word stores a text box or shape twice, as DrawingML in
    /// `mc:Choice` and as VML in `mc:Fallback`; the fallback copy is skipped.
    in_fallback: usize,
    /// Paragraphs open around the current one (a text box's paragraphs sit inside the
    /// paragraph that anchors it), with their text and style so far.
    outer: Vec<(String, Option<String>)>,
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
            style: None,
            in_text: false,
            in_properties: 0,
            in_fallback: 0,
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
        } else {
            let heading = self.style.as_deref().is_some_and(|s| {
                let s = s.to_ascii_lowercase();
                s.starts_with("heading") || s == "title" || s == "subtitle"
            });
            if heading && !trimmed.is_empty() {
                self.out
                    .mark(SectionKind::Heading, trimmed.replace('\n', " "));
                self.out.block(trimmed, Sep::Paragraph);
                self.out.separate(Sep::Paragraph);
            } else {
                self.out.block(trimmed, Sep::Paragraph);
            }
        }
        // Reuse the allocation for the next paragraph.
        self.paragraph = text;
        self.paragraph.clear();
    }

    fn push_text(&mut self, text: &str) {
        self.chars = self.chars.saturating_add(text.chars().count());
        self.paragraph.push_str(text);
    }

    fn finish(self) -> Body {
        finish_body(self.out, self.tables, self.chars, self.max_chars)
    }
}

impl XmlText for State {
    /// Whether the text has passed the limit: reading can stop.
    fn full(&self) -> bool {
        self.chars > self.max_chars || self.out.is_full()
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), String> {
        let local = e.local_name();
        if self.in_fallback > 0 || (local.as_ref() == b"Fallback" && !empty) {
            if local.as_ref() == b"Fallback" && !empty {
                self.in_fallback += 1;
            }
            return Ok(());
        }
        match local.as_ref() {
            b"p" if !empty => {
                if self.open_paragraphs > 0 && self.outer.len() < MAX_PARAGRAPH_DEPTH {
                    let text = std::mem::take(&mut self.paragraph);
                    self.outer.push((text, self.style.take()));
                } else {
                    self.paragraph.clear();
                    self.style = None;
                }
                self.open_paragraphs += 1;
            }
            b"pPr" | b"rPr" | b"sectPr" if !empty => self.in_properties += 1,
            b"pStyle" => self.style = attribute(e, b"val"),
            b"t" if !empty => self.in_text = true,
            b"tab" if self.in_properties == 0 => self.push_text("\t"),
            b"br" | b"cr" if self.in_properties == 0 => self.push_text("\n"),
            b"tbl" if !empty => self.tables.start_table()?,
            b"tr" if !empty => self.tables.start_row(),
            b"tc" if !empty => self.tables.start_cell(),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, local: &[u8]) {
        if self.in_fallback > 0 {
            if local == b"Fallback" {
                self.in_fallback -= 1;
            }
            return;
        }
        match local {
            b"t" => self.in_text = false,
            b"pPr" | b"rPr" | b"sectPr" => {
                self.in_properties = self.in_properties.saturating_sub(1);
            }
            b"p" => {
                self.end_paragraph();
                self.open_paragraphs = self.open_paragraphs.saturating_sub(1);
                // Back in the paragraph around it (deeper than the limit, inner paragraphs
                // were read as part of the one around them, which has no saved state).
                if self.open_paragraphs == self.outer.len() {
                    if let Some((text, style)) = self.outer.pop() {
                        self.paragraph = text;
                        self.style = style;
                    }
                }
            }
            b"tr" => self.tables.end_row(),
            b"tbl" => {
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

    fn text(&mut self, text: &str) {
        if self.in_text {
            self.push_text(text);
        }
    }
}

fn parse<R: std::io::BufRead>(
    reader: &mut Reader<R>,
    part: &str,
    max_chars: usize,
) -> Result<Body, String> {
    let mut state = State::new(max_chars);
    read_events(reader, part, &mut state)?;
    Ok(state.finish())
}
