//! Page images as OCR sees them: grayscale, one byte a pixel, with the few operations the
//! pipeline needs (scaling, turning by quarter turns, straightening by a small angle, cutting
//! out a text line). Text is dark on light in nearly every document; colour carries nothing
//! the models need, and a gray page costs a third of the memory of an RGB one.

/// A grayscale image, row after row, one byte a pixel (0 black, 255 white).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// A rectangle in pixels of an image, edges as floating-point coordinates (`x0 <= x1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub(crate) x0: f32,
    pub(crate) y0: f32,
    pub(crate) x1: f32,
    pub(crate) y1: f32,
}

impl Rect {
    pub(crate) fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    pub(crate) fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    pub(crate) fn center_y(&self) -> f32 {
        (self.y0 + self.y1) / 2.0
    }

    /// How much of the shorter of the two vertical extents the other covers (0 to 1).
    pub(crate) fn vertical_overlap(&self, other: &Rect) -> f32 {
        let overlap = self.y1.min(other.y1) - self.y0.max(other.y0);
        let shorter = self.height().min(other.height());
        if shorter <= 0.0 {
            0.0
        } else {
            (overlap / shorter).max(0.0)
        }
    }
}

impl Gray {
    /// An image from its pixels, or `None` when there are not `width * height` of them.
    #[must_use]
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (width.checked_mul(height)? == pixels.len()).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    /// A white image.
    #[must_use]
    pub fn white(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![255; width * height],
        }
    }

    /// An image from RGBA pixels (premultiplied or not: the page behind is white), by luma.
    #[must_use]
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Option<Self> {
        if width.checked_mul(height)?.checked_mul(4)? != rgba.len() {
            return None;
        }
        let pixels = rgba
            .chunks_exact(4)
            .map(|p| {
                let alpha = u32::from(p[3]);
                let luma =
                    (u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000;
                // Transparent parts show the white page.
                let shown = (luma * alpha + 255 * (255 - alpha)) / 255;
                u8::try_from(shown.min(255)).unwrap_or(255)
            })
            .collect();
        Some(Self {
            width,
            height,
            pixels,
        })
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row after row.
    #[must_use]
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// The value at a point between pixel centres, bilinear; outside the image it is white.
    fn sample(&self, x: f32, y: f32) -> f32 {
        if self.width == 0 || self.height == 0 {
            return 255.0;
        }
        let (w, h) = (self.width as f32, self.height as f32);
        if x < -0.5 || y < -0.5 || x > w - 0.5 || y > h - 0.5 {
            return 255.0;
        }
        let x = x.clamp(0.0, w - 1.0);
        let y = y.clamp(0.0, h - 1.0);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = f32::from(self.at(x0, y0)) * (1.0 - fx) + f32::from(self.at(x1, y0)) * fx;
        let bottom = f32::from(self.at(x0, y1)) * (1.0 - fx) + f32::from(self.at(x1, y1)) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The image shrunk by whole factors, each output pixel the mean of its block: before a
    /// bilinear step, so that a large reduction averages every pixel instead of skipping most
    /// of them (thin strokes would vanish).
    fn shrunk_by(&self, fx: usize, fy: usize) -> Self {
        let (fx, fy) = (fx.max(1), fy.max(1));
        if fx == 1 && fy == 1 {
            return self.clone();
        }
        let width = (self.width / fx).max(1);
        let height = (self.height / fy).max(1);
        let mut pixels = Vec::with_capacity(width * height);
        for oy in 0..height {
            let ys = oy * fy..((oy + 1) * fy).min(self.height);
            for ox in 0..width {
                let xs = ox * fx..((ox + 1) * fx).min(self.width);
                let mut sum = 0u32;
                let mut count = 0u32;
                for y in ys.clone() {
                    let row = &self.pixels[y * self.width..(y + 1) * self.width];
                    for &v in &row[xs.clone()] {
                        sum += u32::from(v);
                        count += 1;
                    }
                }
                pixels.push(u8::try_from(sum / count.max(1)).unwrap_or(255));
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// The image scaled to `width` x `height`.
    #[must_use]
    pub(crate) fn resized(&self, width: usize, height: usize) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        if width == self.width && height == self.height {
            return self.clone();
        }
        let source = self.shrunk_by(self.width / width, self.height / height);
        let sx = source.width as f32 / width as f32;
        let sy = source.height as f32 / height as f32;
        let mut pixels = Vec::with_capacity(width * height);
        for oy in 0..height {
            let y = (oy as f32 + 0.5) * sy - 0.5;
            for ox in 0..width {
                let x = (ox as f32 + 0.5) * sx - 0.5;
                pixels.push(source.sample(x, y).round() as u8);
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// The image turned clockwise by `quarters` quarter turns.
    #[must_use]
    pub fn turned(&self, quarters: u8) -> Self {
        let (w, h) = (self.width, self.height);
        match quarters % 4 {
            0 => self.clone(),
            2 => Self {
                width: w,
                height: h,
                pixels: self.pixels.iter().rev().copied().collect(),
            },
            q => {
                let mut pixels = Vec::with_capacity(w * h);
                // Turned clockwise, output row `y` is input column `y` read bottom to top;
                // counter-clockwise, input column `w - 1 - y` read top to bottom.
                for y in 0..w {
                    for x in 0..h {
                        let (sx, sy) = if q == 1 {
                            (y, h - 1 - x)
                        } else {
                            (w - 1 - y, x)
                        };
                        pixels.push(self.at(sx, sy));
                    }
                }
                Self {
                    width: h,
                    height: w,
                    pixels,
                }
            }
        }
    }

    /// The image turned counter-clockwise by `degrees` (a small angle, to straighten a skewed
    /// scan) about its centre, on a canvas large enough to hold all of it, white around.
    #[must_use]
    pub fn rotated(&self, degrees: f32) -> Self {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (w, h) = (self.width as f32, self.height as f32);
        let width = (w * cos.abs() + h * sin.abs()).ceil() as usize;
        let height = (w * sin.abs() + h * cos.abs()).ceil() as usize;
        let (cx, cy) = (w / 2.0, h / 2.0);
        let (ox, oy) = (width as f32 / 2.0, height as f32 / 2.0);
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            let dy = y as f32 + 0.5 - oy;
            for x in 0..width {
                let dx = x as f32 + 0.5 - ox;
                // The source of an output pixel: the inverse rotation (y grows downwards, so a
                // counter-clockwise turn on screen is a clockwise one in these coordinates).
                let sx = cos * dx - sin * dy + cx - 0.5;
                let sy = sin * dx + cos * dy + cy - 0.5;
                pixels.push(self.sample(sx, sy).round() as u8);
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// The part of the image inside `rect` (clamped to the image) scaled to `height` rows,
    /// its width in proportion (at least 1, at most `max_width`), as network input: values
    /// from -1 (black) to 1 (white), one plane.
    pub(crate) fn line_input(&self, rect: Rect, height: usize, max_width: usize) -> LineInput {
        let x0 = rect.x0.clamp(0.0, self.width as f32);
        let x1 = rect.x1.clamp(0.0, self.width as f32);
        let y0 = rect.y0.clamp(0.0, self.height as f32);
        let y1 = rect.y1.clamp(0.0, self.height as f32);
        let (rw, rh) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
        let width = ((rw * height as f32 / rh).round() as usize).clamp(1, max_width.max(1));
        let sx = rw / width as f32;
        let sy = rh / height as f32;
        // A line much taller than the network's input is averaged over a few rows per output
        // row first, so strokes of a high-resolution scan survive the reduction.
        let taps = (sy.floor() as usize).clamp(1, 4);
        let mut values = Vec::with_capacity(width * height);
        for oy in 0..height {
            for ox in 0..width {
                let x = x0 + (ox as f32 + 0.5) * sx - 0.5;
                let mut sum = 0.0;
                for t in 0..taps {
                    let y = y0 + (oy as f32 + (t as f32 + 0.5) / taps as f32) * sy - 0.5;
                    sum += self.sample(x, y);
                }
                values.push(sum / taps as f32 / 127.5 - 1.0);
            }
        }
        LineInput { width, values }
    }

    /// The whole image scaled to `width` x `height`, as network input (see
    /// [`Gray::line_input`]).
    pub(crate) fn input(&self, width: usize, height: usize) -> Vec<f32> {
        self.resized(width, height)
            .pixels
            .iter()
            .map(|&v| f32::from(v) / 127.5 - 1.0)
            .collect()
    }
}

/// A text line cut out and scaled for a network.
#[derive(Debug, Clone)]
pub(crate) struct LineInput {
    pub(crate) width: usize,
    /// Row after row, -1 (black) to 1 (white).
    pub(crate) values: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(width: usize, height: usize) -> Gray {
        let pixels = (0..width * height).map(|i| (i % 251) as u8).collect();
        Gray::new(width, height, pixels).unwrap()
    }

    #[test]
    fn four_quarter_turns_give_the_image_back() {
        let image = numbered(5, 3);
        let once = image.turned(1);
        assert_eq!((once.width(), once.height()), (3, 5));
        // The top-left pixel goes to the top-right corner on a clockwise turn.
        assert_eq!(once.at(2, 0), image.at(0, 0));
        assert_eq!(image.turned(3).at(0, 4), image.at(0, 0));
        assert_eq!(once.turned(1).turned(1).turned(1), image);
        assert_eq!(image.turned(2).turned(2), image);
        assert_eq!(image.turned(1).turned(3), image);
    }

    #[test]
    fn shrinking_averages_blocks() {
        let image = Gray::new(4, 2, vec![0, 255, 0, 255, 0, 255, 0, 255]).unwrap();
        let small = image.resized(2, 1);
        assert_eq!(small.pixels(), &[127, 127]);
    }

    #[test]
    fn rotating_by_zero_keeps_the_image() {
        let image = numbered(6, 4);
        assert_eq!(image.rotated(0.0), image);
        let turned = image.rotated(10.0);
        assert!(turned.width() > 6 && turned.height() > 4);
    }

    #[test]
    fn line_input_keeps_the_aspect_ratio() {
        let image = Gray::white(400, 100);
        let line = image.line_input(
            Rect {
                x0: 0.0,
                y0: 0.0,
                x1: 400.0,
                y1: 100.0,
            },
            48,
            10_000,
        );
        assert_eq!(line.width, 192);
        assert_eq!(line.values.len(), 192 * 48);
        assert!(line.values.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }
}
