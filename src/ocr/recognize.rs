//! From the recogniser's output to text: the network reads a line image left to right in
//! steps of eight pixels and gives, per step, a probability for every character it knows and
//! for "nothing here" (the CTC blank). The text is the most likely character of each step,
//! with repeats merged and blanks dropped; the confidence is the mean probability of the
//! characters kept.

/// The characters the recogniser knows, by class index: 0 is the blank, then the model's
/// character list, then a space.
#[derive(Debug, Clone)]
pub(crate) struct Charset {
    symbols: Vec<String>,
}

impl Charset {
    /// The character list as the model's metadata holds it: one character a line.
    pub(crate) fn from_lines(list: &str) -> Self {
        let mut symbols = vec![String::new()];
        symbols.extend(
            list.split('\n')
                .map(|s| s.trim_end_matches('\r').to_owned()),
        );
        symbols.push(" ".to_owned());
        Self { symbols }
    }

    /// Classes of the network's output this list explains (blank and space included).
    pub(crate) fn classes(&self) -> usize {
        self.symbols.len()
    }

    /// Every character, in the model's order (for saying which scripts it reads).
    pub(crate) fn characters(&self) -> impl Iterator<Item = &str> {
        self.symbols[1..].iter().map(String::as_str)
    }
}

/// A line read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) text: String,
    /// Mean probability of its characters (0 when it has none).
    pub(crate) confidence: f32,
    /// Characters in `text`.
    pub(crate) chars: usize,
}

/// Greedy CTC decoding of one line's output: `steps` rows of `classes` probabilities, of which
/// the first `valid_steps` cover the line (the rest are padding of a batch).
pub(crate) fn decode(
    output: &[f32],
    steps: usize,
    valid_steps: usize,
    classes: usize,
    charset: &Charset,
) -> Decoded {
    let mut text = String::new();
    let mut sum = 0.0;
    let mut chars = 0;
    let mut previous = 0;
    for step in output.chunks_exact(classes).take(steps.min(valid_steps)) {
        let (best, probability) = step.iter().enumerate().fold(
            (0, f32::MIN),
            |(bi, bp), (i, &p)| {
                if p > bp {
                    (i, p)
                } else {
                    (bi, bp)
                }
            },
        );
        if best != 0 && best != previous {
            if let Some(symbol) = charset.symbols.get(best) {
                text.push_str(symbol);
                sum += probability;
                chars += 1;
            }
        }
        previous = best;
    }
    // Spaces at the ends are padding the network saw, not text.
    let trimmed = text.trim();
    let trimmed_chars = trimmed.chars().count();
    Decoded {
        text: trimmed.to_owned(),
        confidence: if chars == 0 { 0.0 } else { sum / chars as f32 },
        chars: trimmed_chars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(classes: usize, best: usize, p: f32) -> Vec<f32> {
        let mut row = vec![(1.0 - p) / (classes - 1) as f32; classes];
        row[best] = p;
        row
    }

    #[test]
    fn repeats_merge_and_blanks_separate() {
        let charset = Charset::from_lines("a\nb\nl");
        assert_eq!(charset.classes(), 5);
        // b a l l: "l" twice needs a blank between, or it is one "l".
        let rows = [
            (2, 0.9),
            (2, 0.9),
            (1, 0.8),
            (3, 0.9),
            (0, 0.9),
            (3, 0.7),
            (4, 0.9),
        ];
        let output: Vec<f32> = rows.iter().flat_map(|&(b, p)| step(5, b, p)).collect();
        let decoded = decode(&output, rows.len(), rows.len(), 5, &charset);
        assert_eq!(decoded.text, "ball");
        assert_eq!(decoded.chars, 4);
        let mean = (0.9 + 0.8 + 0.9 + 0.7 + 0.9) / 5.0;
        assert!((decoded.confidence - mean).abs() < 1e-5);
    }

    #[test]
    fn padding_steps_are_ignored() {
        let charset = Charset::from_lines("a\nb");
        let rows = [(1, 0.9), (2, 0.9)];
        let output: Vec<f32> = rows.iter().flat_map(|&(b, p)| step(4, b, p)).collect();
        assert_eq!(decode(&output, 2, 1, 4, &charset).text, "a");
    }
}
