//! Word (.docx): `word/document.xml` from the ZIP, read with `quick-xml`. Paragraphs become
//! blocks, `Heading…`/`Title` paragraphs become markers, and tables become one line per row
//! with cells separated by ` | ` (a table inside a cell stays in that cell, its rows joined
//! with `; `).
//!
//! Bounded on hostile files: the XML is parsed while it is unpacked and never past
//! [`MAX_XML_BYTES`], whatever the archive claims; tables nest at most [`MAX_TABLE_DEPTH`]
//! deep; nested tables write into one buffer, so each character is copied once whatever the
//! depth (copying the inner text at every level made a 0.2 MB file of nested tables run for
//! tens of minutes); and reading stops as soon as the text passes the character limit.

use std::io::{BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Body, DocumentError, Limits, SectionKind, Sep, TextBuilder};

/// Most bytes of `word/document.xml` read. The XML of a 1,000-page report is about 20 MB;
/// more than this is a ZIP bomb or a generated monster, refused before it fills memory.
pub(crate) const MAX_XML_BYTES: u64 = 128 * 1024 * 1024;

/// Deepest nesting of paragraphs (a text box in a paragraph is one level; deeper is crafted).
const MAX_PARAGRAPH_DEPTH: usize = 16;

/// Deepest nesting of tables. Word documents nest a table or two; deeper is a crafted file.
pub(crate) const MAX_TABLE_DEPTH: usize = 64;

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

/// A reader that fails once more than `left` bytes have come through (a ZIP entry's
/// uncompressed size in the archive can lie: this counts what really comes out).
pub(crate) struct Capped<R> {
    pub(crate) inner: R,
    pub(crate) left: u64,
    /// The cap was hit.
    pub(crate) hit: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.hit = true;
                Err(std::io::Error::other(
                    "the part unpacks to more than its cap",
                ))
            }
        }
    }
}

/// One open table: where its text starts in [`Tables::text`] and where its open row and cell
/// start, so that an empty row or table can be taken back by truncating.
pub(crate) struct Table {
    /// Offset of the table's text (before the space that separates it from cell text).
    start: usize,
    /// Rows with text so far.
    rows: usize,
    /// Offset of the open row (before its separator), if a row is open.
    row_start: Option<usize>,
    /// Cells opened in the open row.
    row_cells: usize,
    /// Whether the open row has any text.
    row_has_text: bool,
    /// Offset where the open cell's text starts.
    cell_start: usize,
}

/// The text of the outermost open table, with one [`Table`] per level of nesting.
#[derive(Default)]
pub(crate) struct Tables {
    text: String,
    pub(crate) open: Vec<Table>,
}

impl Tables {
    pub(crate) fn start_table(&mut self) -> Result<(), String> {
        if self.open.len() >= MAX_TABLE_DEPTH {
            return Err(format!(
                "its tables are nested more than {MAX_TABLE_DEPTH} deep, which no word processor writes"
            ));
        }
        let start = self.text.len();
        if let Some(outer) = self.open.last() {
            if self.text.len() > outer.cell_start {
                self.text.push(' ');
            }
        }
        self.open.push(Table {
            start,
            rows: 0,
            row_start: None,
            row_cells: 0,
            row_has_text: false,
            cell_start: start,
        });
        Ok(())
    }

    pub(crate) fn start_row(&mut self) {
        self.end_row();
        let nested = self.open.len() > 1;
        let Some(table) = self.open.last_mut() else {
            return;
        };
        table.row_start = Some(self.text.len());
        if table.rows > 0 {
            self.text.push_str(if nested { "; " } else { "\n" });
        }
        table.row_cells = 0;
        table.row_has_text = false;
        table.cell_start = self.text.len();
    }

    pub(crate) fn start_cell(&mut self) {
        if self.open.last().is_some_and(|t| t.row_start.is_none()) {
            self.start_row();
        }
        let Some(table) = self.open.last_mut() else {
            return;
        };
        if table.row_cells > 0 {
            self.text.push_str(" | ");
        }
        table.row_cells += 1;
        table.cell_start = self.text.len();
    }

    /// Adds a paragraph's text (trimmed, not empty) to the open cell.
    pub(crate) fn paragraph(&mut self, text: &str) {
        let Some(table) = self.open.last_mut() else {
            return;
        };
        if self.text.len() > table.cell_start {
            self.text.push(' ');
        }
        // Line breaks inside a cell would split its row.
        self.text
            .extend(text.chars().map(|c| if c == '\n' { ' ' } else { c }));
        table.row_has_text = true;
    }

    /// Closes the open row; a row without text is taken back.
    pub(crate) fn end_row(&mut self) {
        let Some(table) = self.open.last_mut() else {
            return;
        };
        if let Some(start) = table.row_start.take() {
            if table.row_has_text {
                table.rows += 1;
            } else {
                self.text.truncate(start);
            }
        }
    }

    /// Closes the innermost table; returns the text of a finished outermost table.
    pub(crate) fn end_table(&mut self) -> Option<String> {
        self.end_row();
        let table = self.open.pop()?;
        if table.rows == 0 {
            self.text.truncate(table.start);
        }
        match self.open.last_mut() {
            Some(outer) => {
                if table.rows > 0 {
                    outer.row_has_text = true;
                }
                None
            }
            None => Some(std::mem::take(&mut self.text)),
        }
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

/// The body of an XML document read into `out` (DOCX, ODT): the text of tables the file never
/// closed is still text, and `chars` counted past `max_chars` marks it as cut.
pub(crate) fn finish_body(
    mut out: TextBuilder,
    mut tables: Tables,
    chars: usize,
    max_chars: usize,
) -> Body {
    while !tables.open.is_empty() {
        if let Some(text) = tables.end_table() {
            out.block(&text, Sep::Paragraph);
        }
    }
    let mut body = out.finish();
    if chars > max_chars {
        body.overflow = true;
        body.chars = body.chars.max(chars);
    }
    body
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

pub(crate) fn attribute(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .map_while(Result::ok)
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The text of a character or predefined entity reference (`&#169;`, `&amp;`).
pub(crate) fn reference_text(r: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Some(c.to_string()),
        _ => r
            .decode()
            .ok()
            .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
            .map(str::to_owned),
    }
}

/// A reader of an office document's XML part, fed its events by [`read_events`].
pub(crate) trait XmlText {
    /// Whether the text has passed the limit: reading can stop.
    fn full(&self) -> bool;
    /// A start tag (`empty` for `<x/>`).
    ///
    /// # Errors
    /// Why the document is refused (tables nested too deep).
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), String>;
    /// An end tag, by its local name.
    fn end(&mut self, local: &[u8]);
    /// Character data.
    fn text(&mut self, text: &str);
}

/// Feeds the XML of `part` (named in errors) to `state` until its end or the text limit.
///
/// # Errors
/// XML that is not well-formed, or what `state` refuses.
pub(crate) fn read_events<R: std::io::BufRead>(
    reader: &mut Reader<R>,
    part: &str,
    state: &mut impl XmlText,
) -> Result<(), String> {
    let mut buf = Vec::new();
    while !state.full() {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(e) => {
                return Err(format!(
                    "{part} is not well-formed XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
        };
        match event {
            Event::Start(e) => state.start(&e, false)?,
            Event::Empty(e) => state.start(&e, true)?,
            Event::End(e) => state.end(e.local_name().as_ref()),
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| e.to_string())?;
                state.text(&text);
            }
            Event::CData(t) => state.text(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                if let Some(text) = reference_text(&r) {
                    state.text(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
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
