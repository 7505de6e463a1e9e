//! Pages drawn as images for OCR, by hayro, a PDF rasterizer written in Rust: what a viewer
//! shows, whatever the scanner put in the file (JPEG, JPEG 2000, JBIG2 or CCITT fax images,
//! in strips, under a rotation, masked), and for pages whose text pdf-extract cannot read,
//! their glyphs drawn from the embedded fonts.
//!
//! hayro parses the file again on its own (pdf-extract's parse has the images emptied, see
//! [`super::load`]); it runs only for the pages that need OCR, each under `catch_unwind`,
//! inside the reader's child process and its limits.

use std::panic::AssertUnwindSafe;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};

use super::super::caught::catch;
use crate::ocr::Gray;

/// Pages are drawn at this resolution: what OCR reads best, and what scanners write.
const DPI: f32 = 300.0;

/// The longer side of a drawn page is at most this many pixels (a letter page at 300 dpi is
/// 3,300): a poster-sized page is drawn at a lower resolution instead of taking gigabytes.
const MAX_SIDE: f32 = 4_400.0;

/// A document opened for drawing.
pub(super) struct Renderer {
    pdf: Pdf,
}

impl Renderer {
    /// Opens the document (the same bytes the text reader parsed).
    pub(super) fn open(bytes: &[u8]) -> Result<Self, String> {
        let pdf = catch(AssertUnwindSafe(|| Pdf::new(bytes.to_vec())))
            .map_err(|_| "the page renderer failed on the file".to_owned())?
            .map_err(|e| format!("the page renderer could not open it ({e:?})"))?;
        Ok(Self { pdf })
    }

    /// Pages the renderer sees.
    pub(super) fn pages(&self) -> usize {
        self.pdf.pages().len()
    }

    /// Page `index` (from 0) drawn in gray on white.
    pub(super) fn page(&self, index: usize) -> Result<Gray, String> {
        let pages = self.pdf.pages();
        let page = pages
            .get(index)
            .ok_or_else(|| format!("the renderer has no page {}", index + 1))?;
        let drawn = catch(AssertUnwindSafe(|| {
            let (width, height) = page.render_dimensions();
            let long = width.max(height).max(1.0);
            let scale = (DPI / 72.0).min(MAX_SIDE / long);
            let cache = RenderCache::new();
            hayro::render(
                page,
                &cache,
                &InterpreterSettings::default(),
                &RenderSettings::default(),
                &PixmapSettings {
                    x_scale: scale,
                    y_scale: scale,
                    bg_color: WHITE,
                },
            )
        }))
        .map_err(|_| "the page renderer failed on it".to_owned())?;
        Gray::from_rgba(
            usize::from(drawn.width()),
            usize::from(drawn.height()),
            drawn.data_as_u8_slice(),
        )
        .ok_or_else(|| "the renderer gave an image of the wrong size".to_owned())
    }
}
