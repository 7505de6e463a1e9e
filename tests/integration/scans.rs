//! Scans made here: pages of text whose words are known, set in a PDF, drawn as images by the
//! same PDF rasterizer the reader uses (hayro), then packed as image-only PDFs, PNG or TIFF
//! files, turned or skewed as a scanner or a hurried person would.

use std::io::Write;

use crate::common::pdf_file;
use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};
use xgen_desk::ocr::Gray;

/// A few sentences of plain English prose, one line each, as a letter would have them.
pub const LETTER: &[&str] = &[
    "Quarterly report of the river station",
    "Water levels rose by twelve centimetres in March after heavy rain in the hills.",
    "The new pump was installed on the fourth of April and has run without trouble.",
    "Three volunteers counted birds along the north bank every Saturday morning.",
    "We thank the council for the grant that paid for the fence and the signs.",
];

/// Words of a text: runs of letters and digits, lower-cased.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The share of `expected`'s words (as a multiset) found in `got`.
pub fn recall(expected: &str, got: &str) -> f64 {
    let mut pool = words(got);
    let wanted = words(expected);
    let mut found = 0;
    for w in &wanted {
        if let Some(i) = pool.iter().position(|p| p == w) {
            pool.swap_remove(i);
            found += 1;
        }
    }
    found as f64 / wanted.len().max(1) as f64
}

/// A text PDF of `width` x `height` points, one page per entry; each page draws its blocks,
/// each block lines in Helvetica `size` points from its top-left corner (x, y from the top).
pub fn text_pdf(width: f32, height: f32, size: f32, pages: &[Vec<(f32, f32, &[&str])>]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        Vec::new(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    let mut kids = Vec::new();
    for blocks in pages {
        let mut ops = String::new();
        for &(x, y, lines) in blocks {
            ops.push_str(&format!(
                "BT /F1 {size} Tf {} TL {x} {} Td ",
                size * 1.25,
                height - y - size
            ));
            for line in lines {
                ops.push_str(&format!(
                    "({}) Tj T* ",
                    line.replace('(', "\\(").replace(')', "\\)")
                ));
            }
            ops.push_str("ET\n");
        }
        let page = objects.len() + 1;
        kids.push(format!("{page} 0 R"));
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                page + 1
            )
            .into_bytes(),
        );
        objects.push(stream("", ops.as_bytes()));
    }
    objects[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        kids.len()
    )
    .into_bytes();
    pdf_file(&objects)
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Page `index` of a PDF drawn at `dpi`, in gray.
pub fn render(pdf: &[u8], index: usize, dpi: f32) -> Gray {
    let pdf = Pdf::new(pdf.to_vec()).expect("a PDF hayro opens");
    let pages = pdf.pages();
    let page = &pages[index];
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &PixmapSettings {
            x_scale: dpi / 72.0,
            y_scale: dpi / 72.0,
            bg_color: WHITE,
        },
    );
    Gray::from_rgba(
        usize::from(pixmap.width()),
        usize::from(pixmap.height()),
        pixmap.data_as_u8_slice(),
    )
    .expect("pixels match the size")
}

/// One page of an image-only PDF: the image, its resolution, and the text layer to put on
/// the page instead (a mixed document's text pages).
pub enum ScanPage<'a> {
    /// A scanned page.
    Image { image: &'a Gray, dpi: f32 },
    /// A page with a text layer: lines of Helvetica 12.
    Text(&'a [&'a str]),
}

/// A PDF of scanned pages (8-bit gray images, deflated, each page the image's size) and, for
/// a mixed document, pages with a text layer.
pub fn scan_pdf(pages: &[ScanPage<'_>]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        Vec::new(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    let mut kids = Vec::new();
    for page in pages {
        let number = objects.len() + 1;
        kids.push(format!("{number} 0 R"));
        match page {
            ScanPage::Image { image, dpi } => {
                let w = image.width() as f32 * 72.0 / dpi;
                let h = image.height() as f32 * 72.0 / dpi;
                objects.push(
                    format!(
                        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /XObject << /Im0 {} 0 R >> >> /Contents {} 0 R >>",
                        number + 1,
                        number + 2
                    )
                    .into_bytes(),
                );
                let mut deflate =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                deflate.write_all(image.pixels()).unwrap();
                objects.push(stream(
                    &format!(
                        "/Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                        image.width(),
                        image.height()
                    ),
                    &deflate.finish().unwrap(),
                ));
                objects.push(stream(
                    "",
                    format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q").as_bytes(),
                ));
            }
            ScanPage::Text(lines) => {
                objects.push(
                    format!(
                        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                        number + 1
                    )
                    .into_bytes(),
                );
                let mut ops = String::from("BT /F1 12 Tf 15 TL 72 720 Td ");
                for line in *lines {
                    ops.push_str(&format!("({line}) Tj T* "));
                }
                ops.push_str("ET");
                objects.push(stream("", ops.as_bytes()));
            }
        }
    }
    objects[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        kids.len()
    )
    .into_bytes();
    pdf_file(&objects)
}

/// The letter as a scan: a half-letter page of it drawn at `dpi`.
pub fn letter_scan(dpi: f32) -> Gray {
    let pdf = text_pdf(612.0, 300.0, 11.0, &[vec![(54.0, 40.0, LETTER)]]);
    render(&pdf, 0, dpi)
}

/// The image encoded as PNG.
pub fn png(image: &Gray) -> Vec<u8> {
    let mut out = Vec::new();
    let buffer = image::GrayImage::from_raw(
        u32::try_from(image.width()).unwrap(),
        u32::try_from(image.height()).unwrap(),
        image.pixels().to_vec(),
    )
    .unwrap();
    buffer
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The images as the pages of one TIFF (LZW-compressed gray).
pub fn tiff(pages: &[&Gray]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(tiff::encoder::Compression::Lzw);
    for page in pages {
        encoder
            .write_image::<tiff::encoder::colortype::Gray8>(
                u32::try_from(page.width()).unwrap(),
                u32::try_from(page.height()).unwrap(),
                page.pixels(),
            )
            .unwrap();
    }
    out.into_inner()
}
