//! `xgen-desk extract FILE [--json]`: the text the model would read from a document, with
//! its page and heading markers; `--json` prints one object, which is also what the parent
//! of an isolated reader reads (`documents::extract_isolated`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::progress::StageProgress;
use crate::documents::{self, Document, Extraction, Limits, ReadProgress};
use crate::sources;

/// Arguments of `extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The document, or `-` for standard input.
    pub file: PathBuf,
    /// Print one JSON object (format, pages, characters, warnings, sections, text).
    #[arg(long)]
    pub json: bool,
}

/// Runs `extract`. The document is read in this process: this is the command an isolated
/// reader runs, inside its limits.
///
/// # Errors
/// An unreadable document (after printing it as JSON with `--json`), or a failed write.
pub fn run(args: &ExtractArgs) -> Result<()> {
    // Pages read by OCR are reported as they are done: to the parent as protocol lines with
    // `--json` (see `documents::extract_isolated_reporting`), to a person as a progress bar.
    let bar = std::cell::RefCell::new(None::<StageProgress>);
    let report = |progress: ReadProgress| {
        if args.json {
            eprintln!("{}", documents::progress_line(progress));
        } else {
            bar.borrow_mut()
                .get_or_insert_with(|| StageProgress::per_item("ocr"))
                .show(
                    progress.done as u64,
                    progress.total as u64,
                    &ocr_item(progress),
                );
        }
    };
    let read = if args.file == Path::new("-") {
        documents::from_reader_reporting("standard input", std::io::stdin().lock(), &report)
    } else {
        documents::extract_reporting(&args.file, &Limits::default(), &report)
    };
    if let Some(mut bar) = bar.borrow_mut().take() {
        bar.finish("");
    }
    let mut stdout = std::io::stdout().lock();
    let document = match read {
        Ok(document) => document,
        Err(error) => {
            if args.json {
                let failure = documents::isolated_failure_json(&error)?;
                ignore_closed(stdout.write_all(&failure).and_then(|()| stdout.flush()))?;
            }
            return Err(error).with_context(|| format!("could not read {}", args.file.display()));
        }
    };
    for warning in &document.warnings {
        eprintln!("warning: {warning}");
    }
    let written = if args.json {
        let json = serde_json::to_vec(&Extraction::new(&document))?;
        stdout
            .write_all(&json)
            .and_then(|()| stdout.write_all(b"\n"))
    } else {
        eprintln!("{}", describe(&document));
        write_text(&mut stdout, &document)
    };
    ignore_closed(written.and_then(|()| stdout.flush()))
}

/// What a progress line says about pages read by OCR: `2 of 5 pages read by OCR`.
#[must_use]
pub fn ocr_item(progress: ReadProgress) -> String {
    format!(
        "{} of {} page{} read by OCR",
        progress.done,
        progress.total,
        if progress.total == 1 { "" } else { "s" }
    )
}

/// A write to a closed pipe (`xgen-desk extract x.pdf | head`) is the reader's choice to stop,
/// not an error.
fn ignore_closed(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("could not write to standard output"),
    }
}

/// One line about the document: `report.pdf: PDF, 3 pages, 12345 characters`.
fn describe(document: &Document) -> String {
    let pages = match document.page_count() {
        0 => String::new(),
        1 => ", 1 page".to_owned(),
        n => format!(", {n} pages"),
    };
    format!(
        "{}: {}{pages}, {} characters",
        document.name,
        document.format.name(),
        document.text.chars().count()
    )
}

/// The text with a marker line before each page and heading (the offsets of `ask` and
/// `verify` point into exactly this text: both come from [`sources::pieces`]).
fn write_text(out: &mut impl Write, document: &Document) -> std::io::Result<()> {
    sources::write_extract_text(out, document)
}
