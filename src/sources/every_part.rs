//! "Search every part": a question that needs the whole of a long document ("list every
//! deadline") asked of each part in turn, then the answers combined, as the map-reduce summary
//! reads a document (the same chunks, the same [`SummaryModel`], so it runs on the local engine
//! and on a server, several parts at a time where the server has slots).

use std::ops::Range;
use std::time::Instant;

use crate::cancel::CancelToken;
use crate::documents::Document;
use crate::engine::{StopReason, Timings};
use crate::prompt::Message;
use crate::summarize::{chunk_text, Chunk, Coverage, PartEvent, SummarizeError, SummaryModel};

use super::text::fold;

/// What a part answers when it holds nothing about the question.
pub const NOT_IN_THIS_PART: &str = "Not in this part.";

/// One part's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PartAnswer {
    /// 1-based.
    pub part: usize,
    /// Where it is (`page 3 to page 5`), if the document has markers.
    pub location: Option<String>,
    /// Bytes of the document it covers (overlap included).
    pub bytes: Range<usize>,
    /// What the model answered from it.
    pub text: String,
    /// False when it said the part has nothing on the question.
    pub relevant: bool,
}

/// The combined answer and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct PartSearch {
    /// The answer (what was streamed).
    pub answer: String,
    /// Every part's answer, in document order (those read before a cancel).
    pub parts: Vec<PartAnswer>,
    /// Parts read of all parts.
    pub coverage: Coverage,
    /// Model calls made.
    pub model_calls: usize,
    /// True when the caller cancelled.
    pub cancelled: bool,
    /// Figures of the final call.
    pub final_timings: Option<Timings>,
    /// Seconds from start to end.
    pub total_secs: f64,
}

/// What a search of every part reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum PartSearchProgress {
    /// The document is cut into `parts` parts.
    Planned {
        /// Parts.
        parts: usize,
    },
    /// Part `part` (1-based) answered.
    Answered {
        /// Which part.
        part: usize,
        /// How many.
        parts: usize,
        /// Whether it had something on the question.
        relevant: bool,
        /// Parts read so far, from the start.
        coverage: Coverage,
    },
    /// The answers of `inputs` parts are being combined (the last call streams).
    Combining {
        /// Answers combined.
        inputs: usize,
    },
}

/// Tokens kept free for seams.
const MARGIN: usize = 16;

/// Whether a question asks for something found all over a document ("list every deadline",
/// "all the obligations of the licensee", "how many times…"), so that the app suggests "Search
/// every part" for a document read in parts. Words in English, French, German, Spanish, Italian
/// and Portuguese.
#[must_use]
pub fn suggests_every_part(question: &str) -> bool {
    const WORDS: &[&str] = &[
        "every",
        "all",
        "each",
        "list",
        "enumerate",
        "throughout",
        "whole",
        "entire",
        "everything",
        "everywhere",
        "anywhere",
        "wherever",
        "tous",
        "toutes",
        "chaque",
        "liste",
        "lister",
        "énumérer",
        "ensemble",
        "alle",
        "allen",
        "aller",
        "jede",
        "jeden",
        "jeder",
        "jedes",
        "sämtliche",
        "auflisten",
        "todos",
        "todas",
        "cada",
        "lista",
        "enumera",
        "tutti",
        "tutte",
        "ogni",
        "elenca",
        "elenco",
    ];
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect();
    let pairs = words.windows(2).any(|w| {
        matches!(
            (w[0].as_str(), w[1].as_str()),
            ("how", "many")
                | ("how", "often")
                | ("combien", _)
                | ("wie", "viele")
                | ("cuántos" | "cuántas", _)
        )
    });
    // "at all" asks nothing about the whole document.
    let at_all = words.windows(2).any(|w| w[0] == "at" && w[1] == "all");
    pairs
        || words
            .iter()
            .any(|w| WORDS.contains(&w.as_str()) && !(at_all && w == "all"))
}

/// The prompt asking the question of part `part` of `parts`.
#[must_use]
pub fn every_part_messages(
    part: usize,
    parts: usize,
    location: Option<&str>,
    text: &str,
    question: &str,
) -> Vec<Message> {
    let place = location.map_or_else(String::new, |l| format!(" It covers {l}."));
    vec![Message::user(format!(
        "This is part {part} of {parts} of a long document.{place}\n\n{}\n\nAnswer this question from this part only, quoting names, dates and figures as written: {question}\nIf this part says nothing about it, answer exactly: {NOT_IN_THIS_PART}",
        text.trim_end()
    ))]
}

fn combine_messages(question: &str, answers: &[(String, String)], last: bool) -> Vec<Message> {
    let ask = if last {
        "Please combine them into one complete answer to the question, keeping every item, name, date and figure, in document order."
    } else {
        "Please combine them into one answer, keeping every item, name, date and figure."
    };
    let mut text = format!(
        "Below are answers to the question \"{question}\", each from one part of a long document, in order. {ask}\n\n"
    );
    for (heading, answer) in answers {
        text.push_str(heading);
        text.push('\n');
        text.push_str(answer.trim());
        text.push_str("\n\n");
    }
    vec![Message::user(text.trim_end().to_owned())]
}

/// Whether an answer says its part holds nothing on the question.
fn says_nothing(answer: &str) -> bool {
    let head: String = answer
        .trim()
        .chars()
        .take(60)
        .collect::<String>()
        .to_lowercase();
    let marker = NOT_IN_THIS_PART.trim_end_matches('.').to_lowercase();
    head.is_empty() || head.contains(&marker)
}

/// Asks `question` of every part of `document` (cut as a summary in parts cuts it), then
/// combines the parts' answers into one, streamed to `on_piece`. Parts that hold nothing on
/// the question are left out of the combination; when none holds anything, the answer says so
/// without another model call.
///
/// # Errors
/// Model failures; [`SummarizeError::ContextTooSmall`] when a part, the question and a reply
/// do not fit.
pub fn search_every_part(
    model: &mut dyn SummaryModel,
    document: &Document,
    question: &str,
    reply_tokens: u32,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(&PartSearchProgress),
    on_piece: &mut dyn FnMut(&str),
) -> Result<PartSearch, SummarizeError> {
    let started = Instant::now();
    let n_ctx = model.context();
    let reserved = reply_tokens as usize;
    let too_small = SummarizeError::ContextTooSmall { n_ctx, reserved };
    let part_reply = (n_ctx / 8).clamp(64, 384).min(reserved.max(64));
    let probe = every_part_messages(9999, 9999, Some(&"x".repeat(64)), "", question);
    let overhead = model.prompt_tokens(&probe)?;
    let mut budget = n_ctx
        .checked_sub(overhead + part_reply + MARGIN)
        .filter(|b| *b >= 64)
        .ok_or(too_small)?;
    let mut chunks: Vec<Chunk>;
    let mut tries = 0;
    loop {
        chunks = chunk_text(&document.text, budget, 64, &mut |t| model.count_tokens(t))?;
        let mut worst = 0usize;
        for (i, chunk) in chunks.iter().enumerate() {
            let location = document.location(chunk.span());
            let messages = every_part_messages(
                i + 1,
                chunks.len(),
                location.as_deref(),
                chunk.text(&document.text),
                question,
            );
            let tokens = model.prompt_tokens(&messages)?;
            worst = worst.max((tokens + part_reply + MARGIN).saturating_sub(n_ctx));
        }
        if worst == 0 {
            break;
        }
        tries += 1;
        budget = budget
            .checked_sub(worst + MARGIN)
            .filter(|b| *b >= 64 && tries < 8)
            .ok_or(SummarizeError::ContextTooSmall { n_ctx, reserved })?;
    }
    let parts = chunks.len();
    on_progress(&PartSearchProgress::Planned { parts });
    let locations: Vec<Option<String>> =
        chunks.iter().map(|c| document.location(c.span())).collect();
    let prompts: Vec<(Vec<Message>, u32)> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                every_part_messages(
                    i + 1,
                    parts,
                    locations[i].as_deref(),
                    c.text(&document.text),
                    question,
                ),
                u32::try_from(part_reply).unwrap_or(u32::MAX),
            )
        })
        .collect();
    let mut search = PartSearch {
        answer: String::new(),
        parts: Vec::with_capacity(parts),
        coverage: Coverage {
            read: 0,
            total: parts,
        },
        model_calls: 0,
        cancelled: false,
        final_timings: None,
        total_secs: 0.0,
    };
    let mut finished: Vec<Option<String>> = vec![None; parts];
    let mut stopped = false;
    model.complete_parts(&prompts, cancel, &mut |event| match event {
        PartEvent::Started(_) => search.model_calls += 1,
        PartEvent::Finished(i, completion) => {
            if completion.stop == StopReason::Cancelled {
                stopped = true;
                return;
            }
            if let Some(slot) = finished.get_mut(i) {
                *slot = Some(completion.text);
            }
            while let Some(text) = finished.get_mut(search.parts.len()).and_then(Option::take) {
                let k = search.parts.len();
                let relevant = !says_nothing(&text);
                search.coverage.read = k + 1;
                search.parts.push(PartAnswer {
                    part: k + 1,
                    location: locations.get(k).cloned().flatten(),
                    bytes: chunks[k].span(),
                    text: text.trim().to_owned(),
                    relevant,
                });
                on_progress(&PartSearchProgress::Answered {
                    part: k + 1,
                    parts,
                    relevant,
                    coverage: search.coverage,
                });
            }
        }
    })?;
    let finish = |mut search: PartSearch| {
        search.total_secs = started.elapsed().as_secs_f64();
        Ok(search)
    };
    if stopped || cancel.is_cancelled() || search.parts.len() < parts {
        search.cancelled = true;
        return finish(search);
    }
    let mut answers: Vec<(String, String)> = search
        .parts
        .iter()
        .filter(|p| p.relevant)
        .map(|p| {
            let heading = match &p.location {
                Some(l) => format!("Part {} ({l}):", p.part),
                None => format!("Part {}:", p.part),
            };
            (heading, p.text.clone())
        })
        .collect();
    if answers.is_empty() {
        search.answer =
            format!("None of the {parts} parts of the document says anything about this.");
        on_piece(&search.answer);
        return finish(search);
    }
    // Combine in groups until the final prompt fits, then stream the final answer.
    loop {
        if cancel.is_cancelled() {
            search.cancelled = true;
            return finish(search);
        }
        let messages = combine_messages(question, &answers, true);
        if model.prompt_tokens(&messages)? + reserved + MARGIN <= n_ctx || answers.len() == 1 {
            on_progress(&PartSearchProgress::Combining {
                inputs: answers.len(),
            });
            search.model_calls += 1;
            let completion = model.complete(&messages, reply_tokens, cancel, on_piece)?;
            search.cancelled = completion.stop == StopReason::Cancelled;
            search.answer = completion.text;
            search.final_timings = Some(completion.timings);
            return finish(search);
        }
        // Consecutive answers in groups whose combining prompt and reply fit.
        let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for answer in answers.drain(..) {
            let Some(group) = groups.last_mut() else {
                break;
            };
            group.push(answer);
            if group.len() > 1
                && model.prompt_tokens(&combine_messages(question, group, false))?
                    + part_reply
                    + MARGIN
                    > n_ctx
            {
                let moved = group.pop();
                groups.push(moved.into_iter().collect());
            }
        }
        let inputs: usize = groups.iter().map(Vec::len).sum();
        if groups.len() >= inputs {
            return Err(SummarizeError::ContextTooSmall { n_ctx, reserved });
        }
        let mut next = Vec::with_capacity(groups.len());
        for group in &groups {
            if cancel.is_cancelled() {
                search.cancelled = true;
                return finish(search);
            }
            next.push(combine_group(
                model,
                question,
                group,
                part_reply,
                cancel,
                &mut search,
            )?);
        }
        answers = next;
    }
}

fn combine_group(
    model: &mut dyn SummaryModel,
    question: &str,
    group: &[(String, String)],
    reply: usize,
    cancel: &CancelToken,
    search: &mut PartSearch,
) -> Result<(String, String), SummarizeError> {
    if group.len() == 1 {
        return Ok(group[0].clone());
    }
    search.model_calls += 1;
    let completion = model.complete(
        &combine_messages(question, group, false),
        u32::try_from(reply).unwrap_or(u32::MAX),
        cancel,
        &mut |_| {},
    )?;
    let first = group[0].0.trim_end_matches(':');
    let last = group[group.len() - 1].0.trim_end_matches(':');
    Ok((format!("{first} to {last}:"), completion.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_about_the_whole_document_suggest_every_part() {
        for q in [
            "List every deadline.",
            "What are all the obligations of the licensee?",
            "How many times is the fee mentioned?",
            "Quels sont tous les délais ?",
            "Nenne alle Fristen.",
            "¿Cuáles son todas las obligaciones?",
        ] {
            assert!(suggests_every_part(q), "{q}");
        }
        for q in [
            "When was Debian founded?",
            "Who led the project in 1998?",
            "Is that true at all?",
        ] {
            assert!(!suggests_every_part(q), "{q}");
        }
    }

    #[test]
    fn a_part_that_has_nothing_says_so() {
        assert!(says_nothing("Not in this part."));
        assert!(says_nothing(" not in this part"));
        assert!(says_nothing(""));
        assert!(!says_nothing("The deadline is 3 May."));
    }
}
