//! Document extraction from real files of every format, generated here: a two-page PDF, a
//! DOCX with a table, an HTML page with scripts and styles, UTF-16 and Latin-1 text; and the
//! clear errors for bad inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use xgen_desk::documents::{
    self, Document, DocumentError, Format, Limits, SectionKind, MAX_FILE_BYTES, MAX_TEXT_CHARS,
};

use crate::common::{pdf_file, temp_dir};

/// A minimal valid PDF: one page per entry, each line drawn in Helvetica; an empty entry is a
/// page that only draws a rectangle (what a scanned page looks like to a text extractor).
pub fn make_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let n = pages.len();
    // 1: catalog, 2: pages, 3: font, then per page: page object, content stream.
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    for (i, lines) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        let content = if lines.is_empty() {
            "0.5 g 72 72 468 648 re f".to_owned()
        } else {
            let mut ops = String::from("BT /F1 12 Tf 14 TL 72 720 Td ");
            for line in *lines {
                let escaped = line
                    .replace('\\', "\\\\")
                    .replace('(', "\\(")
                    .replace(')', "\\)");
                ops.push_str(&format!("({escaped}) Tj T* "));
            }
            ops.push_str("ET");
            ops
        };
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    pdf_file(&objects)
}

/// A PDF whose reading takes long whatever the machine (about 0.2 s a page here, so 200
/// pages are about 40 s) in a small file and bounded memory: every page draws one shared,
/// compressed content stream of a MiB of operators that draw nothing (`1 w q Q`), so no
/// text limit stops it early and every page is parsed anew.
pub fn make_slow_pdf(pages: usize) -> Vec<u8> {
    let content = b"1 w q Q ".repeat((1 << 20) / 8);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&content).unwrap();
    let data = encoder.finish().unwrap();
    // 1: catalog, 2: pages, 3: the content stream, then one page object per page.
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
    ];
    let mut stream = format!(
        "<< /Filter /FlateDecode /Length {} >>\nstream\n",
        data.len()
    )
    .into_bytes();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(b"\nendstream");
    objects.push(stream);
    for _ in 0..pages {
        objects.push(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".to_vec(),
        );
    }
    pdf_file(&objects)
}

/// A minimal valid DOCX whose body is `body` (WordprocessingML inside `<w:body>`).
pub fn make_docx(body: &str) -> Vec<u8> {
    make_docx_at(body, "word/document.xml", "/word/document.xml")
}

/// [`make_docx`] with the main document part stored under `part` and the package's
/// relationship pointing at `target`.
fn make_docx_at(body: &str, part: &str, target: &str) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let files = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{target}"/></Relationships>"#),
        ),
        (
            part,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr><w:pgSz w:w="12240" w:h="15840"/></w:sectPr></w:body></w:document>"#
            ),
        ),
    ];
    for (name, content) in files {
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(content.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// A DOCX paragraph, with an optional style.
pub fn docx_paragraph(text: &str, style: Option<&str>) -> String {
    let style = style.map_or_else(String::new, |s| {
        format!(r#"<w:pPr><w:pStyle w:val="{s}"/><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>"#)
    });
    format!(
        r#"<w:p>{style}<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#
    )
}

/// A DOCX table of rows of cells.
pub fn docx_table(rows: &[&[&str]]) -> String {
    let mut xml = String::from("<w:tbl><w:tblPr/>");
    for row in rows {
        xml.push_str("<w:tr>");
        for cell in *row {
            xml.push_str(&format!(
                "<w:tc><w:tcPr/>{}</w:tc>",
                docx_paragraph(cell, None)
            ));
        }
        xml.push_str("</w:tr>");
    }
    xml.push_str("</w:tbl>");
    xml
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

fn labels(doc: &Document) -> Vec<&str> {
    doc.sections.iter().map(|s| s.label.as_str()).collect()
}

fn section_text<'a>(doc: &'a Document, label: &str) -> &'a str {
    let i = doc
        .sections
        .iter()
        .position(|s| s.label == label)
        .unwrap_or_else(|| panic!("no section {label:?} in {:?}", labels(doc)));
    let start = doc.sections[i].offset;
    let end = doc.sections.get(i + 1).map_or(doc.text.len(), |s| s.offset);
    &doc.text[start..end]
}

#[test]
fn pdf_with_two_pages_keeps_page_markers() {
    let dir = temp_dir();
    let pdf = make_pdf(&[
        &[
            "The first page talks about apples.",
            "Apples grow on trees.",
        ],
        &["The second page is about (pears)."],
    ]);
    let path = write(dir.path(), "fruit.pdf", &pdf);
    let doc = documents::extract(&path).expect("the PDF reads");
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.name, "fruit.pdf");
    assert_eq!(labels(&doc), ["page 1", "page 2"], "{doc:?}");
    assert!(doc.sections.iter().all(|s| s.kind == SectionKind::Page));
    assert_eq!(doc.page_count(), 2);
    let first = section_text(&doc, "page 1");
    let second = section_text(&doc, "page 2");
    assert!(first.contains("first page talks about apples"), "{first:?}");
    assert!(first.contains("Apples grow on trees"), "{first:?}");
    assert!(
        second.contains("second page is about (pears)"),
        "{second:?}"
    );
    assert!(!first.contains("pears"));
    assert_eq!(
        doc.location(0..doc.text.len()).as_deref(),
        Some("page 1 to page 2")
    );
    let on_two = doc.text.find("second").expect("page 2 text");
    assert_eq!(doc.location(on_two..on_two + 5).as_deref(), Some("page 2"));
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
}

/// Images embedded in Markdown or text as data URIs shrink to their type; short ones, and
/// text that only mentions `data:`, stay as written.
#[test]
fn embedded_data_uris_shrink_to_their_type() {
    let dir = temp_dir();
    let picture = "iVBORw0KGgoAAAANSUhEUgAA".repeat(2000);
    let md = format!(
        "# Results\n\n![chart](data:image/png;base64,{picture})\n\nSales grew. \
         Tiny: data:image/gif;base64,R0lGODlhAQABAAAAACw= and data: alone, data:text/plain,hi.\n\n\
         ## Next\n\n<img src=\"data:image/jpeg;name=a.jpg;base64,{picture}\"/>\n"
    );
    let doc = documents::extract(&write(dir.path(), "notes.md", md.as_bytes())).expect("md");
    assert_eq!(
        doc.text,
        "# Results\n\n![chart](data:image/png;base64,…)\n\nSales grew. \
         Tiny: data:image/gif;base64,R0lGODlhAQABAAAAACw= and data: alone, data:text/plain,hi.\n\n\
         ## Next\n\n<img src=\"data:image/jpeg;name=a.jpg;base64,…\"/>\n"
    );
    assert_eq!(
        section_text(&doc, "Next"),
        "## Next\n\n<img src=\"data:image/jpeg;name=a.jpg;base64,…\"/>\n"
    );
}

/// A page's declared encoding is honoured (a `<meta charset>` or an `http-equiv` one in the
/// first kilobyte), a byte-order mark wins over it, and a page without one is guessed.
#[test]
fn html_declared_and_guessed_encodings() {
    let dir = temp_dir();
    let page = |head: &str, body: &str| {
        format!("<html><head>{head}</head><body><p>{body}</p></body></html>")
    };
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "sjis.html",
            "<meta charset=\"shift_jis\">",
            "日本語のページです。",
            "shift_jis",
        ),
        (
            "cyrillic.html",
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">",
            "Страница на русском языке.",
            "windows-1251",
        ),
        (
            "latin.htm",
            "<meta charset='iso-8859-1' />",
            "Café “au lait”.",
            "windows-1252",
        ),
        (
            "guessed.html",
            "<title>no charset</title>",
            "Страница без объявленной кодировки, но длинная.",
            "windows-1251",
        ),
    ];
    for (name, head, body, label) in cases {
        let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap();
        let html = page(head, body);
        let (bytes, _, _) = encoding.encode(&html);
        let doc = documents::extract(&write(dir.path(), name, &bytes)).expect(name);
        assert_eq!(doc.text, body, "{name}");
    }
    // A UTF-8 byte-order mark beats a wrong declaration.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(page("<meta charset=\"windows-1251\">", "Zoë’s café.").as_bytes());
    let doc = documents::extract(&write(dir.path(), "bom.html", &bytes)).expect("bom");
    assert_eq!(doc.text, "Zoë’s café.");
}

/// A `<meta charset>` label no browser knows is passed over as browsers pass it over: the page
/// is UTF-8 when its bytes are, else the encoding its bytes look like (windows-1252 for a
/// stray Western byte, not a U+FFFD); a later known label wins; `x-user-defined` is
/// windows-1252; a label of the WHATWG "replacement" encoding is refused with what to do.
#[test]
fn html_unknown_and_replacement_encoding_labels_are_read_as_browsers_do() {
    let dir = temp_dir();
    let page = |head: &str| format!("<html><head>{head}</head><body><p>");
    let read = |name: &str, head: &str, body: &[u8]| {
        let mut bytes = page(head).into_bytes();
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"</p></body></html>");
        documents::extract(&write(dir.path(), name, &bytes))
    };
    let doc = read(
        "stray.html",
        "<meta charset=\"latin-9x\">",
        b"Caf\xE9 au lait, served hot.",
    )
    .expect("stray byte");
    assert_eq!(doc.text, "Café au lait, served hot.");
    let doc = read(
        "utf8.html",
        "<meta charset=\"latin-9x\">",
        "Zoë’s café.".as_bytes(),
    )
    .expect("utf-8");
    assert_eq!(doc.text, "Zoë’s café.");
    let cyrillic = "Страница с неизвестной кодировкой, но длинная.";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(cyrillic);
    let doc = read("detected.html", "<meta charset=\"cp-unknown\">", &bytes).expect("1251");
    assert_eq!(doc.text, cyrillic);
    let doc = read(
        "second.html",
        "<meta charset=\"bogus\"><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">",
        &bytes,
    )
    .expect("second label");
    assert_eq!(doc.text, cyrillic);
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("Café “au lait”.");
    let doc = read("user.html", "<meta charset=\"x-user-defined\">", &bytes).expect("x-user");
    assert_eq!(doc.text, "Café “au lait”.");
    for label in ["iso-2022-kr", "hz-gb-2312"] {
        let error = read("kr.html", &format!("<meta charset=\"{label}\">"), b"Hello.")
            .expect_err(label)
            .to_string();
        assert!(
            error.contains(label)
                && error.contains("browsers do not decode")
                && error.contains("UTF-8"),
            "{error}"
        );
    }
}

/// Documentation pages: the permalink anchors generators put after each heading (Sphinx's
/// `¶`, VuePress's `#`, icon-font glyphs) are not text; a link that happens to be called
/// "anchor" still is.
#[test]
fn html_heading_permalinks_and_icon_glyphs_are_left_out() {
    let dir = temp_dir();
    let html = "<!doctype html><html><body><main>\
        <h1>Storage daemon<a class=\"headerlink\" href=\"#sd\" title=\"Link\">\u{f0c1}</a></h1>\
        <h2 id=\"x\"><a class=\"header-anchor\" href=\"#x\">#</a> Options</h2>\
        <h2>Usage<a class=\"headerlink\" href=\"#u\">¶</a></h2>\
        <p><i class=\"fa fa-warning\">\u{f071}</i> Never modify an image in use.</p>\
        <p>See <a class=\"anchor-link external\" href=\"/a\">the anchor guide</a>.</p>\
        </main></body></html>";
    let doc = documents::extract(&write(dir.path(), "page.html", html.as_bytes())).expect("html");
    assert_eq!(
        doc.text,
        "Storage daemon\n\nOptions\n\nUsage\n\nNever modify an image in use.\n\nSee the anchor guide.",
        "{:?}",
        doc.text
    );
    let labels: Vec<&str> = doc.sections.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["Storage daemon", "Options", "Usage"]);
}

/// A contents page's dot leaders and long rules shrink to three characters; ordinary dots,
/// ellipses, version numbers and hyphens stay as written.
#[test]
fn pdf_leaders_and_rules_are_shortened() {
    let dir = temp_dir();
    let lines: &[&str] = &[
        "1 Introduction . . . . . . . . . . . . . . . . . . . . . . . . . 1",
        "2.1 ASN.1 syntax.......................................... 12",
        "Signature: ______________________________ Date: __________",
        "Wait... version 1.2.3.4 is well-known - see -- below....",
    ];
    let path = write(dir.path(), "contents.pdf", &make_pdf(&[lines]));
    let doc = documents::extract(&path).expect("pdf");
    let text: Vec<&str> = doc.text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        text,
        [
            "1 Introduction ... 1",
            "2.1 ASN.1 syntax ... 12",
            "Signature: ___ Date: ___",
            "Wait... version 1.2.3.4 is well-known - see -- below ...",
        ],
        "{}",
        doc.text
    );
}

/// Bytes before the `%PDF-` header (a byte-order mark, a saved mail or HTTP header) are
/// accepted within the first kilobyte, as PDF readers do, with or without the extension.
#[test]
fn pdf_with_bytes_before_its_header_is_read() {
    let dir = temp_dir();
    let pdf = make_pdf(&[&["Text after a prefix."]]);
    for (name, prefix) in [
        ("bom.pdf", &b"\xEF\xBB\xBF"[..]),
        ("bom-no-extension", &b"\xEF\xBB\xBF"[..]),
        ("saved.pdf", &b"Content-Type: application/pdf\r\n\r\n"[..]),
    ] {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&pdf);
        let doc = documents::extract(&write(dir.path(), name, &bytes)).expect(name);
        assert_eq!(doc.format, Format::Pdf, "{name}");
        assert!(
            doc.text.contains("Text after a prefix."),
            "{name}: {:?}",
            doc.text
        );
    }
    // Past the first kilobyte it is not a PDF header.
    let mut bytes = vec![b' '; 2000];
    bytes.extend_from_slice(&pdf);
    let error = documents::extract(&write(dir.path(), "late.pdf", &bytes)).expect_err("late");
    assert!(
        error
            .to_string()
            .contains("no %PDF- header in its first 1024 bytes"),
        "{error}"
    );
}

#[test]
fn pdf_is_recognised_by_its_bytes_without_extension() {
    let dir = temp_dir();
    let path = write(
        dir.path(),
        "download",
        &make_pdf(&[&["Sniffed by magic bytes."]]),
    );
    let doc = documents::extract(&path).expect("reads");
    assert_eq!(doc.format, Format::Pdf);
    assert!(doc.text.contains("Sniffed by magic bytes."));
}

#[test]
fn scanned_pdf_without_text_says_so() {
    let dir = temp_dir();
    let path = write(dir.path(), "scan.pdf", &make_pdf(&[&[], &[]]));
    let error = documents::extract(&path).expect_err("no text layer");
    assert!(
        matches!(error, DocumentError::ScannedPdf { pages: 2, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("2 pages") && message.contains("OCR"),
        "{message}"
    );
}

#[test]
fn broken_pdfs_are_clear_errors_not_panics() {
    let dir = temp_dir();
    let good = make_pdf(&[&["Some text here."]]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage.pdf",
            b"%PDF-1.7\nthis is not really a pdf at all".to_vec(),
        ),
        ("truncated.pdf", good[..good.len() / 3].to_vec()),
        ("not-a-pdf.pdf", b"Hello, I am text named .pdf".to_vec()),
        ("zeros.pdf", {
            let mut bytes = b"%PDF-1.4\n".to_vec();
            bytes.extend(std::iter::repeat_n(0u8, 4096));
            bytes
        }),
    ];
    for (name, bytes) in cases {
        let path = write(dir.path(), name, &bytes);
        let error = documents::extract(&path).expect_err(name);
        assert!(
            matches!(error, DocumentError::BrokenPdf { .. }),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(name) && message.contains("not a readable PDF"),
            "{message}"
        );
    }
}

#[test]
fn docx_with_headings_and_a_table() {
    let dir = temp_dir();
    let body = [
        docx_paragraph("Quarterly report", Some("Title")),
        docx_paragraph(
            "Sales grew in every region &amp; the outlook is good.",
            None,
        ),
        docx_paragraph("Results", Some("Heading1")),
        docx_table(&[&["Region", "Sales"], &["North", "120"], &["South", "95"]]),
        docx_paragraph("Tabs\tand &#169; entities survive.", None),
    ]
    .concat();
    let path = write(dir.path(), "report.docx", &make_docx(&body));
    let doc = documents::extract(&path).expect("the DOCX reads");
    assert_eq!(doc.format, Format::Docx);
    assert_eq!(labels(&doc), ["Quarterly report", "Results"]);
    assert!(doc.sections.iter().all(|s| s.kind == SectionKind::Heading));
    assert!(
        doc.text
            .contains("Sales grew in every region & the outlook is good."),
        "{:?}",
        doc.text
    );
    let results = section_text(&doc, "Results");
    assert!(
        results.contains("Region | Sales\nNorth | 120\nSouth | 95"),
        "table rows as lines of cells: {results:?}"
    );
    assert!(
        doc.text.contains("Tabs\tand © entities survive."),
        "{:?}",
        doc.text
    );
    // Paragraphs are separated by blank lines, which the chunker cuts at first.
    assert!(
        doc.text.starts_with("Quarterly report\n\nSales grew"),
        "{:?}",
        doc.text
    );
}

/// A text box, as Word stores it: inside the paragraph that anchors it, twice (DrawingML in
/// `mc:Choice`, VML in `mc:Fallback`). Its text is read once, and the anchoring paragraph's
/// text around it stays whole.
#[test]
fn docx_text_box_is_read_once_and_its_paragraph_stays_whole() {
    let dir = temp_dir();
    let boxed = docx_paragraph("Boxed text.", None);
    let body = format!(
        r#"<w:p><w:r><w:t xml:space="preserve">Before the box. </w:t></w:r><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><mc:Choice Requires="wps"><w:drawing><wps:wsp xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:txbx><w:txbxContent>{boxed}</w:txbxContent></wps:txbx></wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox xmlns:v="urn:schemas-microsoft-com:vml"><w:txbxContent>{boxed}</w:txbxContent></v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r><w:r><w:t xml:space="preserve">After the box.</w:t></w:r></w:p>{}"#,
        docx_paragraph("Next paragraph.", None)
    );
    let doc = documents::extract(&write(dir.path(), "box.docx", &make_docx(&body))).expect("docx");
    assert_eq!(
        doc.text,
        "Boxed text.\n\nBefore the box. After the box.\n\nNext paragraph."
    );
}

/// The main document part is found through the package's relationships, not by its
/// conventional name (some writers store `word/document2.xml`).
#[test]
fn docx_main_part_under_another_name_is_read() {
    let dir = temp_dir();
    let body = docx_paragraph("Stored under another name.", None);
    for target in ["/word/document2.xml", "word/document2.xml"] {
        let bytes = make_docx_at(&body, "word/document2.xml", target);
        let doc = documents::extract(&write(dir.path(), "renamed.docx", &bytes)).expect(target);
        assert_eq!(doc.text, "Stored under another name.", "{target}");
    }
    // A relationship that points nowhere is a clear error naming the part.
    let bytes = make_docx_at(&body, "word/document.xml", "word/missing.xml");
    let error = documents::extract(&write(dir.path(), "dangling.docx", &bytes)).expect_err("x");
    assert!(
        error.to_string().contains("it has no word/missing.xml"),
        "{error}"
    );
}

#[test]
fn broken_docx_and_other_office_files_are_refused_clearly() {
    let dir = temp_dir();
    let path = write(dir.path(), "bad.docx", b"this is not a zip file");
    let error = documents::extract(&path).expect_err("not a zip");
    assert!(
        matches!(error, DocumentError::BrokenDocx { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not a readable Word document"),
        "{error}"
    );

    // A zip without word/document.xml.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("hello.txt", zip::write::SimpleFileOptions::default())
        .expect("entry");
    zip.write_all(b"hi").expect("write");
    let bytes = zip.finish().expect("finish").into_inner();
    let path = write(dir.path(), "empty.docx", &bytes);
    let error = documents::extract(&path).expect_err("no document part");
    assert!(error.to_string().contains("word/document.xml"), "{error}");
    let path = write(dir.path(), "archive", &bytes);
    let error = documents::extract(&path).expect_err("a plain zip");
    assert!(
        matches!(error, DocumentError::Unsupported { .. }),
        "{error:?}"
    );

    let path = write(dir.path(), "old.doc", b"\xD0\xCF\x11\xE0 old word");
    let error = documents::extract(&path).expect_err(".doc");
    assert!(error.to_string().contains("save it as .docx"), "{error}");

    // A model file is named as one, by its extension before the size limit (a real one is
    // gigabytes), or by its bytes; the message says where models go.
    let model = dir.path().join("big.gguf");
    let file = std::fs::File::create(&model).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    drop(file);
    let renamed = write(dir.path(), "weights.bin", b"GGUF\x03\x00\x00\x00rest");
    for path in [model, renamed] {
        let error = documents::extract(&path).expect_err("a model");
        assert!(
            matches!(error, DocumentError::Unsupported { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("is a GGUF model file"), "{text}");
        assert!(
            text.contains("drop it on the window, open it in Models, or pass `--model FILE`"),
            "{text}"
        );
    }
}

#[test]
fn html_main_text_without_scripts_styles_or_navigation() {
    let dir = temp_dir();
    let page = r#"<!DOCTYPE html>
<html><head><title>Ignored title</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var tracking = "SCRIPT_TEXT";</script></head>
<body>
<header><a href="/">SITE_HEADER</a></header>
<nav><ul><li>NAV_HOME</li><li>NAV_ABOUT</li></ul></nav>
<main>
  <h1>Rivers of   Europe</h1>
  <p>The <b>Danube</b> flows through
     ten countries.</p>
  <script>document.write("INLINE_SCRIPT")</script>
  <noscript>NOSCRIPT_TEXT</noscript>
  <div hidden>HIDDEN_TEXT</div>
  <div style="display: none">INVISIBLE_TEXT</div>
  <h2>Lengths</h2>
  <ul><li>Volga: 3530 km</li><li>Danube: 2850 km</li></ul>
  <table><tr><th>River</th><th>Sea</th></tr><tr><td>Rhine</td><td>North Sea</td></tr></table>
  <pre>  keep   this
spacing</pre>
</main>
<aside>ASIDE_TEXT</aside>
<footer>FOOTER_TEXT</footer>
</body></html>"#;
    let path = write(dir.path(), "rivers.html", page.as_bytes());
    let doc = documents::extract(&path).expect("the page reads");
    assert_eq!(doc.format, Format::Html);
    for absent in [
        "SCRIPT_TEXT",
        "INLINE_SCRIPT",
        "color: red",
        "NAV_HOME",
        "SITE_HEADER",
        "ASIDE_TEXT",
        "FOOTER_TEXT",
        "HIDDEN_TEXT",
        "INVISIBLE_TEXT",
        "NOSCRIPT_TEXT",
        "Ignored title",
    ] {
        assert!(
            !doc.text.contains(absent),
            "{absent} leaked into {:?}",
            doc.text
        );
    }
    assert!(
        doc.text.contains("The Danube flows through ten countries."),
        "{:?}",
        doc.text
    );
    assert_eq!(labels(&doc), ["Rivers of Europe", "Lengths"]);
    let lengths = section_text(&doc, "Lengths");
    assert!(
        lengths.contains("- Volga: 3530 km\n- Danube: 2850 km"),
        "{lengths:?}"
    );
    assert!(
        lengths.contains("River | Sea\nRhine | North Sea"),
        "{lengths:?}"
    );
    assert!(lengths.contains("  keep   this\nspacing"), "{lengths:?}");

    // Without <main>, the body is read, still without the page chrome.
    let page =
        "<html><body><nav>MENU</nav><p>Body text only.</p><script>x()</script></body></html>";
    let path = write(dir.path(), "plain", page.as_bytes());
    let doc = documents::extract(&path).expect("reads");
    assert_eq!(doc.format, Format::Html, "recognised by its first bytes");
    assert_eq!(doc.text, "Body text only.");
}

#[test]
fn text_in_utf16_and_latin1_and_markdown_headings() {
    let dir = temp_dir();
    let text = "Grüße aus Köln — naïve café\n";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    for (name, bytes) in [("le.txt", le), ("be.txt", be)] {
        let doc = documents::extract(&write(dir.path(), name, &bytes)).expect(name);
        assert_eq!(doc.text, text, "{name}");
        assert_eq!(doc.format, Format::Text);
    }
    let latin1: Vec<u8> = "Grüße, café, señor".chars().map(|c| c as u8).collect();
    let doc = documents::extract(&write(dir.path(), "latin1.txt", &latin1)).expect("latin-1");
    assert_eq!(doc.text, "Grüße, café, señor");
    let windows = b"\x93Quoted\x94 \x96 5 \x80";
    let doc = documents::extract(&write(dir.path(), "cp1252.txt", windows)).expect("cp1252");
    assert_eq!(doc.text, "\u{201c}Quoted\u{201d} \u{2013} 5 \u{20ac}");

    let md = "# Intro\nSome words.\n\n```\n# not a heading\n```\n## Details ##\nMore.\n";
    let doc = documents::extract(&write(dir.path(), "notes.md", md.as_bytes())).expect("md");
    assert_eq!(doc.format, Format::Markdown);
    assert_eq!(doc.text, md, "Markdown text is kept as written");
    assert_eq!(labels(&doc), ["Intro", "Details"]);
    assert_eq!(section_text(&doc, "Details"), "## Details ##\nMore.\n");
    // Setext headings count; text inside an HTML block or an indented code block does not.
    let md = "Overview\n========\nText.\n\n<div>\n# inside html\n</div>\n\n    # code\n\nNext `part`\n---\nEnd.\n";
    let doc = documents::extract(&write(dir.path(), "setext.md", md.as_bytes())).expect("md");
    assert_eq!(labels(&doc), ["Overview", "Next part"]);
    assert_eq!(section_text(&doc, "Next part"), "Next `part`\n---\nEnd.\n");

    // The CLI's decoder is the documents' one.
    assert_eq!(documents::decode_text(b"plain").as_deref(), Some("plain"));
    assert_eq!(documents::decode_text(b"\x00\x01binary"), None);
}

/// Text files as tools write them: UTF-16 without a byte-order mark (either byte order),
/// UTF-8 cut mid-character or with a stray bad byte, Latin-1; and binaries whose zero bytes
/// look like UTF-16's are still refused.
#[test]
fn text_encodings_found_in_the_wild() {
    let text = "Notes from the meeting: the café opens on Monday, naïve plans aside.\n";
    let utf16 = |big_endian: bool| -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    assert_eq!(documents::decode_text(&utf16(false)).as_deref(), Some(text));
    assert_eq!(documents::decode_text(&utf16(true)).as_deref(), Some(text));

    // UTF-8 cut in the middle of its last character (a file truncated by a byte limit).
    let long = text.repeat(3) + "é";
    let cut = &long.as_bytes()[..long.len() - 1];
    let decoded = documents::decode_text(cut).unwrap();
    assert!(decoded.starts_with(&text.repeat(3)), "{decoded}");
    assert!(decoded.ends_with('\u{FFFD}'), "{decoded}");
    // Mostly UTF-8 with one damaged byte: the accents stay accents.
    let mut damaged = "Zoë’s résumé — “quoted” — naïve café. "
        .repeat(10)
        .into_bytes();
    damaged[0] = 0xFF;
    let decoded = documents::decode_text(&damaged).unwrap();
    assert!(decoded.contains("résumé"), "{decoded}");
    assert_eq!(decoded.matches('\u{FFFD}').count(), 1, "{decoded}");
    // Latin-1 (as Windows-1252) is still Latin-1.
    assert_eq!(
        documents::decode_text(b"caf\xe9 na\xefve \x93quoted\x94\n").as_deref(),
        Some("café naïve “quoted”\n")
    );

    // 16-bit numbers have zero high bytes like UTF-16 text but decode to control characters.
    let numbers: Vec<u8> = (0u16..2000).flat_map(|n| (n % 20).to_le_bytes()).collect();
    assert_eq!(documents::decode_text(&numbers), None);
    // UTF-32 has zeros on both sides.
    let utf32: Vec<u8> = text
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    assert_eq!(documents::decode_text(&utf32), None);

    // Legacy encodings without a declaration, as Mozilla's detector guesses them.
    for (label, sample) in [
        (
            "windows-1251",
            "Русский текст в кодировке Windows: отчёт о продажах за третий квартал.",
        ),
        ("gbk", "中文文本文件。这是一个关于第三季度销售的报告。"),
        (
            "shift_jis",
            "日本語のテキストファイルです。第三四半期の売上報告。",
        ),
    ] {
        let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap();
        let (bytes, _, unmappable) = encoding.encode(sample);
        assert!(!unmappable, "{label}");
        assert_eq!(
            documents::decode_text(&bytes).as_deref(),
            Some(sample),
            "{label}"
        );
    }

    // A byte-order mark in front of binary data does not make it text.
    let mut marked = b"\xEF\xBB\xBF".to_vec();
    marked.extend((0u8..=255).cycle().take(4096));
    assert_eq!(documents::decode_text(&marked), None);

    // Windows and old Mac line ends become `\n`, in files and in pasted text; Markdown's
    // headings are found in the converted text.
    assert_eq!(
        documents::decode_text(b"one\r\ntwo\rthree\n").as_deref(),
        Some("one\ntwo\nthree\n")
    );
    let pasted = Document::from_text("pasted", "Pasted\r\nfrom Windows.\r\n").unwrap();
    assert_eq!(pasted.text, "Pasted\nfrom Windows.\n");
    let dir = temp_dir();
    let md = "# Title\r\n\r\nLine.\r\n\r\n## Next\r\nMore.\r\n";
    let doc = documents::extract(&write(dir.path(), "crlf.md", md.as_bytes())).expect("md");
    assert_eq!(doc.text, "# Title\n\nLine.\n\n## Next\nMore.\n");
    assert_eq!(section_text(&doc, "Next"), "## Next\nMore.\n");

    // Through the readers: a BOM-less UTF-16 .txt reads as text.
    let doc = documents::extract(&write(dir.path(), "utf16.txt", &utf16(false))).expect("utf-16");
    assert_eq!(doc.text, text);
}

#[test]
fn pasted_text_and_stdin() {
    let doc = Document::from_text("pasted", "  Some pasted words.  ").expect("pasted");
    assert_eq!(doc.format, Format::Text);
    assert_eq!(doc.text, "  Some pasted words.  ");
    assert!(doc.sections.is_empty());
    let error = Document::from_text("pasted", " \n\t ").expect_err("blank");
    assert!(matches!(error, DocumentError::Empty { .. }));
    let doc = documents::from_reader("standard input", &b"<!doctype html><p>Piped.</p>"[..])
        .expect("stdin");
    assert_eq!((doc.format, doc.text.as_str()), (Format::Html, "Piped."));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = temp_dir();
    let empty = write(dir.path(), "empty.txt", b"");
    let error = documents::extract(&empty).expect_err("empty");
    assert!(matches!(error, DocumentError::Empty { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "empty.txt contains no text: there is nothing to summarize"
    );

    let blank_html = write(
        dir.path(),
        "blank.html",
        b"<html><script>only()</script></html>",
    );
    assert!(matches!(
        documents::extract(&blank_html),
        Err(DocumentError::Empty { .. })
    ));

    // A program's bytes under a text name.
    let mut elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    elf.extend((0..2000u32).map(|i| (i * 7 % 256) as u8));
    let binary = write(dir.path(), "program.txt", &elf);
    let error = documents::extract(&binary).expect_err("binary");
    assert!(matches!(error, DocumentError::Binary { .. }), "{error:?}");
    assert!(error.to_string().contains("binary"), "{error}");

    // A picture under a text name is read as the picture its bytes are (OCR); a damaged one
    // says so and how to mend it.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend((0..2000u32).map(|i| (i * 7 % 256) as u8));
    let picture = write(dir.path(), "picture.txt", &png);
    let error = documents::extract(&picture).expect_err("broken picture");
    assert!(
        matches!(error, DocumentError::BrokenImage { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not a readable image"),
        "{error}"
    );

    // A file over the limit is refused before it is read (a sparse file: no disk used).
    let huge = dir.path().join("huge.txt");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(MAX_FILE_BYTES + 1))
        .expect("sparse file");
    let error = documents::extract(&huge).expect_err("huge");
    assert!(matches!(error, DocumentError::TooLarge { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("64.0 MiB") && message.contains(&(MAX_FILE_BYTES + 1).to_string()),
        "the numbers are in the message: {message}"
    );

    let long = "word ".repeat(MAX_TEXT_CHARS / 5 + 1);
    let error = Document::from_text("long", long).expect_err("too much text");
    assert!(
        matches!(error, DocumentError::TooMuchText { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&MAX_TEXT_CHARS.to_string()),
        "{error}"
    );

    let limits = Limits {
        max_file_bytes: 1000,
        max_text_chars: 10,
    };
    let small = write(dir.path(), "small.txt", b"more than ten characters");
    let error = documents::extract_with(&small, &limits).expect_err("limit");
    assert!(
        matches!(
            error,
            DocumentError::TooMuchText {
                chars: 24,
                limit: 10,
                ..
            }
        ),
        "{error:?}"
    );

    let missing = documents::extract(&dir.path().join("missing.txt")).expect_err("missing");
    assert!(missing.to_string().contains("could not read"), "{missing}");
}

// ---- EPUB and ODT ----

/// A ZIP of `files` in order, the first (`mimetype`) stored uncompressed as EPUB and
/// OpenDocument require, the rest deflated.
pub fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (i, (name, content)) in files.iter().enumerate() {
        let method = if i == 0 && *name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .expect("zip entry");
        zip.write_all(content).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// The container and package of an EPUB whose package is `OEBPS/content.opf`, with this
/// manifest and spine.
pub fn epub_package(manifest: &str, spine: &str) -> [(&'static str, String); 3] {
    [
        ("mimetype", "application/epub+zip".to_owned()),
        (
            "META-INF/container.xml",
            r#"<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#
                .to_owned(),
        ),
        (
            "OEBPS/content.opf",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Test</dc:title></metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>"#
            ),
        ),
    ]
}

fn xhtml(title: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>{title}</title><link rel="stylesheet" href="s.css"/><style>p {{ color: red }}</style></head><body>{body}</body></html>"#
    )
    .into_bytes()
}

/// A book of three chapters whose spine order differs from its manifest order, with a
/// navigation document and a `linear="no"` item (both in the spine, neither read).
fn three_chapter_epub() -> Vec<u8> {
    let manifest = r#"<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="c3" href="Text/chapter%203.xhtml" media-type="application/xhtml+xml"/>
<item id="c1" href="Text/one.xhtml" media-type="application/xhtml+xml"/>
<item id="notes" href="Text/notes.xhtml" media-type="application/xhtml+xml"/>
<item id="c2" href="./Text/../Text/two.xhtml#start" media-type="application/xhtml+xml"/>
<item id="css" href="s.css" media-type="text/css"/>"#;
    let spine = r#"<itemref idref="nav"/><itemref idref="c1"/><itemref idref="notes" linear="no"/><itemref idref="c2"/><itemref idref="c3"/>"#;
    let [mimetype, container, package] = epub_package(manifest, spine);
    let nav = xhtml(
        "Contents",
        r#"<nav epub:type="toc"><ol><li><a href="Text/one.xhtml">Table of contents entry</a></li></ol></nav>"#,
    );
    let one = xhtml(
        "Book One",
        r#"<section><h1>The Beginning</h1><p>It was a dark night.<a id="p1"/> The <span class="x"/>wind howled.</p><script>alert('no')</script></section>"#,
    );
    let two = xhtml(
        "Second &amp; last title",
        r#"<p class="epigraph">An epigraph first.</p><h2>Middle Part</h2><p>Things happened.</p><div hidden="hidden">Hidden text.</div>"#,
    );
    let three = xhtml("", r#"<p>The end, without a heading.</p>"#);
    let notes = xhtml("Notes", "<p>A pop-up note.</p>");
    make_zip(&[
        (mimetype.0, mimetype.1.as_bytes()),
        (container.0, container.1.as_bytes()),
        (package.0, package.1.as_bytes()),
        ("OEBPS/nav.xhtml", &nav),
        ("OEBPS/Text/chapter 3.xhtml", &three),
        ("OEBPS/Text/one.xhtml", &one),
        ("OEBPS/Text/two.xhtml", &two),
        ("OEBPS/Text/notes.xhtml", &notes),
        ("OEBPS/s.css", b"p { margin: 0 }"),
    ])
}

#[test]
fn epub_chapters_are_read_in_spine_order_with_a_marker_each() {
    let dir = temp_dir();
    let bytes = three_chapter_epub();
    let doc = documents::extract(&write(dir.path(), "book.epub", &bytes)).expect("epub");
    assert_eq!(doc.format, Format::Epub);
    assert_eq!(
        doc.text,
        "The Beginning\n\nIt was a dark night. The wind howled.\n\n\
         An epigraph first.\n\nMiddle Part\n\nThings happened.\n\n\
         The end, without a heading."
    );
    // First heading; first heading though text precedes it; no heading and no title.
    assert_eq!(labels(&doc), ["The Beginning", "Middle Part", "chapter 3"]);
    assert!(doc.sections.iter().all(|s| s.kind == SectionKind::Heading));
    assert_eq!(
        section_text(&doc, "Middle Part").trim_end(),
        "An epigraph first.\n\nMiddle Part\n\nThings happened."
    );
    for absent in [
        "Table of contents entry",
        "pop-up note",
        "alert",
        "Hidden",
        "color",
    ] {
        assert!(!doc.text.contains(absent), "{absent} read: {}", doc.text);
    }

    // Sniffed without an extension.
    let doc = documents::from_bytes("book", None, &bytes).expect("sniffed");
    assert_eq!(doc.format, Format::Epub);
}

#[test]
fn epub_chapter_without_heading_is_named_by_its_title() {
    let manifest = r#"<item id="a" href="a.xhtml" media-type="application/xhtml+xml"/>"#;
    let [mimetype, container, package] = epub_package(manifest, r#"<itemref idref="a"/>"#);
    let a = xhtml("  The   Prologue &amp; more ", "<p>Once upon a time.</p>");
    let bytes = make_zip(&[
        (mimetype.0, mimetype.1.as_bytes()),
        (container.0, container.1.as_bytes()),
        (package.0, package.1.as_bytes()),
        ("OEBPS/a.xhtml", &a),
    ]);
    let doc = documents::from_bytes("p.epub", Some("epub"), &bytes).expect("epub");
    assert_eq!(doc.text, "Once upon a time.");
    assert_eq!(labels(&doc), ["The Prologue & more"]);
}

#[test]
fn epub_with_drm_broken_or_escaping_is_refused_clearly() {
    let dir = temp_dir();
    let manifest = r#"<item id="a" href="a.xhtml" media-type="application/xhtml+xml"/>"#;
    let [mimetype, container, package] = epub_package(manifest, r#"<itemref idref="a"/>"#);
    let a = xhtml("A", "<p>Scrambled.</p>");
    let encryption = |uri: &str| {
        format!(
            r#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>"#
        )
    };
    let book = |encrypted: &str| {
        make_zip(&[
            (mimetype.0, mimetype.1.as_bytes()),
            (container.0, container.1.as_bytes()),
            ("META-INF/encryption.xml", encryption(encrypted).as_bytes()),
            (package.0, package.1.as_bytes()),
            ("OEBPS/a.xhtml", &a),
            ("OEBPS/font.otf", b"obfuscated font"),
        ])
    };
    let error = documents::extract(&write(dir.path(), "drm.epub", &book("OEBPS/a.xhtml")))
        .expect_err("DRM");
    assert!(
        matches!(error, DocumentError::ProtectedEpub { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("protected by DRM: xgen-desk cannot read it"),
        "{error}"
    );
    // An obfuscated font is not DRM: the book reads.
    let doc = documents::extract(&write(dir.path(), "font.epub", &book("OEBPS/font.otf")))
        .expect("font obfuscation only");
    assert_eq!(doc.text, "Scrambled.");

    // No container.xml.
    let bytes = make_zip(&[
        (mimetype.0, mimetype.1.as_bytes()),
        (package.0, package.1.as_bytes()),
        ("OEBPS/a.xhtml", &a),
    ]);
    let error = documents::extract(&write(dir.path(), "broken.epub", &bytes)).expect_err("broken");
    assert!(
        matches!(error, DocumentError::BrokenEpub { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("not a readable EPUB") && message.contains("META-INF/container.xml"),
        "{message}"
    );

    // A chapter path that climbs out of the archive.
    let manifest = r#"<item id="a" href="../../etc/passwd" media-type="application/xhtml+xml"/>"#;
    let [mimetype, container, package] = epub_package(manifest, r#"<itemref idref="a"/>"#);
    let bytes = make_zip(&[
        (mimetype.0, mimetype.1.as_bytes()),
        (container.0, container.1.as_bytes()),
        (package.0, package.1.as_bytes()),
    ]);
    let error = documents::extract(&write(dir.path(), "escape.epub", &bytes)).expect_err("escape");
    assert!(
        error.to_string().contains("climbs out of the book"),
        "{error}"
    );

    // Not a ZIP at all.
    let error = documents::extract(&write(dir.path(), "text.epub", b"just text")).expect_err("x");
    assert!(
        matches!(error, DocumentError::BrokenEpub { .. }),
        "{error:?}"
    );
}

/// An ODT whose `office:text` holds `body`.
pub fn make_odt(body: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"><office:automatic-styles><style:style xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" style:name="P1" style:family="paragraph"/></office:automatic-styles><office:body><office:text>{body}</office:text></office:body></office:document-content>"#
    );
    make_zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("styles.xml", b"<office:document-styles/>"),
    ])
}

#[test]
fn odt_with_headings_a_table_spaces_comments_and_tracked_changes() {
    let body = r#"<text:tracked-changes><text:changed-region text:id="ct1"><text:deletion><office:change-info><dc:creator>Ann</dc:creator></office:change-info><text:p>Deleted sentence.</text:p></text:deletion></text:changed-region></text:tracked-changes>
<text:p text:style-name="Title">Quarterly report</text:p>
<text:p text:style-name="P1">Sales  grew<text:s text:c="2"/>a lot.<office:annotation><dc:creator>Bob</dc:creator><text:p>Check this number.</text:p></office:annotation> Really.<text:change text:change-id="ct1"/></text:p>
<text:h text:outline-level="1">Results</text:h>
<table:table table:name="T"><table:table-column/><table:table-row><table:table-cell><text:p>Region</text:p></table:table-cell><table:table-cell><text:p>Sales</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>North</text:p></table:table-cell><table:table-cell><text:p>120</text:p></table:table-cell></table:table-row></table:table>
<text:p>Tab<text:tab/>here, line<text:line-break/>break &amp; &#169;.</text:p>"#;
    let dir = temp_dir();
    let doc = documents::extract(&write(dir.path(), "report.odt", &make_odt(body))).expect("odt");
    assert_eq!(doc.format, Format::Odt);
    assert_eq!(
        doc.text,
        "Quarterly report\n\nSales grew  a lot. Really.\n\nResults\n\n\
         Region | Sales\nNorth | 120\n\nTab\there, line\nbreak & ©."
    );
    assert_eq!(labels(&doc), ["Quarterly report", "Results"]);
    assert_eq!(
        section_text(&doc, "Results"),
        "Results\n\nRegion | Sales\nNorth | 120\n\nTab\there, line\nbreak & ©."
    );

    // Sniffed without an extension; a spreadsheet stays refused; a broken one says so.
    let doc = documents::from_bytes("report", None, &make_odt(body)).expect("sniffed");
    assert_eq!(doc.format, Format::Odt);
    let error = documents::extract(&write(dir.path(), "sheet.ods", b"PK")).expect_err("ods");
    assert!(
        matches!(error, DocumentError::Unsupported { .. }),
        "{error:?}"
    );
    let bytes = make_zip(&[("mimetype", b"application/vnd.oasis.opendocument.text")]);
    let error = documents::extract(&write(dir.path(), "empty.odt", &bytes)).expect_err("broken");
    assert!(
        matches!(error, DocumentError::BrokenOdt { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("content.xml"), "{error}");
}
