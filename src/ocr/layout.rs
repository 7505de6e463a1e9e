//! Reading order: the recognised lines of an upright page put into the order a person reads
//! them, columns one after the other, and grouped into paragraphs.
//!
//! The page is cut recursively (an "X-Y cut"). A column gutter is a vertical band that
//! (nearly) no line crosses, with column text on both sides: lines there are long (a form's
//! labels and values, or a table's cells, are short and are read row by row instead). Lines
//! that cross the gutter (a title or a figure across both columns) split the page into bands,
//! each band's columns read before the next band. What cannot be cut further is read top to
//! bottom, lines side by side joined, with a paragraph break where the gap between rows is
//! larger than the usual line spacing.

use super::image::Rect;

/// A recognised line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) rect: Rect,
    pub(crate) text: String,
}

/// Column text: lines on each side of a gutter have at least this median width, in line
/// heights (a line of prose holds dozens of characters, each about half a line high).
const MIN_COLUMN_LINE: f32 = 4.0;

/// The narrowest gutter between columns, in line heights.
const MIN_GUTTER: f32 = 0.8;

/// Deepest recursion of cuts (real pages need a few levels).
const MAX_DEPTH: usize = 24;

/// The page's text: paragraphs in reading order, lines within a paragraph joined by `\n`.
pub(crate) fn paragraphs(lines: &[Line]) -> Vec<String> {
    let lines: Vec<&Line> = lines.iter().filter(|l| !l.text.trim().is_empty()).collect();
    if lines.is_empty() {
        return Vec::new();
    }
    let mut heights: Vec<f32> = lines.iter().map(|l| l.rect.height()).collect();
    let line_height = median(&mut heights).max(1.0);
    let mut blocks = Vec::new();
    let all: Vec<usize> = (0..lines.len()).collect();
    cut(&lines, &all, line_height, 0, &mut blocks);
    let mut out = Vec::new();
    for block in blocks {
        out.extend(block_paragraphs(&lines, &block, line_height));
    }
    out
}

fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// Appends the blocks of `set` (indices into `lines`) to `blocks` in reading order.
fn cut(
    lines: &[&Line],
    set: &[usize],
    line_height: f32,
    depth: usize,
    blocks: &mut Vec<Vec<usize>>,
) {
    if set.len() <= 1 || depth >= MAX_DEPTH {
        blocks.push(set.to_vec());
        return;
    }
    let Some(gutter) = gutter(lines, set, line_height) else {
        blocks.push(set.to_vec());
        return;
    };
    let crossing: Vec<usize> = set
        .iter()
        .copied()
        .filter(|&i| lines[i].rect.x1 > gutter.0 && lines[i].rect.x0 < gutter.1)
        .collect();
    if crossing.is_empty() {
        let (left, right): (Vec<usize>, Vec<usize>) = set
            .iter()
            .copied()
            .partition(|&i| lines[i].rect.x1 <= gutter.0);
        cut(lines, &left, line_height, depth + 1, blocks);
        cut(lines, &right, line_height, depth + 1, blocks);
        return;
    }
    // Lines across the gutter split the rest into bands, read one after the other.
    let mut separators = crossing;
    separators.sort_by(|&a, &b| {
        lines[a]
            .rect
            .center_y()
            .total_cmp(&lines[b].rect.center_y())
    });
    let mut rest: Vec<usize> = set
        .iter()
        .copied()
        .filter(|i| !separators.contains(i))
        .collect();
    rest.sort_by(|&a, &b| {
        lines[a]
            .rect
            .center_y()
            .total_cmp(&lines[b].rect.center_y())
    });
    let mut rest = rest.into_iter().peekable();
    for separator in separators {
        let boundary = lines[separator].rect.center_y();
        let mut band = Vec::new();
        while let Some(&i) = rest.peek() {
            if lines[i].rect.center_y() >= boundary {
                break;
            }
            band.push(i);
            rest.next();
        }
        if !band.is_empty() {
            cut(lines, &band, line_height, depth + 1, blocks);
        }
        blocks.push(vec![separator]);
    }
    let band: Vec<usize> = rest.collect();
    if !band.is_empty() {
        cut(lines, &band, line_height, depth + 1, blocks);
    }
}

/// The best column gutter of `set`, as an x range, if it has one: the widest band that no
/// line crosses, with column text on both sides; failing that, the widest band that at most a
/// few lines cross (titles or figures across the columns). A band no line crosses comes first
/// so that a title that ends inside the gutter, or a column's longest line reaching into it,
/// is not taken for a line across the columns.
fn gutter(lines: &[&Line], set: &[usize], line_height: f32) -> Option<(f32, f32)> {
    let x0 = set
        .iter()
        .map(|&i| lines[i].rect.x0)
        .fold(f32::MAX, f32::min);
    let x1 = set
        .iter()
        .map(|&i| lines[i].rect.x1)
        .fold(f32::MIN, f32::max);
    let width = (x1 - x0).ceil().max(1.0) as usize;
    // Lines covering each column of pixels, through a difference array.
    let mut delta = vec![0i32; width + 2];
    for &i in set {
        let r = &lines[i].rect;
        let a = ((r.x0 - x0).floor().max(0.0) as usize).min(width);
        let b = ((r.x1 - x0).ceil().max(0.0) as usize).min(width);
        delta[a] += 1;
        delta[b] -= 1;
    }
    let mut coverage = Vec::with_capacity(width);
    let mut running = 0;
    for d in delta.iter().take(width) {
        running += d;
        coverage.push(running);
    }
    let column = |side: &dyn Fn(&Rect) -> bool| {
        let mut widths: Vec<f32> = set
            .iter()
            .map(|&i| &lines[i].rect)
            .filter(|r| side(r))
            .map(Rect::width)
            .collect();
        widths.len() >= 2 && median(&mut widths) >= MIN_COLUMN_LINE * line_height
    };
    let allowed = (set.len() / 8).max(1) as i32;
    for threshold in [0, allowed] {
        let mut best: Option<(f32, f32)> = None;
        let mut start: Option<usize> = None;
        for (x, &covered) in coverage.iter().enumerate() {
            match (covered <= threshold, start) {
                (true, None) => start = Some(x),
                // Only a band with text on both sides is a gutter.
                (false, Some(s)) if s > 0 => {
                    let (g0, g1) = (x0 + s as f32, x0 + x as f32);
                    let wider = best.is_none_or(|(b0, b1)| g1 - g0 > b1 - b0);
                    if g1 - g0 >= MIN_GUTTER * line_height
                        && wider
                        && column(&|r: &Rect| r.x1 <= g0)
                        && column(&|r: &Rect| r.x0 >= g1)
                    {
                        best = Some((g0, g1));
                    }
                    start = None;
                }
                (false, Some(_)) => start = None,
                (true, Some(_)) | (false, None) => {}
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

/// The paragraphs of one block: rows top to bottom (lines side by side in a row joined by a
/// space), a new paragraph where a gap between rows is clearly larger than the usual one.
fn block_paragraphs(lines: &[&Line], block: &[usize], line_height: f32) -> Vec<String> {
    let mut order = block.to_vec();
    order.sort_by(|&a, &b| {
        lines[a]
            .rect
            .center_y()
            .total_cmp(&lines[b].rect.center_y())
    });
    // Rows: lines that overlap vertically by more than half belong to one row.
    let mut rows: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match rows.last_mut() {
            Some(row)
                if row
                    .iter()
                    .any(|&j| lines[j].rect.vertical_overlap(&lines[i].rect) > 0.5) =>
            {
                row.push(i);
            }
            _ => rows.push(vec![i]),
        }
    }
    let bounds: Vec<(f32, f32)> = rows
        .iter()
        .map(|row| {
            let top = row
                .iter()
                .map(|&i| lines[i].rect.y0)
                .fold(f32::MAX, f32::min);
            let bottom = row
                .iter()
                .map(|&i| lines[i].rect.y1)
                .fold(f32::MIN, f32::max);
            (top, bottom)
        })
        .collect();
    let gaps: Vec<f32> = bounds.windows(2).map(|w| w[1].0 - w[0].1).collect();
    // The lower median: with two gaps, the smaller one is the usual spacing.
    let usual = {
        let mut sorted = gaps.clone();
        sorted.sort_by(f32::total_cmp);
        sorted
            .get(sorted.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0)
    };
    let mut out = Vec::new();
    let mut paragraph = String::new();
    for (n, row) in rows.iter_mut().enumerate() {
        row.sort_by(|&a, &b| lines[a].rect.x0.total_cmp(&lines[b].rect.x0));
        let text = row
            .iter()
            .map(|&i| lines[i].text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        let breaks = n > 0 && gaps[n - 1] > usual + 0.6 * line_height;
        if breaks && !paragraph.is_empty() {
            out.push(std::mem::take(&mut paragraph));
        }
        join_line(&mut paragraph, &text);
    }
    if !paragraph.is_empty() {
        out.push(paragraph);
    }
    out
}

/// Appends a line to a paragraph: after a line break, or, where the paragraph ends with a word
/// broken by a hyphen and the line goes on in lower case, joined into one word.
fn join_line(paragraph: &mut String, line: &str) {
    if paragraph.is_empty() {
        paragraph.push_str(line);
        return;
    }
    let broken = paragraph.ends_with('-')
        && paragraph
            .chars()
            .rev()
            .nth(1)
            .is_some_and(char::is_alphabetic)
        && line.chars().next().is_some_and(char::is_lowercase);
    if broken {
        paragraph.pop();
    } else {
        paragraph.push('\n');
    }
    paragraph.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(x0: f32, y0: f32, x1: f32, text: &str) -> Line {
        Line {
            rect: Rect {
                x0,
                y0,
                x1,
                y1: y0 + 20.0,
            },
            text: text.to_owned(),
        }
    }

    #[test]
    fn two_columns_are_read_one_after_the_other() {
        let mut lines = vec![line(0.0, 0.0, 1000.0, "A title across both columns")];
        for row in 0..4 {
            let y = 60.0 + row as f32 * 25.0;
            lines.push(line(0.0, y, 450.0, &format!("left {row}")));
            lines.push(line(550.0, y, 1000.0, &format!("right {row}")));
        }
        let text = paragraphs(&lines).join("\n\n");
        assert_eq!(
            text,
            "A title across both columns\n\nleft 0\nleft 1\nleft 2\nleft 3\n\nright 0\nright 1\nright 2\nright 3"
        );
    }

    #[test]
    fn a_title_that_ends_inside_the_gutter_is_read_first() {
        let mut lines = vec![line(0.0, 0.0, 500.0, "A title over the left column")];
        let ends = [440.0, 400.0, 450.0];
        for (row, end) in ends.iter().enumerate() {
            let y = 60.0 + row as f32 * 25.0;
            lines.push(line(0.0, y, *end, &format!("left {row}")));
            lines.push(line(600.0, y, 1000.0, &format!("right {row}")));
        }
        let text = paragraphs(&lines).join("|");
        assert_eq!(
            text,
            "A title over the left column|left 0\nleft 1\nleft 2|right 0\nright 1\nright 2"
        );
    }

    #[test]
    fn a_figure_across_the_columns_splits_them_into_bands() {
        let mut lines = Vec::new();
        for row in 0..3 {
            let y = row as f32 * 25.0;
            lines.push(line(0.0, y, 450.0, &format!("a{row}")));
            lines.push(line(550.0, y, 1000.0, &format!("b{row}")));
        }
        lines.push(line(100.0, 100.0, 900.0, "Figure 1: across"));
        for row in 0..3 {
            let y = 150.0 + row as f32 * 25.0;
            lines.push(line(0.0, y, 450.0, &format!("c{row}")));
            lines.push(line(550.0, y, 1000.0, &format!("d{row}")));
        }
        let text = paragraphs(&lines).join("|");
        assert_eq!(
            text,
            "a0\na1\na2|b0\nb1\nb2|Figure 1: across|c0\nc1\nc2|d0\nd1\nd2"
        );
    }

    #[test]
    fn a_form_is_read_row_by_row() {
        let mut lines = Vec::new();
        for (row, (label, value)) in [("Name:", "Ann"), ("Town:", "Oslo"), ("Age:", "40")]
            .iter()
            .enumerate()
        {
            let y = row as f32 * 25.0;
            lines.push(line(0.0, y, 60.0, label));
            lines.push(line(400.0, y, 460.0, value));
        }
        assert_eq!(paragraphs(&lines), ["Name: Ann\nTown: Oslo\nAge: 40"]);
    }

    #[test]
    fn paragraph_gaps_and_broken_words() {
        let lines = [
            line(0.0, 0.0, 500.0, "The first para-"),
            line(0.0, 25.0, 500.0, "graph goes on."),
            line(0.0, 90.0, 500.0, "A second one."),
        ];
        assert_eq!(
            paragraphs(&lines),
            ["The first paragraph goes on.", "A second one."]
        );
    }
}
