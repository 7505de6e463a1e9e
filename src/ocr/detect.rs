//! Text regions from the detector's probability map.
//!
//! The detector (a "differentiable binarization" network) gives, for every pixel of the scaled
//! page, the probability that it lies in the core of a text line; the cores are the lines
//! shrunk by a fixed margin, so neighbouring lines stay apart. Here the map is thresholded,
//! its connected parts are found, each part's box is grown back by that margin ("unclipping",
//! by the rule the network was trained with), and each part's orientation is measured from its
//! second moments, which is what the page's skew and quarter-turn estimates use.

use super::image::Rect;

/// Pixels above this probability belong to a text core.
const THRESHOLD: f32 = 0.3;

/// Parts whose mean probability is below this are dropped (noise, texture).
const MIN_SCORE: f32 = 0.5;

/// How far a core's box is grown back, as the network's training shrank it: by
/// `area * UNCLIP / perimeter`.
const UNCLIP: f32 = 1.6;

/// A connected text core of the probability map.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Region {
    /// The grown box, in the map's pixels.
    pub(crate) rect: Rect,
    /// Pixels of the core.
    pub(crate) pixels: usize,
    /// Mean probability over the core.
    pub(crate) score: f32,
    /// Direction of the core's long axis in degrees, from -90 to 90, measured from the x axis
    /// towards y (which points down): a line rising to the right has a negative angle.
    pub(crate) angle: f32,
    /// How much longer the core is than it is wide (the ratio of its axes), 1 for a round blob.
    pub(crate) elongation: f32,
}

/// Running sums of one connected part.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    count: usize,
    probability: f64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
    xy: f64,
    min_x: usize,
    min_y: usize,
    max_x: usize,
    max_y: usize,
}

/// The text regions of a probability map of `width` x `height` (row after row).
pub(crate) fn regions(probability: &[f32], width: usize, height: usize) -> Vec<Region> {
    if width == 0 || height == 0 || probability.len() != width * height {
        return Vec::new();
    }
    let mut seen: Vec<bool> = probability.iter().map(|&p| p <= THRESHOLD).collect();
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..seen.len() {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut sums = Sums {
            min_x: usize::MAX,
            min_y: usize::MAX,
            ..Sums::default()
        };
        // Flood fill with an explicit stack (a page-wide part would overflow recursion), over
        // the eight neighbours, as a contour tracer sees connectivity.
        while let Some(at) = stack.pop() {
            let (x, y) = (at % width, at / width);
            let p = f64::from(probability[at]);
            let (fx, fy) = (x as f64, y as f64);
            sums.count += 1;
            sums.probability += p;
            sums.x += fx;
            sums.y += fy;
            sums.xx += fx * fx;
            sums.yy += fy * fy;
            sums.xy += fx * fy;
            sums.min_x = sums.min_x.min(x);
            sums.min_y = sums.min_y.min(y);
            sums.max_x = sums.max_x.max(x);
            sums.max_y = sums.max_y.max(y);
            for (dx, dy) in [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ] {
                let (nx, ny) = (x as isize + dx, y as isize + dy);
                if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                    continue;
                }
                let next = ny as usize * width + nx as usize;
                if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        if let Some(region) = region(&sums, width, height) {
            out.push(region);
        }
    }
    out
}

fn region(sums: &Sums, width: usize, height: usize) -> Option<Region> {
    let n = sums.count as f64;
    let score = (sums.probability / n) as f32;
    let box_w = (sums.max_x - sums.min_x + 1) as f32;
    let box_h = (sums.max_y - sums.min_y + 1) as f32;
    if score < MIN_SCORE || box_w.min(box_h) < 2.0 || sums.count < 4 {
        return None;
    }
    let (mx, my) = (sums.x / n, sums.y / n);
    let mu20 = sums.xx / n - mx * mx;
    let mu02 = sums.yy / n - my * my;
    let mu11 = sums.xy / n - mx * my;
    let angle = (0.5 * (2.0 * mu11).atan2(mu20 - mu02)).to_degrees() as f32;
    let spread = ((mu20 - mu02).powi(2) + 4.0 * mu11 * mu11).sqrt();
    let major = ((mu20 + mu02 + spread) / 2.0).max(0.0).sqrt();
    let minor = ((mu20 + mu02 - spread) / 2.0).max(0.0).sqrt();
    let elongation = if minor > 1e-6 {
        (major / minor) as f32
    } else {
        f32::MAX
    };
    let grow = box_w * box_h * UNCLIP / (2.0 * (box_w + box_h));
    let rect = Rect {
        x0: (sums.min_x as f32 - grow).max(0.0),
        y0: (sums.min_y as f32 - grow).max(0.0),
        x1: (sums.max_x as f32 + 1.0 + grow).min(width as f32),
        y1: (sums.max_y as f32 + 1.0 + grow).min(height as f32),
    };
    Some(Region {
        rect,
        pixels: sums.count,
        score,
        angle,
        elongation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map with a filled rectangle of probability 0.9 in each given box (x0, y0, x1, y1).
    fn map(width: usize, height: usize, boxes: &[(usize, usize, usize, usize)]) -> Vec<f32> {
        let mut map = vec![0.0; width * height];
        for &(x0, y0, x1, y1) in boxes {
            for y in y0..y1 {
                for x in x0..x1 {
                    map[y * width + x] = 0.9;
                }
            }
        }
        map
    }

    #[test]
    fn two_lines_are_two_grown_regions() {
        let probability = map(200, 60, &[(10, 10, 190, 18), (10, 30, 120, 38)]);
        let mut found = regions(&probability, 200, 60);
        found.sort_by(|a, b| a.rect.y0.total_cmp(&b.rect.y0));
        assert_eq!(found.len(), 2);
        let first = &found[0];
        assert!(first.rect.x0 < 10.0 && first.rect.x1 > 190.0, "{first:?}");
        assert!(first.rect.y0 < 10.0 && first.rect.y1 > 18.0, "{first:?}");
        assert!(
            first.angle.abs() < 1.0 && first.elongation > 10.0,
            "{first:?}"
        );
        assert_eq!(found[1].pixels, 110 * 8);
    }

    #[test]
    fn weak_or_tiny_parts_are_dropped() {
        let mut probability = map(50, 50, &[(5, 5, 6, 6)]);
        for p in probability.iter_mut().skip(1000).take(200) {
            *p = 0.35;
        }
        assert!(regions(&probability, 50, 50).is_empty());
    }

    #[test]
    fn a_rising_line_has_a_negative_angle() {
        let (width, height) = (300, 100);
        let mut probability = vec![0.0; width * height];
        for x in 20..280 {
            // Rises by 5 pixels every 100 to the right: about -2.9 degrees.
            let y_mid = 70 - (x - 20) * 5 / 100;
            for y in y_mid - 3..y_mid + 3 {
                probability[y * width + x] = 0.9;
            }
        }
        let found = regions(&probability, width, height);
        assert_eq!(found.len(), 1);
        let angle = found[0].angle;
        assert!((angle + 2.86).abs() < 0.3, "{angle}");
    }
}
