//! The HTML tokenizer: one pass over the page that reports start tags (with the few
//! attributes that matter), end tags and runs of text, character references decoded, to a
//! [`Sink`]. Every byte is looked at a bounded number of times.

/// Elements whose content is not markup: it runs to the matching end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title",
];

/// The attributes that decide whether an element is read; the rest are not kept.
#[derive(Debug, Default)]
pub(super) struct Attributes {
    pub(super) hidden: bool,
    pub(super) aria_hidden: bool,
    pub(super) invisible_style: bool,
    pub(super) role_main: bool,
    /// A heading's permalink anchor (`¶`, `#` or an icon) that documentation generators add.
    pub(super) permalink: bool,
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
pub(super) trait Sink {
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
pub(super) fn tokenize(source: &str, sink: &mut dyn Sink) {
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
pub(super) fn tag(source: &str, start: usize) -> (String, Attributes, bool, Option<usize>) {
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
pub(super) fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
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
pub(super) fn char_reference(source: &str, pos: usize, out: &mut String) -> usize {
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
