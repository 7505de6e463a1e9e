//! Documents: plain text extracted from the files people summarize, with markers (pages,
//! headings) that let a summary point back to where a point came from.
//!
//! One file per format (`text`, `markdown`, `pdf`, `docx`, `html`, `epub`, `odt`, `image`),
//! each turning bytes into a `Body` through a `TextBuilder`; [`extract`] picks the format
//! from the extension and the first bytes, and enforces the size limits the same way for all
//! of them. Pages that are images (scans, image files) are read by OCR ([`crate::ocr`]),
//! reporting each page done ([`ReadProgress`]).
//!
//! Each reader is in its own file (the DOCX/ODT shared XML code in `office`); format
//! detection is in `format`, the public types and errors in `types`, the `TextBuilder` in
//! `builder`, and this file holds the entry points.

mod builder;
mod caught;
mod collect;
mod docx;
mod epub;
mod format;
mod html;
mod image;
mod isolated;
mod markdown;
mod odt;
mod office;
mod pdf;
mod text;
mod types;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use builder::{Body, Sep, TextBuilder};
pub use collect::{collect_documents, is_known_document, CollectLimits, Collected};
pub use format::Format;
use format::{choose_format, unsupported_extension};
pub(crate) use isolated::failure_json as isolated_failure_json;
pub use isolated::{
    extract_isolated, extract_isolated_reporting, extract_isolated_until, marker_line,
    progress_line, Extraction, PROGRESS_PREFIX, PROTOCOL_VERSION,
};
pub use text::decode_text;
use types::no_text_found;
pub use types::{
    Document, DocumentError, Limits, OcrSummary, Section, SectionKind, SpecialFile, MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
};

/// How far a long read has come: pages of it recognised by OCR, `done` of `total` (reported
/// with `done` 0 when OCR starts, then after every page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadProgress {
    /// Pages recognised so far.
    pub done: usize,
    /// Pages to recognise in all.
    pub total: usize,
}

impl ReadProgress {
    /// In words, for the status bar and the queue: "page 2 of 5 read by OCR".
    #[must_use]
    pub fn describe(self) -> String {
        let plural = if self.total == 1 { "" } else { "s" };
        if self.done == 0 {
            format!("reading {} page{plural} by OCR", self.total)
        } else {
            format!("page {} of {} read by OCR", self.done, self.total)
        }
    }
}

/// What a reader is given besides the bytes and the limits: where to report progress.
pub(crate) struct Reading<'a> {
    pub(crate) progress: &'a dyn Fn(ReadProgress),
}

/// Reads a document file, choosing the format from its extension and first bytes.
///
/// # Errors
/// A [`DocumentError`] that says what is wrong and what to do.
pub fn extract(path: &Path) -> Result<Document, DocumentError> {
    extract_with(path, &Limits::default())
}

/// [`extract`] with other size limits.
///
/// # Errors
/// As [`extract`].
pub fn extract_with(path: &Path, limits: &Limits) -> Result<Document, DocumentError> {
    extract_reporting(path, limits, &|_| {})
}

/// [`extract_with`] that reports the progress of OCR, page by page, to `progress` (called on
/// this thread).
///
/// # Errors
/// As [`extract`].
pub fn extract_reporting(
    path: &Path,
    limits: &Limits,
    progress: &dyn Fn(ReadProgress),
) -> Result<Document, DocumentError> {
    let name = file_name(path);
    // Pipes and devices are read as streams here (`xgen-desk summarize <(command)`, capped at
    // the size limit); the app refuses them before they are opened (see `extract_isolated`).
    if let Some(what @ SpecialFile::Folder) = SpecialFile::of(path) {
        return Err(DocumentError::NotAFile { name, what });
    }
    let extension = path.extension().and_then(|e| e.to_str());
    if let Some(error) = unsupported_extension(&name, extension) {
        return Err(error);
    }
    let io = |source| DocumentError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > limits.max_file_bytes {
        return Err(DocumentError::TooLarge {
            name,
            bytes: size,
            limit: limits.max_file_bytes,
        });
    }
    let bytes = read_limited(file, &name, limits).map_err(|e| match e {
        ReadError::Io(source) => io(source),
        ReadError::Doc(error) => error,
    })?;
    from_bytes_with(&name, extension, &bytes, limits, &Reading { progress })
}

/// The name messages use for a file: its file name, or the whole path when it has none.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Reads a document from a stream (standard input), detecting its format from its bytes.
///
/// # Errors
/// As [`extract`].
pub fn from_reader(name: &str, reader: impl Read) -> Result<Document, DocumentError> {
    from_reader_reporting(name, reader, &|_| {})
}

/// [`from_reader`] that reports the progress of OCR to `progress`.
///
/// # Errors
/// As [`extract`].
pub fn from_reader_reporting(
    name: &str,
    reader: impl Read,
    progress: &dyn Fn(ReadProgress),
) -> Result<Document, DocumentError> {
    let limits = Limits::default();
    let bytes = read_limited(reader, name, &limits).map_err(|e| match e {
        ReadError::Io(source) => DocumentError::Io {
            path: PathBuf::from(name),
            source,
        },
        ReadError::Doc(error) => error,
    })?;
    from_bytes_with(name, None, &bytes, &limits, &Reading { progress })
}

enum ReadError {
    Io(std::io::Error),
    Doc(DocumentError),
}

fn read_limited(reader: impl Read, name: &str, limits: &Limits) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ReadError::Doc(DocumentError::TooLarge {
            name: name.to_owned(),
            bytes: bytes.len() as u64,
            limit: limits.max_file_bytes,
        }));
    }
    Ok(bytes)
}

/// Reads a document from bytes already in memory (a dropped file, a download).
///
/// `extension` (without the dot) is a hint; the bytes decide when they show a format.
///
/// # Errors
/// As [`extract`].
pub fn from_bytes(
    name: &str,
    extension: Option<&str>,
    bytes: &[u8],
) -> Result<Document, DocumentError> {
    from_bytes_with(
        name,
        extension,
        bytes,
        &Limits::default(),
        &Reading { progress: &|_| {} },
    )
}

fn from_bytes_with(
    name: &str,
    extension: Option<&str>,
    bytes: &[u8],
    limits: &Limits,
    reading: &Reading<'_>,
) -> Result<Document, DocumentError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DocumentError::TooLarge {
            name: name.to_owned(),
            bytes: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    let format = choose_format(name, extension, bytes)?;
    let body = match format {
        Format::Text => text::read(name, bytes)?,
        Format::Markdown => markdown::read(name, bytes, limits)?,
        Format::Pdf => pdf::read(name, bytes, limits, reading)?,
        Format::Docx => docx::read(name, bytes, limits)?,
        Format::Html => html::read(name, bytes, limits)?,
        Format::Epub => epub::read(name, bytes, limits)?,
        Format::Odt => odt::read(name, bytes, limits)?,
        Format::Image => image::read(name, bytes, limits, reading)?,
    };
    Document::from_body(name.to_owned(), format, body, limits)
}
