//! Cutting a text into pieces that each fit a token budget, at the most natural boundary
//! available: paragraphs, then lines, then sentences, then words, then characters.
//!
//! Invariants (tested): the chunks' own ranges are contiguous and cover the whole text, so
//! their concatenation is the text; each chunk, with the overlap it repeats from the previous
//! one, counts at most `budget` tokens with the counter given.

use std::collections::VecDeque;
use std::ops::Range;

use super::SummarizeError;

/// One piece of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes of the text this chunk adds; chunks' ranges are contiguous.
    pub range: Range<usize>,
    /// Where the repeated context from the previous chunk starts (`<= range.start`; equal for
    /// the first chunk or when there is no room for an overlap).
    pub overlap_start: usize,
    /// Tokens of [`Chunk::text`], counted exactly.
    pub tokens: usize,
}

impl Chunk {
    /// The text the model reads for this chunk: the overlap, then the chunk's own text.
    #[must_use]
    pub fn text<'a>(&self, full: &'a str) -> &'a str {
        &full[self.overlap_start..self.range.end]
    }

    /// The whole span read, overlap included.
    #[must_use]
    pub fn span(&self) -> Range<usize> {
        self.overlap_start..self.range.end
    }
}

/// How finely a unit was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Word,
    Char,
}

impl Level {
    fn finer(self) -> Self {
        match self {
            Self::Paragraph => Self::Line,
            Self::Line => Self::Sentence,
            Self::Sentence => Self::Word,
            Self::Word | Self::Char => Self::Char,
        }
    }
}

/// Cuts `text` into chunks of at most `budget` tokens (as `count` counts them), each
/// repeating about `overlap` tokens from the end of the previous chunk.
///
/// # Errors
/// [`SummarizeError::BudgetTooSmall`] when a single character does not fit, and whatever
/// `count` returns.
pub fn chunk_text(
    text: &str,
    budget: usize,
    overlap: usize,
    count: &mut dyn FnMut(&str) -> Result<usize, SummarizeError>,
) -> Result<Vec<Chunk>, SummarizeError> {
    if budget == 0 {
        return Err(SummarizeError::BudgetTooSmall { budget });
    }
    let overlap = overlap.min(budget / 4);
    let mut queue: VecDeque<(Range<usize>, Level)> = split(text, 0..text.len(), Level::Paragraph)
        .into_iter()
        .map(|r| (r, Level::Paragraph))
        .collect();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = Open::new(0, 0, 0);
    loop {
        let Some((unit, level)) = queue.pop_front() else {
            if current.units.is_empty() {
                break;
            }
            // Closing may hand units back to the queue; they start the next chunk.
            let chunk = current.close(text, budget, &mut queue, count)?;
            current = next_open(text, &chunk, overlap, count)?;
            chunks.push(chunk);
            continue;
        };
        if level == Level::Char {
            // A run without spaces: take the longest prefix that fits what is left of this
            // chunk. The rest of the run is never counted whole (it can be megabytes), so
            // each chunk costs about its own length, not the length of what remains.
            let room = budget.saturating_sub(current.estimate);
            let (take, tokens) = longest_prefix(text, unit.clone(), room, count)?;
            if take > unit.start {
                if take < unit.end {
                    queue.push_front((take..unit.end, Level::Char));
                }
                current.push(unit.start..take, Level::Char, tokens);
                continue;
            }
            if current.units.is_empty() && current.overlap_start == current.start {
                return Err(SummarizeError::BudgetTooSmall { budget });
            }
        } else {
            let tokens = count(&text[unit.clone()])?;
            if current.estimate + tokens <= budget {
                current.push(unit, level, tokens);
                continue;
            }
            if tokens > budget || (current.estimate * 2 < budget && level < Level::Word) {
                // Too big on its own, or the chunk is less than half full: cut it finer, at
                // the first level that does cut it (one piece would only be counted again).
                let mut finer = level.finer();
                loop {
                    if finer == Level::Char {
                        queue.push_front((unit, finer));
                        break;
                    }
                    let parts = split(text, unit.clone(), finer);
                    if parts.len() > 1 {
                        for part in parts.into_iter().rev() {
                            queue.push_front((part, finer));
                        }
                        break;
                    }
                    finer = finer.finer();
                }
                continue;
            }
        }
        queue.push_front((unit, level));
        if current.units.is_empty() {
            // It fits alone but not after the overlap: this chunk goes without one.
            current.drop_overlap();
            continue;
        }
        let chunk = current.close(text, budget, &mut queue, count)?;
        current = next_open(text, &chunk, overlap, count)?;
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// A chunk being filled.
struct Open {
    overlap_start: usize,
    start: usize,
    estimate: usize,
    overlap_tokens: usize,
    units: Vec<(Range<usize>, Level, usize)>,
}

impl Open {
    fn new(overlap_start: usize, start: usize, overlap_tokens: usize) -> Self {
        Self {
            overlap_start,
            start,
            estimate: overlap_tokens,
            overlap_tokens,
            units: Vec::new(),
        }
    }

    fn push(&mut self, unit: Range<usize>, level: Level, tokens: usize) {
        self.estimate += tokens;
        self.units.push((unit, level, tokens));
    }

    fn drop_overlap(&mut self) {
        self.overlap_start = self.start;
        self.estimate -= self.overlap_tokens;
        self.overlap_tokens = 0;
    }

    fn end(&self) -> usize {
        self.units.last().map_or(self.start, |(r, _, _)| r.end)
    }

    /// Counts the chunk exactly; while it is over budget (token merges across unit
    /// boundaries), hands its last unit back to the queue, or drops the overlap.
    fn close(
        mut self,
        text: &str,
        budget: usize,
        queue: &mut VecDeque<(Range<usize>, Level)>,
        count: &mut dyn FnMut(&str) -> Result<usize, SummarizeError>,
    ) -> Result<Chunk, SummarizeError> {
        loop {
            let end = self.end();
            let tokens = count(&text[self.overlap_start..end])?;
            if tokens <= budget {
                return Ok(Chunk {
                    range: self.start..end,
                    overlap_start: self.overlap_start,
                    tokens,
                });
            }
            if self.units.len() > 1 {
                if let Some((unit, level, tokens)) = self.units.pop() {
                    self.estimate -= tokens;
                    queue.push_front((unit, level));
                }
            } else if self.overlap_start < self.start {
                self.drop_overlap();
            } else {
                // One unit that counted within budget on its own: the count is of the same
                // text, so this cannot happen with a consistent counter.
                return Err(SummarizeError::BudgetTooSmall { budget });
            }
        }
    }
}

/// The next chunk, starting where `previous` ends, repeating about `overlap` tokens of it
/// (from a word boundary, never reaching into the previous chunk's own overlap).
fn next_open(
    text: &str,
    previous: &Chunk,
    overlap: usize,
    count: &mut dyn FnMut(&str) -> Result<usize, SummarizeError>,
) -> Result<Open, SummarizeError> {
    let end = previous.range.end;
    if overlap == 0 || previous.tokens == 0 {
        return Ok(Open::new(end, end, 0));
    }
    let span = previous.range.end - previous.overlap_start;
    let bytes_per_token = (span / previous.tokens).max(1);
    let want = overlap.saturating_mul(bytes_per_token);
    let mut start = end.saturating_sub(want).max(previous.range.start);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Start after the next whitespace, so the overlap begins with a whole word.
    if let Some(space) = text[start..end].find(char::is_whitespace) {
        let after = start + space;
        let rest = &text[after..end];
        let skip = rest.len() - rest.trim_start().len();
        start = after + skip;
    } else {
        start = end;
    }
    if start >= end {
        return Ok(Open::new(end, end, 0));
    }
    let tokens = count(&text[start..end])?;
    Ok(Open::new(start, end, tokens))
}

/// The longest prefix end (a char boundary in `unit`) whose text counts at most `room`
/// tokens, with that count (`unit.start` and 0 when not even one character fits).
///
/// The search first doubles a window from a guess of a few bytes per token until the window
/// no longer fits (or is the whole unit), then bisects inside it: the text counted is a small
/// multiple of the prefix found, however long the unit is.
fn longest_prefix(
    text: &str,
    unit: Range<usize>,
    room: usize,
    count: &mut dyn FnMut(&str) -> Result<usize, SummarizeError>,
) -> Result<(usize, usize), SummarizeError> {
    const GUESS_BYTES_PER_TOKEN: usize = 4;
    let ceil_boundary = |mut i: usize| {
        while i < unit.end && !text.is_char_boundary(i) {
            i += 1;
        }
        i.min(unit.end)
    };
    // `fits` is a prefix end known to fit (with its count); `over` one known not to.
    let mut fits = (unit.start, 0);
    let mut step = room.max(1).saturating_mul(GUESS_BYTES_PER_TOKEN);
    let over = loop {
        let end = ceil_boundary(unit.start.saturating_add(step).min(unit.end));
        let tokens = count(&text[unit.start..end])?;
        if tokens > room {
            break end;
        }
        fits = (end, tokens);
        if end == unit.end {
            return Ok(fits);
        }
        step = step.saturating_mul(2);
    };
    let boundaries: Vec<usize> = text[fits.0..over]
        .char_indices()
        .map(|(i, _)| fits.0 + i)
        .skip(1)
        .collect();
    // Bisect for the last boundary that fits, strictly between `fits` and `over`.
    let (mut lo, mut hi) = (0usize, boundaries.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let tokens = count(&text[unit.start..boundaries[mid]])?;
        if tokens <= room {
            fits = (boundaries[mid], tokens);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(fits)
}

/// Cuts `range` of `text` at `level` boundaries; each piece keeps the separator that ends it,
/// so the pieces are contiguous and cover the range.
fn split(text: &str, range: Range<usize>, level: Level) -> Vec<Range<usize>> {
    let slice = &text[range.clone()];
    let mut cuts: Vec<usize> = match level {
        Level::Paragraph => paragraph_ends(slice),
        Level::Line => slice.match_indices('\n').map(|(i, _)| i + 1).collect(),
        Level::Sentence => sentence_ends(slice),
        Level::Word => word_ends(slice),
        Level::Char => slice
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .collect(),
    };
    cuts.retain(|&c| c > 0 && c < slice.len());
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        out.push(range.start + start..range.start + cut);
        start = cut;
    }
    if start < slice.len() || out.is_empty() {
        out.push(range.start + start..range.end);
    }
    out
}

/// Ends of paragraphs: after a run of line breaks that contains a blank line.
fn paragraph_ends(slice: &str) -> Vec<usize> {
    let bytes = slice.as_bytes();
    let mut ends = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\n' {
            i += 1;
            continue;
        }
        // Scan the whitespace run that follows this newline.
        let mut j = i + 1;
        let mut newlines = 1;
        let mut last_newline = i;
        while j < bytes.len() && matches!(bytes[j], b'\n' | b'\r' | b' ' | b'\t') {
            if bytes[j] == b'\n' {
                newlines += 1;
                last_newline = j;
            }
            j += 1;
        }
        if newlines >= 2 {
            ends.push(last_newline + 1);
        }
        i = last_newline + 1;
    }
    ends
}

/// Ends of sentences: after `.`, `!`, `?` (and closing quotes or brackets) and the spaces
/// that follow, or after CJK full stops.
fn sentence_ends(slice: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = slice.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '。' | '！' | '？') {
            ends.push(i + c.len_utf8());
            continue;
        }
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, next)) = chars.peek() {
            if matches!(next, '"' | '\'' | ')' | ']' | '”' | '’' | '»') {
                end = j + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let mut spaced = false;
        while let Some(&(j, next)) = chars.peek() {
            if next.is_whitespace() {
                end = j + next.len_utf8();
                spaced = true;
                chars.next();
            } else {
                break;
            }
        }
        if spaced {
            ends.push(end);
        }
    }
    ends
}

/// Ends of words: after each run of whitespace.
fn word_ends(slice: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_space = false;
    for (i, c) in slice.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            ends.push(i);
            in_space = false;
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Result<usize, SummarizeError> {
        Ok(text.split_whitespace().count())
    }

    #[test]
    fn split_covers_the_range() {
        let text = "One. Two!  Three?\n\nFour\nfive six.\n \n\nseven";
        for level in [
            Level::Paragraph,
            Level::Line,
            Level::Sentence,
            Level::Word,
            Level::Char,
        ] {
            let parts = split(text, 0..text.len(), level);
            let joined: String = parts.iter().map(|r| &text[r.clone()]).collect();
            assert_eq!(joined, text, "{level:?}");
        }
        let paragraphs = split(text, 0..text.len(), Level::Paragraph);
        assert_eq!(paragraphs.len(), 3, "{paragraphs:?}");
        let sentences = split(text, 0..17, Level::Sentence);
        assert_eq!(&text[sentences[0].clone()], "One. ");
        assert_eq!(&text[sentences[1].clone()], "Two!  ");
    }

    #[test]
    fn small_text_is_one_chunk() {
        let chunks = chunk_text("a b c", 10, 2, &mut words).expect("chunks");
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].range, 0..5);
        assert_eq!(chunks[0].tokens, 3);
    }
}
