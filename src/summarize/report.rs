//! Summaries of several documents as one Markdown report (the app's "Export all" and
//! `xgen-desk summarize A B DIR/`), or one Markdown file per document (`--out DIR`).
//!
//! Each document's part is a heading (its name), its source path with format and tokens, the
//! summary, and the coverage. The pieces are separate functions so the command line can stream
//! a summary between its head and its coverage line, and the app writes the same text whole.

use std::path::Path;

use super::Coverage;
use crate::documents::Format;

/// The report's title line.
pub const REPORT_TITLE: &str = "# Document summaries";

/// One document of a report.
#[derive(Debug, Clone, Copy)]
pub struct ReportEntry<'a> {
    /// The document's name (its file name).
    pub name: &'a str,
    /// Where it was read from.
    pub source: &'a Path,
    /// The format it was read as, when it was read.
    pub format: Option<Format>,
    /// Tokens of its text, when counted.
    pub tokens: Option<usize>,
    /// The summary, or why there is none.
    pub outcome: ReportOutcome<'a>,
}

/// A document's summary, or why there is none.
#[derive(Debug, Clone, Copy)]
pub enum ReportOutcome<'a> {
    /// The summary and how much of the document it covers.
    Summary {
        /// The summary's text.
        text: &'a str,
        /// Parts read of all parts.
        coverage: Coverage,
    },
    /// The document could not be summarized.
    Failed {
        /// Why, in words.
        reason: &'a str,
    },
}

/// The whole report: the title, then each document at heading level 2.
#[must_use]
pub fn report_markdown(entries: &[ReportEntry<'_>]) -> String {
    let mut out = format!("{REPORT_TITLE}\n\n");
    for entry in entries {
        out.push_str(&entry_markdown(entry, 2));
    }
    out
}

/// One document on its own (a file of `--out DIR`): its name is the title.
#[must_use]
pub fn document_markdown(entry: &ReportEntry<'_>) -> String {
    entry_markdown(entry, 1)
}

fn entry_markdown(entry: &ReportEntry<'_>, level: usize) -> String {
    let mut out = entry_head(entry.name, entry.source, entry.format, entry.tokens, level);
    match entry.outcome {
        ReportOutcome::Summary { text, coverage } => {
            out.push_str(text.trim());
            out.push_str(&entry_tail(coverage));
        }
        ReportOutcome::Failed { reason } => out.push_str(&failed_line(reason)),
    }
    out
}

/// A document's heading and source line; its summary follows.
#[must_use]
pub fn entry_head(
    name: &str,
    source: &Path,
    format: Option<Format>,
    tokens: Option<usize>,
    level: usize,
) -> String {
    let mut about = Vec::new();
    if let Some(format) = format {
        about.push(format.name().to_owned());
    }
    if let Some(tokens) = tokens {
        about.push(format!("{} tokens", thousands(tokens)));
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" ({})", about.join(", "))
    };
    format!(
        "{} {}\n\nSource: {}{about}\n\n",
        "#".repeat(level.max(1)),
        one_line(name),
        source.display()
    )
}

/// The line after a summary: how much of the document it covers.
#[must_use]
pub fn entry_tail(coverage: Coverage) -> String {
    let parts = if coverage.total == 1 {
        "read in one pass".to_owned()
    } else {
        format!("{} of {} parts read", coverage.read, coverage.total)
    };
    format!(
        "\n\nCoverage: {:.0}% of the document ({parts}).\n\n",
        coverage.percent()
    )
}

/// The line of a document that could not be summarized.
#[must_use]
pub fn failed_line(reason: &str) -> String {
    format!("Not summarized: {}\n\n", one_line(reason))
}

/// A name or reason on one line (a file name may hold a line break).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `12,345`.
#[must_use]
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_by_threes() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_report_has_each_document_with_source_summary_and_coverage() {
        let entries = [
            ReportEntry {
                name: "a.txt",
                source: Path::new("/docs/a.txt"),
                format: Some(Format::Text),
                tokens: Some(12_345),
                outcome: ReportOutcome::Summary {
                    text: " The summary.\n",
                    coverage: Coverage { read: 3, total: 3 },
                },
            },
            ReportEntry {
                name: "b.pdf",
                source: Path::new("/docs/b.pdf"),
                format: None,
                tokens: None,
                outcome: ReportOutcome::Failed {
                    reason: "b.pdf contains no text:\nrun OCR",
                },
            },
        ];
        assert_eq!(
            report_markdown(&entries),
            "# Document summaries\n\n\
             ## a.txt\n\nSource: /docs/a.txt (text, 12,345 tokens)\n\nThe summary.\n\n\
             Coverage: 100% of the document (3 of 3 parts read).\n\n\
             ## b.pdf\n\nSource: /docs/b.pdf\n\nNot summarized: b.pdf contains no text: run OCR\n\n"
        );
        assert!(document_markdown(&entries[0]).starts_with("# a.txt\n\n"));
        assert_eq!(
            entry_tail(Coverage { read: 1, total: 1 }),
            "\n\nCoverage: 100% of the document (read in one pass).\n\n"
        );
    }
}
