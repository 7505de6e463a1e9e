//! Images of pages: PNG, JPEG and TIFF (one page or many, as fax machines and scanners write
//! them), their text recognised by OCR, one page marker per image.
//!
//! Decoding is bounded like every reader: each page at most [`MAX_PIXELS`] pixels (checked
//! from the header, before any pixel is decoded), at most [`MAX_PAGES`] pages, and the
//! decoders' own allocation limits.

use std::io::Cursor;

use super::{
    no_text_found, Body, DocumentError, Limits, OcrSummary, Reading, SectionKind, TextBuilder,
};
use crate::ocr::{Gray, Ocr};

/// Largest page decoded: 100 million pixels (an A4 page at 1,200 dpi is 140 million; at 600
/// dpi, 35 million).
pub(crate) const MAX_PIXELS: u64 = 100_000_000;

/// Most pages of a TIFF read.
pub(crate) const MAX_PAGES: usize = 2_000;

/// The image kinds read, by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Png,
    Jpeg,
    Tiff,
}

/// The kind of image the first bytes show.
pub(crate) fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some(Kind::Tiff)
    } else {
        None
    }
}

/// An image file.
pub(crate) fn read(
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    reading: &Reading<'_>,
) -> Result<Body, DocumentError> {
    let broken = |reason: String| DocumentError::BrokenImage {
        name: name.to_owned(),
        reason,
    };
    let pages: Box<dyn Iterator<Item = Result<Gray, String>>> = match sniff(bytes) {
        Some(Kind::Tiff) => Box::new(tiff_pages(bytes).map_err(broken)?),
        Some(kind) => Box::new(std::iter::once(single(bytes, kind))),
        None => {
            return Err(broken(
                "its first bytes are not those of a PNG, JPEG or TIFF image".into(),
            ))
        }
    };
    let total = pages.size_hint().0.max(1);
    let ocr = Ocr::shared().map_err(|e| DocumentError::ImageWithoutText {
        name: name.to_owned(),
        pages: total,
        why: format!("OCR is not available: {e}"),
    })?;
    let mut out = TextBuilder::with_limit(limits.max_text_chars);
    let mut read_pages = Vec::new();
    let (mut weighted, mut characters) = (0.0, 0usize);
    (reading.progress)(super::ReadProgress { done: 0, total });
    for (index, page) in pages.enumerate() {
        let number = index + 1;
        let page = page.map_err(|reason| {
            broken(if total > 1 {
                format!("page {number}: {reason}")
            } else {
                reason
            })
        })?;
        let text = ocr.read(&page).map_err(|e| DocumentError::ReaderFailed {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        (reading.progress)(super::ReadProgress {
            done: number,
            total,
        });
        if text.paragraphs.is_empty() {
            continue;
        }
        out.mark(SectionKind::Page, format!("page {number}"));
        for paragraph in &text.paragraphs {
            out.block(paragraph, super::Sep::Paragraph);
        }
        read_pages.push(number);
        weighted += f64::from(text.confidence) * text.characters as f64;
        characters += text.characters;
        if out.is_full() {
            break;
        }
    }
    if read_pages.is_empty() {
        return Err(DocumentError::ImageWithoutText {
            name: name.to_owned(),
            pages: total,
            why: no_text_found(total),
        });
    }
    let confidence = if characters == 0 {
        0.0
    } else {
        weighted / characters as f64
    };
    out.ocr(
        OcrSummary {
            pages: read_pages,
            confidence: (confidence * 100.0).round().clamp(0.0, 100.0) as u8,
        },
        total,
    );
    Ok(out.finish())
}

/// Refuses an image larger than [`MAX_PIXELS`].
fn check_size(width: u32, height: u32) -> Result<(), String> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(format!(
            "it is {width} x {height} pixels, more than the {} million read (a page scanned at 600 dpi is about 35 million)",
            MAX_PIXELS / 1_000_000
        ));
    }
    if width == 0 || height == 0 {
        return Err("it has no pixels".into());
    }
    Ok(())
}

/// A PNG or JPEG, turned upright by its orientation tag (a phone's photo of a page).
fn single(bytes: &[u8], kind: Kind) -> Result<Gray, String> {
    use image::ImageDecoder;
    let format = match kind {
        Kind::Png => image::ImageFormat::Png,
        Kind::Jpeg => image::ImageFormat::Jpeg,
        Kind::Tiff => image::ImageFormat::Tiff,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    gray(&image)
}

/// The image as gray: transparency shows the white page.
fn gray(image: &image::DynamicImage) -> Result<Gray, String> {
    let rgba = image.to_rgba8();
    let (width, height) = rgba.dimensions();
    Gray::from_rgba(width as usize, height as usize, rgba.as_raw())
        .ok_or_else(|| "its pixels do not match its size".to_owned())
}

/// The pages of a TIFF, decoded one at a time as they are asked for.
fn tiff_pages(bytes: &[u8]) -> Result<TiffPages<'_>, String> {
    let decoder = tiff::decoder::Decoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    // Counting the pages reads only the directories, not the pixels.
    let mut counter = tiff::decoder::Decoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut pages = 1;
    while counter.more_images() && pages < MAX_PAGES {
        counter.next_image().map_err(|e| e.to_string())?;
        pages += 1;
    }
    Ok(TiffPages {
        decoder,
        pages,
        next: 0,
    })
}

struct TiffPages<'a> {
    decoder: tiff::decoder::Decoder<Cursor<&'a [u8]>>,
    pages: usize,
    next: usize,
}

impl Iterator for TiffPages<'_> {
    type Item = Result<Gray, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.pages {
            return None;
        }
        if self.next > 0 {
            if let Err(e) = self.decoder.next_image() {
                self.next = self.pages;
                return Some(Err(e.to_string()));
            }
        }
        self.next += 1;
        Some(tiff_page(&mut self.decoder))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.pages - self.next;
        (left, Some(left))
    }
}

/// The current page of a TIFF as gray.
fn tiff_page(decoder: &mut tiff::decoder::Decoder<Cursor<&[u8]>>) -> Result<Gray, String> {
    use tiff::decoder::DecodingResult;
    use tiff::ColorType;
    let (width, height) = decoder.dimensions().map_err(|e| e.to_string())?;
    check_size(width, height)?;
    let color = decoder.colortype().map_err(|e| e.to_string())?;
    // A bilevel page (a fax) is 1 where the ink is, unless its photometric tag says white is
    // zero; the decoder gives the bits as stored, expanded to bytes here.
    let white_is_zero = matches!(
        decoder.get_tag_u32(tiff::tags::Tag::PhotometricInterpretation),
        Ok(0)
    );
    let result = decoder.read_image().map_err(|e| e.to_string())?;
    let (w, h) = (width as usize, height as usize);
    let pixels: Vec<u8> = match (color, result) {
        (ColorType::Gray(1), DecodingResult::U8(data)) => {
            let stride = w.div_ceil(8);
            let mut out = Vec::with_capacity(w * h);
            for row in data.chunks(stride).take(h) {
                for x in 0..w {
                    let bit = row.get(x / 8).map_or(0, |b| (b >> (7 - x % 8)) & 1);
                    let ink = if white_is_zero { bit == 1 } else { bit == 0 };
                    out.push(if ink { 0 } else { 255 });
                }
            }
            out
        }
        (ColorType::Gray(8), DecodingResult::U8(data)) => {
            if white_is_zero {
                data.iter().map(|v| 255 - v).collect()
            } else {
                data
            }
        }
        (ColorType::Gray(16), DecodingResult::U16(data)) => {
            data.iter().map(|v| (v >> 8) as u8).collect()
        }
        (ColorType::RGB(8), DecodingResult::U8(data)) => {
            return rgb_to_gray(&data, 3, w, h);
        }
        (ColorType::RGBA(8), DecodingResult::U8(data)) => {
            return Gray::from_rgba(w, h, &data)
                .ok_or_else(|| "its pixels do not match its size".into());
        }
        (ColorType::GrayA(8), DecodingResult::U8(data)) => {
            data.chunks_exact(2).map(|p| p[0]).collect()
        }
        (ColorType::CMYK(8), DecodingResult::U8(data)) => data
            .chunks_exact(4)
            .map(|p| {
                let k = 255 - u32::from(p[3]);
                let c = |v: u8| (255 - u32::from(v)) * k / 255;
                let luma = (c(p[0]) * 299 + c(p[1]) * 587 + c(p[2]) * 114) / 1000;
                luma.min(255) as u8
            })
            .collect(),
        (color, _) => return Err(format!("its pixel format ({color:?}) is not read")),
    };
    Gray::new(w, h, pixels).ok_or_else(|| "its pixels do not match its size".into())
}

fn rgb_to_gray(data: &[u8], channels: usize, w: usize, h: usize) -> Result<Gray, String> {
    let pixels = data
        .chunks_exact(channels)
        .map(|p| {
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        })
        .collect();
    Gray::new(w, h, pixels).ok_or_else(|| "its pixels do not match its size".into())
}
