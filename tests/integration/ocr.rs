//! OCR with the built-in models: scanned PDFs, image files and the image pages of mixed PDFs
//! are read; turned and skewed pages are straightened; columns are read in order; progress is
//! reported page by page through the child process; the CLI extracts and summarizes scans.
//! The scans are made here ([`crate::scans`]), so the words on them are known.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use xgen_desk::documents::{self, DocumentError, Format, ReadProgress, SectionKind};
use xgen_desk::isolate::Isolation;
use xgen_desk::ocr::{Gray, Ocr};

use crate::common::{smollm2, temp_dir};
use crate::scans::{letter_scan, png, recall, render, scan_pdf, text_pdf, tiff, ScanPage, LETTER};

fn ocr() -> &'static Ocr {
    Ocr::shared().expect("the OCR models are built in (scripts/fetch-ocr-models.sh)")
}

fn read(image: &Gray) -> (String, xgen_desk::ocr::PageText) {
    let page = ocr().read(image).expect("OCR runs");
    (page.paragraphs.join("\n\n"), page)
}

fn xgen_desk(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(args)
        .env_remove("XGEN_DESK_LOG")
        .output()
        .expect("run xgen-desk");
    println!(
        "$ xgen-desk {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn a_clean_scan_is_read_word_for_word() {
    let (text, page) = read(&letter_scan(200.0));
    let expected = LETTER.join("\n");
    assert!(recall(&expected, &text) >= 0.97, "{text}");
    assert!(page.confidence > 0.8, "{page:?}");
    assert_eq!(page.quarter_turns, 0);
    assert!(page.straightened.abs() < 0.3, "{page:?}");
    // The title is its own paragraph, the body one paragraph of lines.
    assert!(text.starts_with("Quarterly report"), "{text}");
}

#[test]
fn turned_skewed_and_upside_down_scans_are_straightened() {
    let scan = letter_scan(200.0);
    let expected = LETTER.join("\n");
    for (what, image, turns) in [
        ("turned a quarter clockwise", scan.turned(1), 3),
        ("turned a quarter counter-clockwise", scan.turned(3), 1),
        ("upside down", scan.turned(2), 2),
    ] {
        let (text, page) = read(&image);
        assert_eq!(page.quarter_turns, turns, "{what}: {page:?}");
        assert!(recall(&expected, &text) >= 0.95, "{what}: {text}");
    }
    for degrees in [3.0_f32, -3.0] {
        let (text, page) = read(&scan.rotated(degrees));
        assert!(
            (page.straightened + degrees).abs() < 0.5,
            "skewed by {degrees}: straightened by {}",
            page.straightened
        );
        assert!(
            recall(&expected, &text) >= 0.95,
            "skewed by {degrees}: {text}"
        );
    }
}

#[test]
fn two_columns_are_read_one_after_the_other() {
    let left: &[&str] = &[
        "The first column opens the story",
        "and carries it down the page",
        "to the bottom of the column.",
    ];
    let right: &[&str] = &[
        "The second column follows after",
        "and closes the story in turn",
        "with a last line of its own.",
    ];
    let title: &[&str] = &["A title across both columns of the page"];
    let pdf = text_pdf(
        612.0,
        260.0,
        11.0,
        &[vec![
            (54.0, 30.0, title),
            (54.0, 80.0, left),
            (330.0, 80.0, right),
        ]],
    );
    let (text, _) = read(&render(&pdf, 0, 200.0));
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {text}"))
    };
    assert!(at("title across") < at("first column"), "{text}");
    assert!(at("bottom of the column") < at("second column"), "{text}");
    assert!(at("second column") < at("last line"), "{text}");
}

#[test]
fn a_blank_page_gives_no_text() {
    let (text, page) = read(&Gray::white(800, 600));
    assert!(text.is_empty(), "{text}");
    assert_eq!(page.characters, 0);
}

#[test]
fn scanned_pdf_is_read_page_by_page_with_the_ocr_mark() {
    let dir = temp_dir();
    let scan = letter_scan(200.0);
    let skewed = scan.rotated(2.0);
    let path = dir.path().join("scan.pdf");
    std::fs::write(
        &path,
        scan_pdf(&[
            ScanPage::Image {
                image: &scan,
                dpi: 200.0,
            },
            ScanPage::Image {
                image: &skewed,
                dpi: 200.0,
            },
        ]),
    )
    .unwrap();
    let doc = documents::extract(&path).expect("a scanned PDF reads");
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.page_count(), 2);
    let ocr = doc.ocr.clone().expect("marked as OCR text");
    assert_eq!(ocr.pages, [1, 2]);
    assert!(ocr.confidence >= 80, "{ocr:?}");
    assert!(
        doc.warnings
            .iter()
            .any(|w| w.contains("pages 1-2") && w.contains("read from images by OCR")),
        "{:?}",
        doc.warnings
    );
    let expected = format!("{}\n{}", LETTER.join("\n"), LETTER.join("\n"));
    assert!(recall(&expected, &doc.text) >= 0.95, "{}", doc.text);
}

#[test]
fn mixed_pdf_reads_its_text_layer_and_recognises_its_image_page() {
    let dir = temp_dir();
    let scan = letter_scan(200.0);
    let typed: &[&str] = &["A typed cover page with a text layer of its own."];
    let path = dir.path().join("mixed.pdf");
    std::fs::write(
        &path,
        scan_pdf(&[
            ScanPage::Text(typed),
            ScanPage::Image {
                image: &scan,
                dpi: 200.0,
            },
        ]),
    )
    .unwrap();
    let doc = documents::extract(&path).expect("a mixed PDF reads");
    let ocr = doc.ocr.clone().expect("its image page is marked");
    assert_eq!(ocr.pages, [2]);
    let pages: Vec<&str> = doc
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Page)
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(pages, ["page 1", "page 2"]);
    let second = doc.sections[1].offset;
    assert!(doc.text[..second].contains("typed cover page"));
    assert!(
        recall(&LETTER.join("\n"), &doc.text[second..]) >= 0.95,
        "{}",
        doc.text
    );
    assert!(
        doc.warnings.iter().any(|w| w.contains("page 2 (1 of 2)")),
        "{:?}",
        doc.warnings
    );

    // The same through the command line: text with page markers on stdout, the OCR warning
    // and a progress line on stderr.
    let out = xgen_desk(&["extract", path.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("--- page 1 ---") && stdout.contains("--- page 2 ---"));
    assert!(stdout.contains("river station"), "{stdout}");
    assert!(
        stderr.contains("[ocr]") && stderr.contains("1 of 1 page read by OCR"),
        "{stderr}"
    );
    assert!(stderr.contains("read from images by OCR"), "{stderr}");
}

#[test]
fn png_and_multi_page_tiff_are_read_through_the_cli() {
    let dir = temp_dir();
    let scan = letter_scan(200.0);
    let image = dir.path().join("letter.png");
    std::fs::write(&image, png(&scan)).unwrap();
    let out = xgen_desk(&["extract", "--json", image.to_str().unwrap()]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format"], "Image");
    assert_eq!(json["ocr"]["pages"], serde_json::json!([1]));
    assert!(json["ocr"]["confidence"].as_u64().unwrap() >= 80, "{json}");
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("read from images by OCR"), "{warnings}");
    let text = json["text"].as_str().unwrap();
    assert!(recall(&LETTER.join("\n"), text) >= 0.95, "{text}");
    // The child's progress lines are protocol, for the parent: one per page, done 0 and 1.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"{"done":1,"total":1}"#), "{stderr}");

    let blank = Gray::white(400, 300);
    let book = dir.path().join("fax.tif");
    std::fs::write(&book, tiff(&[&scan, &blank, &scan.turned(2)])).unwrap();
    let doc = documents::extract(&book).expect("a TIFF reads");
    assert_eq!(doc.format, Format::Image);
    // The blank page has no text and no marker; the others keep their numbers.
    let labels: Vec<&str> = doc.sections.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["page 1", "page 3"]);
    assert_eq!(doc.ocr.unwrap().pages, [1, 3]);
}

#[test]
fn images_without_text_and_broken_images_are_clear_errors() {
    let dir = temp_dir();
    let blank = dir.path().join("blank.png");
    std::fs::write(&blank, png(&Gray::white(300, 200))).unwrap();
    let error = documents::extract(&blank).expect_err("no text");
    assert!(
        matches!(error, DocumentError::ImageWithoutText { pages: 1, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("OCR found no text"), "{error}");

    let broken = dir.path().join("cut.png");
    let mut bytes = png(&letter_scan(100.0));
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).unwrap();
    let error = documents::extract(&broken).expect_err("cut short");
    assert!(
        matches!(error, DocumentError::BrokenImage { .. }),
        "{error:?}"
    );

    // A scanned PDF whose pages hold no text says that OCR looked.
    let empty = dir.path().join("empty-scan.pdf");
    let white = Gray::white(600, 800);
    std::fs::write(
        &empty,
        scan_pdf(&[ScanPage::Image {
            image: &white,
            dpi: 100.0,
        }]),
    )
    .unwrap();
    let error = documents::extract(&empty).expect_err("nothing to read");
    assert!(
        matches!(error, DocumentError::ScannedPdf { pages: 1, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("OCR found no text"), "{error}");
}

#[test]
fn progress_comes_page_by_page_through_the_child_process() {
    let dir = temp_dir();
    let scan = letter_scan(150.0);
    let path = dir.path().join("three.pdf");
    let page = || ScanPage::Image {
        image: &scan,
        dpi: 150.0,
    };
    std::fs::write(&path, scan_pdf(&[page(), page(), page()])).unwrap();
    let isolation = Isolation::with_exe(env!("CARGO_BIN_EXE_xgen-desk"));
    let seen = Mutex::new(Vec::new());
    let doc = documents::extract_isolated_reporting(&path, &isolation, &|| false, &|p| {
        seen.lock().unwrap().push(p);
    })
    .expect("reads in the child");
    assert_eq!(doc.ocr.unwrap().pages, [1, 2, 3]);
    let seen = seen.into_inner().unwrap();
    let expected: Vec<ReadProgress> = (0..=3)
        .map(|done| ReadProgress { done, total: 3 })
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn scanned_pdf_is_summarized_through_the_cli() {
    let dir = temp_dir();
    let scan = letter_scan(150.0);
    let path = dir.path().join("scanned letter.pdf");
    std::fs::write(
        &path,
        scan_pdf(&[ScanPage::Image {
            image: &scan,
            dpi: 150.0,
        }]),
    )
    .unwrap();
    let model = smollm2();
    let out = xgen_desk(&[
        "summarize",
        path.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--ctx",
        "2048",
        "--max-tokens",
        "40",
        "--greedy",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.trim().is_empty(), "a summary");
    assert!(stderr.contains("[ocr]"), "OCR progress: {stderr}");
    assert!(stderr.contains("read from images by OCR"), "{stderr}");
}

/// What the models can read at all, said by the model's own character list: English and the
/// other Latin-script languages, Greek, Chinese and Japanese; no Cyrillic, Arabic or Hangul.
#[test]
fn the_recogniser_knows_latin_greek_chinese_and_japanese() {
    let chars: String = ocr().characters().collect();
    for c in ['é', 'ß', 'ł', 'Ω', '中', '語', 'あ', 'カ', '€', '§'] {
        assert!(chars.contains(c), "{c}");
    }
    for c in ['Ж', 'ش', '한'] {
        assert!(!chars.contains(c), "{c}");
    }
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/ocr.md")
        .is_file());
}

/// A scanned PDF dropped on the window: the status bar says which page OCR has read, the
/// document card carries the OCR mark, and SmolLM2 summarizes what was read.
#[test]
fn a_scanned_pdf_dropped_on_the_window_shows_ocr_progress_and_is_summarized() {
    use std::time::{Duration, Instant};

    use egui_kittest::kittest::Queryable;
    use xgen_desk::app::SummaryLength;

    use crate::app::{change_settings, harness, step_until, wait_for_model, with_model};

    let tmp = temp_dir();
    let scan = letter_scan(150.0);
    let path = tmp.path().join("scanned letter.pdf");
    let page = || ScanPage::Image {
        image: &scan,
        dpi: 150.0,
    };
    std::fs::write(&path, scan_pdf(&[page(), page()])).unwrap();
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = SummaryLength::Short;
        s.sampling.max_tokens = 24;
    });

    crate::queue::drop_files(&mut h, std::slice::from_ref(&path));
    let deadline = Instant::now() + crate::common::TIMEOUT;
    let mut seen: Vec<&str> = Vec::new();
    while h.state().conversation().document.is_none() {
        assert!(
            Instant::now() < deadline && h.state().notices().is_empty(),
            "the scan was not read: {:?}",
            h.state().notices()
        );
        h.step();
        for text in ["reading 2 pages by OCR", "page 1 of 2 read by OCR"] {
            if !seen.contains(&text) && h.query_by_label_contains(text).is_some() {
                seen.push(text);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen.contains(&"page 1 of 2 read by OCR"), "{seen:?}");
    h.step();
    let doc = h.state().conversation().document.clone().unwrap();
    assert_eq!(doc.ocr.as_ref().map(|o| o.pages.clone()), Some(vec![1, 2]));
    assert!(recall(&LETTER.join("\n"), &doc.text) >= 0.9, "{}", doc.text);
    // The card: "read by OCR · 97% confidence".
    h.get_by_label_contains("read by OCR ·");

    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    h.get_by_label("Summarize").click();
    step_until(&mut h, "the summary", |a| {
        !a.is_generating()
            && a.conversation()
                .messages
                .last()
                .is_some_and(|m| !m.content.trim().is_empty())
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
}
