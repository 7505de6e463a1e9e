//! Word (.docx): `word/document.xml` from the ZIP, read with `quick-xml`. Paragraphs become
//! blocks, `Heading…`/`Title` paragraphs become markers, and tables become one line per row
//! with cells separated by ` | `.

use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Body, DocumentError, Limits, SectionKind, Sep, TextBuilder};

/// A `.docx` document.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenDocx {
        name: name.to_owned(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| broken(format!("not a ZIP archive: {e}")))?;
    let part = archive
        .by_name("word/document.xml")
        .map_err(|_| broken("it has no word/document.xml".into()))?;
    // The uncompressed size in the archive can lie: read at most the limit, whatever it says.
    let cap = limits.max_file_bytes.saturating_mul(4);
    let mut xml = Vec::new();
    part.take(cap.saturating_add(1))
        .read_to_end(&mut xml)
        .map_err(|e| broken(format!("word/document.xml could not be unpacked: {e}")))?;
    if xml.len() as u64 > cap {
        return Err(DocumentError::TooLarge {
            name: name.to_owned(),
            bytes: xml.len() as u64,
            limit: cap,
        });
    }
    let xml =
        String::from_utf8(xml).map_err(|_| broken("word/document.xml is not UTF-8".into()))?;
    parse(&xml).map_err(broken)
}

/// A table being read: rows of cells; a cell's paragraphs are joined with spaces.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    cells: Vec<String>,
    cell: String,
}

#[derive(Default)]
struct State {
    out: Option<TextBuilder>,
    tables: Vec<Table>,
    paragraph: String,
    style: Option<String>,
    in_text: bool,
    in_properties: usize,
}

impl State {
    fn builder(&mut self) -> &mut TextBuilder {
        self.out.get_or_insert_with(TextBuilder::new)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        match e.local_name().as_ref() {
            b"p" if !empty => {
                self.paragraph.clear();
                self.style = None;
            }
            b"pPr" | b"rPr" | b"sectPr" if !empty => self.in_properties += 1,
            b"pStyle" => self.style = attribute(e, b"val"),
            b"t" if !empty => self.in_text = true,
            b"tab" if self.in_properties == 0 => self.paragraph.push('\t'),
            b"br" | b"cr" if self.in_properties == 0 => self.paragraph.push('\n'),
            b"tbl" if !empty => self.tables.push(Table::default()),
            b"tc" if !empty => {
                if let Some(table) = self.tables.last_mut() {
                    table.cell.clear();
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, local: &[u8]) {
        match local {
            b"t" => self.in_text = false,
            b"pPr" | b"rPr" | b"sectPr" => {
                self.in_properties = self.in_properties.saturating_sub(1)
            }
            b"p" => self.end_paragraph(),
            b"tc" => {
                if let Some(table) = self.tables.last_mut() {
                    let cell = std::mem::take(&mut table.cell);
                    table.cells.push(cell.trim().to_owned());
                }
            }
            b"tr" => {
                if let Some(table) = self.tables.last_mut() {
                    let cells = std::mem::take(&mut table.cells);
                    if cells.iter().any(|c| !c.is_empty()) {
                        table.rows.push(cells.join(" | "));
                    }
                }
            }
            b"tbl" => {
                if let Some(table) = self.tables.pop() {
                    let text = table.rows.join("\n");
                    match self.tables.last_mut() {
                        // A nested table stays inside its cell.
                        Some(outer) => {
                            if !outer.cell.is_empty() {
                                outer.cell.push(' ');
                            }
                            outer.cell.push_str(&table.rows.join("; "));
                        }
                        None => self.builder().block(&text, Sep::Paragraph),
                    }
                    self.builder().separate(Sep::Paragraph);
                }
            }
            _ => {}
        }
    }

    fn end_paragraph(&mut self) {
        let text = std::mem::take(&mut self.paragraph);
        let text = text.trim();
        if let Some(table) = self.tables.last_mut() {
            if !text.is_empty() {
                if !table.cell.is_empty() {
                    table.cell.push(' ');
                }
                table.cell.push_str(&text.replace('\n', " "));
            }
            return;
        }
        let heading = self.style.as_deref().is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            s.starts_with("heading") || s == "title" || s == "subtitle"
        });
        let text = text.to_owned();
        let out = self.builder();
        if heading && !text.is_empty() {
            out.mark(SectionKind::Heading, text.replace('\n', " "));
            out.block(&text, Sep::Paragraph);
            out.separate(Sep::Paragraph);
        } else {
            out.block(&text, Sep::Paragraph);
        }
    }

    fn text(&mut self, text: &str) {
        if !self.in_text {
            return;
        }
        self.paragraph.push_str(text);
    }
}

fn attribute(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn parse(xml: &str) -> Result<Body, String> {
    let mut reader = Reader::from_str(xml);
    let mut state = State::default();
    loop {
        match reader.read_event().map_err(|e| {
            format!(
                "word/document.xml is not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })? {
            Event::Start(e) => state.start(&e, false),
            Event::Empty(e) => state.start(&e, true),
            Event::End(e) => state.end(e.local_name().as_ref()),
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| e.to_string())?;
                state.text(&text);
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                state.text(&text);
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => r
                        .decode()
                        .ok()
                        .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
                        .map(str::to_owned),
                };
                if let Some(text) = resolved {
                    state.text(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(state.out.map(TextBuilder::finish).unwrap_or_default())
}
