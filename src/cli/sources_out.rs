//! How `ask`, `verify` and `summarize --sources/--json` show a checked reply: per sentence its
//! sources (page, heading, character offsets into the text `extract` prints, the passage) or
//! "not found in the document", then the claims the document does not make; and the one JSON
//! object of `--json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::sources::{Claim, Found, Passage, ReplyCheck, SentenceCheck, SentenceKind};

/// The exit code of `verify` when some sentence is not supported.
pub const UNSUPPORTED_EXIT_CODE: u8 = 3;

/// Some sentence of a checked text is not supported (the exit code is
/// [`UNSUPPORTED_EXIT_CODE`]).
#[derive(Debug, thiserror::Error)]
#[error("{unsupported} of {checked} checked sentences are not supported by the document{claims}")]
pub struct Unsupported {
    /// Sentences not supported.
    pub unsupported: usize,
    /// Sentences checked.
    pub checked: usize,
    /// ", and N claims are not in it", or nothing.
    pub claims: String,
}

impl Unsupported {
    /// `Some` when `check` has an unsupported sentence or a claim found nowhere.
    #[must_use]
    pub fn of(check: &ReplyCheck) -> Option<Self> {
        let unsupported = check.unsupported().count();
        let missing = check.not_found().count();
        if unsupported == 0 && missing == 0 {
            return None;
        }
        Some(Self {
            unsupported,
            checked: check.sentences.iter().filter(|s| s.checked).count(),
            claims: match missing {
                0 => String::new(),
                1 => ", and 1 claim is not in it".to_owned(),
                n => format!(", and {n} claims are not in it"),
            },
        })
    }
}

/// The JSON object of `ask --json`, `summarize --json` and `verify --json`.
#[derive(Serialize)]
pub struct CheckedJson<'a> {
    /// The reply (the summary, the answer, or the text checked).
    pub answer: &'a str,
    /// Its sentences with their sources, best first, and whether they are supported.
    pub sentences: &'a [SentenceCheck],
    /// Claims (numbers, amounts, percentages, dates, names) the document makes nowhere.
    pub not_found: Vec<&'a Claim>,
    /// What the question read (not for `verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<&'a [Passage]>,
    /// Whether every sentence is supported.
    pub supported: bool,
}

impl<'a> CheckedJson<'a> {
    /// The object for `answer` and its check; `read` for `ask` and `summarize`.
    #[must_use]
    pub fn new(answer: &'a str, check: &'a ReplyCheck, read: Option<&'a [Passage]>) -> Self {
        Self {
            answer,
            sentences: &check.sentences,
            not_found: check.not_found().collect(),
            read,
            supported: check.all_supported(),
        }
    }
}

/// Longest passage shown in text output (characters).
const SHOWN: usize = 200;

/// A checked reply in words: each sentence, its sources or "not found in the document", its
/// claims that are not where its sources are; then one line of totals.
#[must_use]
pub fn render(check: &ReplyCheck) -> String {
    let mut out = String::new();
    for (i, sentence) in check.sentences.iter().enumerate() {
        let status = match (sentence.kind, sentence.supported) {
            (SentenceKind::Statement, true) => "supported",
            (SentenceKind::Statement, false) => "NOT FOUND in the document",
            (SentenceKind::Heading, _) => "heading, not checked",
            (SentenceKind::Code, _) => "code, not checked",
            (SentenceKind::Restatement, _) => "repeats the question, not checked",
            (SentenceKind::Short, _) => "too short to check",
        };
        // Writing to a String cannot fail.
        writeln!(
            out,
            "[{}] {status}: {}",
            i + 1,
            one_line(&sentence.text, usize::MAX)
        )
        .ok();
        for source in &sentence.sources {
            let mut place = Vec::new();
            if let Some(page) = source.page {
                place.push(format!("p. {page}"));
            }
            if let Some(heading) = &source.heading {
                place.push(format!("§ {}", one_line(heading, 60)));
            }
            place.push(format!("chars {}-{}", source.start, source.end));
            place.push(format!("score {:.2}", source.score));
            writeln!(
                out,
                "    - {}: \"{}\"",
                place.join(" · "),
                one_line(&source.text, SHOWN)
            )
            .ok();
        }
        for claim in check.claims.iter().filter(|c| c.sentence == i) {
            match claim.found {
                Found::InSources => {}
                Found::Elsewhere => {
                    writeln!(
                        out,
                        "    ! \"{}\" ({}) is in the document, but not in these passages",
                        claim.text,
                        kind_name(claim)
                    )
                    .ok();
                }
                Found::Nowhere => {
                    writeln!(
                        out,
                        "    ! \"{}\" ({}) is not in the document",
                        claim.text,
                        kind_name(claim)
                    )
                    .ok();
                }
            }
        }
    }
    let checked = check.sentences.iter().filter(|s| s.checked).count();
    let supported = check
        .sentences
        .iter()
        .filter(|s| s.checked && s.supported)
        .count();
    let missing = check.not_found().count();
    write!(
        out,
        "[{supported} of {checked} checked sentences supported · {}]",
        match missing {
            0 => "every claim found in the document".to_owned(),
            1 => "1 claim not found in the document".to_owned(),
            n => format!("{n} claims not found in the document"),
        }
    )
    .ok();
    out
}

fn kind_name(claim: &Claim) -> &'static str {
    use crate::sources::ClaimKind;
    match claim.kind {
        ClaimKind::Number => "number",
        ClaimKind::Amount => "amount",
        ClaimKind::Percent => "percentage",
        ClaimKind::Date => "date",
        ClaimKind::Name => "name",
        ClaimKind::Literal => "literal",
    }
}

/// Text on one line, at most `max` characters (with `…`).
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
