//! The text `xgen-desk extract FILE` prints (the document's text with a marker line before each
//! page and heading), and where a byte of [`Document::text`] lands in it.
//!
//! Both come from one walk ([`pieces`]), so the offsets a source carries always point into
//! exactly what `extract` prints.

use std::io::Write;
use std::ops::Range;

use crate::documents::{marker_line, Document, Section};

/// A piece of the printed text: a run of the document's text, or text inserted around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of [`Document::text`], printed as they are.
    Text(Range<usize>),
    /// A marker line (with its `\n`), or a `\n` that ends the text before a marker.
    Inserted(String),
}

/// The printed text of `document`, piece by piece, in order.
#[must_use]
pub fn pieces(document: &Document) -> Vec<Piece> {
    pieces_of(&document.text, &document.sections)
}

/// [`pieces`] of a text and its sections.
pub(crate) fn pieces_of(text: &str, sections: &[Section]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(sections.len() * 2 + 2);
    let mut written = 0;
    for section in sections {
        let at = floor_char_boundary(text, section.offset.min(text.len()));
        if at > written {
            out.push(Piece::Text(written..at));
            if !text[..at].ends_with('\n') {
                out.push(Piece::Inserted("\n".to_owned()));
            }
            written = at;
        }
        out.push(Piece::Inserted(format!("{}\n", marker_line(section))));
    }
    out.push(Piece::Text(written..text.len()));
    if !text.ends_with('\n') {
        out.push(Piece::Inserted("\n".to_owned()));
    }
    out
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Writes the text `xgen-desk extract` prints: the document with a marker line before each page
/// and heading.
///
/// # Errors
/// A failed write.
pub fn write_extract_text(out: &mut impl Write, document: &Document) -> std::io::Result<()> {
    for piece in pieces(document) {
        match piece {
            Piece::Text(range) => out.write_all(&document.text.as_bytes()[range])?,
            Piece::Inserted(text) => out.write_all(text.as_bytes())?,
        }
    }
    Ok(())
}

/// The printed text as one string (tests, small documents).
#[must_use]
pub fn extract_text(document: &Document) -> String {
    let mut out = Vec::with_capacity(document.text.len() + document.sections.len() * 24);
    // Writing to a Vec cannot fail.
    write_extract_text(&mut out, document).ok();
    String::from_utf8(out).unwrap_or_default()
}

/// The printed text from byte `range.start` to byte `range.end` of the document's text: the
/// text itself, with the marker lines printed inside the range.
pub(crate) fn printed_range(text: &str, sections: &[Section], range: &Range<usize>) -> String {
    let mut out = String::new();
    // Where the document's text printed so far ends.
    let mut at = 0;
    for piece in pieces_of(text, sections) {
        match piece {
            Piece::Text(r) => {
                let (a, b) = (r.start.max(range.start), r.end.min(range.end));
                if a < b {
                    out.push_str(&text[a..b]);
                }
                at = r.end;
            }
            // What is printed between the range's ends (not at them: offsets at an end fall
            // after a marker at the start, before one at the end).
            Piece::Inserted(s) if range.start < at && at < range.end => out.push_str(&s),
            Piece::Inserted(_) => {}
        }
    }
    out
}

/// Bytes of the document's text between checkpoints of the character count.
const STRIDE: usize = 4096;

/// Where each byte of [`Document::text`] lands in the printed text, in characters.
#[derive(Debug, Clone, Default)]
pub(crate) struct CharMap {
    /// Runs of the document's text: (start byte, end byte, characters printed before it).
    runs: Vec<(usize, usize, usize)>,
    /// Characters of the document's text before byte `i * STRIDE` (rounded down to a char
    /// boundary, stored with it).
    checkpoints: Vec<(usize, usize)>,
}

/// At a run's edge, whether an offset starts something (after a marker printed there) or ends
/// something (before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    Start,
    End,
}

impl CharMap {
    pub(crate) fn new(document: &Document) -> Self {
        let text = document.text.as_str();
        let mut checkpoints = Vec::with_capacity(text.len() / STRIDE + 1);
        let mut chars = 0usize;
        let mut last = 0usize;
        let mut next = 0usize;
        while next <= text.len() {
            let at = floor_char_boundary(text, next);
            chars += text[last..at].chars().count();
            checkpoints.push((at, chars));
            last = at;
            next += STRIDE;
        }
        let mut map = Self {
            runs: Vec::new(),
            checkpoints,
        };
        let mut printed = 0usize;
        for piece in pieces(document) {
            match piece {
                Piece::Text(range) => {
                    let before = printed;
                    printed +=
                        map.chars_before(text, range.end) - map.chars_before(text, range.start);
                    map.runs.push((range.start, range.end, before));
                }
                Piece::Inserted(s) => printed += s.chars().count(),
            }
        }
        map
    }

    /// Characters of `text` before byte `at`.
    fn chars_before(&self, text: &str, at: usize) -> usize {
        let at = floor_char_boundary(text, at.min(text.len()));
        let i = self.checkpoints.partition_point(|(b, _)| *b <= at);
        let (b, c) = self
            .checkpoints
            .get(i.saturating_sub(1))
            .copied()
            .unwrap_or((0, 0));
        c + text[b..at].chars().count()
    }

    /// The character offset in the printed text of byte `at` of the document's text.
    pub(crate) fn char_offset(&self, text: &str, at: usize, edge: Edge) -> usize {
        let run = match edge {
            // The last run starting at or before `at`: after any marker printed at `at`.
            Edge::Start => self.runs.partition_point(|(s, _, _)| *s <= at),
            // The first run that ends at or after `at`: before a marker printed at `at`.
            Edge::End => self.runs.partition_point(|(_, e, _)| *e < at) + 1,
        };
        let Some(&(start, _, before)) = self.runs.get(run.saturating_sub(1)) else {
            return 0;
        };
        before + self.chars_before(text, at) - self.chars_before(text, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Format, Section, SectionKind};

    fn document(text: &str, sections: Vec<Section>) -> Document {
        Document {
            name: "d".into(),
            format: Format::Pdf,
            text: text.into(),
            sections,
            warnings: Vec::new(),
            ocr: None,
        }
    }

    fn page(offset: usize, n: usize) -> Section {
        Section {
            offset,
            kind: SectionKind::Page,
            label: format!("page {n}"),
        }
    }

    #[test]
    fn offsets_point_into_the_printed_text() {
        let text = "Première page, café.\nSecond page here";
        let second = text.find("Second").unwrap();
        let doc = document(text, vec![page(0, 1), page(second, 2)]);
        let printed = extract_text(&doc);
        assert_eq!(
            printed,
            "--- page 1 ---\nPremière page, café.\n--- page 2 ---\nSecond page here\n"
        );
        let map = CharMap::new(&doc);
        let chars: Vec<char> = printed.chars().collect();
        let slice = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        for expected in ["Première page, café", "Second", "e here"] {
            let at = text.find(expected).unwrap();
            let range = at..at + expected.len();
            let a = map.char_offset(text, range.start, Edge::Start);
            let b = map.char_offset(text, range.end, Edge::End);
            assert_eq!(slice(a, b), expected, "{range:?}");
            assert_eq!(&text[range], expected);
        }
    }

    #[test]
    fn a_marker_inside_a_line_gets_its_own_line() {
        let text = "abc def";
        let doc = document(text, vec![page(4, 2)]);
        assert_eq!(extract_text(&doc), "abc \n--- page 2 ---\ndef\n");
        let map = CharMap::new(&doc);
        assert_eq!(map.char_offset(text, 4, Edge::Start), 20);
        assert_eq!(map.char_offset(text, 4, Edge::End), 4);
    }

    #[test]
    fn a_range_over_markers_prints_them() {
        let text = "Première page, café.\nSecond page here";
        let second = text.find("Second").unwrap();
        let doc = document(text, vec![page(0, 1), page(second, 2)]);
        let printed = extract_text(&doc);
        let map = CharMap::new(&doc);
        let range = 0..text.len();
        let (a, b) = (
            map.char_offset(text, 0, Edge::Start),
            map.char_offset(text, text.len(), Edge::End),
        );
        let expected: String = printed.chars().skip(a).take(b - a).collect();
        assert_eq!(printed_range(text, &doc.sections, &range), expected);
        assert_eq!(
            expected,
            "Première page, café.\n--- page 2 ---\nSecond page here"
        );
    }

    #[test]
    fn long_texts_count_across_checkpoints() {
        let text = "é".repeat(10_000);
        let doc = document(&text, vec![page(0, 1), page(10_000, 2)]);
        let map = CharMap::new(&doc);
        assert_eq!(map.char_offset(&text, 9_000, Edge::Start), 15 + 4_500);
        assert_eq!(
            map.char_offset(&text, 10_000, Edge::Start),
            15 + 5_000 + 1 + 15
        );
        assert_eq!(
            map.char_offset(&text, 20_000, Edge::End),
            15 + 10_000 + 1 + 15
        );
    }
}
