//! Documents: plain text extracted from the files people summarize, with markers (pages,
//! headings) that let a summary point back to where a point came from.
//!
//! One file per format (`text`, `markdown`, `pdf`, `docx`, `html`, `epub`, `odt`), each turning bytes into a
//! [`Body`] through a [`TextBuilder`]; [`extract`] picks the format from the extension and the
//! first bytes, and enforces the size limits the same way for all of them.
//!
//! Longer than 600 lines: the shared limits, the text builder every reader uses, format
//! detection and the public document types; each reader is in its own file.

mod collect;
mod docx;
mod epub;
mod html;
mod isolated;
mod markdown;
mod odt;
mod pdf;
mod text;

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use collect::{collect_documents, is_known_document, CollectLimits, Collected};
pub(crate) use isolated::failure_json as isolated_failure_json;
pub use isolated::{
    extract_isolated, extract_isolated_until, marker_line, Extraction, PROTOCOL_VERSION,
};
pub use text::decode_text;

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

/// The formats xgen-desk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Plain text (UTF-8, UTF-16 with a byte-order mark, or Latin-1).
    Text,
    /// Markdown; headings become section markers.
    Markdown,
    /// PDF with a text layer; pages become section markers.
    Pdf,
    /// Word (Office Open XML); headings become section markers, tables rows of cells.
    Docx,
    /// A web page: its main text, without scripts, styles or navigation.
    Html,
    /// An e-book (EPUB): its chapters in reading order, each one a section marker.
    Epub,
    /// OpenDocument text (LibreOffice `.odt`); headings become section markers, tables rows
    /// of cells.
    Odt,
}

impl Format {
    /// A short name for messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "Markdown",
            Self::Pdf => "PDF",
            Self::Docx => "Word (.docx)",
            Self::Html => "HTML",
            Self::Epub => "EPUB",
            Self::Odt => "OpenDocument (.odt)",
        }
    }

    /// The format a file extension names, if xgen-desk reads it.
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "txt" | "text" | "log" | "csv" | "tsv" | "rst" | "org" => Some(Self::Text),
            "md" | "markdown" | "mdown" | "mkd" => Some(Self::Markdown),
            "pdf" => Some(Self::Pdf),
            "docx" => Some(Self::Docx),
            "html" | "htm" | "xhtml" => Some(Self::Html),
            "epub" => Some(Self::Epub),
            "odt" => Some(Self::Odt),
            _ => None,
        }
    }

    /// The format the first bytes show, when they show one.
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if pdf::header_offset(bytes).is_some() {
            return Some(Self::Pdf);
        }
        match zip_mimetype(bytes) {
            Some(b"application/epub+zip") => return Some(Self::Epub),
            Some(b"application/vnd.oasis.opendocument.text") => return Some(Self::Odt),
            _ => {}
        }
        if bytes.starts_with(b"PK\x03\x04") && contains(bytes, b"word/") {
            return Some(Self::Docx);
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if head.starts_with("<!doctype html") || head.starts_with("<html") {
            return Some(Self::Html);
        }
        None
    }
}

/// The content of a ZIP whose first entry is a stored `mimetype` file, as EPUB and
/// OpenDocument files begin (trailing whitespace dropped).
fn zip_mimetype(bytes: &[u8]) -> Option<&[u8]> {
    let u16_at = |at: usize| {
        Some(usize::from(u16::from_le_bytes([
            *bytes.get(at)?,
            *bytes.get(at + 1)?,
        ])))
    };
    if !bytes.starts_with(b"PK\x03\x04") || u16_at(8)? != 0 {
        return None;
    }
    let name_len = u16_at(26)?;
    let extra_len = u16_at(28)?;
    if bytes.get(30..30 + name_len)? != b"mimetype" {
        return None;
    }
    let start = 30 + name_len + extra_len;
    let size = u32::from_le_bytes(bytes.get(18..22)?.try_into().ok()?);
    let size = usize::try_from(size).ok()?.min(128);
    Some(bytes.get(start..start + size)?.trim_ascii_end())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
    /// Things a reader should know (pages that could not be read), empty when all went well.
    pub warnings: Vec<String>,
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

    fn from_body(
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
    #[error("{name} looks like a binary file (it contains NUL or control bytes), not a document: open a text, Markdown, PDF, Word (.docx), OpenDocument (.odt), EPUB or HTML file")]
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
    #[error("{name} is {what}, which xgen-desk does not read as a document: open a text, Markdown, PDF, Word (.docx), OpenDocument (.odt), EPUB or HTML file{hint}")]
    Unsupported {
        /// The document.
        name: String,
        /// What it is.
        what: String,
        /// What to do instead (starts with "; " when present).
        hint: String,
    },
    /// A PDF whose pages carry no text (scanned images).
    #[error("{name} has {pages} page{} but no text layer: it is probably scanned images. Run it through OCR (for example `ocrmypdf in.pdf out.pdf`) and open the result", if *pages == 1 { "" } else { "s" })]
    ScannedPdf {
        /// The document.
        name: String,
        /// Its page count.
        pages: usize,
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

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// Text and markers as a format reader produces them.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub(crate) text: String,
    pub(crate) sections: Vec<Section>,
    pub(crate) warnings: Vec<String>,
    /// Reading stopped because the text passed the character limit; `text` is incomplete.
    pub(crate) overflow: bool,
    /// Characters counted when `overflow` is set (more than the limit).
    pub(crate) chars: usize,
}

/// How two blocks of text are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sep {
    /// Nothing yet (start of the text).
    None,
    /// A line break.
    Line,
    /// A blank line.
    Paragraph,
}

/// Builds a [`Body`] block by block, so that every format separates paragraphs the same way
/// (a blank line, which the chunker cuts at first) and places markers at the start of the
/// text they mark.
///
/// It counts the characters it holds and stops taking text once they pass its limit, so that
/// a document that expands (pages listed many times, nested tables) is refused as soon as it
/// is too long instead of after all of it has been built; [`TextBuilder::is_full`] tells a
/// reader it can stop.
#[derive(Debug)]
pub(crate) struct TextBuilder {
    body: Body,
    pending_sep: Sep,
    pending_sections: Vec<(SectionKind, String)>,
    chars: usize,
    max_chars: usize,
}

/// `text` without characters of Unicode's private use areas: in PDFs, Word files and web
/// pages they are icon-font glyphs (Font Awesome's link icon after every heading of a Sphinx
/// page, Wingdings bullets) that mean nothing to a reader and cost tokens.
fn without_private_use(text: &str) -> std::borrow::Cow<'_, str> {
    let private = |c: char| matches!(u32::from(c), 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD);
    if text.contains(private) {
        text.replace(private, "").into()
    } else {
        text.into()
    }
}

impl TextBuilder {
    /// A builder with the default character limit, [`MAX_TEXT_CHARS`].
    pub(crate) fn new() -> Self {
        Self::with_limit(MAX_TEXT_CHARS)
    }

    /// A builder that stops taking text past `max_chars` characters.
    pub(crate) fn with_limit(max_chars: usize) -> Self {
        Self {
            body: Body::default(),
            pending_sep: Sep::None,
            pending_sections: Vec::new(),
            chars: 0,
            max_chars,
        }
    }

    /// Whether the text passed the limit (the document will be refused as too long).
    pub(crate) fn is_full(&self) -> bool {
        self.body.overflow
    }

    /// Marks the start of a page or heading at the next block.
    pub(crate) fn mark(&mut self, kind: SectionKind, label: impl Into<String>) {
        self.pending_sections.push((kind, label.into()));
    }

    /// Asks for at least `sep` before the next block.
    pub(crate) fn separate(&mut self, sep: Sep) {
        self.pending_sep = self.pending_sep.max(sep);
    }

    /// Adds a block of text (trimmed; blank blocks are dropped), separated from the previous
    /// one by at least `sep`.
    pub(crate) fn block(&mut self, text: &str, sep: Sep) {
        self.push(without_private_use(text).trim(), sep);
    }

    /// Adds preformatted text: only blank lines around it are dropped, indentation is kept.
    pub(crate) fn verbatim(&mut self, text: &str, sep: Sep) {
        let text = without_private_use(text);
        let text = text.trim_end();
        let first_line = text
            .char_indices()
            .take_while(|(_, c)| c.is_whitespace())
            .filter(|(_, c)| *c == '\n')
            .last()
            .map_or(0, |(i, _)| i + 1);
        self.push(&text[first_line..], sep);
    }

    /// Adds `text` as the next block, with the pending markers at its start; returns where it
    /// starts in the text, or `None` when it was blank or over the limit.
    fn push(&mut self, text: &str, sep: Sep) -> Option<usize> {
        self.separate(sep);
        if self.body.overflow || text.trim().is_empty() {
            return None;
        }
        let separator = match (self.body.text.is_empty(), self.pending_sep) {
            (true, _) => "",
            (false, Sep::Paragraph) => "\n\n",
            (false, Sep::Line | Sep::None) => "\n",
        };
        self.chars = self
            .chars
            .saturating_add(separator.len() + text.chars().count());
        if self.chars > self.max_chars {
            self.body.overflow = true;
            self.body.chars = self.chars;
            return None;
        }
        self.body.text.push_str(separator);
        self.pending_sep = Sep::None;
        let offset = self.body.text.len();
        for (kind, label) in self.pending_sections.drain(..) {
            self.body.sections.push(Section {
                offset,
                kind,
                label,
            });
        }
        self.body.text.push_str(text);
        Some(offset)
    }

    /// Appends a body read on its own (a chapter of a book) as the next block, after a blank
    /// line, with its markers; `start` marks its beginning (`None`: its own first marker is
    /// there). Its characters count against the limit like any text.
    pub(crate) fn append(&mut self, body: Body, start: Option<(SectionKind, String)>) {
        if self.body.overflow {
            return;
        }
        if body.overflow {
            self.body.overflow = true;
            self.body.chars = self.chars.saturating_add(body.chars);
            return;
        }
        if body.text.trim().is_empty() {
            return;
        }
        self.body.warnings.extend(body.warnings);
        self.pending_sections.extend(start);
        if let Some(offset) = self.push(&body.text, Sep::Paragraph) {
            self.body
                .sections
                .extend(body.sections.into_iter().map(|s| Section {
                    offset: offset + s.offset,
                    ..s
                }));
        }
    }

    /// Characters taken so far.
    pub(crate) fn chars(&self) -> usize {
        self.chars
    }

    /// The character limit.
    pub(crate) fn max_chars(&self) -> usize {
        self.max_chars
    }

    pub(crate) fn warn(&mut self, warning: String) {
        self.body.warnings.push(warning);
    }

    pub(crate) fn finish(self) -> Body {
        self.body
    }
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

const GGUF_WHAT: &str = "a GGUF model file";
const GGUF_HINT: &str =
    "; to use it as the model, drop it on the window, open it in Models, or pass `--model FILE`";

/// Files known by their extension to be something xgen-desk does not read as a document,
/// with what to do instead; checked before the size limit, which a model file would
/// otherwise be refused by with a misleading message.
fn unsupported_extension(name: &str, extension: Option<&str>) -> Option<DocumentError> {
    let (what, hint) = match extension.map(str::to_ascii_lowercase).as_deref() {
        Some("doc") => (
            "a Word 97-2003 document (.doc)".to_owned(),
            "; save it as .docx or PDF in Word or LibreOffice",
        ),
        Some(
            ext @ ("rtf" | "pages" | "xlsx" | "xls" | "pptx" | "ppt" | "ods" | "odp" | "mobi"
            | "azw" | "azw3"),
        ) => (
            format!("a .{ext} file"),
            "; export it as PDF or .docx first",
        ),
        Some("gguf") => (GGUF_WHAT.to_owned(), GGUF_HINT),
        _ => return None,
    };
    Some(DocumentError::Unsupported {
        name: name.to_owned(),
        what,
        hint: hint.to_owned(),
    })
}

fn choose_format(
    name: &str,
    extension: Option<&str>,
    bytes: &[u8],
) -> Result<Format, DocumentError> {
    let by_extension = extension.and_then(Format::from_extension);
    let sniffed = Format::sniff(bytes);
    let unsupported = |what: &str, hint: &str| DocumentError::Unsupported {
        name: name.to_owned(),
        what: what.to_owned(),
        hint: hint.to_owned(),
    };
    if let Some(error) = unsupported_extension(name, extension) {
        return Err(error);
    }
    if bytes.starts_with(b"GGUF") {
        return Err(unsupported(GGUF_WHAT, GGUF_HINT));
    }
    Ok(match (by_extension, sniffed) {
        // A declared PDF, DOCX, EPUB or ODT is parsed as one, so a damaged file says so.
        (Some(declared @ (Format::Pdf | Format::Docx | Format::Epub | Format::Odt)), _) => declared,
        (_, Some(found)) => found,
        (Some(declared), None) => declared,
        (None, None) if bytes.starts_with(b"PK\x03\x04") => {
            return Err(unsupported(
                "a ZIP archive",
                "; unpack it and open the document inside",
            ))
        }
        (None, None) => Format::Text,
    })
}
