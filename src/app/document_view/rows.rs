//! The document view's rows: the text `xgen-desk extract` prints (the document's text, with a
//! marker line before each page and heading) cut into lines of at most `columns` columns. A
//! row is a byte range of the document's text (or a marker), never a copy of it: a
//! 4-million-character document is a few megabytes of rows, built once per document and width
//! on a job thread, and the view draws only the rows on screen.

use std::ops::Range;

use crate::documents::{marker_line, Section, SectionKind};

/// One row of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// Bytes of the document's text it shows (empty for a marker or a blank line).
    pub(crate) start: usize,
    /// End of those bytes.
    pub(crate) end: usize,
    /// The section whose marker line it is (index into the document's sections).
    pub(crate) marker: Option<usize>,
}

impl Row {
    /// The bytes of the document's text it shows.
    pub(crate) fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// The rows of a document at one width.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    rows: Vec<Row>,
    columns: usize,
    /// The row of each page's marker, in order: (page number, row).
    pages: Vec<(u32, usize)>,
}

/// Bytes between two looks at the cancel flag while building.
const CANCEL_STRIDE: usize = 1 << 16;

impl Rows {
    /// The rows of `text` (with its `sections`, in order of offset) at `columns` columns (at
    /// least 8); `None` when `cancelled` says so before the end.
    pub(crate) fn build(
        text: &str,
        sections: &[Section],
        columns: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Self> {
        let columns = columns.max(8);
        let mut out = Self {
            rows: Vec::with_capacity(text.len() / columns + sections.len() + 1),
            columns,
            pages: Vec::new(),
        };
        let mut at = 0;
        let mut next_look = CANCEL_STRIDE;
        let mut section = 0;
        while at < text.len() || section < sections.len() {
            // The marker lines printed here, then the text up to the next marker.
            while let Some(s) = sections
                .get(section)
                .filter(|s| s.offset.min(text.len()) <= at)
            {
                if s.kind == SectionKind::Page {
                    if let Some(number) = page_number(&s.label) {
                        out.pages.push((number, out.rows.len()));
                    }
                }
                out.rows.push(Row {
                    start: at,
                    end: at,
                    marker: Some(section),
                });
                section += 1;
            }
            let until = sections.get(section).map_or(text.len(), |s| {
                floor_boundary(text, s.offset.min(text.len()))
            });
            let until = until.max(at);
            while at < until {
                let end = text[at..until].find('\n').map_or(until, |i| at + i);
                out.wrap_line(text, at, end);
                // Past the newline; a line cut by a marker goes on after the marker.
                at = if end < until { end + 1 } else { until };
                if at > next_look {
                    if cancelled() {
                        return None;
                    }
                    next_look = at + CANCEL_STRIDE;
                }
            }
            at = at.min(text.len()).max(until);
            if section >= sections.len() && at >= text.len() {
                break;
            }
        }
        Some(out)
    }

    /// Cuts the line `start..end` (without its newline) into rows.
    fn wrap_line(&mut self, text: &str, start: usize, end: usize) {
        if start == end {
            self.rows.push(Row {
                start,
                end,
                marker: None,
            });
            return;
        }
        let line = &text[start..end];
        let mut row_start = 0;
        let mut width = 0;
        // Where the row may be cut after a space, and the width there.
        let mut last_space: Option<(usize, usize)> = None;
        for (i, c) in line.char_indices() {
            let w = if is_wide(c) { 2 } else { 1 };
            if width + w > self.columns && i > row_start {
                let cut = match last_space {
                    // A cut after a space in the last two fifths of the row keeps words whole.
                    Some((after, at_width)) if at_width * 5 >= self.columns * 3 => after,
                    _ => i,
                };
                self.rows.push(Row {
                    start: start + row_start,
                    end: start + cut,
                    marker: None,
                });
                width = line[cut..i]
                    .chars()
                    .map(|c| if is_wide(c) { 2 } else { 1 })
                    .sum();
                row_start = cut;
                last_space = None;
            }
            width += w;
            if c == ' ' || c == '\t' {
                last_space = Some((i + c.len_utf8(), width));
            }
        }
        self.rows.push(Row {
            start: start + row_start,
            end,
            marker: None,
        });
    }

    /// Rows in all.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Row `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&Row> {
        self.rows.get(i)
    }

    /// The row that shows byte `at` of the text (the first text row at or after a marker at
    /// that offset).
    pub(crate) fn row_of(&self, at: usize) -> usize {
        let after = self
            .rows
            .partition_point(|r| r.start < at || (r.start == at && r.marker.is_some()));
        // `at` inside a row that starts before it: that row.
        match self.rows.get(after) {
            Some(r) if r.start == at => after,
            _ => after.saturating_sub(1),
        }
    }

    /// The row of page `page`'s marker.
    pub(crate) fn page_row(&self, page: u32) -> Option<usize> {
        self.pages.iter().find(|(n, _)| *n == page).map(|(_, r)| *r)
    }

    /// The page row `row` is on, if the document has pages.
    pub(crate) fn page_at(&self, row: usize) -> Option<u32> {
        let i = self.pages.partition_point(|(_, r)| *r <= row);
        i.checked_sub(1).map(|i| self.pages[i].0)
    }

    /// Pages with a marker.
    #[cfg(test)]
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The last page's number.
    pub(crate) fn last_page(&self) -> Option<u32> {
        self.pages.last().map(|(n, _)| *n)
    }
}

/// What row `row` shows: its text, a slice of `text`, or its marker line.
pub(crate) fn row_text<'a>(text: &'a str, sections: &[Section], row: &Row) -> RowText<'a> {
    match row.marker.and_then(|i| sections.get(i)) {
        Some(section) => RowText::Marker(marker_line(section)),
        None => RowText::Text(text.get(row.range()).unwrap_or_default()),
    }
}

/// The text of a row.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RowText<'a> {
    /// Bytes of the document's text.
    Text(&'a str),
    /// A marker line (`--- page 4 ---`).
    Marker(String),
}

/// `page 12` is 12; other labels give the number they end with, if any.
fn page_number(label: &str) -> Option<u32> {
    label
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Characters two columns wide in a monospace font (CJK, Hangul, full-width forms, emoji).
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(offset: usize, kind: SectionKind, label: &str) -> Section {
        Section {
            offset,
            kind,
            label: label.to_owned(),
        }
    }

    fn shown(text: &str, sections: &[Section], rows: &Rows) -> Vec<String> {
        (0..rows.len())
            .map(|i| match row_text(text, sections, &rows.rows[i]) {
                RowText::Text(t) => t.to_owned(),
                RowText::Marker(m) => m,
            })
            .collect()
    }

    #[test]
    fn rows_are_the_printed_text_cut_at_the_width_without_copies() {
        let text = "One two three four five six seven.\n\nShort.\n漢字漢字漢字";
        let sections = vec![
            section(0, SectionKind::Page, "page 1"),
            section(36, SectionKind::Heading, "Short"),
            section(43, SectionKind::Page, "page 2"),
        ];
        assert_eq!(&text[36..43], "Short.\n");
        let rows = Rows::build(text, &sections, 12, &|| false).unwrap();
        assert_eq!(
            shown(text, &sections, &rows),
            [
                "--- page 1 ---",
                "One two ",
                "three four ",
                "five six ",
                "seven.",
                "",
                "--- heading: Short ---",
                "Short.",
                "--- page 2 ---",
                "漢字漢字漢字",
            ]
        );
        // Wide characters count two columns.
        let narrow = Rows::build(text, &sections, 8, &|| false).unwrap();
        assert!(shown(text, &sections, &narrow).contains(&"漢字漢字".to_owned()));
        // Every row is a range of the text; the text rows, joined, are the text.
        let mut joined = String::new();
        let mut last_end = 0;
        for row in rows.rows.iter().filter(|r| r.marker.is_none()) {
            joined.push_str(&text[last_end..row.start].replace(|c| c != '\n', "?"));
            joined.push_str(&text[row.range()]);
            last_end = row.end;
        }
        assert_eq!(joined, text);
        // Pages and rows of bytes.
        assert_eq!(rows.page_count(), 2);
        assert_eq!(rows.page_row(2), Some(8));
        assert_eq!(rows.page_at(7), Some(1));
        assert_eq!(rows.page_at(9), Some(2));
        assert_eq!(rows.row_of(0), 1, "the text after the marker");
        assert_eq!(rows.row_of(10), 2, "inside `three four `");
        assert_eq!(rows.row_of(36), 7);
        assert_eq!(rows.row_of(text.len()), rows.len() - 1);
    }

    #[test]
    fn a_long_document_is_cut_once_and_stops_when_cancelled() {
        let line = "A line of a long document, with some words in it. ";
        let text = line.repeat(80_000);
        assert!(text.len() >= 4_000_000);
        let rows = Rows::build(&text, &[], 100, &|| false).unwrap();
        assert!(rows.len() >= 40_000, "{} rows", rows.len());
        assert!(rows.rows.iter().all(|r| r.end - r.start <= 100));
        assert_eq!(rows.row_of(text.len() - 1), rows.len() - 1);
        assert!(Rows::build(&text, &[], 100, &|| true).is_none());
    }

    #[test]
    fn a_marker_inside_a_line_starts_a_row() {
        let text = "abc def";
        let sections = vec![section(4, SectionKind::Page, "page 2")];
        let rows = Rows::build(text, &sections, 40, &|| false).unwrap();
        assert_eq!(
            shown(text, &sections, &rows),
            ["abc ", "--- page 2 ---", "def"]
        );
    }
}
