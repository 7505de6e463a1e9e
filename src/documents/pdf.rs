//! PDF: the text layer, page by page, through `pdf-extract`; each page becomes a marker.
//!
//! pdf-extract is not written for hostile files, so the document is first rewritten into a
//! shape whose cost is known: [`load`] decodes every stream under size limits, [`fonts`]
//! drops the font programs and CMaps its parsers would overflow or fail on, [`bounds`]
//! flattens the page tree and checks the forms each page draws. Each page is then read under
//! `catch_unwind`, because pdf-extract panics on much that it does not expect, and one bad
//! page must cost only that page. The running character count stops a document over the text
//! limit while it is read, not after.

mod bounds;
mod fonts;
mod load;
mod quotes;
mod render;
mod repair;

use std::fmt;
use std::panic::AssertUnwindSafe;

use pdf_extract::{MediaBox, OutputDev, OutputError, PlainTextOutput, Transform};

use super::caught::catch;
use super::{
    no_text_found, Body, DocumentError, Limits, OcrSummary, ReadProgress, Reading, SectionKind,
    Sep, TextBuilder,
};

/// A PDF document.
pub(crate) fn read(
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    reading: &Reading<'_>,
) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenPdf {
        name: name.to_owned(),
        reason,
    };
    let Some(start) = header_offset(bytes) else {
        return Err(broken(format!(
            "it has no %PDF- header in its first {HEADER_WINDOW} bytes"
        )));
    };
    let parse = |bytes: &[u8]| {
        catch(|| load::load(bytes))
            .map_err(|panic| load::LoadError::Unparsed(format!("the PDF parser failed: {panic}")))?
    };
    // Bytes before the header (a byte-order mark, a mail or HTTP header saved with the file)
    // were added after the PDF was written, so its offsets count from the header; a file
    // whose writer counted them too still parses whole.
    let from_header = &bytes[start..];
    let parsed = match parse(from_header) {
        Err(load::LoadError::Unparsed(_)) if start > 0 => parse(bytes),
        parsed => parsed,
    };
    // A file whose cross-reference table does not match its bytes is read again with one
    // rebuilt from the objects themselves, as viewers do.
    let (mut doc, repaired) = match parsed {
        Ok(doc) => (doc, false),
        Err(load::LoadError::Unparsed(reason)) => {
            match repair::rebuild(from_header).map(|fixed| parse(&fixed)) {
                Some(Ok(doc)) => (doc, true),
                Some(Err(load::LoadError::Limit(limit))) => return Err(broken(limit)),
                Some(Err(load::LoadError::Unparsed(_))) | None => return Err(broken(reason)),
            }
        }
        Err(load::LoadError::Limit(reason)) => return Err(broken(reason)),
    };
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(DocumentError::EncryptedPdf {
            name: name.to_owned(),
        });
    }
    let mut body = read_pages(name, bytes, &mut doc, limits.max_text_chars, reading)?;
    if repaired {
        body.warnings.insert(
            0,
            "its cross-reference table does not match the file (damaged or edited after it was written): its objects were found by scanning it".into(),
        );
    }
    Ok(body)
}

/// How far into a file its `%PDF-` header may start: PDF readers accept bytes before the
/// header, within the first kilobyte.
const HEADER_WINDOW: usize = 1024;

/// Where the `%PDF-` header starts, if it does within [`HEADER_WINDOW`] bytes.
pub(crate) fn header_offset(bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(HEADER_WINDOW + 5)];
    head.windows(5).position(|w| w == b"%PDF-")
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// What reading one page's text layer gave.
enum PageText {
    /// Its text as pdf-extract wrote it (possibly empty: a scanned page).
    Text(String),
    /// pdf-extract failed on it (an error or a panic): OCR of the drawn page may still read it.
    Failed(String),
    /// Refused before reading (a hostile form structure): left out.
    Refused(String),
}

/// Pages whose text layer holds fewer characters than this (spaces aside) are read by OCR
/// too: a scanned page often carries a page number or a scanner's stamp as text.
const MIN_PAGE_CHARS: usize = 16;

fn read_pages(
    name: &str,
    bytes: &[u8],
    doc: &mut pdf_extract::Document,
    max_chars: usize,
    reading: &Reading<'_>,
) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenPdf {
        name: name.to_owned(),
        reason,
    };
    let pages = bounds::pages(doc).map_err(broken)?;
    if pages.ids.is_empty() {
        return Err(broken("it has no pages".into()));
    }
    let mut texts: Vec<PageText> = Vec::with_capacity(pages.ids.len());
    let mut work = bounds::Work::default();
    let mut chars = 0;
    for &page in &pages.ids {
        if let Err(reason) = bounds::check_page(doc, page, &mut work) {
            texts.push(PageText::Refused(reason));
            continue;
        }
        if work.total > bounds::MAX_DOCUMENT_WORK {
            return Err(broken(format!(
                "reading its pages would parse more than {} MiB of content",
                mib(bounds::MAX_DOCUMENT_WORK)
            )));
        }
        bounds::select(doc, &pages, page);
        quotes::spell_out(doc, page);
        let mut raw = String::new();
        let mut sink = Counted {
            inner: PlainTextOutput::new(&mut raw),
            chars,
            limit: max_chars,
        };
        let doc: &pdf_extract::Document = doc;
        let result = catch(AssertUnwindSafe(|| {
            pdf_extract::output_doc_page(doc, &mut sink, 1)
        }));
        chars = sink.chars;
        if chars > max_chars {
            return Err(DocumentError::TooMuchText {
                name: name.to_owned(),
                chars,
                limit: max_chars,
                complete: false,
            });
        }
        texts.push(match result {
            Ok(Ok(())) => PageText::Text(raw),
            Ok(Err(error)) => PageText::Failed(error.to_string()),
            Err(panic) => PageText::Failed(format!("the PDF parser failed: {panic}")),
        });
    }
    let total = pages.ids.len();
    let recognized = recognize_pages(bytes, &texts, pages.repeated == 0, reading);
    let mut out = TextBuilder::with_limit(max_chars);
    let mut unreadable: Vec<(usize, String)> = Vec::new();
    let mut ocr_pages = Vec::new();
    let (mut weighted, mut ocr_chars) = (0.0, 0usize);
    for (index, text) in texts.iter().enumerate() {
        let number = index + 1;
        let ocr = recognized.pages.get(&index);
        let layer = match text {
            PageText::Text(raw) => Some(raw.as_str()),
            PageText::Failed(_) | PageText::Refused(_) => None,
        };
        let layer_chars = layer.map_or(0, |raw| raw.chars().filter(|c| !c.is_whitespace()).count());
        match ocr {
            Some(page) if page.characters > layer_chars => {
                out.mark(SectionKind::Page, format!("page {number}"));
                for paragraph in &page.paragraphs {
                    out.block(paragraph, Sep::Paragraph);
                }
                ocr_pages.push(number);
                weighted += f64::from(page.confidence) * page.characters as f64;
                ocr_chars += page.characters;
            }
            _ => match (text, layer) {
                (_, Some(raw)) => {
                    out.mark(SectionKind::Page, format!("page {number}"));
                    for paragraph in paragraphs(raw) {
                        out.block(&paragraph, Sep::Paragraph);
                    }
                }
                // pdf-extract failed, but the page was drawn and OCR saw no text on it: a
                // page of pictures (a template with placeholder operators, as in
                // libcam-pdf-perl's), not an unreadable one.
                (PageText::Failed(_), None) if recognized.drawn.contains(&index) => {}
                (PageText::Failed(reason) | PageText::Refused(reason), None) => {
                    unreadable.push((number, reason.clone()));
                }
                (PageText::Text(_), None) => {}
            },
        }
    }
    if unreadable.len() == total {
        let reason = unreadable.into_iter().next().map_or_else(
            || "no page could be read".into(),
            |(n, r)| format!("page {n}: {r}"),
        );
        return Err(broken(reason));
    }
    if let Some((first, reason)) = unreadable.first() {
        let list: Vec<String> = unreadable.iter().map(|(n, _)| n.to_string()).collect();
        out.warn(format!(
            "{} of {total} pages could not be read and are left out: page {} (page {first}: {reason})",
            unreadable.len(),
            list.join(", ")
        ));
    }
    if pages.repeated > 0 {
        out.warn(format!(
            "the PDF's page list names the same page more than once ({} repeats); each page is read once",
            pages.repeated
        ));
    }
    if let Some(why) = &recognized.unavailable {
        let blank = texts
            .iter()
            .filter(|t| matches!(t, PageText::Text(raw) if raw.trim().is_empty()))
            .count();
        if blank > 0 && blank < total {
            out.warn(format!(
                "{blank} of {total} pages have no text layer and were not read: {why}"
            ));
        }
    }
    if !ocr_pages.is_empty() {
        let confidence = if ocr_chars == 0 {
            0.0
        } else {
            weighted / ocr_chars as f64
        };
        out.ocr(
            OcrSummary {
                pages: ocr_pages,
                confidence: (confidence * 100.0).round().clamp(0.0, 100.0) as u8,
            },
            total,
        );
    }
    let body = out.finish();
    if body.text.trim().is_empty() {
        return Err(DocumentError::ScannedPdf {
            name: name.to_owned(),
            pages: total,
            why: recognized.unavailable.map_or_else(
                || no_text_found(total),
                |why| format!("OCR is not available: {why}"),
            ),
        });
    }
    Ok(body)
}

/// Pages read by OCR, by index, and why OCR could not run when it could not.
#[derive(Default)]
struct Recognized {
    pages: std::collections::HashMap<usize, crate::ocr::PageText>,
    /// Pages drawn and read by OCR, whether it found text or not.
    drawn: std::collections::HashSet<usize>,
    unavailable: Option<String>,
}

/// Draws and recognises the pages whose text layer is (nearly) empty or that pdf-extract
/// failed on, reporting each page done. `aligned`: the renderer's pages are the reader's (no
/// page listed twice in the page tree).
fn recognize_pages(
    bytes: &[u8],
    texts: &[PageText],
    aligned: bool,
    reading: &Reading<'_>,
) -> Recognized {
    let wanted: Vec<usize> = texts
        .iter()
        .enumerate()
        .filter(|(_, t)| match t {
            PageText::Text(raw) => {
                raw.chars()
                    .filter(|c| !c.is_whitespace())
                    .take(MIN_PAGE_CHARS)
                    .count()
                    < MIN_PAGE_CHARS
            }
            PageText::Failed(_) => true,
            PageText::Refused(_) => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mut out = Recognized::default();
    if wanted.is_empty() {
        return out;
    }
    let ocr = match crate::ocr::Ocr::shared() {
        Ok(ocr) => ocr,
        Err(e) => {
            out.unavailable = Some(e.to_string());
            return out;
        }
    };
    let renderer = match render::Renderer::open(bytes) {
        Ok(renderer) if aligned && renderer.pages() == texts.len() => renderer,
        Ok(_) => {
            out.unavailable = Some("its page list could not be matched to the drawn pages".into());
            return out;
        }
        Err(why) => {
            out.unavailable = Some(why);
            return out;
        }
    };
    let total = wanted.len();
    (reading.progress)(ReadProgress { done: 0, total });
    for (done, &index) in wanted.iter().enumerate() {
        // A page that cannot be drawn or read keeps what its text layer gave.
        if let Ok(page) = renderer.page(index) {
            if let Ok(text) = ocr.read(&page) {
                out.drawn.insert(index);
                if text.characters > 0 {
                    out.pages.insert(index, text);
                }
            }
        }
        (reading.progress)(ReadProgress {
            done: done + 1,
            total,
        });
    }
    out
}

/// pdf-extract's plain-text output, counting characters as they come so that reading stops
/// at the text limit instead of building the whole text first.
struct Counted<'a> {
    inner: PlainTextOutput<&'a mut String>,
    chars: usize,
    limit: usize,
}

impl OutputDev for Counted<'_> {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.inner.begin_page(page_num, media_box, art_box)
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.inner.end_page()
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.chars += char.chars().count();
        if self.chars > self.limit {
            // pdf-extract stops at the first error; the caller sees the count and says why.
            return Err(OutputError::FormatError(fmt::Error));
        }
        // pdf-extract's plain-text output measures the font size as the square root of the
        // transformed size's x times y, which is NaN under a mirrored text matrix (dvips and
        // Distiller write `0.12 0 0 -0.12 x y Tm` with a flipped font matrix): every spacing
        // test then fails and the words of a page run together. The mirror changes no
        // position, so it is taken out of the glyph's axes before the output sees them.
        let mut trm = *trm;
        if trm.m11 * trm.m22 - trm.m12 * trm.m21 < 0.0 {
            trm.m21 = -trm.m21;
            trm.m22 = -trm.m22;
        }
        // The output's spacing thresholds are fractions of the font size. A glyph wider than
        // two ems is a font whose size is not where pdf-extract looks for it (a Type 3 font
        // scaled by its own matrix, see `fonts::scale_type3_widths`, set at `1 Tf`): its size
        // is estimated from the glyph, taken as half an em wide. Width times size, where the
        // glyph ends, is unchanged.
        let (width, font_size) = if width > 2.0 {
            (0.5, font_size * width / 0.5)
        } else {
            (width, font_size)
        };
        self.inner
            .output_character(&trm, width, spacing, font_size, char)
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.inner.begin_word()
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        self.inner.end_word()
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        self.inner.end_line()
    }
}

/// Splits a page's extracted text into paragraphs at blank lines, with line-end spaces and
/// runs of spaces tidied.
fn paragraphs(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in raw.lines() {
        let line = collapse_leaders(&line.split_whitespace().collect::<Vec<_>>().join(" "));
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Leaders, the runs of dots (`. . . . .`, `.....`, `·····`) that join a table-of-contents
/// entry to its page number, and long rules of `_` or `-` (form fields, separators), shortened
/// to three characters: a line of dot leaders is dozens of tokens that say nothing, and a
/// manual's contents pages can cost thousands of a summary's tokens.
fn collapse_leaders(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let least = match c {
            '.' | '·' | '•' => 4,
            '_' | '-' | '=' => 8,
            _ => 0,
        };
        if least == 0 {
            out.push(c);
            i += 1;
            continue;
        }
        // The run: `c`, then more `c`, each after at most one space.
        let mut count = 1;
        let mut end = i + 1;
        loop {
            let next = if chars.get(end) == Some(&' ') {
                end + 1
            } else {
                end
            };
            if chars.get(next) == Some(&c) {
                count += 1;
                end = next + 1;
            } else {
                break;
            }
        }
        if count >= least {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            out.extend([c; 3]);
            if end < chars.len() && chars[end] != ' ' {
                out.push(' ');
            }
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}
