//! The public document types: [`Document`] and its [`Section`] markers, the size [`Limits`],
//! [`DocumentError`] (every message says what to do) and [`SpecialFile`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{text, Body, Format};

/// Largest file accepted: 64 MiB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Most characters of extracted text accepted: 4 million (about a million tokens, over a
/// hundred model calls through map-reduce at an 8K context).
pub const MAX_TEXT_CHARS: usize = 4_000_000;

/// Size limits for documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file (or standard input) in bytes.
    pub max_file_bytes: u64,
    /// Most characters of extracted text.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: MAX_FILE_BYTES,
            max_text_chars: MAX_TEXT_CHARS,
        }
    }
}

/// What kind of place a [`Section`] marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SectionKind {
    /// A page of a PDF.
    Page,
    /// A heading.
    Heading,
}

/// A place in a document's text: the start of a page or of a heading's section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Byte offset in [`Document::text`] where it starts (a character boundary).
    pub offset: usize,
    /// Page or heading.
    pub kind: SectionKind,
    /// What a summary cites: `page 2`, or the heading's text.
    pub label: String,
}

/// A document's text, ready for the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The file name (or what the caller called pasted text).
    pub name: String,
    /// The format it was read as.
    pub format: Format,
    /// The text.
    pub text: String,
    /// Page and heading markers, in order of `offset`.
    pub sections: Vec<Section>,
    /// Things a reader should know (pages that could not be read, pages read by OCR), empty
    /// when all went well.
    pub warnings: Vec<String>,
    /// Which pages were read from images by OCR and how sure the recogniser was, when any
    /// were (a scanned PDF, the image pages of a mixed one, an image file).
    #[serde(default)]
    pub ocr: Option<OcrSummary>,
}

/// Text recognised from page images (OCR): where, and how sure the recogniser was. The app's
/// document card and `extract --json` show it; the same is said in words among the warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcrSummary {
    /// The pages (numbered from 1, as the page markers are) whose text came from OCR.
    pub pages: Vec<usize>,
    /// The recogniser's mean confidence over their characters, in percent.
    pub confidence: u8,
}

impl OcrSummary {
    /// The sentence the warnings carry: `pages 1-3 and 5 (4 of 6) were read from images by
    /// OCR (mean confidence 94%): names and numbers may be misread`.
    #[must_use]
    pub fn sentence(&self, total_pages: usize) -> String {
        let which = page_list(&self.pages);
        let count = if total_pages > self.pages.len() {
            format!(" ({} of {total_pages})", self.pages.len())
        } else {
            String::new()
        };
        let verb = if self.pages.len() == 1 { "was" } else { "were" };
        format!(
            "{which}{count} {verb} read from images by OCR (mean confidence {}%): names and numbers may be misread",
            self.confidence
        )
    }
}

/// `page 4`, `pages 1-3, 5 and 9`.
fn page_list(pages: &[usize]) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut i = 0;
    while i < pages.len() {
        let start = pages[i];
        let mut end = start;
        while i + 1 < pages.len() && pages[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        runs.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
        i += 1;
    }
    let label = if pages.len() == 1 { "page" } else { "pages" };
    match runs.split_last() {
        None => "no page".to_owned(),
        Some((last, [])) => format!("{label} {last}"),
        Some((last, rest)) => format!("{label} {} and {last}", rest.join(", ")),
    }
}

impl Document {
    /// A document from pasted text.
    ///
    /// # Errors
    /// [`DocumentError::Empty`] for blank text, [`DocumentError::TooMuchText`] past
    /// [`MAX_TEXT_CHARS`].
    pub fn from_text(
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, DocumentError> {
        let name = name.into();
        let body = Body {
            text: text::unix_newlines(text.into()),
            ..Body::default()
        };
        Self::from_body(name, Format::Text, body, &Limits::default())
    }

    pub(super) fn from_body(
        name: String,
        format: Format,
        body: Body,
        limits: &Limits,
    ) -> Result<Self, DocumentError> {
        if body.overflow {
            return Err(DocumentError::TooMuchText {
                name,
                chars: body.chars,
                limit: limits.max_text_chars,
                complete: false,
            });
        }
        if body.text.trim().is_empty() {
            return Err(DocumentError::Empty { name });
        }
        // Counting characters of a huge text is cheap next to reading it; bytes bound chars.
        if body.text.len() > limits.max_text_chars {
            let chars = body.text.chars().count();
            if chars > limits.max_text_chars {
                return Err(DocumentError::TooMuchText {
                    name,
                    chars,
                    limit: limits.max_text_chars,
                    complete: true,
                });
            }
        }
        Ok(Self {
            name,
            format,
            text: body.text,
            sections: body.sections,
            warnings: body.warnings,
            ocr: body.ocr,
        })
    }

    /// The labels of the sections a byte range of the text touches: the one in force at its
    /// start, then every one that starts inside it.
    #[must_use]
    pub fn sections_in(&self, range: Range<usize>) -> Vec<&Section> {
        let first = self.sections.partition_point(|s| s.offset <= range.start);
        let mut out = Vec::new();
        if first > 0 {
            out.push(&self.sections[first - 1]);
        }
        out.extend(
            self.sections[first..]
                .iter()
                .take_while(|s| s.offset < range.end),
        );
        out
    }

    /// A short description of where a byte range lies, such as `page 2` or
    /// `page 2 to page 4`, or `None` when the document has no markers there.
    #[must_use]
    pub fn location(&self, range: Range<usize>) -> Option<String> {
        let sections = self.sections_in(range);
        match sections.as_slice() {
            [] => None,
            [one] => Some(one.label.clone()),
            [first, .., last] if first.kind == SectionKind::Page => {
                Some(format!("{} to {}", first.label, last.label))
            }
            many => {
                const SHOWN: usize = 4;
                let mut labels: Vec<String> = many
                    .iter()
                    .take(SHOWN)
                    .map(|s| format!("\"{}\"", s.label))
                    .collect();
                if many.len() > SHOWN {
                    labels.push(format!("and {} more", many.len() - SHOWN));
                }
                Some(labels.join(", "))
            }
        }
    }

    /// Pages of a PDF (0 for other formats).
    #[must_use]
    pub fn page_count(&self) -> usize {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Page)
            .count()
    }
}

/// What can go wrong reading a document. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The file could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than the limit.
    #[error("{name} is {} ({bytes} bytes); documents up to {} are accepted: split it or extract the part you need", mib(*bytes), mib(*limit))]
    TooLarge {
        /// The document.
        name: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The extracted text is longer than the limit.
    #[error("{name} holds {} characters of text; at most {limit} are accepted: split it into parts", if *complete { chars.to_string() } else { format!("more than {limit}") })]
    TooMuchText {
        /// The document.
        name: String,
        /// Characters extracted (when not `complete`: counted when reading stopped).
        chars: usize,
        /// The limit.
        limit: usize,
        /// Whether all the text was read; reading stops once the limit is passed.
        complete: bool,
    },
    /// The bytes are not text.
    #[error("{name} looks like a binary file (it contains NUL or control bytes), not a document: open a {} file", Format::names())]
    Binary {
        /// The document.
        name: String,
    },
    /// There is no text in it.
    #[error("{name} contains no text: there is nothing to summarize")]
    Empty {
        /// The document.
        name: String,
    },
    /// A format xgen-desk does not read.
    #[error(
        "{name} is {what}, which xgen-desk does not read as a document: open a {} file{hint}",
        Format::names()
    )]
    Unsupported {
        /// The document.
        name: String,
        /// What it is.
        what: String,
        /// What to do instead (starts with "; " when present).
        hint: String,
    },
    /// A PDF whose pages carry no text, in which OCR found none either (or could not run).
    #[error("{name} has {pages} page{} but no text layer, and {why}", if *pages == 1 { "" } else { "s" })]
    ScannedPdf {
        /// The document.
        name: String,
        /// Its page count.
        pages: usize,
        /// Why OCR gave nothing, as the end of the sentence (see `no_text_found`).
        why: String,
    },
    /// An image in which OCR found no text (or could not run).
    #[error("{name} is an image of {pages} page{}, and {why}", if *pages == 1 { "" } else { "s" })]
    ImageWithoutText {
        /// The document.
        name: String,
        /// Its pages (a TIFF can hold several).
        pages: usize,
        /// Why OCR gave nothing, as the end of the sentence (see `no_text_found`).
        why: String,
    },
    /// An image file that could not be decoded.
    #[error("{name} is not a readable image ({reason}); the file may be damaged or incomplete: open it in an image viewer and save it again as PNG")]
    BrokenImage {
        /// The document.
        name: String,
        /// The decoder's words.
        reason: String,
    },
    /// A PDF that needs a password.
    #[error(
        "{name} is an encrypted PDF that needs a password: save an unprotected copy and open that"
    )]
    EncryptedPdf {
        /// The document.
        name: String,
    },
    /// A PDF that could not be parsed.
    #[error("{name} is not a readable PDF ({reason}); the file may be damaged or incomplete")]
    BrokenPdf {
        /// The document.
        name: String,
        /// The parser's words.
        reason: String,
    },
    /// The reader (in its own process) ran past its time limit and was stopped.
    #[error("the {} reader stopped after {seconds} s on {name}: the file is too complex or damaged. Try a smaller or simpler copy (for example print or export it anew), or split it", format.name())]
    ReaderTimedOut {
        /// The document.
        name: String,
        /// The format it was read as.
        format: Format,
        /// The time limit.
        seconds: u64,
    },
    /// The reader (in its own process) ran out of its memory limit.
    #[error("reading {name} ran out of the {} reader's memory limit ({}): the file is damaged or built to exhaust memory. Try a smaller or simpler copy, or split it", format.name(), mib(*limit_bytes))]
    ReaderOutOfMemory {
        /// The document.
        name: String,
        /// The format it was read as.
        format: Format,
        /// The limit in bytes.
        limit_bytes: u64,
    },
    /// The reader (in its own process) crashed.
    #[error("the {} reader crashed on {name} ({what}): the file is damaged or built to break readers. Try another copy of it, or export it anew", format.name())]
    ReaderCrashed {
        /// The document.
        name: String,
        /// The format it was read as.
        format: Format,
        /// What happened (`stack overflow`, `SIGSEGV: invalid memory access`).
        what: String,
    },
    /// The reader process could not be run or gave an answer that could not be understood.
    #[error("could not read {name} in a separate process: {reason}")]
    ReaderFailed {
        /// The document.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading was cancelled.
    #[error("reading {name} was cancelled")]
    Cancelled {
        /// The document.
        name: String,
    },
    /// A folder, a named pipe, a socket or a device where a document file was expected.
    #[error("{name} is {what}{}", what.advice())]
    NotAFile {
        /// The path's name.
        name: String,
        /// What it is.
        what: SpecialFile,
    },
    /// A `.docx` that could not be parsed.
    #[error("{name} is not a readable Word document ({reason}); the file may be damaged, or saved in another format")]
    BrokenDocx {
        /// The document.
        name: String,
        /// The parser's words.
        reason: String,
    },
    /// An EPUB that could not be read.
    #[error("{name} is not a readable EPUB book ({reason}); the file may be damaged: get a new copy, or convert it (for example with Calibre) to EPUB or PDF anew")]
    BrokenEpub {
        /// The document.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An EPUB whose chapters are encrypted (DRM).
    #[error("{name} is protected by DRM: xgen-desk cannot read it. Open a DRM-free copy of the book (many shops and public-domain libraries sell or give them)")]
    ProtectedEpub {
        /// The document.
        name: String,
    },
    /// An `.odt` that could not be parsed.
    #[error("{name} is not a readable OpenDocument text ({reason}); the file may be damaged: open it in LibreOffice and save it anew, or export it as PDF")]
    BrokenOdt {
        /// The document.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a path that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialFile {
    /// A directory.
    Folder,
    /// A named pipe (FIFO): opening it waits until something writes to it.
    Pipe,
    /// A Unix socket.
    Socket,
    /// A character or block device (`/dev/zero`), possibly endless.
    Device,
}

impl SpecialFile {
    /// What it is, in the kind of path `path` points at (following links), or `None` for a
    /// regular file or a path that cannot be looked at (opening it will say why).
    #[must_use]
    pub fn of(path: &Path) -> Option<Self> {
        let kind = std::fs::metadata(path).ok()?.file_type();
        if kind.is_file() {
            return None;
        }
        if kind.is_dir() {
            return Some(Self::Folder);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                return Some(Self::Pipe);
            }
            if kind.is_socket() {
                return Some(Self::Socket);
            }
        }
        Some(Self::Device)
    }

    fn advice(self) -> &'static str {
        match self {
            Self::Folder => {
                ": drop the folder on the window, or give it to `xgen-desk summarize`, to summarize the documents in it"
            }
            Self::Pipe | Self::Socket | Self::Device => {
                ", not a file: save what it gives to a file and open that"
            }
        }
    }
}

impl std::fmt::Display for SpecialFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Folder => "a folder",
            Self::Pipe => "a named pipe",
            Self::Socket => "a socket",
            Self::Device => "a device",
        })
    }
}

/// The end of the sentence for pages in which OCR found no text: "OCR found no text on them:
/// ..." with what to try.
#[must_use]
pub(crate) fn no_text_found(pages: usize) -> String {
    format!(
        "OCR found no text on {}: {} blank, drawings or photographs, or print too faint or small to read. A scan at 300 dpi reads best",
        if pages == 1 { "it" } else { "them" },
        if pages == 1 { "it may be" } else { "they may be" }
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}
