//! OCR: the text of page images (scanned PDFs, photographs of pages, faxes), recognised on the
//! CPU, offline, by networks built into the program.
//!
//! The engine is PaddleOCR's PP-OCRv6 (small): a text detector that marks where lines are and
//! a recogniser that reads each line, plus PaddleOCR's text direction classifier, all as ONNX
//! files from the PyPI package `rapidocr`, run by `rten`, a runtime written in Rust (no C++
//! runtime to build or ship on three systems). Why these, and what they read: docs/ocr.md.
//!
//! A page goes through: detection on the page scaled to at most [`DETECT_SIDE`] pixels; the
//! pose of its lines (turned by a quarter, skewed by a few degrees), and when the page is not
//! straight, detection again on the straightened page; the direction classifier on its widest
//! lines (upside down?); recognition of every line on the full-resolution page; and the
//! lines put in reading order (`layout`).

mod detect;
mod image;
mod layout;
mod orient;
mod recognize;

use std::sync::OnceLock;

use rten::{Model, ModelOptions, Value};

pub use image::Gray;
use image::Rect;
use recognize::Charset;

/// Detection runs on the page scaled so that its longer side is at most this many pixels: a
/// letter page at 300 dpi is 3300 pixels high, and its 10-point text is still about 20 pixels
/// high at this size, which the detector finds reliably.
pub const DETECT_SIDE: usize = 1920;

/// Larger images are scaled down to this longer side before anything else (a 600 dpi poster
/// scan would otherwise take gigabytes).
const MAX_SIDE: usize = 6000;

/// The recogniser reads lines scaled to this height.
const LINE_HEIGHT: usize = 48;

/// The widest line the recogniser is given (lines are about 40 characters per 1,000 pixels
/// at this height, so this is far past any printed line).
const MAX_LINE_WIDTH: usize = 48 * 80;

/// Most output steps (eight pixels of line each) recognised in one batch: the output holds a
/// probability for each of the model's 18,710 characters at each step (75 KiB), so this
/// bounds a batch's output at about 45 MiB.
const MAX_BATCH_STEPS: usize = 600;

/// Lines recognised together at most.
const MAX_BATCH_LINES: usize = 16;

/// The direction classifier reads lines scaled to this size.
const DIRECTION_WIDTH: usize = 192;

/// Lines shown to the direction classifier.
const DIRECTION_LINES: usize = 24;

/// Skews smaller than this (in degrees) are left as they are.
const MIN_SKEW: f32 = 0.3;

/// Lines read with a lower mean confidence than this are dropped: what the recogniser makes
/// of a picture, a stain or a signature.
const MIN_LINE_CONFIDENCE: f32 = 0.5;

/// What can go wrong in OCR.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OcrError {
    /// The program was built without the models.
    #[error("this build of xgen-desk has no OCR models built in: run scripts/fetch-ocr-models.sh and build it again")]
    NotBuiltIn,
    /// A model could not be loaded.
    #[error("the OCR {what} could not be loaded: {reason}")]
    Load {
        /// Which model.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A model failed on a page.
    #[error("the OCR {what} failed: {reason}")]
    Run {
        /// Which model.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The text of one page image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageText {
    /// Paragraphs in reading order; lines within one joined by `\n`.
    pub paragraphs: Vec<String>,
    /// Mean probability the recogniser gave its characters, 0 to 1 (0 when none).
    pub confidence: f32,
    /// Characters recognised (spaces and line breaks not counted).
    pub characters: usize,
    /// Quarter turns clockwise the page was given to make it upright.
    pub quarter_turns: u8,
    /// Degrees the page was turned counter-clockwise to straighten its lines.
    pub straightened: f32,
}

/// The OCR engine: the three networks, loaded once.
pub struct Ocr {
    detector: Model,
    recognizer: Model,
    direction: Model,
    charset: Charset,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("characters", &self.charset.classes())
            .finish_non_exhaustive()
    }
}

impl Ocr {
    /// Whether this build has the models built in.
    #[must_use]
    pub fn available() -> bool {
        xgen_ocr_models::DETECTOR.is_some()
            && xgen_ocr_models::RECOGNIZER.is_some()
            && xgen_ocr_models::DIRECTION.is_some()
    }

    /// The engine with the built-in models, loaded on first use and kept for the process.
    ///
    /// # Errors
    /// [`OcrError::NotBuiltIn`] for a build without them, [`OcrError::Load`] when one does not
    /// load.
    pub fn shared() -> Result<&'static Self, OcrError> {
        static SHARED: OnceLock<Result<Ocr, OcrError>> = OnceLock::new();
        SHARED
            .get_or_init(Self::built_in)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn built_in() -> Result<Self, OcrError> {
        let (Some(detector), Some(recognizer), Some(direction)) = (
            xgen_ocr_models::DETECTOR,
            xgen_ocr_models::RECOGNIZER,
            xgen_ocr_models::DIRECTION,
        ) else {
            return Err(OcrError::NotBuiltIn);
        };
        // Prepacked weights (copies in the layout the matrix kernels read) take a few
        // megabytes and a fraction of a second at load, and save a good part of every run.
        let mut options = ModelOptions::with_all_ops();
        options.prepack_weights(true);
        let load = |what: &'static str, bytes: &'static [u8]| {
            options
                .load_static_slice(bytes)
                .map_err(|e| OcrError::Load {
                    what,
                    reason: e.to_string(),
                })
        };
        let recognizer = load("text recogniser", recognizer)?;
        let list = recognizer
            .metadata()
            .get("character")
            .ok_or_else(|| OcrError::Load {
                what: "text recogniser",
                reason: "its character list is missing".into(),
            })?;
        let charset = Charset::from_lines(list);
        Ok(Self {
            detector: load("text detector", detector)?,
            direction: load("direction classifier", direction)?,
            recognizer,
            charset,
        })
    }

    /// Every character the recogniser can produce.
    pub fn characters(&self) -> impl Iterator<Item = &str> {
        self.charset.characters()
    }

    /// The text of a page image.
    ///
    /// # Errors
    /// [`OcrError::Run`] when a network fails on it.
    pub fn read(&self, page: &Gray) -> Result<PageText, OcrError> {
        if page.width() < 8 || page.height() < 8 {
            return Ok(PageText::default());
        }
        let long = page.width().max(page.height());
        let mut page = if long > MAX_SIDE {
            let scale = MAX_SIDE as f32 / long as f32;
            page.resized(
                (page.width() as f32 * scale).round() as usize,
                (page.height() as f32 * scale).round() as usize,
            )
        } else {
            page.clone()
        };
        let started = std::time::Instant::now();
        let mut regions = self.detect(&page)?;
        let pose = orient::pose(&regions);
        tracing::debug!(
            "OCR: {} regions detected on {}x{} in {:.2} s, pose {pose:?}",
            regions.len(),
            page.width(),
            page.height(),
            started.elapsed().as_secs_f32()
        );
        let mut quarter_turns = 0;
        let mut straightened = 0.0;
        if pose.quarter || pose.skew.abs() >= MIN_SKEW {
            if pose.quarter {
                page = page.turned(1);
                quarter_turns = 1;
            }
            if pose.skew.abs() >= MIN_SKEW {
                page = page.rotated(pose.skew);
                straightened = pose.skew;
            }
            regions = self.detect(&page)?;
        }
        let mut rects: Vec<Rect> = regions.iter().map(|r| r.rect).collect();
        if self.upside_down(&page, &rects)? {
            page = page.turned(2);
            quarter_turns += 2;
            let (w, h) = (page.width() as f32, page.height() as f32);
            for r in &mut rects {
                *r = Rect {
                    x0: w - r.x1,
                    y0: h - r.y1,
                    x1: w - r.x0,
                    y1: h - r.y0,
                };
            }
        }
        let recognizing = std::time::Instant::now();
        let read = self.recognize(&page, &rects)?;
        tracing::debug!(
            "OCR: {} lines recognised in {:.2} s ({:.2} s for the page)",
            rects.len(),
            recognizing.elapsed().as_secs_f32(),
            started.elapsed().as_secs_f32()
        );
        let mut lines = Vec::new();
        let (mut sum, mut characters) = (0.0, 0);
        for (rect, decoded) in rects.iter().zip(read) {
            if decoded.text.is_empty() || decoded.confidence < MIN_LINE_CONFIDENCE {
                continue;
            }
            let counted = decoded.text.chars().filter(|c| !c.is_whitespace()).count();
            sum += decoded.confidence * counted as f32;
            characters += counted;
            lines.push(layout::Line {
                rect: *rect,
                text: decoded.text,
            });
        }
        Ok(PageText {
            paragraphs: layout::paragraphs(&lines),
            confidence: if characters == 0 {
                0.0
            } else {
                sum / characters as f32
            },
            characters,
            quarter_turns: quarter_turns % 4,
            straightened,
        })
    }

    /// Text regions of the page, in page pixels, angles in page coordinates.
    fn detect(&self, page: &Gray) -> Result<Vec<detect::Region>, OcrError> {
        let (w, h) = (page.width(), page.height());
        let scale = (DETECT_SIDE as f32 / w.max(h) as f32).min(1.0);
        let round = |v: f32| ((v / 32.0).round() as usize).max(1) * 32;
        let (mw, mh) = (round(w as f32 * scale), round(h as f32 * scale));
        let plane = page.input(mw, mh);
        let mut input = Vec::with_capacity(plane.len() * 3);
        for _ in 0..3 {
            input.extend_from_slice(&plane);
        }
        let failed = |reason: String| OcrError::Run {
            what: "text detector",
            reason,
        };
        let input = Value::from_shape([1, 3, mh, mw], input).map_err(|e| failed(e.to_string()))?;
        let output = self
            .detector
            .run_one(input.into(), None)
            .map_err(|e| failed(e.to_string()))?;
        let (shape, probability) = output
            .into_shape_vec::<f32, 4>()
            .map_err(|e| failed(e.to_string()))?;
        if shape[2] != mh || shape[3] != mw {
            return Err(failed(format!(
                "it gave a {}x{} map for a {mw}x{mh} input",
                shape[3], shape[2]
            )));
        }
        let (fx, fy) = (mw as f32 / w as f32, mh as f32 / h as f32);
        Ok(detect::regions(&probability, mw, mh)
            .into_iter()
            .map(|mut r| {
                r.rect = Rect {
                    x0: r.rect.x0 / fx,
                    y0: r.rect.y0 / fy,
                    x1: r.rect.x1 / fx,
                    y1: r.rect.y1 / fy,
                };
                // A direction (dx, dy) on the page is (dx fx, dy fy) on the map.
                r.angle = (r.angle.to_radians().tan() * fx / fy).atan().to_degrees();
                r
            })
            .collect())
    }

    /// Whether the page's lines read upside down, by the direction classifier's vote over its
    /// widest lines (weighted by their width).
    fn upside_down(&self, page: &Gray, rects: &[Rect]) -> Result<bool, OcrError> {
        let mut candidates: Vec<&Rect> = rects
            .iter()
            .filter(|r| r.width() >= 2.0 * r.height())
            .collect();
        candidates.sort_by(|a, b| b.width().total_cmp(&a.width()));
        candidates.truncate(DIRECTION_LINES);
        if candidates.is_empty() {
            return Ok(false);
        }
        let mut input = Vec::with_capacity(candidates.len() * 3 * LINE_HEIGHT * DIRECTION_WIDTH);
        for rect in &candidates {
            let line = page.line_input(**rect, LINE_HEIGHT, DIRECTION_WIDTH);
            let padded = pad_rows(&line.values, line.width, DIRECTION_WIDTH);
            for _ in 0..3 {
                input.extend_from_slice(&padded);
            }
        }
        let failed = |reason: String| OcrError::Run {
            what: "direction classifier",
            reason,
        };
        let input = Value::from_shape([candidates.len(), 3, LINE_HEIGHT, DIRECTION_WIDTH], input)
            .map_err(|e| failed(e.to_string()))?;
        let output = self
            .direction
            .run_one(input.into(), None)
            .map_err(|e| failed(e.to_string()))?;
        let (_, scores) = output
            .into_shape_vec::<f32, 2>()
            .map_err(|e| failed(e.to_string()))?;
        let mut vote = 0.0;
        let mut flipped = 0;
        for (rect, pair) in candidates.iter().zip(scores.chunks_exact(2)) {
            vote += (pair[1] - pair[0]) * rect.width();
            if pair[1] > pair[0] {
                flipped += 1;
            }
        }
        Ok(vote > 0.0 && flipped * 2 > candidates.len())
    }

    /// Reads each line, in batches of lines of similar width.
    fn recognize(&self, page: &Gray, rects: &[Rect]) -> Result<Vec<recognize::Decoded>, OcrError> {
        let lines: Vec<image::LineInput> = rects
            .iter()
            .map(|r| page.line_input(*r, LINE_HEIGHT, MAX_LINE_WIDTH))
            .collect();
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| lines[i].width);
        let mut out = vec![
            recognize::Decoded {
                text: String::new(),
                confidence: 0.0,
                chars: 0,
            };
            lines.len()
        ];
        let failed = |reason: String| OcrError::Run {
            what: "text recogniser",
            reason,
        };
        let mut start = 0;
        while start < order.len() {
            // Widths grow along `order`: a batch ends where its widest line would make it too
            // large.
            let mut end = start + 1;
            while end < order.len()
                && end - start < MAX_BATCH_LINES
                && (end - start + 1) * steps(lines[order[end]].width) <= MAX_BATCH_STEPS
            {
                end += 1;
            }
            let batch = &order[start..end];
            let width = lines[order[end - 1]].width.div_ceil(8) * 8;
            let mut input = Vec::with_capacity(batch.len() * 3 * LINE_HEIGHT * width);
            for &i in batch {
                let padded = pad_rows(&lines[i].values, lines[i].width, width);
                for _ in 0..3 {
                    input.extend_from_slice(&padded);
                }
            }
            let input = Value::from_shape([batch.len(), 3, LINE_HEIGHT, width], input)
                .map_err(|e| failed(e.to_string()))?;
            let output = self
                .recognizer
                .run_one(input.into(), None)
                .map_err(|e| failed(e.to_string()))?;
            let (shape, probabilities) = output
                .into_shape_vec::<f32, 3>()
                .map_err(|e| failed(e.to_string()))?;
            let [_, time, classes] = shape;
            if classes != self.charset.classes() {
                return Err(failed(format!(
                    "it gave {classes} classes for a list of {}",
                    self.charset.classes()
                )));
            }
            for (k, &i) in batch.iter().enumerate() {
                let rows = &probabilities[k * time * classes..(k + 1) * time * classes];
                out[i] = recognize::decode(
                    rows,
                    time,
                    steps(lines[i].width) + 1,
                    classes,
                    &self.charset,
                );
            }
            start = end;
        }
        Ok(out)
    }
}

/// Output steps of the recogniser for a line `width` pixels wide.
fn steps(width: usize) -> usize {
    width.div_ceil(8).max(1)
}

/// Rows of `width` values widened to `to` with zeros (mid-gray in network terms, as the
/// models were trained with).
fn pad_rows(values: &[f32], width: usize, to: usize) -> Vec<f32> {
    if width >= to {
        return values.to_vec();
    }
    let mut out = Vec::with_capacity(values.len() / width.max(1) * to);
    for row in values.chunks_exact(width.max(1)) {
        out.extend_from_slice(row);
        out.resize(out.len() + (to - width), 0.0);
    }
    out
}
