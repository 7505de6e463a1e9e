//! Format detection: the format a file's extension names, the one its first bytes show, and
//! which of the two decides; files known to be something else (a model, a spreadsheet) are
//! refused here with what to do instead.

use serde::{Deserialize, Serialize};

use super::{pdf, DocumentError};

/// The formats xgen-desk reads. The variants are the one list of formats: the extensions that
/// name each ([`Format::extensions`]), the open dialog's filter, the lists in messages and hover
/// texts ([`Format::usual_extensions`], [`Format::names`]) and the checks of the README and the
/// installers' file associations all come from it (through [`clap::ValueEnum`]), in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Format {
    /// Plain text (UTF-8, UTF-16 with a byte-order mark, or Latin-1).
    Text,
    /// Markdown; headings become section markers.
    Markdown,
    /// PDF; pages become section markers, and pages without a text layer are read by OCR.
    Pdf,
    /// Word (Office Open XML); headings become section markers, tables rows of cells.
    Docx,
    /// OpenDocument text (LibreOffice `.odt`); headings become section markers, tables rows
    /// of cells.
    Odt,
    /// An e-book (EPUB): its chapters in reading order, each one a section marker.
    Epub,
    /// A web page: its main text, without scripts, styles or navigation.
    Html,
    /// An image of a page or of several (PNG, JPEG, TIFF with one or more pages): its text
    /// recognised by OCR, one page marker per image.
    Image,
}

impl Format {
    /// Every format, in the order they are listed to people.
    #[must_use]
    pub fn all() -> &'static [Self] {
        <Self as clap::ValueEnum>::value_variants()
    }

    /// A short name for messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "Markdown",
            Self::Pdf => "PDF",
            Self::Docx => "Word (.docx)",
            Self::Odt => "OpenDocument (.odt)",
            Self::Epub => "EPUB",
            Self::Html => "HTML",
            Self::Image => "image",
        }
    }

    /// The file extensions (lower case, without the dot) that name it, the usual one first.
    #[must_use]
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Text => &["txt", "text", "log", "csv", "tsv", "rst", "org"],
            Self::Markdown => &["md", "markdown", "mdown", "mkd"],
            Self::Pdf => &["pdf"],
            Self::Docx => &["docx"],
            Self::Odt => &["odt"],
            Self::Epub => &["epub"],
            Self::Html => &["html", "htm", "xhtml"],
            Self::Image => &["png", "jpg", "jpeg", "tif", "tiff"],
        }
    }

    /// The format a file extension names, if xgen-desk reads it.
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.to_ascii_lowercase();
        Self::all()
            .iter()
            .copied()
            .find(|format| format.extensions().contains(&ext.as_str()))
    }

    /// Every extension of every format: what the open dialog offers.
    #[must_use]
    pub fn all_extensions() -> Vec<&'static str> {
        Self::all()
            .iter()
            .flat_map(|format| format.extensions().iter().copied())
            .collect()
    }

    /// The usual extension of each format as people read them, joined by `separator`
    /// (".txt .md .pdf ..." with `" "`), the last one by `last` (", " and " or " give ".txt, .md
    /// ... or .html").
    #[must_use]
    pub fn usual_extensions(separator: &str, last: &str) -> String {
        join(
            Self::all()
                .iter()
                .map(|f| format!(".{}", f.extensions()[0])),
            separator,
            last,
        )
    }

    /// The names of the formats, for "open a text, Markdown, PDF, ... or HTML file".
    #[must_use]
    pub fn names() -> String {
        join(
            Self::all().iter().map(|f| f.name().to_owned()),
            ", ",
            " or ",
        )
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
        if super::image::sniff(bytes).is_some() {
            return Some(Self::Image);
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if head.starts_with("<!doctype html") || head.starts_with("<html") {
            return Some(Self::Html);
        }
        None
    }
}

/// `items` joined by `separator`, the last one by `last`.
fn join(items: impl Iterator<Item = String>, separator: &str, last: &str) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        Some((tail, [])) => tail.clone(),
        Some((tail, head)) => format!("{}{last}{tail}", head.join(separator)),
        None => String::new(),
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

const GGUF_WHAT: &str = "a GGUF model file";
const GGUF_HINT: &str =
    "; to use it as the model, drop it on the window, open it in Models, or pass `--model FILE`";

/// Files known by their extension to be something xgen-desk does not read as a document,
/// with what to do instead; checked before the size limit, which a model file would
/// otherwise be refused by with a misleading message.
pub(super) fn unsupported_extension(name: &str, extension: Option<&str>) -> Option<DocumentError> {
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
        Some(ext @ ("gif" | "bmp" | "webp" | "heic" | "heif" | "avif" | "jp2" | "svg")) => (
            format!("a .{ext} image"),
            "; images are read as PNG, JPEG or TIFF: save it as one of those",
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

pub(super) fn choose_format(
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
        // A declared PDF, DOCX, EPUB, ODT or image is parsed as one, so a damaged file says so.
        (
            Some(
                declared
                @ (Format::Pdf | Format::Docx | Format::Epub | Format::Odt | Format::Image),
            ),
            _,
        ) => declared,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_extension_names_its_format_and_the_lists_read_as_sentences() {
        for &format in Format::all() {
            for ext in format.extensions() {
                assert_eq!(Format::from_extension(ext), Some(format));
                assert_eq!(Format::from_extension(&ext.to_uppercase()), Some(format));
            }
        }
        assert_eq!(Format::from_extension("doc"), None);
        // What the open dialog offered when it had a list of its own.
        let offered = Format::all_extensions();
        for ext in [
            "txt", "md", "markdown", "pdf", "docx", "odt", "epub", "html", "htm", "png", "jpg",
            "jpeg", "tif", "tiff",
        ] {
            assert!(offered.contains(&ext), "{ext}");
        }
        assert_eq!(
            Format::usual_extensions(" ", " "),
            ".txt .md .pdf .docx .odt .epub .html .png"
        );
        assert_eq!(
            Format::usual_extensions(", ", " or "),
            ".txt, .md, .pdf, .docx, .odt, .epub, .html or .png"
        );
        assert_eq!(
            Format::names(),
            "text, Markdown, PDF, Word (.docx), OpenDocument (.odt), EPUB, HTML or image"
        );
    }
}
