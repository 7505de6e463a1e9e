//! PDF: the text layer, page by page, through `pdf-extract`; each page becomes a marker.
//!
//! The parser is run under `catch_unwind`: a malformed file can make it panic, and a bad
//! document must be an error message, never a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Body, DocumentError, SectionKind, Sep, TextBuilder};

/// A PDF document.
pub(crate) fn read(name: &str, bytes: &[u8]) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenPdf {
        name: name.to_owned(),
        reason,
    };
    if !bytes.starts_with(b"%PDF-") {
        return Err(broken("it does not start with %PDF-".into()));
    }
    match catch_unwind(AssertUnwindSafe(|| read_pages(name, bytes))) {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the PDF parser failed".into());
            Err(broken(format!("the PDF parser failed: {reason}")))
        }
    }
}

fn read_pages(name: &str, bytes: &[u8]) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenPdf {
        name: name.to_owned(),
        reason,
    };
    let mut doc = pdf_extract::Document::load_mem(bytes).map_err(|e| broken(e.to_string()))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(DocumentError::EncryptedPdf {
            name: name.to_owned(),
        });
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(broken("it has no pages".into()));
    }
    let mut out = TextBuilder::new();
    let mut unreadable = Vec::new();
    let mut first_error = None;
    for &number in pages.keys() {
        let mut raw = String::new();
        let result = {
            let mut sink = pdf_extract::PlainTextOutput::new(&mut raw);
            pdf_extract::output_doc_page(&doc, &mut sink, number)
        };
        if let Err(error) = result {
            unreadable.push(number);
            first_error.get_or_insert_with(|| error.to_string());
            continue;
        }
        out.mark(SectionKind::Page, format!("page {number}"));
        for paragraph in paragraphs(&raw) {
            out.block(&paragraph, Sep::Paragraph);
        }
    }
    if unreadable.len() == pages.len() {
        return Err(broken(
            first_error.unwrap_or_else(|| "no page could be read".into()),
        ));
    }
    if !unreadable.is_empty() {
        let list: Vec<String> = unreadable.iter().map(u32::to_string).collect();
        out.warn(format!(
            "{} of {} pages could not be read and are left out: page {}",
            unreadable.len(),
            pages.len(),
            list.join(", ")
        ));
    }
    let body = out.finish();
    if body.text.trim().is_empty() {
        return Err(DocumentError::ScannedPdf {
            name: name.to_owned(),
            pages: pages.len(),
        });
    }
    Ok(body)
}

/// Splits a page's extracted text into paragraphs at blank lines, with line-end spaces and
/// runs of spaces tidied.
fn paragraphs(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in raw.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
