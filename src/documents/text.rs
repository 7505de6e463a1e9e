//! Plain text: UTF-8 (also with a few damaged bytes or cut mid-character), UTF-16 with or
//! without a byte-order mark, a declared encoding (HTML's `charset`), or the legacy encoding
//! Mozilla's detector guesses (Windows-1252, Windows-1251, Shift_JIS, GBK, …); binary data
//! refused.

use encoding_rs::Encoding;

use super::{Body, DocumentError, Limits};

/// How much of a file the encoding and binary checks look at.
const SAMPLE_BYTES: usize = 64 * 1024;
/// How much of a file the legacy-encoding detector reads (it needs far less to be sure).
const DETECTOR_BYTES: usize = 1 << 20;

/// Decodes document bytes: UTF-8, UTF-16 with a byte-order mark or (for text mostly in Latin
/// script) without one, or else the legacy encoding Mozilla's detector (`chardetng`, as in
/// Firefox) guesses: Windows-1252 for Western text, Windows-1251 for Russian, Shift_JIS, GBK,
/// and so on. UTF-8 with a few damaged bytes, or cut in the middle of a character, stays UTF-8
/// with U+FFFD where bytes were bad, instead of turning every accented letter of the file
/// into two Latin-1 ones.
///
/// Returns `None` when the bytes look binary (NUL bytes, or more than 5% control bytes).
///
/// Line ends come out as `\n` (Windows' `\r\n` and old Macs' `\r` are converted): a carriage
/// return is a token of its own for the model on every line, and says nothing.
#[must_use]
pub fn decode_text(bytes: &[u8]) -> Option<String> {
    decode_any(bytes, None).map(unix_newlines)
}

/// [`decode_text`] for a format that declares its encoding (an HTML page's `charset`): a
/// byte-order mark still comes first, then the declared encoding, then detection.
pub(crate) fn decode_declared(bytes: &[u8], declared: Option<&'static Encoding>) -> Option<String> {
    decode_any(bytes, declared).map(unix_newlines)
}

/// `text` with `\r\n` and lone `\r` line ends as `\n`.
pub(crate) fn unix_newlines(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    }
}

fn decode_any(bytes: &[u8], declared: Option<&'static Encoding>) -> Option<String> {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        let (text, _, _) = encoding.decode(bytes);
        return looks_like_text(&text).then(|| text.into_owned());
    }
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    if let Some(encoding) = utf16_without_bom(sample) {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return looks_like_text(&text).then(|| text.into_owned());
    }
    let control = sample.iter().filter(|&&b| is_control(b.into())).count();
    if sample.contains(&0) || control * 100 > sample.len().max(1) * 5 {
        return None;
    }
    // A declared single- or multi-byte encoding (a page that says UTF-16 without a byte-order
    // mark is not UTF-16: it was read as ASCII to find the declaration).
    if let Some(encoding) =
        declared.filter(|e| *e != encoding_rs::UTF_16LE && *e != encoding_rs::UTF_16BE)
    {
        if encoding != encoding_rs::UTF_8 {
            let (text, _) = encoding.decode_without_bom_handling(bytes);
            return Some(text.into_owned());
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_owned()),
        Err(_) if mostly_utf8(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Err(_) => {
            let (text, _) = legacy_encoding(bytes).decode_without_bom_handling(bytes);
            Some(text.into_owned())
        }
    }
}

/// The legacy encoding of bytes that are not UTF-8, as Mozilla's detector guesses it from the
/// first megabyte (Windows-1252, which is Latin-1 with curly quotes, dashes and the euro sign
/// where Latin-1 has unused control codes, for Western text).
pub(crate) fn legacy_encoding(bytes: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new();
    let head = &bytes[..bytes.len().min(DETECTOR_BYTES)];
    detector.feed(head, head.len() == bytes.len());
    detector.guess(None, false)
}

/// C0 control characters other than tab, line feed, vertical tab, form feed and carriage
/// return.
fn is_control(c: u32) -> bool {
    c < 0x09 || (0x0E..0x20).contains(&c)
}

/// UTF-16 without a byte-order mark (some Windows tools write it), recognised by its zero
/// bytes: text mostly in Latin script has a zero high byte in most code units, so the zeros
/// sit almost all at odd offsets (little-endian) or at even ones (big-endian). Text in other
/// scripts has no such pattern and is not recognised.
fn utf16_without_bom(sample: &[u8]) -> Option<&'static Encoding> {
    let units = sample.len() / 2;
    if units < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    // Most units zero on one side, almost none on the other.
    let one_sided = |zeros: usize, other: usize| zeros * 10 >= units * 6 && other * 50 <= units;
    if one_sided(odd, even) {
        Some(encoding_rs::UTF_16LE)
    } else if one_sided(even, odd) {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// Whether decoded text reads as text: no NUL, few control characters, few code units that
/// were not valid UTF-16 (arrays of 16-bit numbers have zero bytes in the same places).
fn looks_like_text(text: &str) -> bool {
    let mut chars = 0usize;
    let mut bad = 0usize;
    for c in text.chars().take(SAMPLE_BYTES) {
        if c == '\0' {
            return false;
        }
        chars += 1;
        bad += usize::from(is_control(c.into()) || c == char::REPLACEMENT_CHARACTER);
    }
    bad * 100 <= chars.max(1) * 5
}

/// Bytes that are UTF-8 apart from a few damaged sequences: at least 20 well-formed non-ASCII
/// characters for each bad sequence, or a single bad sequence that is a character cut off at
/// the end (a file truncated by a byte limit). Latin-1 text has almost no well-formed UTF-8
/// sequences, so it does not pass.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let mut non_ascii = 0usize;
    let mut bad = 0usize;
    let mut cut_at_end = false;
    for chunk in bytes.utf8_chunks() {
        non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            bad += 1;
            cut_at_end = std::str::from_utf8(chunk.invalid())
                .err()
                .is_some_and(|e| e.error_len().is_none());
        }
    }
    bad * 20 <= non_ascii || (bad == 1 && cut_at_end)
}

/// Decodes bytes as text or says the file is binary.
///
/// Files embedded as data URIs are shortened to their type (see [`shorten_data_uris`]).
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<String, DocumentError> {
    decode_text(bytes)
        .map(shorten_data_uris)
        .ok_or_else(|| DocumentError::Binary {
            name: name.to_owned(),
        })
}

/// Payloads shorter than this stay (a tiny icon costs little, and short strings that merely
/// look like base64 are left alone).
const DATA_URI_KEPT_BELOW: usize = 256;

/// Files embedded in text as data URIs (`![chart](data:image/png;base64,iVBORw0…)`, as Markdown
/// editors and notebook exports embed images) shortened to their type,
/// `data:image/png;base64,…`: a picture of 100 KB is 30,000 tokens of letters that say nothing
/// to the model and would crowd the document out of its context. Linear in the text.
pub(crate) fn shorten_data_uris(text: String) -> String {
    const MARKER: &str = ";base64,";
    if !text.contains("data:") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("data:") {
        let (before, after) = rest.split_at(at + "data:".len());
        out.push_str(before);
        rest = after;
        // A media type and its parameters (at most 100 bytes), then `;base64,`.
        let head = &after.as_bytes()[..after.len().min(100 + MARKER.len())];
        let Some(type_len) = head
            .windows(MARKER.len())
            .position(|w| w == MARKER.as_bytes())
            .filter(|&n| {
                head[..n]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"/+.-;=_".contains(b))
            })
        else {
            continue;
        };
        let payload_at = type_len + MARKER.len();
        let payload = after.as_bytes()[payload_at..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
            .count();
        if payload >= DATA_URI_KEPT_BELOW {
            out.push_str(&after[..payload_at]);
            out.push('…');
            rest = &after[payload_at + payload..];
        }
    }
    out.push_str(rest);
    out
}

/// A plain-text document: the decoded text as it is, without markers.
pub(crate) fn read(name: &str, bytes: &[u8]) -> Result<Body, DocumentError> {
    Ok(Body {
        text: decode(name, bytes)?,
        ..Body::default()
    })
}

/// Whether `text` holds more characters than the limit (bytes bound characters, so most
/// texts are answered without counting).
pub(crate) fn over_limit(text: &str, limits: &Limits) -> bool {
    text.len() > limits.max_text_chars && text.chars().count() > limits.max_text_chars
}
