//! Hostile inputs, generated here (never stored): each gives a clear error or a correct result
//! within a time bound (a hang detector, generous for a slow shared machine; the inputs took
//! minutes to hours before the fixes), and where it matters in bounded memory, proven by
//! reading them in the isolated reader under a memory limit. Also: the isolation itself
//! (every way a child can end) and the `extract` command.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xgen_desk::documents::{self, Document, DocumentError, Format, Limits, MAX_TEXT_CHARS};
use xgen_desk::isolate::Isolation;
use xgen_desk::isolate::IsolationError;
use xgen_desk::summarize::{chunk_text, SummarizeError};

use crate::common::temp_dir;
use crate::documents::{docx_paragraph, epub_package, make_docx, make_pdf, make_zip};

/// Longer than this is a hang.
const HANG: Duration = Duration::from_secs(20);

/// Runs `f` on a thread and fails the test when it does not finish within [`HANG`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    crate::common::spawn("hostile-read", move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(value) => {
            eprintln!("{what}: {:.2} s", started.elapsed().as_secs_f64());
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} ran more than {HANG:?}: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

/// The real binary as the isolated reader, with a memory limit that an honest read of these
/// inputs fits in and a hostile blow-up does not.
fn isolation(memory_mib: u64) -> Isolation {
    let mut isolation = Isolation::with_exe(env!("CARGO_BIN_EXE_xgen-desk"));
    isolation.memory_bytes = memory_mib << 20;
    isolation.wall = HANG;
    isolation
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write input");
    path
}

fn read(
    name: &'static str,
    extension: &'static str,
    bytes: Vec<u8>,
) -> Result<Document, DocumentError> {
    within(name, move || {
        documents::from_bytes(name, Some(extension), &bytes)
    })
}

// ---- DOCX ----

#[test]
fn docx_tables_nested_a_million_deep_are_refused_at_once() {
    // Before: each level copied the text of the levels inside it, quadratic in the depth;
    // this 0.3 MB file ran for hours.
    const DEPTH: usize = 1_000_000;
    let open = format!("<w:tbl><w:tr><w:tc>{}", docx_paragraph("x", None));
    let mut body = open.repeat(DEPTH);
    body.push_str(&"</w:tc></w:tr></w:tbl>".repeat(DEPTH));
    let docx = make_docx(&body);
    eprintln!("nested tables: {} bytes", docx.len());
    let error = read("nested.docx", "docx", docx).expect_err("refused");
    assert!(
        matches!(error, DocumentError::BrokenDocx { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("nested more than 64 deep"),
        "{error}"
    );
}

#[test]
fn docx_nested_tables_keep_their_text_in_their_cell() {
    let cell = |inner: &str| format!("<w:tc>{inner}</w:tc>");
    let table = |rows: &[String]| {
        let rows: String = rows.iter().map(|r| format!("<w:tr>{r}</w:tr>")).collect();
        format!("<w:tbl>{rows}</w:tbl>")
    };
    let p = |t: &str| docx_paragraph(t, None);
    let innermost = table(&[cell(&p("C")) + &cell(&p("D")), cell(&p("F"))]);
    let middle = table(&[cell(&(p("B") + &innermost))]);
    let empty = table(&[cell(&p(""))]);
    let outer = table(&[
        cell(&(p("A") + &middle + &empty)) + &cell(&p("E")),
        cell(&p("")) + &cell(&p("")),
        cell(&p("G")),
    ]);
    let body = [p("Before"), outer, p("After")].concat();
    let doc = read("nested.docx", "docx", make_docx(&body)).expect("reads");
    assert_eq!(doc.text, "Before\n\nA B C | D; F | E\nG\n\nAfter");
}

#[test]
fn docx_zip_bomb_stops_at_the_xml_cap_in_bounded_memory() {
    // 130 MiB of XML in a 130 KB file; before, it was unpacked whole (up to 256 MiB) first.
    use zip::write::SimpleFileOptions;
    let dir = temp_dir();
    let path = dir.path().join("bomb.docx");
    let file = std::fs::File::create(&path).expect("create");
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("word/document.xml", options).expect("entry");
    zip.write_all(b"<w:document xmlns:w=\"w\"><w:body><!--")
        .expect("write");
    let filler = vec![b'a'; 1 << 20];
    for _ in 0..130 {
        zip.write_all(&filler).expect("write");
    }
    zip.write_all(b"--></w:body></w:document>").expect("write");
    zip.finish().expect("finish");
    let size = std::fs::metadata(&path).expect("size").len();
    assert!(size < 1 << 20, "a small file: {size} bytes");

    let in_process = path.clone();
    let error = within("zip bomb", move || documents::extract(&in_process)).expect_err("refused");
    assert!(
        error.to_string().contains("unpacks to more than 128 MiB"),
        "{error}"
    );
    let error = within("zip bomb, isolated", move || {
        documents::extract_isolated(&path, &isolation(1024))
    })
    .expect_err("refused");
    assert!(
        matches!(error, DocumentError::BrokenDocx { .. }),
        "refused for what it is, within 1 GiB: {error:?}"
    );
}

#[test]
fn epub_spine_of_100_000_items_is_refused_quickly() {
    // 100,000 chapters named in the spine, each a real file: reading them all would be a
    // book of a hundred thousand parts; the spine is refused as soon as it passes 2,000.
    let mut manifest = String::new();
    let mut spine = String::new();
    for i in 0..100_000 {
        manifest.push_str(&format!(
            r#"<item id="c{i}" href="c.xhtml" media-type="application/xhtml+xml"/>"#
        ));
        spine.push_str(&format!(r#"<itemref idref="c{i}"/>"#));
    }
    let [mimetype, container, package] = epub_package(&manifest, &spine);
    let chapter = b"<html><body><h1>Again</h1><p>The same chapter.</p></body></html>";
    let bytes = make_zip(&[
        (mimetype.0, mimetype.1.as_bytes()),
        (container.0, container.1.as_bytes()),
        (package.0, package.1.as_bytes()),
        ("OEBPS/c.xhtml", chapter),
    ]);
    eprintln!("spine of 100,000: {} bytes", bytes.len());
    let dir = temp_dir();
    let path = write(dir.path(), "spine.epub", &bytes);
    let error = within("long spine, isolated", move || {
        documents::extract_isolated(&path, &isolation(512))
    })
    .expect_err("refused");
    assert!(
        matches!(error, DocumentError::BrokenEpub { .. }),
        "refused for what it is, within 512 MiB: {error:?}"
    );
    assert!(
        error.to_string().contains("more than 2000 documents"),
        "{error}"
    );
}

#[test]
fn odt_zip_bomb_stops_at_the_xml_cap_in_bounded_memory() {
    // 130 MiB of content.xml in a small file: parsed while unpacked, refused at 128 MiB.
    use zip::write::SimpleFileOptions;
    let dir = temp_dir();
    let path = dir.path().join("bomb.odt");
    let file = std::fs::File::create(&path).expect("create");
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        "mimetype",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .expect("entry");
    zip.write_all(b"application/vnd.oasis.opendocument.text")
        .expect("write");
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("content.xml", options).expect("entry");
    zip.write_all(b"<office:document-content xmlns:office=\"o\" xmlns:text=\"t\"><office:body><office:text><text:p>x</text:p><!--")
        .expect("write");
    let filler = vec![b'a'; 1 << 20];
    for _ in 0..130 {
        zip.write_all(&filler).expect("write");
    }
    zip.write_all(b"--></office:text></office:body></office:document-content>")
        .expect("write");
    zip.finish().expect("finish");
    let size = std::fs::metadata(&path).expect("size").len();
    assert!(size < 1 << 20, "a small file: {size} bytes");

    let error = within("odt zip bomb, isolated", move || {
        documents::extract_isolated(&path, &isolation(1024))
    })
    .expect_err("refused");
    assert!(
        matches!(error, DocumentError::BrokenOdt { .. }),
        "refused for what it is, within 1 GiB: {error:?}"
    );
    assert!(
        error.to_string().contains("unpacks to more than 128 MiB"),
        "{error}"
    );
}

#[test]
fn docx_whose_zip_header_understates_the_size_is_refused() {
    // The archive says 1,000 bytes; 20 MiB come out. The header is not trusted.
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", options).expect("entry");
    zip.write_all(b"<w:document xmlns:w=\"w\"><w:body><!--")
        .expect("write");
    zip.write_all(&vec![b'a'; 20 << 20]).expect("write");
    zip.write_all(b"--></w:body></w:document>").expect("write");
    let mut bytes = zip.finish().expect("finish").into_inner();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    bytes[22..26].copy_from_slice(&1000u32.to_le_bytes());
    let central = bytes
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory");
    bytes[central + 24..central + 28].copy_from_slice(&1000u32.to_le_bytes());
    let error = read("liar.docx", "docx", bytes).expect_err("refused");
    assert!(
        matches!(error, DocumentError::BrokenDocx { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("larger than its declared"),
        "{error}"
    );
}

#[test]
fn docx_text_limit_stops_reading_early() {
    let paragraphs = docx_paragraph("twenty characters ok", None).repeat(200_000);
    let docx = make_docx(&paragraphs);
    let limits = Limits {
        max_file_bytes: 64 << 20,
        max_text_chars: 10_000,
    };
    let dir = temp_dir();
    let path = write(dir.path(), "long.docx", &docx);
    let error =
        within("long docx", move || documents::extract_with(&path, &limits)).expect_err("too long");
    assert!(
        matches!(
            error,
            DocumentError::TooMuchText {
                complete: false,
                limit: 10_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("more than 10000"), "{error}");
}

// ---- HTML ----

#[test]
fn html_a_million_nested_elements_read_in_linear_time() {
    // Before: html5ever scanned the stack of open elements for each new one (quadratic).
    const DEPTH: usize = 1_000_000;
    for tag in ["div", "b", "table"] {
        let mut page = format!("<{tag}>").repeat(DEPTH);
        page.push_str("deep text");
        page.push_str(&format!("</{tag}>").repeat(DEPTH));
        page.push_str("<p>after</p>");
        let doc = read("deep.html", "html", page.into_bytes()).expect("reads");
        assert!(doc.text.contains("deep text"), "{tag}: {:?}", doc.text);
        assert!(doc.text.ends_with("after"), "{tag}: {:?}", doc.text);
    }
}

#[test]
fn html_16_mb_of_unclosed_paragraphs_is_refused_quickly_in_bounded_memory() {
    // Before: the DOM of this page took over 1 GiB before any text limit applied.
    let page = "<p>x".repeat(4_000_000);
    let dir = temp_dir();
    let path = write(dir.path(), "paragraphs.html", page.as_bytes());
    let error = read("paragraphs.html", "html", page.into_bytes()).expect_err("too long");
    assert!(
        matches!(
            error,
            DocumentError::TooMuchText {
                complete: false,
                ..
            }
        ),
        "{error:?}"
    );
    let error = within("paragraphs, isolated", move || {
        documents::extract_isolated(&path, &isolation(1024))
    })
    .expect_err("too long");
    assert!(
        matches!(error, DocumentError::TooMuchText { .. }),
        "refused for its length within 1 GiB: {error:?}"
    );
}

#[test]
fn html_a_tag_with_a_million_attributes_reads_quickly() {
    // html5ever's tokenizer compares each new attribute with all earlier ones (quadratic).
    let mut page = String::from("<p ");
    for i in 0..1_000_000 {
        page.push_str(&format!("a{i}=\"v\" "));
    }
    page.push_str("hidden>secret</p><p>shown</p>");
    let doc = read("attributes.html", "html", page.into_bytes()).expect("reads");
    assert_eq!(doc.text, "shown");
}

#[test]
fn html_over_the_size_cap_is_refused_before_parsing() {
    let page = vec![b'x'; 33 << 20];
    let error = read("huge.html", "html", page).expect_err("too large");
    assert!(
        matches!(error, DocumentError::TooLarge { limit, .. } if limit == 32 << 20),
        "{error:?}"
    );
}

#[test]
fn html_entities_raw_text_and_broken_markup() {
    let page = "<p>Fish &amp; chips &lt;3 &#x41;&#66; caf&eacute; &notit; &amp x&#0;y &bogus;</p>\
        <script>if (a < b) { s = '</p><p>NOT TEXT'; }</script>\
        <xmp><b>raw</b></xmp>\
        <p title='a > b' hidden=\"\">HIDDEN</p>\
        <!-- a comment <p>NOT TEXT</p> -->\
        <ul><li>one<li>two</ul>\
        <p>last</p><!-- never closed <p>NOT TEXT</p>";
    let doc = read("entities.html", "html", page.as_bytes().to_vec()).expect("reads");
    assert_eq!(
        doc.text,
        "Fish & chips <3 AB café ¬it; & x\u{FFFD}y &bogus;\n\n<b>raw</b>\n\n- one\n- two\n\nlast"
    );
    // An input that ends inside a tag drops the tag, as browsers do.
    let doc = read(
        "cut.html",
        "html",
        b"<p>kept</p><p class=\"unterminated".to_vec(),
    )
    .expect("reads");
    assert_eq!(doc.text, "kept");
}

// ---- Text, Markdown ----

#[test]
fn text_and_markdown_are_linear_on_adversarial_lines() {
    let hashes = "#".repeat(MAX_TEXT_CHARS);
    let doc = read("hashes.md", "md", hashes.into_bytes()).expect("reads");
    assert!(doc.sections.is_empty(), "seven or more #s are no heading");

    // Millions of headings in a text that is too long: refused before any marker is built.
    let headings = "# h\n".repeat(2_000_000);
    let error = read("headings.md", "md", headings.into_bytes()).expect_err("too long");
    assert!(
        matches!(
            error,
            DocumentError::TooMuchText {
                complete: true,
                chars: 8_000_000,
                ..
            }
        ),
        "{error:?}"
    );

    let line = vec![b'a'; 60 << 20];
    let error = read("line.txt", "txt", line).expect_err("too long");
    assert!(
        matches!(error, DocumentError::TooMuchText { .. }),
        "{error:?}"
    );

    // Data URIs are shortened in one pass: a text of nothing but their starts.
    let starts = "data:x;base64,".repeat(250_000);
    let doc = read("starts.md", "md", starts.clone().into_bytes()).expect("reads");
    assert_eq!(doc.text, starts);

    // Three megabytes of Latin-1 (not UTF-8: the encoding is guessed, in linear time).
    let mut latin1 = b"caf\xe9 cr\xe8me br\xfbl\xe9e \xe0 la fran\xe7aise. ".repeat(75_000);
    latin1.extend_from_slice(b" end");
    let doc = read("latin1.txt", "txt", latin1).expect("reads");
    assert!(
        doc.text.starts_with("café crème brûlée à la française.") && doc.text.ends_with(" end"),
        "{}",
        &doc.text[..80]
    );
}

// ---- Chunker ----

/// Like a real tokenizer: cost proportional to the text, about 4 bytes per token.
fn subword_tokens(text: &str) -> Result<usize, SummarizeError> {
    Ok(text
        .split_whitespace()
        .map(|w| w.len().div_ceil(4))
        .sum::<usize>())
}

#[test]
fn chunker_cuts_text_without_whitespace_in_linear_time() {
    // Before: each chunk counted all the text left after it (quadratic: minutes for 4 MB).
    let text: String = (0..4_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let budget = 128;
    let shared = std::sync::Arc::new(text);
    let text = std::sync::Arc::clone(&shared);
    let chunks = within("4 MB without whitespace", move || {
        chunk_text(&text, budget, 16, &mut subword_tokens)
    })
    .expect("chunks");
    let text = shared.as_str();
    let mut next = 0;
    for chunk in &chunks {
        assert_eq!(chunk.range.start, next);
        assert!(chunk.tokens <= budget);
        assert_eq!(
            subword_tokens(chunk.text(text)).expect("count"),
            chunk.tokens
        );
        next = chunk.range.end;
    }
    assert_eq!(next, text.len());
    assert!(
        chunks.len() >= text.len() / (budget * 4),
        "full chunks: {} for {} bytes",
        chunks.len(),
        text.len()
    );
}

// ---- Isolation ----

/// The system's shell and the flag that gives it a script: what each OS has, and a child that
/// can end in every way (an exit code, a signal or an exception code, too much output, never).
const SHELL: (&str, &str) = if cfg!(windows) {
    ("cmd.exe", "/c")
} else {
    ("/bin/sh", "-c")
};

/// Runs `script` (for [`SHELL`]) as the isolated child.
fn shell(script: &str, isolation: &Isolation) -> Result<Vec<u8>, IsolationError> {
    let mut isolation = isolation.clone();
    isolation.exe = PathBuf::from(SHELL.0);
    isolation.run(&[OsStr::new(SHELL.1), OsStr::new(script)], &|| false)
}

/// The same child in the words of each shell: `sh` on Unix, `cmd` on Windows (where a crash is
/// an exception code, given here to `exit`: what Windows reports for a process that died of it).
fn script(unix: &'static str, windows: &'static str) -> &'static str {
    if cfg!(windows) {
        windows
    } else {
        unix
    }
}

#[test]
fn isolation_names_every_way_a_child_ends() {
    let base = isolation(256);
    let ok = shell(script("printf ok", "echo ok"), &base).expect("ok");
    assert_eq!(String::from_utf8_lossy(&ok).trim_end(), "ok");

    let error = shell(
        script(
            "echo first >&2; echo 'it broke' >&2; exit 4",
            "echo first>&2& echo it broke>&2& exit 4",
        ),
        &base,
    )
    .expect_err("code");
    assert!(
        matches!(&error, IsolationError::Exited { code: 4, last_line, .. } if last_line == "it broke"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "it exited with code 4: it broke");

    // 0xC0000005, STATUS_ACCESS_VIOLATION.
    let error = shell(script("kill -SEGV $$", "exit -1073741819"), &base).expect_err("crash");
    let crashed = if cfg!(windows) {
        "it crashed (access violation)"
    } else {
        "it crashed (SIGSEGV: invalid memory access)"
    };
    assert_eq!(error.to_string(), crashed);

    // 0xC00000FD, STATUS_STACK_OVERFLOW.
    let error = shell(
        script(
            "echo \"thread 'main' has overflowed its stack\" >&2; kill -ABRT $$",
            "echo thread 'main' has overflowed its stack>&2& exit -1073741571",
        ),
        &base,
    )
    .expect_err("stack");
    assert_eq!(error.to_string(), "it crashed (stack overflow)");

    // 0xC0000409, how Rust's abort ends a process on Windows.
    let error = shell(
        script(
            "echo 'memory allocation of 1073741824 bytes failed' >&2; kill -ABRT $$",
            "echo memory allocation of 1073741824 bytes failed>&2& exit -1073740791",
        ),
        &base,
    )
    .expect_err("oom");
    assert_eq!(error.to_string(), "it ran out of its 256 MiB memory limit");

    // What a C library's failed assertion ends in: SIGABRT, or on Windows the C runtime's
    // abort(), exit code 3. The last line it wrote says why.
    let error = shell(
        script(
            "echo 'GGML_ASSERT(x) failed' >&2; kill -ABRT $$",
            "echo GGML_ASSERT(x) failed>&2& exit 3",
        ),
        &base,
    )
    .expect_err("abort");
    let aborted = if cfg!(windows) {
        "aborted"
    } else {
        "SIGABRT: aborted"
    };
    assert_eq!(
        error.to_string(),
        format!("it crashed ({aborted}; it said: GGML_ASSERT(x) failed)")
    );

    // Never ends on its own.
    let forever = script("sleep 30", "for /l %i in (1,0,2) do @rem");
    let mut quick = base.clone();
    quick.wall = Duration::from_millis(300);
    let started = Instant::now();
    let error = shell(forever, &quick).expect_err("timeout");
    assert!(
        matches!(error, IsolationError::TimedOut { .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at once"
    );

    let mut small = base.clone();
    small.max_output_bytes = 1 << 20;
    let error = shell(
        script(
            "head -c 5000000 /dev/zero",
            "for /l %i in (1,1,20000) do @echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
        ),
        &small,
    )
    .expect_err("too much");
    assert!(
        matches!(error, IsolationError::OutputTooLarge { .. }),
        "{error:?}"
    );

    let started = Instant::now();
    let mut isolation = base.clone();
    isolation.exe = PathBuf::from(SHELL.0);
    let error = isolation
        .run(&[OsStr::new(SHELL.1), OsStr::new(forever)], &|| {
            started.elapsed() > Duration::from_millis(200)
        })
        .expect_err("cancelled");
    assert!(matches!(error, IsolationError::Cancelled), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at once"
    );

    let mut missing = base;
    missing.exe = PathBuf::from("/nonexistent/xgen-desk");
    let error = missing.run(&[], &|| false).expect_err("missing");
    assert!(error.to_string().contains("could not start"), "{error}");
}

/// Linux refuses the reader address space past its limit (RLIMIT_AS), Windows committed memory
/// (the job object's per-process limit); macOS's footprint watch is a poll, too coarse for a
/// test of this size.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn isolated_reader_out_of_memory_is_a_clear_error() {
    let dir = temp_dir();
    let small = write(dir.path(), "small.txt", b"A small text.");
    // Latin-1 that doubles as UTF-8: 60 MB read, then 120 MB decoded.
    let big = write(dir.path(), "big.txt", &vec![0xE9; 60 << 20]);
    // The reader fits in 128 MiB for a small file...
    let doc = documents::extract_isolated(&small, &isolation(128)).expect("small reads");
    assert_eq!(doc.text, "A small text.");
    // ...but not for this one.
    let error = within("out of memory", move || {
        documents::extract_isolated(&big, &isolation(128))
    })
    .expect_err("out of memory");
    assert!(
        matches!(
            error,
            DocumentError::ReaderOutOfMemory {
                format: Format::Text,
                limit_bytes,
                ..
            } if limit_bytes == 128 << 20
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("big.txt") && message.contains("128.0 MiB"),
        "{message}"
    );
}

#[test]
fn isolated_reader_gives_what_reading_in_process_gives() {
    let dir = temp_dir();
    let files = [
        write(
            dir.path(),
            "pages.pdf",
            // Over 16 characters a page: a page with less text is read by OCR too, seconds a
            // page, which the short limit of this test does not allow on a loaded machine.
            &make_pdf(&[
                &["The first page of the text."],
                &["The second page of the text."],
            ]),
        ),
        write(
            dir.path(),
            "report.docx",
            &make_docx(
                &[
                    docx_paragraph("Title", Some("Title")),
                    docx_paragraph("Body.", None),
                ]
                .concat(),
            ),
        ),
        write(
            dir.path(),
            "page.html",
            b"<main><h1>Head</h1><p>Text.</p></main>",
        ),
        write(dir.path(), "notes.md", b"# One\nText.\n## Two\nMore.\n"),
        write(
            dir.path(),
            "-dash.txt",
            b"A file name that starts with a dash.",
        ),
    ];
    for file in &files {
        let expected = documents::extract(file).expect("reads in process");
        let isolated = documents::extract_isolated(file, &isolation(2048)).expect("reads isolated");
        assert_eq!(isolated, expected, "{}", file.display());
    }
    let binary = write(
        dir.path(),
        "program.txt",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    let error = documents::extract_isolated(&binary, &isolation(2048)).expect_err("binary");
    assert!(matches!(error, DocumentError::Binary { .. }), "{error:?}");
    let missing = dir.path().join("missing.txt");
    let error = documents::extract_isolated(&missing, &isolation(2048)).expect_err("missing");
    assert!(matches!(error, DocumentError::Io { .. }), "{error:?}");

    // A reader that takes seconds (pages with under 16 characters go through OCR), so that the
    // child cannot end before the parent first looks at the clock, however loaded the machine.
    let slow = write(
        dir.path(),
        "short-pages.pdf",
        &make_pdf(&[&["First page."], &["Second page."]]),
    );
    let mut no_time = isolation(2048);
    no_time.wall = Duration::ZERO;
    let error = documents::extract_isolated(&slow, &no_time).expect_err("timed out");
    assert!(
        matches!(
            error,
            DocumentError::ReaderTimedOut {
                format: Format::Pdf,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("the PDF reader stopped after 0 s on short-pages.pdf"),
        "{error}"
    );
    let error = documents::extract_isolated_until(&files[0], &isolation(2048), &|| true)
        .expect_err("cancelled");
    assert!(
        matches!(error, DocumentError::Cancelled { .. }),
        "{error:?}"
    );
}

/// What is not a file gets a clear error without being opened: a named pipe nobody writes to
/// would keep the reader waiting forever, a device would stream until a limit. A folder is
/// refused by both readers; the in-process one (the CLI's) reads a pipe as a stream.
#[cfg(unix)]
#[test]
fn folders_pipes_and_devices_are_not_documents() {
    use xgen_desk::documents::SpecialFile;

    let dir = temp_dir();
    let fifo = dir.path().join("notes.txt");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    for (path, what) in [
        (fifo.clone(), SpecialFile::Pipe),
        (PathBuf::from("/dev/zero"), SpecialFile::Device),
        (dir.path().to_path_buf(), SpecialFile::Folder),
    ] {
        let isolated = {
            let path = path.clone();
            within("the isolated reader on a special file", move || {
                documents::extract_isolated(&path, &isolation(2048))
            })
        };
        let error = isolated.expect_err("not a file");
        assert!(
            matches!(&error, DocumentError::NotAFile { what: w, .. } if *w == what),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(&format!("is {what}")), "{text}");
        let advice = if what == SpecialFile::Folder {
            "summarize the documents in it"
        } else {
            "save what it gives to a file"
        };
        assert!(text.contains(advice), "{text}");
    }
    let error = documents::extract(dir.path()).expect_err("a folder");
    assert!(
        matches!(
            error,
            DocumentError::NotAFile {
                what: SpecialFile::Folder,
                ..
            }
        ),
        "{error:?}"
    );
    // In process, a pipe is a stream: what is written to it is read.
    let writer = {
        let fifo = fifo.clone();
        crate::common::spawn("fifo-writer", move || {
            std::fs::write(&fifo, "Text that came through a pipe.\n")
        })
    };
    let doc = within("reading a pipe in process", move || {
        documents::extract(&fifo)
    })
    .expect("read from the pipe");
    writer.join().unwrap().unwrap();
    assert_eq!(doc.text, "Text that came through a pipe.\n");
}

// ---- The extract command ----

fn xgen_desk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(args)
        .env("XGEN_DESK_LOG", "error")
        .output()
        .expect("run xgen-desk")
}

#[test]
fn extract_prints_text_with_markers_or_json() {
    let dir = temp_dir();
    let pdf = write(
        dir.path(),
        "pages.pdf",
        &make_pdf(&[&["First page text."], &["Second page text."]]),
    );
    let pdf = pdf.to_str().expect("utf-8 path");
    let output = xgen_desk(&["extract", pdf]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(
        stdout,
        "--- page 1 ---\nFirst page text.\n\n--- page 2 ---\nSecond page text.\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pages.pdf: PDF, 2 pages, 35 characters"),
        "{stderr}"
    );

    let output = xgen_desk(&["extract", "--json", pdf]);
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["format"], "Pdf");
    assert_eq!(json["pages"], 2);
    assert_eq!(json["characters"], 35);
    assert_eq!(json["sections"][1]["label"], "page 2");
    assert_eq!(json["text"], "First page text.\n\nSecond page text.");
    assert_eq!(json["warnings"], serde_json::json!([]));

    let md = write(dir.path(), "notes.md", b"Intro.\n# One\nText.");
    let output = xgen_desk(&["extract", md.to_str().expect("utf-8")]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Intro.\n--- heading: One ---\n# One\nText.\n"
    );
}

#[test]
fn extract_of_an_unreadable_file_exits_non_zero_with_the_reason() {
    let dir = temp_dir();
    let binary = write(
        dir.path(),
        "program.txt",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    let binary = binary.to_str().expect("utf-8");
    let output = xgen_desk(&["extract", binary]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: could not read") && stderr.contains("looks like a binary file"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = xgen_desk(&["extract", "--json", binary]);
    assert!(!output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["error"]["kind"], "binary");
    assert_eq!(json["error"]["name"], "program.txt");

    // `summarize` reads through the isolated reader: the same words, before any model.
    let output = xgen_desk(&["summarize", binary]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("looks like a binary file"), "{stderr}");
}

#[test]
fn extract_into_a_closed_pipe_is_a_normal_exit() {
    let dir = temp_dir();
    let text = "Many words here. ".repeat(200_000);
    let path = write(dir.path(), "long.txt", text.as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(["extract", path.to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut head)
        .expect("read the head");
    // The pipe is closed here, as `| head` does.
    let output = within("closed pipe", move || child.wait_with_output()).expect("wait");
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(head.starts_with(b"Many words here."));
}
