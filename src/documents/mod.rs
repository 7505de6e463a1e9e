//! Documents: plain text extracted from the files people summarize, with markers (pages,
//! headings) that let a summary point back to where a point came from.
//!
//! One file per format (`text`, `markdown`, `pdf`, `docx`, `html`, `epub`, `odt`), each turning
//! bytes into a [`Body`] through a [`TextBuilder`]; [`extract`] picks the format from the
//! extension and the first bytes, and enforces the size limits the same way for all of them.
//!
//! Each reader is in its own file (the DOCX/ODT shared XML code in `office`); format
//! detection is in `format`, the public types and errors in `types`, the [`TextBuilder`] in
//! `builder`, and this file holds the entry points.

mod builder;
mod collect;
mod docx;
mod epub;
mod format;
mod html;
mod isolated;
mod markdown;
mod odt;
mod office;
mod pdf;
mod text;
mod types;

use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) use builder::{Body, Sep, TextBuilder};
pub use collect::{collect_documents, is_known_document, CollectLimits, Collected};
pub use format::Format;
use format::{choose_format, unsupported_extension};
pub(crate) use isolated::failure_json as isolated_failure_json;
pub use isolated::{
    extract_isolated, extract_isolated_until, marker_line, Extraction, PROTOCOL_VERSION,
};
pub use text::decode_text;
pub use types::{
    Document, DocumentError, Limits, Section, SectionKind, SpecialFile, MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
};

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
    from_bytes_with(&name, extension, &bytes, limits)
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
    let limits = Limits::default();
    let bytes = read_limited(reader, name, &limits).map_err(|e| match e {
        ReadError::Io(source) => DocumentError::Io {
            path: PathBuf::from(name),
            source,
        },
        ReadError::Doc(error) => error,
    })?;
    from_bytes_with(name, None, &bytes, &limits)
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
    from_bytes_with(name, extension, bytes, &Limits::default())
}

fn from_bytes_with(
    name: &str,
    extension: Option<&str>,
    bytes: &[u8],
    limits: &Limits,
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
        Format::Pdf => pdf::read(name, bytes, limits)?,
        Format::Docx => docx::read(name, bytes, limits)?,
        Format::Html => html::read(name, bytes, limits)?,
        Format::Epub => epub::read(name, bytes, limits)?,
        Format::Odt => odt::read(name, bytes, limits)?,
    };
    Document::from_body(name.to_owned(), format, body, limits)
}
