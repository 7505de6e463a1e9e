//! Words and sentences in any script: Unicode word and sentence boundaries (UAX #29, the
//! `unicode-segmentation` crate), compatibility-normalised and case-folded keys, and the cut of
//! a document into sentences (what a source points at) and paragraphs (what a question reads).
//!
//! Extracted text is laid out in lines: a PDF's lines are the page's visual lines, wrapped in
//! the middle of sentences, while a Word document's are whole paragraphs. UAX #29 ends a
//! sentence at every line break, so lines are first grouped into blocks (blank lines, page and
//! heading markers, list items and short heading-like lines end a block) and a block's line
//! breaks read as spaces when it is cut into sentences.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::documents::Section;

/// A word of a text: where it is and the key it is compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Bytes of the text.
    pub range: Range<usize>,
    /// The compared form: compatibility-normalised (NFKC: ligatures, full-width digits) and
    /// lower-cased, with `ß` as `ss` and a final sigma as a sigma.
    pub key: String,
}

/// The key a word is compared by (see [`Word::key`]).
pub(crate) fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    if word.is_ascii() {
        for c in word.chars() {
            out.push(c.to_ascii_lowercase());
        }
        return out;
    }
    for c in word.nfkc().flat_map(char::to_lowercase) {
        match c {
            'ß' => out.push_str("ss"),
            'ς' => out.push('σ'),
            // Typographic apostrophes compare as the plain one.
            '\u{2019}' | '\u{02bc}' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// A whole text folded the way words are compared ([`fold`]), for a search that finds
/// "école" when "ÉCOLE" is typed and "straße" for "STRASSE": the folded text, and where its
/// bytes come from in the text.
pub(crate) struct FoldedText {
    folded: String,
    /// (byte of `folded`, byte of the text) wherever the distance between the two changes
    /// (after a character that folds to another length, such as a decomposed accent); empty
    /// for a text whose folding keeps every length (all of ASCII, most accented letters).
    shifts: Vec<(usize, usize)>,
}

impl FoldedText {
    /// Folds `text`. ASCII is lower-cased byte by byte; the rest grapheme by grapheme with
    /// [`fold`], so that a letter and its combining accent compose before they are compared.
    pub(crate) fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        // An ASCII byte followed by ASCII (or the end) is a grapheme of its own; one followed
        // by another byte may take a combining mark, so it goes with the run after it.
        let plain = |i: usize| bytes[i].is_ascii() && bytes.get(i + 1).is_none_or(u8::is_ascii);
        let mut folded = String::with_capacity(text.len());
        let mut shifts = Vec::new();
        let mut shift = 0isize;
        let mut i = 0;
        while i < bytes.len() {
            if plain(i) {
                folded.push(char::from(bytes[i].to_ascii_lowercase()));
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            while i < bytes.len() && !plain(i) {
                i += 1;
            }
            // `i` is at an ASCII byte or the end: a character boundary.
            for (at, grapheme) in text[start..i].grapheme_indices(true) {
                folded.push_str(&fold(grapheme));
                let end = start + at + grapheme.len();
                let now = end as isize - folded.len() as isize;
                if now != shift {
                    shifts.push((folded.len(), end));
                    shift = now;
                }
            }
        }
        Self { folded, shifts }
    }

    /// The byte of the text that byte `at` of the folded text comes from (inside a grapheme
    /// that folds longer: a byte near it).
    fn source(&self, at: usize) -> usize {
        let after = self.shifts.partition_point(|&(f, _)| f <= at);
        match after.checked_sub(1).map(|i| self.shifts[i]) {
            Some((f, t)) => t + (at - f),
            None => at,
        }
    }

    /// Every place where `query` occurs in `text` (the text this was made of), case and
    /// compatibility forms folded, as byte ranges of the text, in order.
    pub(crate) fn find(&self, text: &str, query: &str) -> Vec<Range<usize>> {
        let query = Self::new(query).folded;
        if query.is_empty() {
            return Vec::new();
        }
        self.folded
            .match_indices(&query)
            .map(|(at, _)| {
                let start = floor_boundary(text, self.source(at).min(text.len()));
                let mut end = self.source(at + query.len()).min(text.len()).max(start);
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                start..end
            })
            .collect()
    }
}

/// Whether a segment of UAX #29 word boundaries is a word (has a letter or a digit).
pub(crate) fn is_word(segment: &str) -> bool {
    segment.chars().any(char::is_alphanumeric)
}

/// The words of `text[range]`, with byte ranges into `text`.
pub(crate) fn words_in(text: &str, range: Range<usize>) -> Vec<Word> {
    let base = range.start;
    text[range]
        .split_word_bound_indices()
        .filter(|(_, w)| is_word(w))
        .map(|(at, w)| Word {
            range: base + at..base + at + w.len(),
            key: term_key(w),
        })
        .collect()
}

/// The key a word is indexed and matched by: [`fold`], without a possessive `'s` (`Debian's`
/// is `debian`).
pub(crate) fn term_key(word: &str) -> String {
    let mut key = fold(word);
    if key.ends_with("'s") {
        key.truncate(key.len() - 2);
    } else if key.ends_with('\'') {
        key.truncate(key.len() - 1);
    }
    key
}

/// Every segment of UAX #29 word boundaries in `text[range]` but whitespace, with byte ranges
/// into `text`: words and the punctuation between them (`$`, `%`, `-`, `/`, `,`), which the
/// claim scanner reads.
pub(crate) fn segments_in(text: &str, range: Range<usize>) -> Vec<(Range<usize>, &str)> {
    let base = range.start;
    text[range]
        .split_word_bound_indices()
        .filter(|(_, s)| !s.chars().all(char::is_whitespace))
        .map(|(at, s)| (base + at..base + at + s.len(), s))
        .collect()
}

/// A run of text cut into sentences and paragraphs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Sentences (and list items, heading lines), trimmed, in order.
    pub sentences: Vec<Range<usize>>,
    /// Paragraphs: byte range and the sentences they hold, in order.
    pub paragraphs: Vec<Paragraph>,
}

/// A paragraph: a whole block of text, or a piece of a very long one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paragraph {
    /// Bytes of the text.
    pub range: Range<usize>,
    /// Indices into [`Layout::sentences`].
    pub sentences: Range<usize>,
}

/// Longest sentence kept whole (bytes); longer runs (tables, lists without punctuation) are cut
/// at line ends or spaces.
const MAX_SENTENCE: usize = 600;
/// Paragraphs longer than this (bytes, about 400 tokens) are read in pieces of whole sentences.
const MAX_PARAGRAPH: usize = 1600;
/// Consecutive paragraphs shorter than this are read together (list items, short lines).
const SMALL_PARAGRAPH: usize = 240;

/// Cuts a document's text into sentences and paragraphs. `sections` (page and heading markers)
/// always start a new block.
pub(crate) fn layout(text: &str, sections: &[Section]) -> Layout {
    let lines = lines(text);
    let typical = typical_line_len(text, &lines);
    let mut section_starts: Vec<usize> = sections.iter().map(|s| s.offset).collect();
    section_starts.dedup();
    let blocks = blocks(text, &lines, typical, &section_starts);
    let mut out = Layout::default();
    let mut raw_paragraphs: Vec<(Range<usize>, Range<usize>, bool)> = Vec::new();
    for block in blocks {
        let first = out.sentences.len();
        sentences_of_block(text, block.range.clone(), &mut out.sentences);
        let last = out.sentences.len();
        if last > first {
            raw_paragraphs.push((block.range, first..last, block.heading_like));
        }
    }
    out.paragraphs = paragraphs(text, &out.sentences, raw_paragraphs, &section_starts);
    out
}

/// Byte ranges of the lines of `text`, without their `\n`.
fn lines(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices('\n') {
        out.push(start..at);
        start = at + 1;
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// The length (in characters) of a long line of this text: the 75th percentile of its
/// non-blank lines, so wrapped text gives its wrap width and one-line paragraphs their length.
fn typical_line_len(text: &str, lines: &[Range<usize>]) -> usize {
    let mut lens: Vec<usize> = lines
        .iter()
        .map(|l| text[l.clone()].trim().chars().count())
        .filter(|n| *n > 0)
        .collect();
    if lens.is_empty() {
        return 0;
    }
    lens.sort_unstable();
    lens[(lens.len() * 3 / 4).min(lens.len() - 1)]
}

struct Block {
    range: Range<usize>,
    /// One short line without an ending stop: a heading, a label.
    heading_like: bool,
}

/// Whether a line starts with a list marker: `-`, `*`, `•`, `1.`, `2)`, `a)`.
fn starts_list_item(line: &str) -> bool {
    let line = line.trim_start();
    let mut chars = line.chars();
    match chars.next() {
        Some('-' | '*' | '+' | '•' | '·' | '◦' | '▪' | '–' | '—') => {
            chars.next().is_some_and(char::is_whitespace)
        }
        Some(c) if c.is_ascii_digit() => {
            let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
            let digits = line.len() - rest.len();
            digits <= 3 && (rest.starts_with(". ") || rest.starts_with(") ")) && rest.len() > 2
        }
        _ => false,
    }
}

/// Whether a line ends as a sentence or a clause does.
fn ends_like_sentence(line: &str) -> bool {
    line.trim_end()
        .chars()
        .last()
        .is_some_and(|c| ".!?;:,。！？；：…\"'”’)]".contains(c))
}

fn blocks(
    text: &str,
    lines: &[Range<usize>],
    typical: usize,
    section_starts: &[usize],
) -> Vec<Block> {
    let short = (typical * 3 / 5).max(1);
    let mut out: Vec<Block> = Vec::new();
    let mut current: Option<(Range<usize>, usize)> = None; // range, lines in it
    let mut previous_heading_like = false;
    let mut next_section = 0usize;
    let close = |current: &mut Option<(Range<usize>, usize)>, out: &mut Vec<Block>| {
        if let Some((range, count)) = current.take() {
            let line = &text[range.clone()];
            let heading_like = count == 1
                && line.trim().chars().count() < short.max(8)
                && !ends_like_sentence(line)
                && !starts_list_item(line);
            out.push(Block {
                range,
                heading_like,
            });
        }
    };
    for line in lines {
        let content = &text[line.clone()];
        // Markers start at the start of a line (a reader ends the block before them).
        let mut marker = false;
        while next_section < section_starts.len() && section_starts[next_section] <= line.start {
            marker = true;
            next_section += 1;
        }
        if content.trim().is_empty() {
            close(&mut current, &mut out);
            previous_heading_like = false;
            continue;
        }
        let trimmed = trim_range(text, line.clone());
        let this_short = content.trim().chars().count() < short && !ends_like_sentence(content);
        let breaks = marker || starts_list_item(content) || previous_heading_like;
        match current.as_mut() {
            Some((range, count)) if !breaks => {
                range.end = trimmed.end;
                *count += 1;
            }
            _ => {
                close(&mut current, &mut out);
                current = Some((trimmed, 1));
            }
        }
        // A short line without an ending stop, followed by more text, is a heading or a label
        // when it starts a block; in the middle of a wrapped paragraph it is its last line.
        previous_heading_like = this_short && current.as_ref().is_some_and(|(_, n)| *n == 1);
    }
    close(&mut current, &mut out);
    out
}

fn trim_range(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.start + slice.trim_end().len();
    start..end.max(start)
}

/// Cuts a block into sentences (UAX #29, its line breaks read as spaces), each trimmed; very
/// long ones are cut again at line ends, then at spaces.
fn sentences_of_block(text: &str, block: Range<usize>, out: &mut Vec<Range<usize>>) {
    let flat = text[block.clone()].replace('\n', " ");
    for (at, sentence) in flat.split_sentence_bound_indices() {
        let range = trim_range(text, block.start + at..block.start + at + sentence.len());
        if range.is_empty() || !is_word(&text[range.clone()]) {
            // A lone mark (a bullet, a dash) joins the sentence before it.
            continue;
        }
        cut_long(text, range, out);
    }
}

fn cut_long(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let mut start = range.start;
    while range.end - start > MAX_SENTENCE {
        let window = &text[start..range.end];
        let limit = floor_boundary(window, MAX_SENTENCE);
        let cut = window[..limit]
            .rfind('\n')
            .filter(|at| *at > MAX_SENTENCE / 4)
            .or_else(|| {
                window[..limit]
                    .rfind(' ')
                    .filter(|at| *at > MAX_SENTENCE / 4)
            })
            .unwrap_or(limit);
        let piece = trim_range(text, start..start + cut);
        if !piece.is_empty() {
            out.push(piece);
        }
        start += cut.max(1);
        while start < range.end && !text.is_char_boundary(start) {
            start += 1;
        }
    }
    let piece = trim_range(text, start..range.end);
    if !piece.is_empty() && is_word(&text[piece.clone()]) {
        out.push(piece);
    }
}

/// The largest char boundary of `s` at or below `at`.
pub(crate) fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Paragraphs from blocks: a heading-like line joins the block after it, small blocks in one
/// section are read together, and long ones are cut into pieces of whole sentences.
fn paragraphs(
    text: &str,
    sentences: &[Range<usize>],
    blocks: Vec<(Range<usize>, Range<usize>, bool)>,
    section_starts: &[usize],
) -> Vec<Paragraph> {
    let section_of = |at: usize| section_starts.partition_point(|s| *s <= at);
    let mut merged: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    let mut pending_heading: Option<(Range<usize>, Range<usize>)> = None;
    for (range, sents, heading_like) in blocks {
        let (range, sents) = match pending_heading.take() {
            Some((h_range, h_sents)) if section_of(h_range.start) == section_of(range.start) => {
                (h_range.start..range.end, h_sents.start..sents.end)
            }
            Some(heading) => {
                merged.push(heading);
                (range, sents)
            }
            None => (range, sents),
        };
        if heading_like {
            pending_heading = Some((range, sents));
            continue;
        }
        match merged.last_mut() {
            Some((last, last_sents))
                if last.len() < SMALL_PARAGRAPH
                    && range.len() < SMALL_PARAGRAPH
                    && section_of(last.start) == section_of(range.start)
                    && last_sents.end == sents.start =>
            {
                last.end = range.end;
                last_sents.end = sents.end;
            }
            _ => merged.push((range, sents)),
        }
    }
    merged.extend(pending_heading);
    let mut out = Vec::with_capacity(merged.len());
    for (range, sents) in merged {
        if range.len() <= MAX_PARAGRAPH {
            out.push(Paragraph {
                range,
                sentences: sents,
            });
            continue;
        }
        // Pieces of whole sentences, each at most about MAX_PARAGRAPH * 3 / 4.
        let mut first = sents.start;
        while first < sents.end {
            let mut last = first + 1;
            while last < sents.end
                && sentences[last].end - sentences[first].start <= MAX_PARAGRAPH * 3 / 4
            {
                last += 1;
            }
            out.push(Paragraph {
                range: sentences[first].start..sentences[last - 1].end,
                sentences: first..last,
            });
            first = last;
        }
    }
    debug_assert!(out.iter().all(|p| text.is_char_boundary(p.range.start)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::SectionKind;

    fn sentence_texts(text: &str) -> Vec<&str> {
        layout(text, &[])
            .sentences
            .iter()
            .map(|r| &text[r.clone()])
            .collect()
    }

    #[test]
    fn keys_fold_case_ligatures_and_width() {
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ﬁnal"), "final");
        assert_eq!(fold("１２"), "12");
        assert_eq!(fold("ΣΟΦΟΣ"), "σοφοσ");
        assert_eq!(fold("Debian’s"), "debian's");
    }

    #[test]
    fn a_folded_text_finds_words_in_any_case_and_maps_back_to_the_text() {
        let text = "Die STRASSE zur École führt an der Straße vorbei. E\u{301}COLE ﬁn.";
        let folded = FoldedText::new(text);
        let found =
            |q: &str| -> Vec<&str> { folded.find(text, q).into_iter().map(|r| &text[r]).collect() };
        assert_eq!(found("straße"), ["STRASSE", "Straße"]);
        assert_eq!(found("STRASSE"), ["STRASSE", "Straße"]);
        assert_eq!(found("ÉCOLE"), ["École", "E\u{301}COLE"]);
        assert_eq!(found("école"), ["École", "E\u{301}COLE"]);
        assert_eq!(found("fin."), ["ﬁn."]);
        assert_eq!(found("vorbei"), ["vorbei"]);
        assert!(found("").is_empty());
        assert!(found("zebra").is_empty());
        let ascii = "Plain ASCII text, Plain again.";
        let folded = FoldedText::new(ascii);
        assert!(folded.shifts.is_empty());
        assert_eq!(folded.find(ascii, "PLAIN"), [0..5, 18..23]);
    }

    #[test]
    fn wrapped_lines_make_one_sentence_and_stops_end_it() {
        let text = "The Debian Project was officially founded by Ian\nMurdock on August 16th, 1993. At that time, the whole\nconcept was new.\n";
        assert_eq!(
            sentence_texts(text),
            [
                "The Debian Project was officially founded by Ian\nMurdock on August 16th, 1993.",
                "At that time, the whole\nconcept was new."
            ]
        );
    }

    #[test]
    fn headings_and_list_items_are_units_of_their_own() {
        let text = "Leadership\nDebian has had several leaders since its beginnings in 1993 and many more words here.\n- Ian Murdock founded it\n- Bruce Perens led it\n";
        assert_eq!(
            sentence_texts(text),
            [
                "Leadership",
                "Debian has had several leaders since its beginnings in 1993 and many more words here.",
                "- Ian Murdock founded it",
                "- Bruce Perens led it"
            ]
        );
        let layout = layout(text, &[]);
        // The heading is read with its paragraph.
        assert_eq!(layout.paragraphs[0].sentences.start, 0);
        assert!(layout.paragraphs[0].sentences.end >= 2);
    }

    #[test]
    fn other_scripts_are_cut_at_their_own_stops() {
        let text = "デビアンは1993年に始まった。最初の版は小さかった。";
        assert_eq!(sentence_texts(text).len(), 2);
        let text = "Проект Debian был основан 16 августа 1993 года. Его основал Ян Мёрдок.";
        assert_eq!(sentence_texts(text).len(), 2);
    }

    #[test]
    fn markers_start_blocks() {
        let text = "end of page one\nstart of page two continues here.";
        let sections = vec![Section {
            offset: 16,
            kind: SectionKind::Page,
            label: "page 2".into(),
        }];
        let layout = layout(text, &sections);
        assert_eq!(layout.sentences.len(), 2);
        assert_eq!(layout.sentences[1].start, 16);
    }

    #[test]
    fn very_long_runs_are_cut() {
        let text = "word ".repeat(400);
        let layout = layout(&text, &[]);
        assert!(layout.sentences.len() >= 4);
        assert!(layout
            .sentences
            .iter()
            .all(|s| s.len() <= MAX_SENTENCE && text.is_char_boundary(s.start)));
        let long = "x".repeat(2000);
        assert!(layout_ok(&long));
        let cjk = "漢".repeat(1000);
        assert!(layout_ok(&cjk));
    }

    fn layout_ok(text: &str) -> bool {
        let layout = layout(text, &[]);
        layout
            .sentences
            .iter()
            .all(|s| text.is_char_boundary(s.start) && text.is_char_boundary(s.end))
            && !layout.sentences.is_empty()
    }
}
