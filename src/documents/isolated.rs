//! Reading a document in a child process (`xgen-desk extract --json FILE`), so that a file
//! that crashes, hangs or exhausts a parser ends that process, not the program.
//!
//! The child prints one JSON object, [`Extraction`] when it read the file or [`Failure`] (and
//! a non-zero exit) when the file is unreadable; both carry [`PROTOCOL_VERSION`]. While it
//! reads pages by OCR it reports each page done on standard error, as a line of
//! [`PROGRESS_PREFIX`] and a [`ReadProgress`] in JSON ([`progress_line`]).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Document, DocumentError, Format, OcrSummary, ReadProgress, Section, SectionKind};
pub use crate::isolate::PROGRESS_PREFIX;
use crate::isolate::{Isolation, IsolationError};

/// Version of the JSON the child prints; the parent refuses any other.
pub const PROTOCOL_VERSION: u32 = 1;

/// What `xgen-desk extract --json` prints for a readable document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extraction {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The file name.
    pub name: String,
    /// The format it was read as.
    pub format: Format,
    /// Pages (PDF; 0 for other formats).
    pub pages: usize,
    /// Characters of text.
    pub characters: usize,
    /// Things a reader should know.
    pub warnings: Vec<String>,
    /// Page and heading markers.
    pub sections: Vec<Section>,
    /// The text the model reads.
    pub text: String,
    /// Pages read by OCR and the recogniser's confidence, when any were.
    #[serde(default)]
    pub ocr: Option<OcrSummary>,
}

impl Extraction {
    /// The JSON form of a document.
    #[must_use]
    pub fn new(document: &Document) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            name: document.name.clone(),
            format: document.format,
            pages: document.page_count(),
            characters: document.text.chars().count(),
            warnings: document.warnings.clone(),
            sections: document.sections.clone(),
            text: document.text.clone(),
            ocr: document.ocr.clone(),
        }
    }
}

/// The line the child writes to standard error for a progress report (without its line end).
#[must_use]
pub fn progress_line(progress: ReadProgress) -> String {
    format!(
        "{PROGRESS_PREFIX}{{\"done\":{},\"total\":{}}}",
        progress.done, progress.total
    )
}

/// What `xgen-desk extract --json` prints for an unreadable document.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Failure {
    /// [`PROTOCOL_VERSION`].
    pub(crate) version: u32,
    /// What was wrong.
    pub(crate) error: WireError,
}

impl Failure {
    /// The JSON form of an error.
    #[must_use]
    pub(crate) fn new(error: &DocumentError) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            error: WireError::from(error),
        }
    }
}

/// The line `extract --json` prints for an unreadable document.
pub(crate) fn failure_json(error: &DocumentError) -> serde_json::Result<Vec<u8>> {
    let mut json = serde_json::to_vec(&Failure::new(error))?;
    json.push(b'\n');
    Ok(json)
}

/// A [`DocumentError`] as JSON, so that the parent gives the same error the child met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WireError {
    Io {
        path: PathBuf,
        message: String,
        not_found: bool,
        /// The child could not get the memory for reading the file: its memory limit, which
        /// the parent reports as [`DocumentError::ReaderOutOfMemory`] (a binary that maps more,
        /// the OCR models for one, reaches the limit at the read instead of in a decoder).
        #[serde(default)]
        out_of_memory: bool,
    },
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
    },
    TooMuchText {
        name: String,
        chars: usize,
        limit: usize,
        complete: bool,
    },
    Binary {
        name: String,
    },
    Empty {
        name: String,
    },
    Unsupported {
        name: String,
        what: String,
        hint: String,
    },
    ScannedPdf {
        name: String,
        pages: usize,
        #[serde(default)]
        why: String,
    },
    ImageWithoutText {
        name: String,
        pages: usize,
        why: String,
    },
    BrokenImage {
        name: String,
        reason: String,
    },
    EncryptedPdf {
        name: String,
    },
    BrokenPdf {
        name: String,
        reason: String,
    },
    BrokenDocx {
        name: String,
        reason: String,
    },
    BrokenEpub {
        name: String,
        reason: String,
    },
    ProtectedEpub {
        name: String,
    },
    BrokenOdt {
        name: String,
        reason: String,
    },
    NotAFile {
        name: String,
        what: super::SpecialFile,
    },
    /// Any other error, by its message.
    Other {
        name: String,
        message: String,
    },
}

impl From<&DocumentError> for WireError {
    fn from(error: &DocumentError) -> Self {
        match error {
            DocumentError::Io { path, source } => Self::Io {
                path: path.clone(),
                message: source.to_string(),
                not_found: source.kind() == std::io::ErrorKind::NotFound,
                out_of_memory: source.kind() == std::io::ErrorKind::OutOfMemory,
            },
            DocumentError::TooLarge { name, bytes, limit } => Self::TooLarge {
                name: name.clone(),
                bytes: *bytes,
                limit: *limit,
            },
            DocumentError::TooMuchText {
                name,
                chars,
                limit,
                complete,
            } => Self::TooMuchText {
                name: name.clone(),
                chars: *chars,
                limit: *limit,
                complete: *complete,
            },
            DocumentError::Binary { name } => Self::Binary { name: name.clone() },
            DocumentError::Empty { name } => Self::Empty { name: name.clone() },
            DocumentError::Unsupported { name, what, hint } => Self::Unsupported {
                name: name.clone(),
                what: what.clone(),
                hint: hint.clone(),
            },
            DocumentError::ScannedPdf { name, pages, why } => Self::ScannedPdf {
                name: name.clone(),
                pages: *pages,
                why: why.clone(),
            },
            DocumentError::ImageWithoutText { name, pages, why } => Self::ImageWithoutText {
                name: name.clone(),
                pages: *pages,
                why: why.clone(),
            },
            DocumentError::BrokenImage { name, reason } => Self::BrokenImage {
                name: name.clone(),
                reason: reason.clone(),
            },
            DocumentError::EncryptedPdf { name } => Self::EncryptedPdf { name: name.clone() },
            DocumentError::BrokenPdf { name, reason } => Self::BrokenPdf {
                name: name.clone(),
                reason: reason.clone(),
            },
            DocumentError::BrokenDocx { name, reason } => Self::BrokenDocx {
                name: name.clone(),
                reason: reason.clone(),
            },
            DocumentError::BrokenEpub { name, reason } => Self::BrokenEpub {
                name: name.clone(),
                reason: reason.clone(),
            },
            DocumentError::ProtectedEpub { name } => Self::ProtectedEpub { name: name.clone() },
            DocumentError::BrokenOdt { name, reason } => Self::BrokenOdt {
                name: name.clone(),
                reason: reason.clone(),
            },
            DocumentError::NotAFile { name, what } => Self::NotAFile {
                name: name.clone(),
                what: *what,
            },
            other => Self::Other {
                name: String::new(),
                message: other.to_string(),
            },
        }
    }
}

impl WireError {
    fn into_error(self, name: &str) -> DocumentError {
        match self {
            Self::Io {
                path,
                message,
                not_found,
                ..
            } => DocumentError::Io {
                path,
                source: if not_found {
                    std::io::Error::new(std::io::ErrorKind::NotFound, message)
                } else {
                    std::io::Error::other(message)
                },
            },
            Self::TooLarge { name, bytes, limit } => DocumentError::TooLarge { name, bytes, limit },
            Self::TooMuchText {
                name,
                chars,
                limit,
                complete,
            } => DocumentError::TooMuchText {
                name,
                chars,
                limit,
                complete,
            },
            Self::Binary { name } => DocumentError::Binary { name },
            Self::Empty { name } => DocumentError::Empty { name },
            Self::Unsupported { name, what, hint } => {
                DocumentError::Unsupported { name, what, hint }
            }
            Self::ScannedPdf { name, pages, why } => DocumentError::ScannedPdf { name, pages, why },
            Self::ImageWithoutText { name, pages, why } => {
                DocumentError::ImageWithoutText { name, pages, why }
            }
            Self::BrokenImage { name, reason } => DocumentError::BrokenImage { name, reason },
            Self::EncryptedPdf { name } => DocumentError::EncryptedPdf { name },
            Self::BrokenPdf { name, reason } => DocumentError::BrokenPdf { name, reason },
            Self::BrokenDocx { name, reason } => DocumentError::BrokenDocx { name, reason },
            Self::BrokenEpub { name, reason } => DocumentError::BrokenEpub { name, reason },
            Self::ProtectedEpub { name } => DocumentError::ProtectedEpub { name },
            Self::BrokenOdt { name, reason } => DocumentError::BrokenOdt { name, reason },
            Self::NotAFile { name, what } => DocumentError::NotAFile { name, what },
            Self::Other { message, .. } => DocumentError::ReaderFailed {
                name: name.to_owned(),
                reason: message,
            },
        }
    }
}

/// Reads a document file in a child process (see [`Isolation`]): the same result as
/// [`super::extract`], except that a crash, a hang or memory exhaustion of a reader becomes
/// an error that names the file and what happened instead of ending this program.
///
/// # Errors
/// Every error of [`super::extract`], and [`DocumentError::ReaderTimedOut`],
/// [`DocumentError::ReaderOutOfMemory`], [`DocumentError::ReaderCrashed`] or
/// [`DocumentError::ReaderFailed`].
pub fn extract_isolated(path: &Path, isolation: &Isolation) -> Result<Document, DocumentError> {
    extract_isolated_until(path, isolation, &|| false)
}

/// [`extract_isolated`] that stops (killing the child) as soon as `cancelled` answers `true`.
///
/// # Errors
/// As [`extract_isolated`], and [`DocumentError::Cancelled`].
pub fn extract_isolated_until(
    path: &Path,
    isolation: &Isolation,
    cancelled: &dyn Fn() -> bool,
) -> Result<Document, DocumentError> {
    extract_isolated_reporting(path, isolation, cancelled, &|_| {})
}

/// [`extract_isolated_until`] that passes the child's progress (pages read by OCR) to
/// `progress`, on this thread, as it comes. Each report restarts the reader's time limit
/// ([`Isolation::wall`] bounds a page, [`Isolation::max_wall`] the whole).
///
/// # Errors
/// As [`extract_isolated_until`].
pub fn extract_isolated_reporting(
    path: &Path,
    isolation: &Isolation,
    cancelled: &dyn Fn() -> bool,
    progress: &dyn Fn(ReadProgress),
) -> Result<Document, DocumentError> {
    let name = super::file_name(path);
    // Opening a named pipe waits for a writer, and nothing bounds that wait here (the reader's
    // time limit starts with the child): refuse what is not a file before opening it.
    if let Some(what) = super::SpecialFile::of(path) {
        return Err(DocumentError::NotAFile { name, what });
    }
    let format = probable_format(path, &name)?;
    let args = [
        OsStr::new("extract"),
        OsStr::new("--json"),
        // A file name that starts with `-` is still a file name.
        OsStr::new("--"),
        path.as_os_str(),
    ];
    let failed = |reason: String| DocumentError::ReaderFailed {
        name: name.clone(),
        reason,
    };
    let mut report = |line: &str| {
        if let Ok(read) = serde_json::from_str::<ReadProgress>(line) {
            progress(read);
        }
    };
    let stdout = match isolation.run_reporting(&args, cancelled, &mut report) {
        Ok(stdout) => stdout,
        Err(IsolationError::Exited {
            code,
            last_line,
            stdout,
        }) => {
            return Err(match serde_json::from_slice::<Failure>(&stdout) {
                Ok(Failure {
                    version: PROTOCOL_VERSION,
                    error:
                        WireError::Io {
                            out_of_memory: true,
                            ..
                        },
                }) => DocumentError::ReaderOutOfMemory {
                    name: name.clone(),
                    format,
                    limit_bytes: isolation.memory_bytes,
                },
                Ok(failure) if failure.version == PROTOCOL_VERSION => {
                    failure.error.into_error(&name)
                }
                _ => failed(format!(
                    "the reader exited with code {code}{}",
                    if last_line.is_empty() {
                        String::new()
                    } else {
                        format!(": {last_line}")
                    }
                )),
            })
        }
        Err(IsolationError::TimedOut { seconds }) => {
            return Err(DocumentError::ReaderTimedOut {
                name,
                format,
                seconds: seconds.round() as u64,
            })
        }
        Err(IsolationError::OutOfMemory { limit_bytes }) => {
            return Err(DocumentError::ReaderOutOfMemory {
                name,
                format,
                limit_bytes,
            })
        }
        Err(IsolationError::Crashed { what }) => {
            return Err(DocumentError::ReaderCrashed { name, format, what })
        }
        Err(IsolationError::Cancelled) => return Err(DocumentError::Cancelled { name }),
        Err(other) => return Err(failed(other.to_string())),
    };
    let extraction: Extraction = serde_json::from_slice(&stdout)
        .map_err(|e| failed(format!("its answer could not be understood: {e}")))?;
    if extraction.version != PROTOCOL_VERSION {
        return Err(failed(format!(
            "it answered in protocol version {}, not {PROTOCOL_VERSION}: the program was updated while running; start it again",
            extraction.version
        )));
    }
    let sections_fit = extraction
        .sections
        .windows(2)
        .all(|w| w[0].offset <= w[1].offset)
        && extraction
            .sections
            .iter()
            .all(|s| extraction.text.is_char_boundary(s.offset));
    if !sections_fit {
        return Err(failed(
            "its answer marks places outside the text it returned".into(),
        ));
    }
    Ok(Document {
        name,
        format: extraction.format,
        text: extraction.text,
        sections: extraction.sections,
        warnings: extraction.warnings,
        ocr: extraction.ocr,
    })
}

/// The format the file will be read as, for messages about a reader that failed; files that
/// cannot be opened fail here, without a child.
fn probable_format(path: &Path, name: &str) -> Result<Format, DocumentError> {
    const HEAD_BYTES: u64 = 64 * 1024;
    let io = |source| DocumentError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::new();
    file.take(HEAD_BYTES).read_to_end(&mut head).map_err(io)?;
    let extension = path.extension().and_then(|e| e.to_str());
    // A file the child will refuse is named by the child; only the format matters here.
    Ok(super::format::choose_format(name, extension, &head).unwrap_or(Format::Text))
}

/// Page markers as the `extract` command prints them: `--- page 3 ---`; headings as
/// `--- heading: Results ---`.
#[must_use]
pub fn marker_line(section: &Section) -> String {
    match section.kind {
        SectionKind::Page => format!("--- {} ---", section.label),
        SectionKind::Heading => format!("--- heading: {} ---", section.label),
    }
}
