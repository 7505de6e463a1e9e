//! A checked reply as Markdown footnotes: a mark after each sentence that has sources or is not
//! supported, and per mark its passages (page, heading, text) and the claims the document does
//! not make. The conversation export and the queue's report write checks this way.

use super::{Found, ReplyCheck};

/// `text` (the reply `check` was made of) with a footnote mark (`[^n]`) after each sentence that
/// has sources, is not supported, or holds a claim not found where its sources are; and the
/// footnotes, one line each. Marks are numbered from `*next + 1`, and `next` is left at the
/// last. `None` when the check's spans do not fit `text` (it is a check of another text).
#[must_use]
pub fn with_footnotes(
    text: &str,
    check: &ReplyCheck,
    next: &mut usize,
) -> Option<(String, String)> {
    let fits = check.sentences.iter().all(|s| {
        s.span.start <= s.span.end && s.span.end <= text.len() && text.is_char_boundary(s.span.end)
    });
    if !fits {
        return None;
    }
    let mut marks: Vec<(usize, usize)> = Vec::new();
    let mut notes = String::new();
    for (i, sentence) in check.sentences.iter().enumerate() {
        let claims: Vec<String> = check
            .claims
            .iter()
            .filter(|c| c.sentence == i && c.found != Found::InSources)
            .map(|c| match c.found {
                Found::Nowhere => format!("\"{}\" is not in the document.", c.text),
                _ => format!(
                    "\"{}\" is in the document, but not in these passages.",
                    c.text
                ),
            })
            .collect();
        if sentence.sources.is_empty() && sentence.supported && claims.is_empty() {
            continue;
        }
        *next += 1;
        marks.push((sentence.span.end, *next));
        let mut parts: Vec<String> = Vec::new();
        if sentence.checked && !sentence.supported && sentence.sources.is_empty() {
            parts.push("Not found in the document.".to_owned());
        }
        for source in &sentence.sources {
            let mut place = Vec::new();
            if let Some(page) = source.page {
                place.push(format!("p. {page}"));
            }
            if let Some(heading) = &source.heading {
                place.push(format!("§ {heading}"));
            }
            let quoted = source.text.split_whitespace().collect::<Vec<_>>().join(" ");
            parts.push(if place.is_empty() {
                format!("\"{quoted}\"")
            } else {
                format!("{}: \"{quoted}\"", place.join(", "))
            });
        }
        if sentence.checked && !sentence.supported && !sentence.sources.is_empty() {
            parts.push("(These passages do not fully support it.)".to_owned());
        }
        parts.extend(claims);
        notes.push_str(&format!("[^{}]: {}\n", *next, parts.join(" ")));
    }
    let mut out = text.to_owned();
    for (at, n) in marks.iter().rev() {
        out.insert_str(*at, &format!("[^{n}]"));
    }
    Some((out, notes))
}
