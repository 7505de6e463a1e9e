//! HTML: the main text of a page. The `<main>` (or the only `<article>`) is read when there
//! is one, else the body; scripts, styles, navigation, hidden elements and page chrome are
//! left out. Headings become markers, list items lines, table rows lines of cells separated by
//! ` | `.
//!
//! The page is read by a small streaming tokenizer written for this, not by building a DOM:
//! a full HTML parser (html5ever, through scraper) spends time quadratic in the nesting depth
//! (every new element scans the stack of open ones), its tokenizer is quadratic in the number
//! of attributes of one tag, and a 16 MB page of `<p>x` built a DOM over 1 GiB before any
//! text limit could apply. Here every byte is looked at a bounded number of times, only the
//! few attributes that matter are kept, the stack of open elements is capped at
//! [`page::MAX_DEPTH`], and reading stops once the text passes the character limit. The price
//! is a simplified tree: an end tag closes up to the nearest open element of its name, and
//! only the common implied closes are done (`<p>`, `<li>`, `<td>`, `<tr>`, `<dt>`/`<dd>` when
//! they are the innermost open element); for pulling text out of a page that is enough.
//!
//! The tokenizer is in [`tokenizer`], the main-text rules it feeds in [`page`]; they are
//! written for each other (linear time on any input).

mod page;
mod tokenizer;

use super::{text, Body, DocumentError, Limits};
use page::{PageReader, Region, RegionFinder};
use tokenizer::{char_reference, raw_text_end, tag, tokenize};

/// Largest page read: 32 MiB of HTML. The biggest real pages (a whole standard on one page)
/// are about 15 MB; more is a generated or hostile file, refused before it is decoded.
pub(crate) const MAX_HTML_BYTES: u64 = 32 * 1024 * 1024;

/// What a page's `<meta>` tags in its first kilobyte say about its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Declared {
    /// No `charset=` in a `<meta>` tag.
    Nothing,
    /// An encoding the WHATWG Encoding Standard knows, as browsers map its label
    /// (`x-user-defined` is read as windows-1252, as the HTML Standard says).
    Known(&'static encoding_rs::Encoding),
    /// Only labels no browser knows (`<meta charset="latin-9x">`): browsers ignore them and
    /// detect the encoding from the bytes.
    Unknown,
    /// A label of the Standard's "replacement" encoding (`iso-2022-kr`, `hz-gb-2312`,
    /// `iso-2022-cn`, ...): encodings that were used to smuggle script past filters, which
    /// browsers do not decode (the whole page becomes one U+FFFD).
    Replacement(String),
}

/// The encoding a page declares in its first kilobyte (`<meta charset="shift_jis">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">`), as a
/// browser's pre-scan finds it: the first label it knows wins, unknown ones are passed over.
fn declared_charset(bytes: &[u8]) -> Declared {
    let head = bytes[..bytes.len().min(1024)].to_ascii_lowercase();
    let mut from = 0;
    let mut unknown = false;
    while let Some(at) = head[from..]
        .windows(8)
        .position(|w| w == b"charset=")
        .map(|p| from + p + 8)
    {
        from = at;
        // Only inside a <meta> tag.
        let tag_start = head[..at].iter().rposition(|&c| c == b'<');
        let in_meta = tag_start
            .is_some_and(|t| head[t..].starts_with(b"<meta") && !head[t..at].contains(&b'>'));
        if !in_meta {
            continue;
        }
        let label: Vec<u8> = head[at..]
            .iter()
            .copied()
            .skip_while(|&c| c == b'"' || c == b'\'')
            .take_while(|&c| {
                !matches!(c, b'"' | b'\'' | b';' | b'>' | b'/') && !c.is_ascii_whitespace()
            })
            .collect();
        match encoding_rs::Encoding::for_label(&label) {
            Some(encoding) if encoding == encoding_rs::REPLACEMENT => {
                return Declared::Replacement(String::from_utf8_lossy(&label).into_owned());
            }
            Some(encoding) if encoding == encoding_rs::X_USER_DEFINED => {
                return Declared::Known(encoding_rs::WINDOWS_1252);
            }
            Some(encoding) => return Declared::Known(encoding),
            None => unknown = true,
        }
    }
    if unknown {
        Declared::Unknown
    } else {
        Declared::Nothing
    }
}

/// The encoding to decode a page with, from its declaration: a known one; for unknown labels,
/// UTF-8 when the bytes are UTF-8, else what the bytes look like (Mozilla's detector, whose
/// answer for Western text is windows-1252), as browsers do; `None` to let the bytes decide.
fn page_encoding(bytes: &[u8], declared: &Declared) -> Option<&'static encoding_rs::Encoding> {
    match declared {
        Declared::Known(encoding) => Some(*encoding),
        Declared::Unknown if std::str::from_utf8(bytes).is_err() => {
            Some(text::legacy_encoding(bytes))
        }
        Declared::Unknown | Declared::Nothing | Declared::Replacement(_) => None,
    }
}

/// An HTML document.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    if bytes.len() as u64 > MAX_HTML_BYTES {
        return Err(DocumentError::TooLarge {
            name: name.to_owned(),
            bytes: bytes.len() as u64,
            limit: MAX_HTML_BYTES,
        });
    }
    let declared = declared_charset(bytes);
    if let Declared::Replacement(label) = &declared {
        return Err(DocumentError::Unsupported {
            name: name.to_owned(),
            what: format!(
                "a web page in the encoding {label}, which browsers do not decode (it was used to hide scripts from filters; they show one replacement character for the whole page)"
            ),
            hint: "; or save the page again as UTF-8".into(),
        });
    }
    // The tokenizer sees only `\n` line ends, as an HTML parser's input stream does.
    let source =
        text::decode_declared(bytes, page_encoding(bytes, &declared)).ok_or_else(|| {
            DocumentError::Binary {
                name: name.to_owned(),
            }
        })?;
    Ok(read_source(&source, limits.max_text_chars, false))
}

/// The main text of a decoded page. In `xhtml`, a self-closing tag (`<a id="p12"/>`) opens
/// nothing, as in XML; in HTML only `<svg/>` and `<math/>` are closed by their slash.
fn read_source(source: &str, max_chars: usize, xhtml: bool) -> Body {
    let mut finder = RegionFinder::default();
    tokenize(source, &mut finder);
    let region = if finder.main {
        Region::Main
    } else if finder.articles == 1 {
        Region::Article
    } else {
        Region::Body
    };
    let mut reader = PageReader::new(region, max_chars);
    reader.xhtml = xhtml;
    tokenize(source, &mut reader);
    reader.finish()
}

/// A content document of an e-book, read like a page.
pub(crate) struct Chapter {
    /// Its main text, with its headings as markers.
    pub(crate) body: Body,
    /// Its `<title>`, whitespace collapsed, when it has a non-blank one.
    pub(crate) title: Option<String>,
}

/// Reads an XHTML content document (a chapter of an EPUB) with the same rules as a web page,
/// stopping past `max_chars`; `None` when its bytes are not text.
pub(crate) fn read_xhtml(bytes: &[u8], max_chars: usize) -> Option<Chapter> {
    let declared = declared_charset(bytes);
    if matches!(declared, Declared::Replacement(_)) {
        return None;
    }
    let source = text::decode_declared(bytes, page_encoding(bytes, &declared))?;
    Some(Chapter {
        body: read_source(&source, max_chars, true),
        title: title(&source),
    })
}

/// The text of the first `<title>` element, references decoded and whitespace collapsed.
fn title(source: &str) -> Option<String> {
    let bytes = source.as_bytes();
    let mut from = 0;
    let start = loop {
        let at = from
            + bytes[from..]
                .windows(6)
                .position(|w| w.eq_ignore_ascii_case(b"<title"))?;
        from = at + 6;
        if matches!(
            bytes.get(from),
            Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0C')
        ) {
            break from;
        }
    };
    let (_, _, _, next) = tag(source, start - 5);
    let content_start = next?;
    let end = raw_text_end(bytes, content_start, "title");
    let raw = &source[content_start..end];
    let mut decoded = String::new();
    let mut pos = 0;
    while let Some(amp) = raw[pos..].find('&') {
        decoded.push_str(&raw[pos..pos + amp]);
        pos = char_reference(raw, pos + amp, &mut decoded);
    }
    decoded.push_str(&raw[pos..]);
    let words: Vec<&str> = decoded.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" "))
}
