//! EPUB: a ZIP whose `META-INF/container.xml` names the package (OPF) file; the package's
//! `<manifest>` lists the content documents and its `<spine>` their reading order. Each spine
//! item is read in order with the HTML reader (scripts, styles, navigation and hidden elements
//! left out) and starts with a heading marker: its first heading, else its `<title>`, else
//! `chapter N`. Items marked `linear="no"` (pop-up notes, answers) and the navigation document
//! are not read.
//!
//! Bounded on hostile books: small parts are read to fixed caps, each chapter to the HTML
//! reader's size cap and all of them together to [`MAX_CONTENT_BYTES`], whatever the archive
//! claims; at most [`MAX_SPINE_ITEMS`] items; every path is resolved inside the archive (a
//! path that climbs out of it or is absolute is refused); and reading stops as soon as the
//! text passes the character limit.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::html::{self, MAX_HTML_BYTES};
use super::office::attribute;
use super::{Body, DocumentError, Limits, SectionKind, TextBuilder};

/// Most items of the spine read: a long novel has a hundred, a big reference a thousand.
pub(crate) const MAX_SPINE_ITEMS: usize = 2_000;

/// Most bytes of chapters unpacked in all. A 4-million-character book is under 100 MB of
/// XHTML; more is a ZIP bomb, refused before it fills memory.
pub(crate) const MAX_CONTENT_BYTES: u64 = 256 * 1024 * 1024;

/// Most bytes of `container.xml` and `encryption.xml`: a few kilobytes in practice.
const MAX_META_BYTES: u64 = 4 * 1024 * 1024;

/// Most bytes of the package file: a book of thousands of items has a few hundred kilobytes.
const MAX_PACKAGE_BYTES: u64 = 16 * 1024 * 1024;

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// An EPUB book.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenEpub {
        name: name.to_owned(),
        reason,
    };
    let mut archive =
        Archive::new(Cursor::new(bytes)).map_err(|e| broken(format!("not a ZIP archive: {e}")))?;
    let package_path = package_path(&mut archive).map_err(broken)?;
    let spine = spine(&mut archive, &package_path).map_err(broken)?;
    let encrypted = encrypted_paths(&mut archive).map_err(broken)?;
    if spine.iter().any(|item| encrypted.contains(&item.path)) {
        return Err(DocumentError::ProtectedEpub {
            name: name.to_owned(),
        });
    }
    let mut out = TextBuilder::with_limit(limits.max_text_chars);
    let mut unpacked: u64 = 0;
    for (index, item) in spine.iter().enumerate() {
        if out.is_full() {
            break;
        }
        if !item.readable {
            out.warn(format!(
                "{} is not an XHTML document ({}): left out",
                item.path, item.media_type
            ));
            continue;
        }
        let cap = MAX_HTML_BYTES.min(MAX_CONTENT_BYTES - unpacked);
        let content = match read_part(&mut archive, &item.path, cap) {
            Ok(content) => content,
            Err(PartError::Missing) => {
                out.warn(format!("{} is missing from the book: left out", item.path));
                continue;
            }
            Err(PartError::TooLarge) => {
                return Err(broken(format!(
                    "its chapters unpack to more than {} MiB (or one to more than {} MiB), far more than any real book: the file is damaged or built to exhaust memory",
                    MAX_CONTENT_BYTES >> 20,
                    MAX_HTML_BYTES >> 20
                )))
            }
            Err(PartError::Unreadable(e)) => {
                return Err(broken(format!("{} cannot be unpacked: {e}", item.path)))
            }
        };
        unpacked += content.len() as u64;
        let left = out.max_chars().saturating_sub(out.chars());
        let Some(chapter) = html::read_xhtml(&content, left) else {
            out.warn(format!("{} is not text: left out", item.path));
            continue;
        };
        let mut body = chapter.body;
        let start = chapter_start(&mut body, chapter.title, index + 1);
        out.append(body, start);
    }
    Ok(out.finish())
}

/// The marker that starts a chapter: `None` when the chapter begins with its first heading
/// (already a marker); else the first heading's label (its own later marker dropped, so a
/// chapter is named once), its title, or `chapter N`.
fn chapter_start(
    body: &mut Body,
    title: Option<String>,
    number: usize,
) -> Option<(SectionKind, String)> {
    match body.sections.first() {
        Some(first) if first.offset == 0 => None,
        Some(_) => {
            let first = body.sections.remove(0);
            Some((SectionKind::Heading, first.label))
        }
        None => Some((
            SectionKind::Heading,
            title.unwrap_or_else(|| format!("chapter {number}")),
        )),
    }
}

enum PartError {
    Missing,
    TooLarge,
    Unreadable(std::io::Error),
}

/// A file of the archive, refused past `cap` bytes (counted as they come out).
fn read_part(archive: &mut Archive<'_>, path: &str, cap: u64) -> Result<Vec<u8>, PartError> {
    let part = archive.by_name(path).map_err(|_| PartError::Missing)?;
    let mut bytes = Vec::new();
    part.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(PartError::Unreadable)?;
    if bytes.len() as u64 > cap {
        return Err(PartError::TooLarge);
    }
    Ok(bytes)
}

/// A small XML part, with a reason that names it when it cannot be had.
fn read_xml_part(archive: &mut Archive<'_>, path: &str, cap: u64) -> Result<Vec<u8>, String> {
    read_part(archive, path, cap).map_err(|e| part_reason(path, cap, e))
}

fn part_reason(path: &str, cap: u64, error: PartError) -> String {
    match error {
        PartError::Missing => format!("it has no {path}"),
        PartError::TooLarge => format!(
            "its {path} is larger than {} MiB, which no real book has",
            cap >> 20
        ),
        PartError::Unreadable(e) => format!("{path} cannot be unpacked: {e}"),
    }
}

/// The path of the package file, from the first `<rootfile>` of `META-INF/container.xml`.
fn package_path(archive: &mut Archive<'_>) -> Result<String, String> {
    const CONTAINER: &str = "META-INF/container.xml";
    let xml = read_xml_part(archive, CONTAINER, MAX_META_BYTES)?;
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"rootfile" => {
                if let Some(path) = attribute(&e, b"full-path") {
                    return resolve("", &path)
                        .map_err(|why| format!("{CONTAINER} names its package as {why}"));
                }
            }
            Ok(Event::Eof) => return Err(format!("{CONTAINER} names no package file")),
            Err(e) => return Err(format!("{CONTAINER} is not well-formed XML: {e}")),
            Ok(_) => {}
        }
        buf.clear();
    }
}

/// A spine item to read.
struct SpineItem {
    /// Its path in the archive.
    path: String,
    media_type: String,
    /// An (X)HTML content document.
    readable: bool,
}

/// The items of the package's spine in reading order, without `linear="no"` items and the
/// navigation document.
fn spine(archive: &mut Archive<'_>, package: &str) -> Result<Vec<SpineItem>, String> {
    let xml = read_xml_part(archive, package, MAX_PACKAGE_BYTES)?;
    let base = package.rsplit_once('/').map_or("", |(dir, _)| dir);
    // id -> (href, media type, is the navigation document)
    let mut manifest: HashMap<String, (String, String, bool)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut items = 0usize;
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                b"item" => {
                    if let (Some(id), Some(href)) = (attribute(&e, b"id"), attribute(&e, b"href")) {
                        let media_type = attribute(&e, b"media-type").unwrap_or_default();
                        let nav = attribute(&e, b"properties")
                            .is_some_and(|p| p.split_ascii_whitespace().any(|p| p == "nav"));
                        manifest.insert(id, (href, media_type, nav));
                    }
                }
                b"itemref" => {
                    items += 1;
                    if items > MAX_SPINE_ITEMS {
                        return Err(format!(
                            "its spine lists more than {MAX_SPINE_ITEMS} documents, far more than any real book"
                        ));
                    }
                    let linear = attribute(&e, b"linear").is_none_or(|l| l.trim() != "no");
                    if let Some(idref) = attribute(&e, b"idref").filter(|_| linear) {
                        order.push(idref);
                    }
                }
                _ => {}
            },
            Ok(Event::Eof) => break,
            Err(e) => {
                return Err(format!(
                    "{package} is not well-formed XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
            Ok(_) => {}
        }
        buf.clear();
    }
    if items == 0 {
        return Err(format!(
            "{package} has no spine: it does not say what to read"
        ));
    }
    let mut spine = Vec::new();
    for idref in order {
        let Some((href, media_type, nav)) = manifest.get(&idref) else {
            continue;
        };
        if *nav {
            continue;
        }
        let path = resolve(base, href).map_err(|why| format!("{package} lists {why}"))?;
        let readable = matches!(
            media_type.as_str(),
            "application/xhtml+xml" | "text/html" | ""
        );
        spine.push(SpineItem {
            path,
            media_type: media_type.clone(),
            readable,
        });
    }
    Ok(spine)
}

/// The archive paths that `META-INF/encryption.xml` lists as encrypted (fonts are often
/// obfuscated in books without DRM; only encrypted chapters make a book unreadable).
fn encrypted_paths(archive: &mut Archive<'_>) -> Result<HashSet<String>, String> {
    const ENCRYPTION: &str = "META-INF/encryption.xml";
    let xml = match read_part(archive, ENCRYPTION, MAX_META_BYTES) {
        Ok(xml) => xml,
        Err(PartError::Missing) => return Ok(HashSet::new()),
        Err(e) => return Err(part_reason(ENCRYPTION, MAX_META_BYTES, e)),
    };
    let mut paths = HashSet::new();
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e))
                if e.local_name().as_ref() == b"CipherReference" =>
            {
                if let Some(Ok(path)) = attribute(&e, b"URI").map(|uri| resolve("", &uri)) {
                    paths.insert(path);
                }
            }
            Ok(Event::Eof) => return Ok(paths),
            Err(e) => return Err(format!("{ENCRYPTION} is not well-formed XML: {e}")),
            Ok(_) => {}
        }
        buf.clear();
    }
}

/// The archive path of `href` (a relative URL: percent-encoded, maybe with a `#fragment`)
/// relative to folder `base`; refused when it is absolute, names another scheme, or climbs
/// out of the archive with `..`.
fn resolve(base: &str, href: &str) -> Result<String, String> {
    let href = href.split('#').next().unwrap_or_default();
    let decoded = percent_decode(href);
    let refuse = |what: &str| Err(format!("the path \"{decoded}\", {what}"));
    if decoded.starts_with('/') || decoded.contains('\\') {
        return refuse("which is absolute: paths in a book are relative to it");
    }
    if decoded
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        return refuse("which is outside the book");
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return refuse("which climbs out of the book");
                }
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return refuse("which names no file");
    }
    Ok(parts.join("/"))
}

/// `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
