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
//! [`MAX_DEPTH`], and reading stops once the text passes the character limit. The price is a
//! simplified tree: an end tag closes up to the nearest open element of its name, and only
//! the common implied closes are done (`<p>`, `<li>`, `<td>`, `<tr>`, `<dt>`/`<dd>` when they
//! are the innermost open element); for pulling text out of a page that is enough.
//!
//! Longer than 600 lines: a streaming tokenizer and the main-text rules it feeds; they are
//! written for each other (linear time on any input), and most of the length is the tables of
//! elements and entities.

use std::collections::HashMap;

use super::{text, Body, DocumentError, Limits, SectionKind, Sep, TextBuilder};

/// Largest page read: 32 MiB of HTML. The biggest real pages (a whole standard on one page)
/// are about 15 MB; more is a generated or hostile file, refused before it is decoded.
pub(crate) const MAX_HTML_BYTES: u64 = 32 * 1024 * 1024;

/// Deeper than this, elements are read as plain text: their tags neither open nor close
/// anything. Browsers stop nesting at about 512; real pages stay far below 256.
pub(crate) const MAX_DEPTH: usize = 256;

/// Never text: code, styling, navigation and embedded media.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "aside", "svg", "math", "iframe", "object",
    "embed", "canvas", "button", "select", "datalist", "dialog", "form", "input", "textarea",
    "video", "audio", "map", "title", "noembed", "noframes",
];

/// Elements whose content is not markup: it runs to the matching end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title",
];

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Blocks separated by a blank line.
const PARAGRAPHS: &[&str] = &[
    "p",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "figure",
    "hr",
    "address",
    "details",
    "fieldset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// Blocks separated by a line break.
const LINES: &[&str] = &[
    "div",
    "section",
    "article",
    "main",
    "li",
    "tr",
    "dt",
    "dd",
    "br",
    "figcaption",
    "summary",
    "caption",
    "center",
    "header",
    "footer",
    "body",
];

/// Start tags that close an open `<p>` that is the innermost element.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
    "li",
    "dd",
    "dt",
    "center",
    "dir",
    "hgroup",
    "listing",
    "menu",
    "search",
    "summary",
];

/// The encoding a page declares in its first kilobyte (`<meta charset="shift_jis">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">`), as a
/// browser's pre-scan finds it.
fn declared_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = bytes[..bytes.len().min(1024)].to_ascii_lowercase();
    let mut from = 0;
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
        if let Some(encoding) = encoding_rs::Encoding::for_label(&label) {
            return Some(encoding);
        }
    }
    None
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
    // The tokenizer sees only `\n` line ends, as an HTML parser's input stream does.
    let source = text::decode_declared(bytes, declared_charset(bytes)).ok_or_else(|| {
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
    let source = text::decode_declared(bytes, declared_charset(bytes))?;
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

/// The attributes that decide whether an element is read; the rest are not kept.
#[derive(Debug, Default)]
struct Attributes {
    hidden: bool,
    aria_hidden: bool,
    invisible_style: bool,
    role_main: bool,
    /// A heading's permalink anchor (`¶`, `#` or an icon) that documentation generators add.
    permalink: bool,
}

/// Classes documentation generators give a heading's permalink anchor: Sphinx, markdown-it /
/// VuePress, Docusaurus, AnchorJS.
const PERMALINK_CLASSES: &[&str] = &["headerlink", "header-anchor", "hash-link", "anchorjs-link"];

impl Attributes {
    fn set(&mut self, seen: &mut u8, name: &str, value: &str) {
        // The first of duplicate attributes counts, as in HTML.
        let bit = match name {
            "hidden" => 1,
            "aria-hidden" => 2,
            "style" => 4,
            "role" => 8,
            "class" => 16,
            _ => return,
        };
        if *seen & bit != 0 {
            return;
        }
        *seen |= bit;
        match bit {
            1 => self.hidden = true,
            2 => self.aria_hidden = value == "true",
            4 => {
                let style: String = value
                    .chars()
                    .filter(|c| *c != ' ')
                    .flat_map(char::to_lowercase)
                    .collect();
                self.invisible_style =
                    style.contains("display:none") || style.contains("visibility:hidden");
            }
            8 => self.role_main = value == "main",
            _ => {
                self.permalink = value
                    .split_ascii_whitespace()
                    .any(|class| PERMALINK_CLASSES.contains(&class));
            }
        }
    }
}

/// What the tokenizer reports.
trait Sink {
    /// A start tag (name lower-cased).
    fn start(&mut self, name: &str, attributes: &Attributes, self_closing: bool);
    /// An end tag (name lower-cased).
    fn end(&mut self, name: &str);
    /// A run of text between tags, character references decoded.
    fn text(&mut self, text: &str);
    /// Whether the sink has what it needs: tokenizing stops.
    fn done(&self) -> bool;
}

/// Calls `sink` for each token of `source`, in one pass: every byte is examined a bounded
/// number of times.
fn tokenize(source: &str, sink: &mut dyn Sink) {
    let bytes = source.as_bytes();
    let mut pos = 0;
    let mut run = String::new();
    while pos < bytes.len() && !sink.done() {
        let Some(offset) = bytes[pos..].iter().position(|&b| b == b'<' || b == b'&') else {
            run.push_str(&source[pos..]);
            break;
        };
        run.push_str(&source[pos..pos + offset]);
        pos += offset;
        if bytes[pos] == b'&' {
            pos = char_reference(source, pos, &mut run);
            continue;
        }
        match markup(source, pos) {
            Markup::Text => {
                run.push('<');
                pos += 1;
            }
            Markup::Skip(next) => pos = next,
            Markup::Eof => {
                pos = bytes.len();
            }
            Markup::Start {
                name,
                attributes,
                self_closing,
                next,
            } => {
                flush_text(&mut run, sink);
                sink.start(&name, &attributes, self_closing);
                pos = next;
                if name == "plaintext" {
                    run.push_str(&source[pos..]);
                    pos = bytes.len();
                } else if RAW_TEXT.contains(&name.as_str()) {
                    let end = raw_text_end(bytes, pos, &name);
                    if name == "xmp" {
                        run.push_str(&source[pos..end]);
                    }
                    pos = end;
                }
            }
            Markup::End { name, next } => {
                flush_text(&mut run, sink);
                sink.end(&name);
                pos = next;
            }
        }
    }
    if !sink.done() {
        flush_text(&mut run, sink);
    }
}

fn flush_text(run: &mut String, sink: &mut dyn Sink) {
    if !run.is_empty() {
        sink.text(run);
        run.clear();
    }
}

enum Markup {
    /// A `<` that starts nothing: it is text.
    Text,
    /// A comment, doctype or processing instruction; reading goes on at the offset.
    Skip(usize),
    /// The input ends inside a tag: the tag is dropped.
    Eof,
    Start {
        name: String,
        attributes: Attributes,
        self_closing: bool,
        next: usize,
    },
    End {
        name: String,
        next: usize,
    },
}

/// The markup starting at the `<` at `pos`.
fn markup(source: &str, pos: usize) -> Markup {
    let bytes = source.as_bytes();
    let after = pos + 1;
    match bytes.get(after) {
        Some(b) if b.is_ascii_alphabetic() => {
            let (name, attributes, self_closing, next) = tag(source, after);
            match next {
                Some(next) => Markup::Start {
                    name,
                    attributes,
                    self_closing,
                    next,
                },
                None => Markup::Eof,
            }
        }
        Some(b'/') => match bytes.get(after + 1) {
            Some(b) if b.is_ascii_alphabetic() => {
                let (name, _, _, next) = tag(source, after + 1);
                match next {
                    Some(next) => Markup::End { name, next },
                    None => Markup::Eof,
                }
            }
            Some(b'>') => Markup::Skip(after + 2),
            Some(_) => Markup::Skip(skip_past(bytes, after, b">")),
            None => Markup::Text,
        },
        Some(b'!') => {
            if bytes[after..].starts_with(b"!--") {
                let body = after + 3;
                // `<!-->` and `<!--->` are (empty) comments too.
                if bytes[body..].starts_with(b">") {
                    return Markup::Skip(body + 1);
                }
                if bytes[body..].starts_with(b"->") {
                    return Markup::Skip(body + 2);
                }
                Markup::Skip(skip_past(bytes, body, b"-->"))
            } else {
                Markup::Skip(skip_past(bytes, after, b">"))
            }
        }
        Some(b'?') => Markup::Skip(skip_past(bytes, after, b">")),
        _ => Markup::Text,
    }
}

/// The offset just past the first `needle` at or after `from`, or the end of the input.
fn skip_past(bytes: &[u8], from: usize, needle: &[u8]) -> usize {
    bytes[from.min(bytes.len())..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map_or(bytes.len(), |i| from + i + needle.len())
}

/// Reads a tag whose name starts at `start`: its lower-cased name, the attributes that
/// matter, whether it ends with `/>`, and the offset past its `>` (`None` at end of input).
fn tag(source: &str, start: usize) -> (String, Attributes, bool, Option<usize>) {
    let bytes = source.as_bytes();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r');
    let mut pos = start;
    while pos < bytes.len() && !is_space(bytes[pos]) && bytes[pos] != b'/' && bytes[pos] != b'>' {
        pos += 1;
    }
    let name = source[start..pos].to_ascii_lowercase();
    let mut attributes = Attributes::default();
    let mut seen = 0u8;
    let mut self_closing = false;
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        let Some(&b) = bytes.get(pos) else {
            return (name, attributes, self_closing, None);
        };
        if b == b'>' {
            return (name, attributes, self_closing, Some(pos + 1));
        }
        if b == b'/' {
            pos += 1;
            self_closing = bytes.get(pos) == Some(&b'>');
            continue;
        }
        self_closing = false;
        // An attribute name runs to a space, `/`, `>` or `=` (a first `=` belongs to it).
        let name_start = pos;
        pos += 1;
        while pos < bytes.len()
            && !is_space(bytes[pos])
            && !matches!(bytes[pos], b'/' | b'>' | b'=')
        {
            pos += 1;
        }
        let attribute = source[name_start..pos].to_ascii_lowercase();
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        let mut value = "";
        if bytes.get(pos) == Some(&b'=') {
            pos += 1;
            while pos < bytes.len() && is_space(bytes[pos]) {
                pos += 1;
            }
            match bytes.get(pos) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let value_start = pos + 1;
                    let Some(len) = bytes[value_start..].iter().position(|&c| c == quote) else {
                        return (name, attributes, self_closing, None);
                    };
                    value = &source[value_start..value_start + len];
                    pos = value_start + len + 1;
                }
                Some(_) => {
                    let value_start = pos;
                    while pos < bytes.len() && !is_space(bytes[pos]) && bytes[pos] != b'>' {
                        pos += 1;
                    }
                    value = &source[value_start..pos];
                }
                None => return (name, attributes, self_closing, None),
            }
        }
        attributes.set(&mut seen, &attribute, value);
    }
}

/// The offset of the end tag that closes raw text of element `name` started at `from` (the
/// `<` of `</name`), or the end of the input.
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut pos = from;
    while let Some(i) = bytes[pos..].windows(2).position(|w| w == b"</") {
        let at = pos + i;
        let name_start = at + 2;
        let name_end = name_start + name.len();
        if bytes.len() >= name_end
            && bytes[name_start..name_end].eq_ignore_ascii_case(name.as_bytes())
            && bytes
                .get(name_end)
                .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r' | b'/' | b'>'))
        {
            return at;
        }
        pos = at + 2;
    }
    bytes.len()
}

/// Decodes the character reference at `pos` (an `&`) onto `out`; returns where text goes on.
/// Names are looked up in the HTML standard's table, longest match first.
fn char_reference(source: &str, pos: usize, out: &mut String) -> usize {
    /// The longest entity name, `CounterClockwiseContourIntegral;`, has 32 characters.
    const LONGEST_NAME: usize = 32;
    let bytes = source.as_bytes();
    let after = pos + 1;
    if bytes.get(after) == Some(&b'#') {
        let (hex, digits_start) = match bytes.get(after + 1) {
            Some(b'x' | b'X') => (true, after + 2),
            _ => (false, after + 1),
        };
        let mut end = digits_start;
        let mut value: u32 = 0;
        while let Some(&b) = bytes.get(end) {
            let digit = if hex {
                (b as char).to_digit(16)
            } else {
                (b as char).to_digit(10)
            };
            let Some(digit) = digit else { break };
            value = value
                .saturating_mul(if hex { 16 } else { 10 })
                .saturating_add(digit);
            end += 1;
        }
        if end == digits_start {
            out.push('&');
            return after;
        }
        if bytes.get(end) == Some(&b';') {
            end += 1;
        }
        out.push(numeric_char(value));
        return end;
    }
    let name_len = bytes[after..]
        .iter()
        .take(LONGEST_NAME)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    for len in (1..=name_len).rev() {
        let with_semicolon = bytes.get(after + len) == Some(&b';');
        let key = if with_semicolon {
            &source[after..=after + len]
        } else {
            &source[after..after + len]
        };
        if let Some(&(first, second)) = web_atoms::NAMED_ENTITIES.get(key) {
            if first != 0 {
                out.extend(char::from_u32(first));
                if second != 0 {
                    out.extend(char::from_u32(second));
                }
                return after + key.len();
            }
        }
    }
    out.push('&');
    after
}

/// The character a numeric reference names, as HTML maps it.
fn numeric_char(value: u32) -> char {
    match value {
        0 | 0xD800..=0xDFFF | 0x11_0000.. => char::REPLACEMENT_CHARACTER,
        // Windows-1252's printable characters where Latin-1 has control codes.
        0x80..=0x9F => {
            let byte = [u8::try_from(value).unwrap_or(b'?')];
            let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
            decoded
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        }
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// First pass: is there a `<main>` (or `role="main"`), and how many `<article>`s?
#[derive(Default)]
struct RegionFinder {
    main: bool,
    articles: usize,
}

impl Sink for RegionFinder {
    fn start(&mut self, name: &str, attributes: &Attributes, _: bool) {
        if name == "main" || attributes.role_main {
            self.main = true;
        } else if name == "article" {
            self.articles += 1;
        }
    }
    fn end(&mut self, _: &str) {}
    fn text(&mut self, _: &str) {}
    fn done(&self) -> bool {
        self.main
    }
}

/// Which part of the page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// The first `<main>` or `role="main"` element.
    Main,
    /// The only `<article>`.
    Article,
    /// The whole body, without page headers and footers.
    Body,
}

/// How far reading of the region has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Before,
    Inside,
    After,
}

/// An open element.
struct Open {
    name: String,
    /// Its content is left out (it, or an element around it, is skipped).
    skipped: bool,
    /// It is the region read; closing it ends reading.
    region: bool,
}

struct PageReader {
    out: TextBuilder,
    region: Region,
    progress: Progress,
    /// Page headers and footers are kept inside `<main>`/`<article>`, dropped around it.
    chrome_allowed: bool,
    stack: Vec<Open>,
    /// Open elements by name, so an end tag finds its element without scanning the stack.
    open_by_name: HashMap<String, usize>,
    /// Open skipped elements.
    skipping: usize,
    /// The block being collected, whitespace already collapsed.
    line: String,
    /// Inside `<pre>`: whitespace is kept.
    pre: usize,
    /// At the start of a table row (no ` | ` before the first cell).
    row_start: bool,
    /// A list item started: its first text gets a `- `.
    bullet: bool,
    /// Characters gathered so far (in `line` and the output).
    chars: usize,
    max_chars: usize,
    /// Self-closing tags open nothing (XHTML).
    xhtml: bool,
}

impl PageReader {
    fn new(region: Region, max_chars: usize) -> Self {
        Self {
            out: TextBuilder::with_limit(max_chars),
            region,
            progress: if region == Region::Body {
                Progress::Inside
            } else {
                Progress::Before
            },
            chrome_allowed: region != Region::Body,
            stack: Vec::new(),
            open_by_name: HashMap::new(),
            skipping: 0,
            line: String::new(),
            pre: 0,
            row_start: false,
            bullet: false,
            chars: 0,
            max_chars,
            xhtml: false,
        }
    }

    fn reading(&self) -> bool {
        self.progress == Progress::Inside && self.skipping == 0
    }

    fn finish(mut self) -> Body {
        while !self.stack.is_empty() {
            self.pop();
        }
        self.flush();
        let mut body = self.out.finish();
        if self.chars > self.max_chars {
            body.overflow = true;
            body.chars = body.chars.max(self.chars);
        }
        body
    }

    /// Ends the block being collected.
    fn flush(&mut self) {
        let line = std::mem::take(&mut self.line);
        if self.pre > 0 {
            self.out.verbatim(&line, Sep::None);
        } else {
            self.out.block(&line, Sep::None);
        }
        // Reuse the allocation.
        self.line = line;
        self.line.clear();
    }

    /// Ends the block being collected and asks for `sep` before the next one.
    fn boundary(&mut self, sep: Sep) {
        self.flush();
        self.out.separate(sep);
    }

    fn push_line(&mut self, text: &str) {
        self.chars = self.chars.saturating_add(text.chars().count());
        self.line.push_str(text);
    }

    fn is_skipped(&self, name: &str, attributes: &Attributes) -> bool {
        SKIPPED.contains(&name)
            || (!self.chrome_allowed && matches!(name, "header" | "footer"))
            || attributes.hidden
            || attributes.aria_hidden
            || attributes.invisible_style
            || (name == "a" && attributes.permalink)
    }

    /// Opens an element.
    fn push(&mut self, name: &str, skipped: bool, region: bool) {
        match self.open_by_name.get_mut(name) {
            Some(count) => *count += 1,
            None => {
                self.open_by_name.insert(name.to_owned(), 1);
            }
        }
        self.stack.push(Open {
            name: name.to_owned(),
            skipped,
            region,
        });
    }

    /// Closes the innermost element, with its end actions.
    fn pop(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        if let Some(count) = self.open_by_name.get_mut(&open.name) {
            *count = count.saturating_sub(1);
        }
        if open.skipped {
            self.skipping = self.skipping.saturating_sub(1);
        } else if self.progress == Progress::Inside && self.skipping == 0 {
            self.end_actions(&open.name);
        }
        if open.region {
            self.flush();
            self.progress = Progress::After;
        }
    }

    fn start_actions(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.boundary(Sep::Paragraph),
            "br" => {
                if self.pre > 0 {
                    self.push_line("\n");
                } else {
                    self.boundary(Sep::Line);
                }
            }
            "pre" => {
                self.boundary(Sep::Paragraph);
                self.pre += 1;
            }
            "li" => {
                self.boundary(Sep::Line);
                self.bullet = true;
            }
            "tr" => {
                self.boundary(Sep::Line);
                self.row_start = true;
            }
            "td" | "th" => {
                if !self.row_start {
                    let trimmed = self.line.trim_end().len();
                    self.line.truncate(trimmed);
                    self.push_line(" | ");
                }
                self.row_start = false;
            }
            _ if PARAGRAPHS.contains(&name) => self.boundary(Sep::Paragraph),
            _ if LINES.contains(&name) => self.boundary(Sep::Line),
            _ => {}
        }
    }

    fn end_actions(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let heading = self.line.trim().to_owned();
                if !heading.is_empty() {
                    self.out.mark(SectionKind::Heading, heading);
                }
                self.boundary(Sep::Paragraph);
            }
            "pre" => {
                self.boundary(Sep::Paragraph);
                self.pre = self.pre.saturating_sub(1);
            }
            "li" => {
                self.bullet = false;
                self.boundary(Sep::Line);
            }
            "tr" => self.boundary(Sep::Line),
            _ if PARAGRAPHS.contains(&name) => self.boundary(Sep::Paragraph),
            _ if LINES.contains(&name) => self.boundary(Sep::Line),
            _ => {}
        }
    }

    /// Closes the innermost element when `name` starting implies its end.
    fn implied_end(&mut self, name: &str) {
        let Some(top) = self.stack.last() else {
            return;
        };
        let closes = match top.name.as_str() {
            "p" => CLOSES_P.contains(&name),
            "li" => name == "li",
            "dt" | "dd" => matches!(name, "dt" | "dd"),
            "td" | "th" => matches!(name, "td" | "th" | "tr"),
            "tr" => name == "tr",
            _ => false,
        };
        if closes {
            self.pop();
            if name == "tr" && self.stack.last().is_some_and(|t| t.name == "tr") {
                self.pop();
            }
        }
    }
}

impl Sink for PageReader {
    fn start(&mut self, name: &str, attributes: &Attributes, self_closing: bool) {
        if self.progress == Progress::After {
            return;
        }
        self.implied_end(name);
        let void = VOID.contains(&name)
            || (self_closing && (self.xhtml || matches!(name, "svg" | "math")));
        if self.progress == Progress::Before {
            let is_region = match self.region {
                Region::Main => name == "main" || attributes.role_main,
                Region::Article => name == "article",
                Region::Body => false,
            };
            if !is_region {
                // Outside the region only the structure is followed.
                if !void && self.stack.len() < MAX_DEPTH {
                    self.push(name, false, false);
                }
                return;
            }
            self.progress = Progress::Inside;
            if void {
                self.progress = Progress::After;
                return;
            }
            self.push(name, false, true);
            return;
        }
        let skipped = self.skipping == 0 && self.is_skipped(name, attributes);
        if self.skipping == 0 && !skipped {
            self.start_actions(name);
        }
        if void || self.stack.len() >= MAX_DEPTH {
            return;
        }
        if skipped {
            self.skipping += 1;
        }
        self.push(name, skipped, false);
    }

    fn end(&mut self, name: &str) {
        if self.open_by_name.get(name).copied().unwrap_or(0) == 0 {
            return;
        }
        while let Some(top) = self.stack.last() {
            let matched = top.name == name;
            self.pop();
            if matched {
                break;
            }
        }
    }

    fn text(&mut self, text: &str) {
        if !self.reading() {
            return;
        }
        if self.bullet && self.line.is_empty() && !text.trim().is_empty() {
            self.push_line("- ");
            self.bullet = false;
        }
        if self.pre > 0 {
            self.push_line(text);
            return;
        }
        let starts_space = text.starts_with(char::is_whitespace);
        let ends_space = text.ends_with(char::is_whitespace);
        let mut words = text.split_whitespace();
        let Some(first) = words.next() else {
            if !text.is_empty() && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
                self.push_line(" ");
            }
            return;
        };
        if starts_space && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
            self.push_line(" ");
        }
        self.push_line(first);
        for word in words {
            self.push_line(" ");
            self.push_line(word);
        }
        if ends_space {
            self.push_line(" ");
        }
    }

    fn done(&self) -> bool {
        self.progress == Progress::After || self.chars > self.max_chars || self.out.is_full()
    }
}
