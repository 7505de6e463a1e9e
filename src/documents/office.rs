//! What the Word (.docx) and OpenDocument (.odt) readers share: a ZIP part read through a
//! byte cap, one XML event loop feeding a reader's [`XmlText`], the table text builder
//! ([`Tables`]) that writes a row per line with ` | ` between cells, and the attribute and
//! reference helpers of `quick-xml`.

use std::io::Read;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Body, Sep, TextBuilder};

/// Most bytes of an office document's main XML part (`word/document.xml`, `content.xml`) read.
/// The XML of a 1,000-page report is about 20 MB; more than this is a ZIP bomb or a generated
/// monster, refused before it fills memory.
pub(crate) const MAX_XML_BYTES: u64 = 128 * 1024 * 1024;

/// Deepest nesting of tables. Word documents nest a table or two; deeper is a crafted file.
pub(crate) const MAX_TABLE_DEPTH: usize = 64;

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
