//! How a page lies: turned by a quarter (its lines run up and down) and skewed by a small
//! angle, read from the orientation of its detected text lines. Printed lines are long and
//! thin, so the direction of their long axis is known to a fraction of a degree, and the
//! page's skew is the median over its lines (weighted by their size, so that a few short
//! words at odd angles in a figure do not move it).
//!
//! Which way round a page is (upright or upside down, and after a quarter turn which of the
//! two directions) cannot be told from the geometry; the direction classifier decides that.

use super::detect::Region;

/// A region counts as a line when it is at least this many times longer than wide.
const MIN_ELONGATION: f32 = 3.0;

/// Skews beyond this many degrees are not straightened: such "lines" are a figure's slanted
/// labels or a photograph's edges, not a page skewed in a scanner.
const MAX_SKEW: f32 = 20.0;

/// How a page lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pose {
    /// Its lines run up and down: the page is turned by a quarter.
    pub(crate) quarter: bool,
    /// The angle of its lines in degrees once any quarter turn is undone, measured from the x
    /// axis towards y (which points down): negative when they rise to the right.
    pub(crate) skew: f32,
}

/// The pose of a page whose text regions are `regions` (angles in page coordinates).
pub(crate) fn pose(regions: &[Region]) -> Pose {
    let lines: Vec<&Region> = regions
        .iter()
        .filter(|r| r.elongation >= MIN_ELONGATION)
        .collect();
    let weight = |r: &Region| r.pixels as f64;
    let vertical: f64 = lines
        .iter()
        .filter(|r| r.angle.abs() > 45.0)
        .map(|r| weight(r))
        .sum();
    let horizontal: f64 = lines
        .iter()
        .filter(|r| r.angle.abs() <= 45.0)
        .map(|r| weight(r))
        .sum();
    let quarter = vertical > 2.0 * horizontal;
    let mut angles: Vec<(f32, f64)> = lines
        .iter()
        .filter(|r| (r.angle.abs() > 45.0) == quarter)
        .map(|r| (upright_angle(r.angle, quarter), weight(r)))
        .filter(|(a, _)| a.abs() <= MAX_SKEW)
        .collect();
    Pose {
        quarter,
        skew: weighted_median(&mut angles).unwrap_or(0.0),
    }
}

/// A line's angle once the page is turned a quarter clockwise (when `quarter`).
fn upright_angle(angle: f32, quarter: bool) -> f32 {
    if !quarter {
        return angle;
    }
    let turned = angle + 90.0;
    if turned > 90.0 {
        turned - 180.0
    } else {
        turned
    }
}

fn weighted_median(values: &mut [(f32, f64)]) -> Option<f32> {
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|v| v.1).sum();
    if total <= 0.0 {
        return None;
    }
    let mut seen = 0.0;
    for &(value, weight) in values.iter() {
        seen += weight;
        if seen >= total / 2.0 {
            return Some(value);
        }
    }
    values.last().map(|v| v.0)
}

#[cfg(test)]
mod tests {
    use super::super::image::Rect;
    use super::*;

    fn line(angle: f32, pixels: usize) -> Region {
        Region {
            rect: Rect {
                x0: 0.0,
                y0: 0.0,
                x1: 10.0,
                y1: 10.0,
            },
            pixels,
            score: 0.9,
            angle,
            elongation: 20.0,
        }
    }

    #[test]
    fn skew_is_the_weighted_median_of_line_angles() {
        let regions = [
            line(-3.1, 100),
            line(-2.9, 100),
            line(-3.0, 300),
            line(30.0, 5),
        ];
        let pose = pose(&regions);
        assert!(!pose.quarter);
        assert!((pose.skew + 3.0).abs() < 1e-6, "{pose:?}");
    }

    #[test]
    fn vertical_lines_mean_a_quarter_turn() {
        // Lines at 88 degrees: after a clockwise quarter turn they lie at -2.
        let regions = [
            line(88.0, 100),
            line(-89.0, 100),
            line(88.0, 200),
            line(1.0, 20),
        ];
        let pose = pose(&regions);
        assert!(pose.quarter);
        assert!((pose.skew + 2.0).abs() < 1e-6, "{pose:?}");
    }

    #[test]
    fn a_page_without_lines_is_upright() {
        let pose = pose(&[]);
        assert!(!pose.quarter);
        assert!(pose.skew.abs() < f32::EPSILON);
    }
}
