//! Hostile PDFs, generated here with a small PDF writer: each must end in a clear answer within
//! seconds and bounded memory. Each is read in a child process (this test binary, running only
//! [`child_reads_one_pdf`]) under a 1 GiB address-space limit, so that a stack overflow, an
//! allocation failure or a hang shows as a failed test instead of taking the suite down.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, FlushCompress};
use xgen_desk::documents::{self, DocumentError, Limits};

use crate::common::temp_dir;

// ---------------------------------------------------------------------------------------------
// A small PDF writer

/// A PDF assembled object by object: the test numbers the objects, the writer computes the
/// offsets and the cross-reference table (gaps become free entries).
#[derive(Default)]
struct Pdf {
    objects: Vec<(u32, Vec<u8>)>,
}

impl Pdf {
    fn obj(&mut self, number: u32, body: &str) -> &mut Self {
        self.objects.push((number, body.as_bytes().to_vec()));
        self
    }

    /// A stream object; `dict` is the dictionary's inside, `/Length` is added.
    fn stream(&mut self, number: u32, dict: &str, data: &[u8]) -> &mut Self {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.objects.push((number, body));
        self
    }

    /// The file, with `/Root 1 0 R`.
    fn finish(&self) -> Vec<u8> {
        let size = self.objects.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
        let (mut out, offsets) = self.objects_written(size as usize);
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {size}\n").as_bytes());
        for offset in offsets {
            let entry = offset.map_or_else(
                || "0000000000 65535 f \n".to_owned(),
                |o| format!("{o:010} 00000 n \n"),
            );
            out.extend_from_slice(entry.as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                .as_bytes(),
        );
        out
    }

    /// The header and the objects, with each object's offset by number (`None` for numbers
    /// not used), `numbers` long.
    fn objects_written(&self, numbers: usize) -> (Vec<u8>, Vec<Option<usize>>) {
        let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = vec![None; numbers];
        for (number, body) in &self.objects {
            offsets[*number as usize] = Some(out.len());
            out.extend_from_slice(format!("{number} 0 obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        (out, offsets)
    }
}

impl Pdf {
    /// The file with a cross-reference stream instead of a table, stored without a filter
    /// (`/W [1 4 1]`), as qpdf and other writers make them.
    fn finish_with_xref_stream(&self) -> Vec<u8> {
        let xref_number = self.objects.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
        let (mut out, mut offsets) = self.objects_written(xref_number as usize + 1);
        let xref = out.len();
        offsets[xref_number as usize] = Some(xref);
        let mut data = Vec::new();
        for offset in offsets {
            data.push(u8::from(offset.is_some()));
            data.extend_from_slice(&(offset.unwrap_or(0) as u32).to_be_bytes());
            data.push(if offset.is_some() { 0 } else { 255 });
        }
        out.extend_from_slice(
            format!(
                "{xref_number} 0 obj\n<< /Type /XRef /Size {} /W [1 4 1] /Root 1 0 R /Length {} >>\nstream\n",
                xref_number + 1,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&data);
        out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        out
    }
}

const FONT: &str =
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

/// A content stream that draws each line in font /F1.
fn text_ops(lines: &[&str]) -> String {
    let mut ops = String::from("BT /F1 12 Tf 14 TL 72 720 Td ");
    for line in lines {
        ops.push_str(&format!("({line}) Tj T* "));
    }
    ops.push_str("ET\n");
    ops
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
    std::io::Write::write_all(&mut encoder, data).unwrap();
    encoder.finish().unwrap()
}

/// A zlib stream of `mib` MiB of zeros in about a thousandth of that: one block of a MiB of
/// zeros, flushed to a byte boundary, repeated (it refers only to itself, so it decodes the
/// same anywhere), then an empty final block and the checksum.
fn zeros_bomb(mib: u32) -> Vec<u8> {
    let mut raw = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 16);
    raw.compress_vec(&vec![0u8; 1 << 20], &mut block, FlushCompress::Sync)
        .unwrap();
    let mut end = Vec::with_capacity(64);
    Compress::new(Compression::best(), false)
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .unwrap();
    let mut out = vec![0x78, 0xDA];
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&end);
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let b = (u64::from(mib) << 20) % 65521;
    out.extend_from_slice(&((b as u32) << 16 | 1).to_be_bytes());
    out
}

/// Catalog (1), page tree (2) with one page (3) that draws `content` (4) with font /F1 (5)
/// and the XObjects named in `xobjects` (a dictionary's inside).
fn one_page(content: &[u8], xobjects: &str) -> Pdf {
    one_page_with("", content, xobjects)
}

/// [`one_page`] with entries (such as a filter) in the content stream's dictionary.
fn one_page_with(content_dict: &str, content: &[u8], xobjects: &str) -> Pdf {
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        .obj(
            3,
            &format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
                 /Resources << /Font << /F1 5 0 R >> /XObject << {xobjects} >> >> >>"
            ),
        )
        .stream(4, content_dict, content)
        .obj(5, FONT);
    pdf
}

// ---------------------------------------------------------------------------------------------
// Reading in a bounded child process

const CHILD_MEMORY_KIB: u64 = 1 << 20;
const CHILD_TIMEOUT: Duration = Duration::from_secs(90);
/// What "within seconds" means on a loaded 2-core machine.
const QUICK: Duration = Duration::from_secs(20);

/// How a child's read of one PDF ended.
#[derive(Debug)]
struct Outcome {
    /// The child's `OUTCOME` line, or what happened to the child instead.
    line: String,
    elapsed: Duration,
}

/// Writes `bytes` as a PDF and reads it in a child process under the memory limit.
fn read_bounded(bytes: &[u8]) -> Outcome {
    let dir = temp_dir();
    let path = dir.path().join("hostile.pdf");
    std::fs::write(&path, bytes).unwrap();
    let exe = std::env::current_exe().unwrap();
    let start = Instant::now();
    // The address-space limit holds on Linux, set by the shell; macOS accepts RLIMIT_AS
    // without enforcing it (and may refuse the value), and Windows has neither `ulimit` nor
    // `sh`: there the child runs directly, and the reader's own bounds and the time limit are
    // what is tested.
    let mut command = if cfg!(target_os = "linux") {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!(
                "ulimit -v {CHILD_MEMORY_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(exe);
        shell
    } else {
        Command::new(exe)
    };
    let mut child = command
        .args([
            "pdf::child_reads_one_pdf",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(xgen_testkit::child::ROLE, &path)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let line = match (
        status,
        stdout
            .lines()
            .find_map(|l| l.split_once("OUTCOME ").map(|(_, rest)| rest)),
    ) {
        (_, Some(line)) => line.to_owned(),
        (None, None) => format!("killed after {} s", CHILD_TIMEOUT.as_secs()),
        (Some(status), None) => format!(
            "the child died ({status}): {}",
            stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
        ),
    };
    Outcome { line, elapsed }
}

/// The entry point of the bounded child: reads the PDF its role names and prints how it ended
/// on one line. Run on its own, it reads a plain one-page PDF the same way.
#[test]
fn child_reads_one_pdf() {
    let Some(path) = xgen_testkit::child::role() else {
        let dir = temp_dir();
        let path = dir.path().join("plain.pdf");
        let content = text_ops(&["A plain page of text."]);
        std::fs::write(&path, one_page(content.as_bytes(), "").finish()).unwrap();
        let doc = documents::extract(&path).unwrap();
        assert_eq!(doc.page_count(), 1);
        assert!(doc.text.contains("A plain page of text."), "{}", doc.text);
        return;
    };
    let line = match documents::extract(Path::new(&path)) {
        Ok(doc) => format!(
            "ok pages={} chars={} text={:?} warnings={:?}",
            doc.page_count(),
            doc.text.chars().count(),
            doc.text.chars().take(200).collect::<String>(),
            doc.warnings
        ),
        Err(error) => format!("error {error:?} | {error}"),
    };
    println!("OUTCOME {line}");
}

#[track_caller]
fn assert_quick(outcome: &Outcome, expected: &[&str]) {
    assert!(
        outcome.elapsed < QUICK,
        "took {:?}: {}",
        outcome.elapsed,
        outcome.line
    );
    for part in expected {
        assert!(
            outcome.line.contains(part),
            "expected {part:?} in: {}",
            outcome.line
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The cases

#[test]
fn form_xobject_that_draws_itself_is_refused() {
    let mut pdf = one_page(b"/X1 Do\n", "/X1 6 0 R");
    pdf.stream(
        6,
        "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 6 0 R >> >>",
        b"/X1 Do\n",
    );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &["error BrokenPdf", "page 1", "object 6 0", "draws itself"],
    );
}

#[test]
fn forms_nested_fifty_thousand_deep_are_refused() {
    const DEPTH: u32 = 50_000;
    let mut pdf = one_page(b"/X Do\n", "/X 10 0 R");
    for i in 0..DEPTH {
        let n = 10 + i;
        pdf.stream(
            n,
            &format!(
                "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X {} 0 R >> >>",
                n + 1
            ),
            if i + 1 < DEPTH { b"/X Do\n" } else { b"" },
        );
    }
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["error BrokenPdf", "nest more than 32 deep"]);
}

#[test]
fn forms_that_fan_out_exponentially_are_refused() {
    // Each of 30 forms draws the next one four times: 4^30 draws.
    let mut pdf = one_page(b"/X Do\n", "/X 10 0 R");
    for i in 0..30 {
        pdf.stream(
            10 + i,
            &format!(
                "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X {} 0 R >> >>",
                11 + i
            ),
            b"/X Do /X Do /X Do /X Do\n",
        );
    }
    pdf.stream(40, "/Type /XObject /Subtype /Form /BBox [0 0 10 10]", b"");
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["error BrokenPdf", "draws more than"]);
}

#[test]
fn page_whose_parent_is_itself_without_media_box_is_read() {
    let content = text_ops(&["A page that is its own parent."]);
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        .obj(
            3,
            "<< /Type /Page /Parent 3 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        )
        .stream(4, "", content.as_bytes())
        .obj(5, FONT);
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["ok pages=1", "A page that is its own parent."]);
}

#[test]
fn page_tree_that_contains_itself_is_read_once() {
    let content = text_ops(&["Listed by a looping page tree."]);
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(
            2,
            "<< /Type /Pages /Kids [3 0 R 2 0 R 6 0 R] /Count 3 /MediaBox [0 0 612 792] >>",
        )
        .obj(
            3,
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        )
        .stream(4, "", content.as_bytes())
        .obj(5, FONT)
        .obj(6, "<< /Type /Pages /Parent 6 0 R /Kids [6 0 R 3 0 R] /Count 2 >>");
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &[
            "ok pages=1",
            "Listed by a looping page tree.",
            "more than once",
        ],
    );
}

#[test]
fn flate_bomb_in_page_content_is_refused() {
    let pdf = one_page_with("/Filter /FlateDecode", &zeros_bomb(2048), "");
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &[
            "error BrokenPdf",
            "object 4 0",
            "decompresses to more than 64 MiB",
        ],
    );
}

#[test]
fn flate_bomb_in_object_stream_is_refused() {
    // The object stream holds the page tree; lopdf unpacks it while loading.
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>").stream(
        9,
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
        &zeros_bomb(2048),
    );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &[
            "error BrokenPdf",
            "object 9 0",
            "decompresses to more than 64 MiB",
        ],
    );
}

#[test]
fn flate_bomb_in_image_is_never_decoded() {
    let content = text_ops(&["Text beside a huge image."]) + "q 100 0 0 100 0 0 cm /Im1 Do Q\n";
    let mut pdf = one_page(content.as_bytes(), "/Im1 6 0 R");
    pdf.stream(
        6,
        "/Type /XObject /Subtype /Image /Width 32768 /Height 32768 /ColorSpace /DeviceGray \
         /BitsPerComponent 8 /Filter /FlateDecode",
        &zeros_bomb(1024),
    );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["ok pages=1", "Text beside a huge image."]);
}

/// pdf-extract holds a page's content parsed into operations at once, several times its size
/// in bytes: a page with more than 32 MiB of content is not read.
#[test]
fn page_content_over_the_limit_is_refused() {
    let pdf = one_page_with("/Filter /FlateDecode", &zeros_bomb(40), "");
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &["error BrokenPdf", "page 1: its content is over 32 MiB"],
    );
}

#[test]
fn streams_over_the_document_budget_are_refused() {
    // Nine streams of 60 MiB each: every one under the per-stream limit, 540 MiB together.
    let mut pdf = one_page(text_ops(&["Hi."]).as_bytes(), "");
    for i in 0..9 {
        pdf.stream(10 + i, "/Filter /FlateDecode", &zeros_bomb(60));
    }
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["error BrokenPdf", "more than 512 MiB together"]);
}

/// A page tree that lists one page 40,000 times, with 40,000 filler objects so that lopdf's
/// own walk (which stops after as many kids as the file has objects) goes all the way.
#[test]
fn page_listed_forty_thousand_times_is_read_once() {
    let line = "Forty thousand times the same page. ".repeat(2);
    let lines = vec![line.as_str(); 1500];
    let content = deflate(text_ops(&lines).as_bytes());
    let kids = "3 0 R ".repeat(40_000);
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(2, &format!("<< /Type /Pages /Kids [{kids}] /Count 40000 /MediaBox [0 0 612 792] >>"))
        .obj(
            3,
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        )
        .stream(4, "/Filter /FlateDecode", &content)
        .obj(5, FONT);
    for n in 10..40_010 {
        pdf.obj(n, "null");
    }
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &["ok pages=1", "Forty thousand times", "39999 repeats"],
    );
}

/// 19,000 distinct pages (under the page limit) sharing one content stream of 100,000
/// characters: reading stops at the text limit instead of building two gigabytes first.
#[test]
fn pages_over_the_text_limit_stop_reading_early() {
    let line = "Every page says the same long thing again. ".repeat(2);
    let lines = vec![line.as_str(); 1150];
    let content = deflate(text_ops(&lines).as_bytes());
    let kids: String = (0..19_000).map(|i| format!("{} 0 R ", 10 + i)).collect();
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(
            2,
            &format!("<< /Type /Pages /Kids [{kids}] /Count 19000 /MediaBox [0 0 612 792] >>"),
        )
        .stream(4, "/Filter /FlateDecode", &content)
        .obj(5, FONT);
    for i in 0..19_000 {
        pdf.obj(
            10 + i,
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        );
    }
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["error TooMuchText", "at most 4000000"]);
}

#[test]
fn more_pages_than_the_page_limit_are_refused() {
    let kids: String = (0..20_001).map(|i| format!("{} 0 R ", 10 + i)).collect();
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>").obj(
        2,
        &format!("<< /Type /Pages /Kids [{kids}] /Count 20001 /MediaBox [0 0 612 792] >>"),
    );
    for i in 0..20_001 {
        pdf.obj(10 + i, "<< /Type /Page /Parent 2 0 R >>");
    }
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["error BrokenPdf", "more than 20000 pages"]);
}

/// A `/ToUnicode` CMap nested 100,000 deep: pdf-extract's CMap parser recurses per level.
/// The CMap is dropped and the page reads with the font's own encoding.
#[test]
fn cmap_nested_a_hundred_thousand_deep_is_dropped() {
    let content = text_ops(&["Readable without its CMap."]);
    let mut pdf = one_page(content.as_bytes(), "");
    pdf.objects.retain(|(n, _)| *n != 5);
    pdf.obj(
        5,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding \
         /ToUnicode 6 0 R >>",
    )
    .stream(6, "", "[".repeat(100_000).as_bytes());
    let outcome = read_bounded(&pdf.finish());
    assert_quick(&outcome, &["ok pages=1", "Readable without its CMap."]);
}

/// A Type 1 font program nested 100,000 deep: pdf-extract's font parser recurses per level.
#[test]
fn font_program_nested_a_hundred_thousand_deep_is_dropped() {
    let content = text_ops(&["Readable without its font program."]);
    let mut pdf = one_page(content.as_bytes(), "");
    pdf.objects.retain(|(n, _)| *n != 5);
    let program = format!("%!PS-AdobeFont-1.0: Deep\n{}", "{".repeat(100_000));
    let widths = "500 ".repeat(95);
    pdf.obj(
        5,
        &format!(
            "<< /Type /Font /Subtype /Type1 /BaseFont /Deep /Encoding /WinAnsiEncoding \
             /FirstChar 32 /LastChar 126 /Widths [{widths}] /FontDescriptor 6 0 R >>"
        ),
    )
    .obj(
        6,
        "<< /Type /FontDescriptor /FontName /Deep /Flags 32 /FontBBox [0 0 1000 1000] \
         /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile 7 0 R >>",
    )
    .stream(
        7,
        &format!("/Length1 {} /Length2 0 /Length3 0", program.len()),
        program.as_bytes(),
    );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &["ok pages=1", "Readable without its font program."],
    );
}

/// A `/ToUnicode` CMap that pdf-extract's CMap parser panics on ("bad length of hexstring"):
/// before, every page using the font was lost; now the CMap is dropped once, at load, and the
/// page reads with the font's own encoding, without a warning.
#[test]
fn cmap_that_the_parser_rejects_is_dropped_not_the_page() {
    let content = text_ops(&["Readable despite a broken CMap."]);
    let mut pdf = one_page(content.as_bytes(), "");
    pdf.objects.retain(|(n, _)| *n != 5);
    pdf.obj(
        5,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding \
         /ToUnicode 6 0 R >>",
    )
    .stream(
        6,
        "",
        b"begincmap 1 begincodespacerange <00> <FF> endcodespacerange \
          1 beginbfchar <41> <004> endbfchar endcmap",
    );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &[
            "ok pages=1",
            "Readable despite a broken CMap.",
            "warnings=[]",
        ],
    );
}

/// A cross-reference stream whose field widths ask lopdf for a terabyte.
#[test]
fn xref_stream_with_huge_field_widths_is_refused() {
    let mut out = b"%PDF-1.7\n".to_vec();
    let xref_at = out.len();
    let data = deflate(&[1, 0, 0, 0]);
    out.extend_from_slice(
        format!(
            "1 0 obj\n<< /Type /XRef /Size 2 /W [1000000000000 1 1] /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&data);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    let outcome = read_bounded(&out);
    assert_quick(&outcome, &["error BrokenPdf", "field widths"]);
}

/// A cross-reference stream stored without a filter reads like any other (the check of its
/// entries used to inflate it, found nothing, and refused the file).
#[test]
fn uncompressed_xref_stream_is_read() {
    let content = text_ops(&["Indexed by a plain stream."]);
    let pdf = one_page(content.as_bytes(), "").finish_with_xref_stream();
    let outcome = read_bounded(&pdf);
    assert_quick(&outcome, &["ok pages=1", "Indexed by a plain stream."]);
}

/// A cross-reference stream with zero-width fields that asks for 2^62 entries, compressed or
/// stored as it is.
#[test]
fn xref_stream_asking_for_endless_entries_is_refused() {
    for (filter, data) in [
        ("/Filter /FlateDecode", deflate(&[])),
        ("", b"abcd".to_vec()),
    ] {
        let mut out = b"%PDF-1.7\n".to_vec();
        let xref_at = out.len();
        out.extend_from_slice(
            format!(
                "1 0 obj\n<< /Type /XRef /Size 2 /W [0 0 0] /Index [0 4611686018427387904] {filter} /Length {} >>\nstream\n",
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&data);
        out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
        );
        let outcome = read_bounded(&out);
        assert_quick(&outcome, &["error BrokenPdf", "entries"]);
    }
}

// ---------------------------------------------------------------------------------------------
// The contract around the bounds

/// Reading stops at a custom text limit too, and says so with the limit given.
#[test]
fn custom_text_limit_applies_while_reading() {
    let lines = ["Twenty-six characters long"; 40];
    let content = text_ops(&lines);
    let pdf = one_page(content.as_bytes(), "").finish();
    let dir = temp_dir();
    let path = dir.path().join("long.pdf");
    std::fs::write(&path, pdf).unwrap();
    let limits = Limits {
        max_text_chars: 500,
        ..Limits::default()
    };
    let error = documents::extract_with(&path, &limits).expect_err("over the limit");
    assert!(
        matches!(error, DocumentError::TooMuchText { limit: 500, .. }),
        "{error:?}"
    );
    documents::extract(&path).expect("under the default limit");
}

/// A page that cannot be read costs that page only: the others are read, and the warning
/// names the page and why. (In a child too: before the bounds, this page overflowed the stack
/// and took the whole test binary with it.)
#[test]
fn one_unreadable_page_costs_only_that_page() {
    let good = text_ops(&["The readable page."]);
    let mut pdf = Pdf::default();
    pdf.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
        .obj(
            2,
            "<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 /MediaBox [0 0 612 792] >>",
        )
        .obj(
            3,
            "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        )
        .stream(4, "", good.as_bytes())
        .obj(5, FONT)
        .obj(
            6,
            "<< /Type /Page /Parent 2 0 R /Contents 7 0 R /Resources << /XObject << /X 8 0 R >> >> >>",
        )
        .stream(7, "", b"/X Do\n")
        .stream(
            8,
            "/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /X 8 0 R >> >>",
            b"/X Do\n",
        );
    let outcome = read_bounded(&pdf.finish());
    assert_quick(
        &outcome,
        &[
            "ok pages=1",
            "The readable page.",
            "1 of 2 pages could not be read",
            "page 2",
            "draws itself",
        ],
    );
}
