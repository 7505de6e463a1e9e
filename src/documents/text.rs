//! Plain text: UTF-8, UTF-16 with a byte-order mark, or Latin-1; binary data refused.

use super::{Body, DocumentError, Limits};

/// Decodes document bytes: UTF-8, UTF-16 with a byte-order mark, or Latin-1 (as Windows-1252)
/// as a fallback.
///
/// Returns `None` when the bytes look binary (NUL bytes, or more than 5% control bytes).
#[must_use]
pub fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _, _) = encoding.decode(bytes);
        return Some(text.into_owned());
    }
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let control = sample
        .iter()
        .filter(|&&b| b < 0x09 || (0x0E..0x20).contains(&b))
        .count();
    if sample.contains(&0) || control * 100 > sample.len().max(1) * 5 {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_owned()),
        // Windows-1252 is Latin-1 with printable characters (curly quotes, dashes, the euro
        // sign) where Latin-1 has unused control codes: what "Latin-1" files hold in practice.
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Some(text.into_owned())
        }
    }
}

/// Decodes bytes as text or says the file is binary.
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<String, DocumentError> {
    decode_text(bytes).ok_or_else(|| DocumentError::Binary {
        name: name.to_owned(),
    })
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
