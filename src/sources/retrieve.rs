//! Questions about a document longer than the context: the paragraphs that answer them, read
//! verbatim.
//!
//! Paragraphs are ranked with BM25 (the `bm25` crate, over this module's Unicode words)
//! against the question, and more lightly against the last turns (a follow-up such as "and
//! when did he leave?" leans on them). The best are taken, whole, while the budget lasts —
//! the context less the reply, the conversation so far, the question and the part notes of a
//! summary when one exists — each counted with the model's own tokenizer, and the prompt is
//! counted again whole. They are read in document order, each place marked as `extract` marks
//! it (`--- page 31 ---`, `--- heading: Termination ---`) and a gap as `[…]`.

use super::index::DocumentIndex;
use super::Passage;
use crate::prompt::{document_turn, Message, Role};
use crate::summarize::{SummarizeError, SummaryModel};

/// What a question about a long document reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Tokens kept for the reply.
    pub reply_tokens: u32,
    /// Most of the room (after the reply and the conversation) that a summary's part notes may
    /// take; notes past it are left out.
    pub notes_share: f32,
    /// Weight of the last turns against the question's when ranking.
    pub turns_weight: f32,
}

impl ReadOptions {
    /// Options for a reply of at most `reply_tokens` tokens.
    #[must_use]
    pub fn new(reply_tokens: u32) -> Self {
        Self {
            reply_tokens,
            notes_share: 0.3,
            turns_weight: 0.3,
        }
    }
}

/// What a question reads, and the prompt that reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The conversation to send: the turns before, then the question's turn (the passages,
    /// the notes, the question).
    pub messages: Vec<Message>,
    /// The passages read, in document order; the whole document as one passage when it fits.
    pub read: Vec<Passage>,
    /// Whether the whole document fits and is read (then the question's turn is exactly the
    /// one a first question about a document is: the document, then the question).
    pub whole: bool,
    /// Part notes that came along.
    pub notes: usize,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
}

/// The line before a summary's part notes in a question's turn.
pub const NOTES_HEADER: &str = "Notes on every part of the document, from its summary:";

/// The line before the passages in a question's turn.
const PASSAGES_HEADER: &str =
    "Passages of the document that bear on the question (it is too long to read whole), in order:";

/// Tokens kept free for differences in how text tokenizes at the seams.
const MARGIN: usize = 16;

/// The question's turn: the notes (if any), the passages (or the whole document), then the
/// question. With no notes and the whole document it is exactly [`document_turn`].
#[must_use]
pub fn question_turn(document_text: &str, notes: &[String], question: &str, whole: bool) -> String {
    if whole && notes.is_empty() {
        return document_turn(document_text, question);
    }
    let mut body = String::new();
    if !notes.is_empty() {
        body.push_str(NOTES_HEADER);
        body.push_str("\n\n");
        body.push_str(&notes.join("\n\n"));
        body.push_str("\n\n");
    }
    if !whole {
        body.push_str(PASSAGES_HEADER);
        body.push_str("\n\n");
    }
    body.push_str(document_text);
    document_turn(&body, question)
}

/// Picks what a question about `index`'s document reads and builds the prompt: the whole
/// document when it fits with `prior` (the conversation so far, without the document), the
/// question and the reply; otherwise its best paragraphs, whole, plus `notes` (a summary's
/// part notes, in order) while they take at most [`ReadOptions::notes_share`] of the room.
///
/// # Errors
/// Tokenizer failures; [`SummarizeError::ContextTooSmall`] when not even the question fits.
pub fn read_for_question(
    model: &mut dyn SummaryModel,
    index: &DocumentIndex,
    prior: &[Message],
    question: &str,
    notes: &[String],
    options: &ReadOptions,
) -> Result<Reading, SummarizeError> {
    let n_ctx = model.context();
    let reply = options.reply_tokens as usize;
    let too_small = || SummarizeError::ContextTooSmall {
        n_ctx,
        reserved: reply,
    };
    let with_turn = |turn: String| {
        let mut messages = prior.to_vec();
        messages.push(Message::user(turn));
        messages
    };
    // A text of more than 32 bytes per token of the context cannot fit (no tokenizer makes
    // tokens that long on average): it is not counted whole, which on a long document costs.
    let may_fit = index.text.len() <= n_ctx.saturating_mul(32);
    let whole_messages = with_turn(question_turn(&index.text, &[], question, true));
    let whole_tokens = if may_fit {
        model.prompt_tokens(&whole_messages)?
    } else {
        usize::MAX / 2
    };
    if whole_tokens + reply + MARGIN <= n_ctx {
        return Ok(Reading {
            messages: whole_messages,
            read: vec![index.passage(0..index.text.len())],
            whole: true,
            notes: 0,
            prompt_tokens: whole_tokens,
        });
    }
    let base = model.prompt_tokens(&with_turn(question_turn("", &[], question, false)))?;
    let room = n_ctx
        .checked_sub(base + reply + MARGIN)
        .filter(|r| *r > 0)
        .ok_or_else(too_small)?;
    // Notes first, in order, while they fit their share.
    let mut kept_notes: Vec<String> = Vec::new();
    let mut notes_tokens = 0usize;
    if !notes.is_empty() {
        let limit = (room as f32 * options.notes_share) as usize;
        notes_tokens = model.count_tokens(NOTES_HEADER)? + 2;
        for note in notes {
            let tokens = model.count_tokens(note)? + 2;
            if notes_tokens + tokens > limit {
                break;
            }
            notes_tokens += tokens;
            kept_notes.push(note.clone());
        }
        if kept_notes.is_empty() {
            notes_tokens = 0;
        }
    }
    let mut budget = room.saturating_sub(notes_tokens);
    let ranked = rank(index, question, prior, options.turns_weight);
    loop {
        let chosen = fill(model, index, &ranked, budget)?;
        let excerpt = excerpt(index, &chosen);
        let messages = with_turn(question_turn(&excerpt, &kept_notes, question, false));
        let tokens = model.prompt_tokens(&messages)?;
        if tokens + reply + MARGIN <= n_ctx || chosen.is_empty() {
            if tokens + reply + MARGIN > n_ctx {
                return Err(too_small());
            }
            let read = chosen
                .iter()
                .map(|&p| index.passage(index.layout.paragraphs[p].range.clone()))
                .collect();
            return Ok(Reading {
                messages,
                read,
                whole: false,
                notes: kept_notes.len(),
                prompt_tokens: tokens,
            });
        }
        // Markers and seams counted more than estimated: try again with less.
        let over = tokens + reply + MARGIN - n_ctx;
        budget = budget.saturating_sub(over + 32);
    }
}

/// Paragraph indices, best first: BM25 against the question, plus a lighter share against the
/// last two turns; paragraphs that match nothing follow in document order (a question with no
/// word of the document still reads its start).
fn rank(index: &DocumentIndex, question: &str, prior: &[Message], turns_weight: f32) -> Vec<usize> {
    let n = index.layout.paragraphs.len();
    let mut scores = vec![0f32; n];
    for hit in index.scorer.matches(&index.embedder.embed(question)) {
        if let Some(s) = scores.get_mut(hit.id as usize) {
            *s += hit.score;
        }
    }
    let turns: Vec<&str> = prior
        .iter()
        .rev()
        .filter(|m| m.role != Role::System)
        .take(2)
        .map(|m| m.content.as_str())
        .collect();
    if !turns.is_empty() && turns_weight > 0.0 {
        let joined = turns.join("\n");
        for hit in index.scorer.matches(&index.embedder.embed(&joined)) {
            if let Some(s) = scores.get_mut(hit.id as usize) {
                *s += turns_weight * hit.score;
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The best paragraphs that fit `budget` tokens (each counted exactly, plus its marker lines),
/// in document order.
fn fill(
    model: &mut dyn SummaryModel,
    index: &DocumentIndex,
    ranked: &[usize],
    budget: usize,
) -> Result<Vec<usize>, SummarizeError> {
    let mut chosen = Vec::new();
    let mut used = 0usize;
    let mut misses = 0usize;
    for &p in ranked {
        let paragraph = &index.layout.paragraphs[p];
        // A paragraph's own tokens, its separating blank line, and about a dozen for markers.
        let tokens = model.count_tokens(&index.text[paragraph.range.clone()])? + 14;
        if used + tokens <= budget {
            used += tokens;
            chosen.push(p);
            misses = 0;
        } else {
            misses += 1;
            // Smaller paragraphs may still fit; stop when many in a row do not, or when what
            // is left would hold little.
            if misses >= 24 || budget - used < 48 {
                break;
            }
        }
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// The chosen paragraphs in document order, each place marked when it changes and gaps shown.
fn excerpt(index: &DocumentIndex, chosen: &[usize]) -> String {
    let mut out = String::new();
    let mut last_place: Option<(Option<u32>, Option<String>)> = None;
    let mut last_paragraph: Option<usize> = None;
    for &p in chosen {
        let range = index.layout.paragraphs[p].range.clone();
        let place = index.place(range.start);
        if last_paragraph.is_some_and(|l| l + 1 != p) {
            out.push_str("[…]\n\n");
        }
        if last_place.as_ref() != Some(&place) {
            if let Some(page) = place.0 {
                if last_place.as_ref().is_none_or(|l| l.0 != Some(page)) {
                    out.push_str(&format!("--- page {page} ---\n"));
                }
            }
            if let Some(heading) = &place.1 {
                if last_place
                    .as_ref()
                    .is_none_or(|l| l.1.as_ref() != Some(heading))
                {
                    out.push_str(&format!("--- heading: {heading} ---\n"));
                }
            }
            last_place = Some(place);
        }
        out.push_str(index.text[range].trim_end());
        out.push_str("\n\n");
        last_paragraph = Some(p);
    }
    out.trim_end().to_owned()
}

/// What a question read, in words for the document meter: "read 9 passages, pages 3-5, 31, 40
/// of 120", or for a document without pages "read 9 passages, 12% of the document"; "read the
/// whole document" when it was.
#[must_use]
pub fn describe_read(
    read: &[Passage],
    page_count: usize,
    document_chars: usize,
    whole: bool,
) -> String {
    if whole {
        return "read the whole document".to_owned();
    }
    let count = match read.len() {
        1 => "read 1 passage".to_owned(),
        n => format!("read {n} passages"),
    };
    let mut pages: Vec<u32> = read
        .iter()
        .filter_map(|p| p.page.map(|first| (first, p.last_page.unwrap_or(first))))
        .flat_map(|(a, b)| a..=b.max(a))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    if !pages.is_empty() && page_count > 0 {
        let mut runs: Vec<String> = Vec::new();
        let mut i = 0;
        while i < pages.len() {
            let mut j = i;
            while j + 1 < pages.len() && pages[j + 1] == pages[j] + 1 {
                j += 1;
            }
            runs.push(if i == j {
                pages[i].to_string()
            } else {
                format!("{}-{}", pages[i], pages[j])
            });
            i = j + 1;
        }
        let word = if pages.len() == 1 { "page" } else { "pages" };
        return format!("{count}, {word} {} of {page_count}", runs.join(", "));
    }
    let chars: usize = read.iter().map(|p| p.end.saturating_sub(p.start)).sum();
    if document_chars == 0 {
        return count;
    }
    let percent = (chars as f64 * 100.0 / document_chars as f64).round();
    if percent < 1.0 {
        format!("{count}, under 1% of the document")
    } else {
        format!("{count}, {percent:.0}% of the document")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(page: Option<u32>, last: Option<u32>, len: usize) -> Passage {
        Passage {
            page,
            last_page: last,
            heading: None,
            start: 0,
            end: len,
            text: String::new(),
            bytes: 0..len,
        }
    }

    #[test]
    fn what_was_read_is_said_in_pages_or_a_share() {
        let read = vec![
            passage(Some(3), Some(5), 10),
            passage(Some(31), None, 10),
            passage(Some(40), None, 10),
            passage(Some(4), None, 10),
        ];
        assert_eq!(
            describe_read(&read, 120, 0, false),
            "read 4 passages, pages 3-5, 31, 40 of 120"
        );
        assert_eq!(
            describe_read(&read[1..2], 120, 0, false),
            "read 1 passage, page 31 of 120"
        );
        let read = vec![passage(None, None, 120), passage(None, None, 0)];
        assert_eq!(
            describe_read(&read, 0, 1000, false),
            "read 2 passages, 12% of the document"
        );
        assert_eq!(
            describe_read(&read, 0, 1000, true),
            "read the whole document"
        );
    }

    #[test]
    fn the_whole_document_turn_is_the_first_question_turn() {
        assert_eq!(
            question_turn("Doc.\n", &[], "Why?", true),
            document_turn("Doc.\n", "Why?")
        );
        let turn = question_turn(
            "A passage.",
            &["[Part 1 of 2] note".to_owned()],
            "Why?",
            false,
        );
        assert!(turn.starts_with(NOTES_HEADER));
        assert!(turn.contains("[Part 1 of 2] note\n\nPassages of the document"));
        assert!(turn.ends_with("A passage.\n\nWhy?"));
    }
}
