//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` and by the regular test
//! that replays the saved corpus and crash inputs (`tests/integration/fuzz_replay.rs`), so both
//! run the same library entry points. Each body must never panic and never hang; results
//! (errors included) are checked for the invariants they promise.

use std::io::Write;

use super::xgen_desk::documents::{self, Document};
use super::xgen_desk::summarize::{chunk_text, SummarizeError};

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by name: what `scripts/fuzz.sh` runs and the replay test replays.
pub const TARGETS: &[(&str, Target)] = &[
    ("docx", docx),
    ("html", html),
    ("markdown", markdown),
    ("text", text),
    ("chunk", chunk),
];

/// Sections lie inside the text, in order, on character boundaries.
fn check(document: &Document) {
    let mut last = 0;
    for section in &document.sections {
        assert!(section.offset >= last, "sections in order");
        assert!(
            document.text.is_char_boundary(section.offset),
            "a section starts on a character boundary"
        );
        last = section.offset;
    }
    assert!(!document.text.trim().is_empty(), "a document has text");
}

fn read(name: &str, extension: &str, data: &[u8]) {
    if let Ok(document) = documents::from_bytes(name, Some(extension), data) {
        check(&document);
    }
}

/// A `.docx`: the first byte chooses whether the rest is the whole file (exercising the ZIP
/// reader) or only `word/document.xml`, stored in a ZIP made here (exercising the XML reader,
/// which random ZIP bytes rarely reach).
pub fn docx(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        read("fuzz.docx", "docx", rest);
        return;
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let built = zip
        .start_file("word/document.xml", options)
        .and_then(|()| zip.write_all(rest).map_err(zip::result::ZipError::from))
        .and_then(|()| zip.finish());
    if let Ok(cursor) = built {
        read("fuzz.docx", "docx", &cursor.into_inner());
    }
}

/// A web page.
pub fn html(data: &[u8]) {
    read("fuzz.html", "html", data);
}

/// A Markdown file.
pub fn markdown(data: &[u8]) {
    read("fuzz.md", "md", data);
}

/// Text decoding (UTF-8, UTF-16 with a byte-order mark, Windows-1252, binary refused).
pub fn text(data: &[u8]) {
    if let Some(decoded) = documents::decode_text(data) {
        assert!(
            decoded.len() <= data.len().saturating_mul(3) + 3,
            "decoding is bounded"
        );
    }
    read("fuzz.txt", "txt", data);
}

/// A cheap deterministic token counter shaped like a subword tokenizer: a run of letters or
/// digits costs a token per 4 bytes, any other visible character one token, a run of more
/// than one whitespace character one token. Joining two texts can merge tokens, as in BPE.
fn tokens(text: &str) -> usize {
    let mut count = 0;
    let mut word = 0usize;
    let mut spaces = 0usize;
    let end_word = |word: &mut usize, count: &mut usize| {
        *count += word.div_ceil(4);
        *word = 0;
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word += c.len_utf8();
            if spaces > 1 {
                count += 1;
            }
            spaces = 0;
            continue;
        }
        end_word(&mut word, &mut count);
        if c.is_whitespace() {
            spaces += 1;
        } else {
            if spaces > 1 {
                count += 1;
            }
            spaces = 0;
            count += 1;
        }
    }
    end_word(&mut word, &mut count);
    if spaces > 1 {
        count += 1;
    }
    count
}

/// The chunker: the first two bytes choose the budget and overlap, the rest is the text. The
/// chunks must cover the text exactly, in order, each within the budget.
pub fn chunk(data: &[u8]) {
    let [budget, overlap, rest @ ..] = data else {
        return;
    };
    let budget = 1 + usize::from(*budget) % 96;
    let overlap = usize::from(*overlap) % 32;
    let text = String::from_utf8_lossy(rest);
    let mut count = |t: &str| -> Result<usize, SummarizeError> { Ok(tokens(t)) };
    let chunks = chunk_text(&text, budget, overlap, &mut count)
        .unwrap_or_else(|e| panic!("every character fits a budget of {budget}: {e}"));
    let mut next = 0;
    for chunk in &chunks {
        assert_eq!(chunk.range.start, next, "chunks are contiguous");
        assert!(chunk.overlap_start <= chunk.range.start);
        assert_eq!(tokens(chunk.text(&text)), chunk.tokens, "exact counts");
        assert!(chunk.tokens <= budget, "within the budget");
        next = chunk.range.end;
    }
    assert_eq!(next, text.len(), "the chunks cover the text");
}
