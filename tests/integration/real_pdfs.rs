//! Real PDFs that ordinary tools wrote and that the reader once refused or crashed on, read
//! through the CLI as a person would: Graphviz's guides (offsets that no longer match the
//! bytes, bitmap Type 3 fonts under a mirrored matrix), groff's penguin and CAM::PDF's JPEG
//! template (pictures without text), pypdf's issue-301 file (ToUnicode streams of the wrong
//! length) and its toy.pdf (the `'` and `"` text operators). `scripts/fetch-real-pdfs.sh` fetches them (scripts/test.sh runs it).
//!
//! The words expected are what pdftotext (poppler) reads from each file: its word count and
//! its most frequent words, counted once here, with sentences that cross line ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::temp_dir;

fn real_pdf(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/real-pdfs")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-real-pdfs.sh (scripts/test.sh does it)",
        path.display()
    );
    path
}

fn extract(path: &std::path::Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("extract")
        .arg(path)
        .env_remove("XGEN_DESK_LOG")
        .output()
        .expect("run xgen-desk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("$ xgen-desk extract {}\n{stderr}", path.display());
    // Nothing from the parsers reaches the terminal: no caught panic, no library log line.
    for noise in ["panicked", "lopdf", "pdf_extract", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(noise), "{noise} on stderr:\n{stderr}");
    }
    output
}

/// Runs of letters and digits, case-folded (as the PDF study and the OCR benchmark count).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How many of the expected occurrences the text has, as a fraction.
fn recall(expected: &[(&str, usize)], text: &str) -> f64 {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in words(text) {
        *counts.entry(word).or_default() += 1;
    }
    let total: usize = expected.iter().map(|(_, n)| n).sum();
    let found: usize = expected
        .iter()
        .map(|(w, n)| (*n).min(counts.get(*w).copied().unwrap_or(0)))
        .sum();
    found as f64 / total as f64
}

/// A document that reads: the text, its word count near pdftotext's, its most frequent words
/// there as often, and sentences whose words are spaced as printed.
fn reads(name: &str, reference_words: usize, frequent: &[(&str, usize)], sentences: &[&str]) {
    let output = extract(&real_pdf(name));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name}: {stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    let count = words(&text).len();
    let ratio = count as f64 / reference_words as f64;
    assert!(
        (0.95..=1.1).contains(&ratio),
        "{name}: {count} words, pdftotext reads {reference_words}"
    );
    let recall = recall(frequent, &text);
    assert!(
        recall >= 0.95,
        "{name}: recall {recall:.3} of the frequent words"
    );
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for sentence in sentences {
        assert!(
            flat.contains(sentence),
            "{name}: no {sentence:?} in\n{text}"
        );
    }
}

#[test]
fn graphviz_guides_with_a_damaged_table_and_bitmap_fonts_read_word_for_word() {
    reads(
        "dottyguide.pdf",
        8013,
        &[
            ("node", 158),
            ("graph", 155),
            ("dotty", 112),
            ("data", 97),
            ("edge", 68),
            ("actions", 66),
            ("view", 61),
            ("views", 56),
            ("function", 53),
            ("nodes", 49),
            ("ldbx", 41),
            ("currstate", 36),
            ("protovt", 34),
            ("protogt", 31),
        ],
        &[
            "dotty is a graph editor for the X Window System. It may be run as a standalone editor, or as a front end for applications that use graphs.",
            "Graph layouts are made by dot, which runs as a separate process that communicates with lefty through pipes.",
        ],
    );
    reads(
        "leftyguide.pdf",
        11292,
        &[
            ("function", 139),
            ("lefty", 73),
            ("canvas", 68),
            ("table", 68),
            ("string", 64),
            ("functions", 62),
            ("point", 60),
            ("picture", 50),
            ("program", 46),
            ("rect", 43),
            ("widget", 42),
            ("editor", 40),
        ],
        &[],
    );
    // The reader says the file was repaired, in the summary line.
    let output = extract(&real_pdf("dottyguide.pdf"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cross-reference table does not match the file"),
        "{stderr}"
    );
}

#[test]
fn a_scanners_text_layer_with_broken_to_unicode_streams_reads() {
    // pypdf's issue-301 file: a drawing on graph paper, scanned, with the scanner's OCR layer
    // of scattered letters; pdf-extract panicked on its fonts' ToUnicode entries.
    let output = extract(&real_pdf("issue-301.pdf"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for token in ["LIL", "1111101", "%Z..", "»"] {
        assert!(flat.contains(token), "no {token:?} in\n{text}");
    }
    // The layer is the page's text: nothing was read again by OCR.
    assert!(!stderr.contains("OCR"), "{stderr}");
}

#[test]
fn the_quote_text_operators_show_their_text() {
    // pypdf's toy.pdf: lines shown by `'` and `"`, which pdf-extract does not implement, in a
    // file whose cross-reference table is damaged too.
    let output = extract(&real_pdf("toy.pdf"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    for line in [
        "AWAY again1",
        "Something[cited]",
        "Single quote operator",
        "Double quote operator",
        "Last Txt",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}

#[test]
fn pictures_without_text_are_said_to_be_pictures_not_broken_files() {
    // groff's penguin (ImageMagick) and CAM::PDF's JPEG template, whose placeholder operators
    // panic pdf-extract: drawn, read by OCR, no text.
    for name in ["penguin.pdf", "crunchjpg_tmpl.pdf"] {
        let output = extract(&real_pdf(name));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: {stderr}");
        assert!(
            stderr.contains("has 1 page but no text layer, and OCR found no text on it"),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("damaged"), "{name}: {stderr}");
    }
}

#[test]
fn a_pdf_whose_line_ends_were_converted_is_read_with_a_warning() {
    // What happened to Graphviz's guides: every offset in the table is off once the line ends
    // grow from LF to CRLF.
    let pdf = crate::scans::text_pdf(
        612.0,
        792.0,
        12.0,
        &[vec![(
            72.0,
            72.0,
            &["The offsets of this file are wrong,", "yet it reads."][..],
        )]],
    );
    let mut converted = Vec::with_capacity(pdf.len() * 2);
    for &byte in &pdf {
        if byte == b'\n' {
            converted.push(b'\r');
        }
        converted.push(byte);
    }
    let dir = temp_dir();
    let path = dir.path().join("converted.pdf");
    std::fs::write(&path, &converted).unwrap();
    let output = extract(&path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("The offsets of this file are wrong,\nyet it reads."),
        "{text}"
    );
    assert!(
        stderr.contains("cross-reference table does not match the file"),
        "{stderr}"
    );
}
