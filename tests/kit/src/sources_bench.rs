//! Figures for answers you can check (`sources`), on the real texts of `tests/texts`: evidence
//! recall of long-document questions, page accuracy of the sources of extractive sentences, the
//! share of changed claims flagged and of faithful sentences falsely flagged, and the time to
//! align a reply. The tests assert on the same cases (`tests/integration/sources.rs`).
//!
//! The cases are made from the texts by rule, not by hand: every k-th sentence of a document is
//! an extractive sentence; each of its figures, dates and names changed in turn is a changed
//! claim. Only the questions are written by hand, with the words of the passage that answers
//! each (some held out while the method was designed).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use xgen_desk::documents::{Document, Format, Section, SectionKind};
use xgen_desk::sources::{
    read_for_question, CheckContext, ClaimKind, DocumentIndex, Found, ReadOptions, ReplyCheck,
};
use xgen_desk::summarize::SummaryModel;
use xgen_desk::tokenizer::XgenTextTokenizer;

/// The folder of the real texts.
#[must_use]
pub fn texts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../texts")
}

/// A text of `tests/texts`.
///
/// # Errors
/// When it cannot be read.
pub fn read_text(name: &str) -> Result<String> {
    let path = texts_dir().join(name);
    std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))
}

/// `text` as a document of pages of about `page_chars` bytes, cut at line ends (as a PDF's
/// reader marks pages).
#[must_use]
pub fn paged(name: &str, text: &str, page_chars: usize) -> Document {
    let mut sections = vec![Section {
        offset: 0,
        kind: SectionKind::Page,
        label: "page 1".to_owned(),
    }];
    let mut next = page_chars;
    while next < text.len() {
        while !text.is_char_boundary(next) {
            next += 1;
        }
        let Some(at) = text[next..].find('\n').map(|i| next + i + 1) else {
            break;
        };
        if at >= text.len() {
            break;
        }
        sections.push(Section {
            offset: at,
            kind: SectionKind::Page,
            label: format!("page {}", sections.len() + 1),
        });
        next = at + page_chars;
    }
    Document {
        name: name.to_owned(),
        format: Format::Pdf,
        text: text.to_owned(),
        sections,
        warnings: Vec::new(),
        ocr: None,
    }
}

/// A sentence of the document, on one line, and the page it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extractive {
    /// The sentence, whitespace collapsed, list marks dropped.
    pub text: String,
    /// Its page, if the document has pages.
    pub page: Option<u32>,
    /// Bytes of the document.
    pub bytes: Range<usize>,
}

/// Every `every`-th sentence of the document with at least `min_words` words.
#[must_use]
pub fn extractive_sentences(
    index: &DocumentIndex,
    every: usize,
    min_words: usize,
) -> Vec<Extractive> {
    let text = index.text();
    index
        .sentence_ranges()
        .iter()
        .filter_map(|range| {
            let flat = text[range.clone()]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let flat = flat.trim_start_matches(['*', '-', '•', ' ']).to_owned();
            (flat.split_whitespace().count() >= min_words).then(|| Extractive {
                page: index.passage(range.clone()).page,
                text: flat,
                bytes: range.clone(),
            })
        })
        .step_by(every.max(1))
        .collect()
}

/// A sentence with one claim changed, and the sentence as the document has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedClaim {
    /// The document's sentence.
    pub original: String,
    /// The same with one claim changed.
    pub changed: String,
    /// What was changed.
    pub kind: ClaimKind,
    /// The claim as written, and what it became.
    pub from: String,
    /// What it became.
    pub to: String,
}

/// Surnames no test text has, for names changed to ones the document never mentions.
const INVENTED: &[&str] = &[
    "Hartwell",
    "Okonkwo",
    "Lindqvist",
    "Moravec",
    "Quintero",
    "Abernathy",
];

/// For each sentence, each of its checkable claims changed in turn: a figure to another
/// figure, a date's year (or day) to another, a name's last word to another name of the
/// document or to an invented one.
#[must_use]
pub fn changed_claims(index: &DocumentIndex, sentences: &[Extractive]) -> Vec<ChangedClaim> {
    let checks: Vec<(String, ReplyCheck)> = sentences
        .iter()
        .map(|s| {
            (
                s.text.clone(),
                index.check(&s.text, &CheckContext::default()),
            )
        })
        .collect();
    // Names the document has (never in lower case, so a name and not a word), to swap in.
    let lower: std::collections::HashSet<&str> = index
        .text()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().next().is_some_and(char::is_lowercase))
        .collect();
    let names: Vec<String> = checks
        .iter()
        .flat_map(|(_, c)| c.claims.iter())
        .filter(|c| c.kind == ClaimKind::Name && c.found == Found::InSources)
        .filter_map(|c| c.text.split_whitespace().last().map(str::to_owned))
        .filter(|n| {
            !lower.contains(n.to_lowercase().as_str()) && n.chars().all(char::is_alphabetic)
        })
        .collect();
    let mut out = Vec::new();
    let mut invented = 0usize;
    for (original, check) in &checks {
        // Only sentences the check reads as one sentence (the reply splitter agrees).
        if check.sentences.len() != 1 {
            continue;
        }
        for claim in &check.claims {
            if claim.found != Found::InSources {
                continue;
            }
            let to = match claim.kind {
                ClaimKind::Number | ClaimKind::Amount | ClaimKind::Percent | ClaimKind::Date => {
                    change_figures(&claim.text, claim.kind)
                }
                ClaimKind::Name => {
                    let last = claim.text.split_whitespace().last().unwrap_or_default();
                    invented += 1;
                    let pick = if invented.is_multiple_of(2) {
                        names
                            .iter()
                            .find(|n| !original.contains(n.as_str()) && n.len() > 2)
                            .cloned()
                    } else {
                        None
                    };
                    let replacement =
                        pick.unwrap_or_else(|| INVENTED[invented % INVENTED.len()].to_owned());
                    claim
                        .text
                        .rsplit_once(last)
                        .map(|(head, tail)| format!("{head}{replacement}{tail}"))
                }
                ClaimKind::Literal => None,
            };
            let Some(to) = to.filter(|t| *t != claim.text) else {
                continue;
            };
            let mut changed = original.clone();
            changed.replace_range(claim.span.clone(), &to);
            out.push(ChangedClaim {
                original: original.clone(),
                changed,
                kind: claim.kind,
                from: claim.text.clone(),
                to,
            });
        }
    }
    out
}

/// A figure or date written another way round: a year moved by three, another number by a
/// third (at least 3), a number word to another one.
fn change_figures(text: &str, kind: ClaimKind) -> Option<String> {
    let digits: Vec<(usize, usize)> = {
        let mut runs = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || (bytes[i] == b','
                            && i + 1 < bytes.len()
                            && bytes[i + 1].is_ascii_digit()))
                {
                    i += 1;
                }
                runs.push((start, i));
            } else {
                i += 1;
            }
        }
        runs
    };
    if digits.is_empty() {
        const WORDS: &[&str] = &[
            "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve",
        ];
        let lower = text.to_lowercase();
        let at = WORDS
            .iter()
            .position(|w| lower.split(|c: char| !c.is_alphabetic()).any(|x| x == *w))?;
        let word = WORDS[at];
        let other = WORDS[(at + 4) % WORDS.len()];
        let start = lower.find(word)?;
        let mut out = text.to_owned();
        out.replace_range(start..start + word.len(), other);
        return Some(out);
    }
    // A date's year if it has one, else its last figure; a number's first figure.
    let pick = if kind == ClaimKind::Date {
        digits
            .iter()
            .copied()
            .find(|(a, b)| b - a == 4)
            .unwrap_or(digits[digits.len() - 1])
    } else {
        digits[0]
    };
    let raw: String = text[pick.0..pick.1]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let value: u64 = raw.parse().ok()?;
    let changed = if raw.len() == 4 && (1000..=2999).contains(&value) {
        if value >= 2020 {
            value - 3
        } else {
            value + 3
        }
    } else if kind == ClaimKind::Date && value <= 31 {
        if value > 20 {
            value - 9
        } else {
            value + 9
        }
    } else {
        value + (value / 3).max(3)
    };
    let mut out = text.to_owned();
    out.replace_range(pick.0..pick.1, &changed.to_string());
    Some(out)
}

/// Faithful rewordings of a document's sentences, as a summary writes them: without its
/// parentheses, its longest clause alone, and its figures and dates written another way
/// (`1,500` as `1500`, `twelve` as `12`, `June 17th, 1996` as `1996-06-17`, `12 percent` as
/// `12%`). Only those that differ from the sentence and keep six words or more.
#[must_use]
pub fn faithful_variants(index: &DocumentIndex, sentences: &[Extractive]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sentences {
        let text = &s.text;
        let mut variants = Vec::new();
        // Without parentheses.
        let mut bare = String::new();
        let mut depth = 0usize;
        for c in text.chars() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                c if depth == 0 => bare.push(c),
                _ => {}
            }
        }
        variants.push(
            bare.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" ,", ","),
        );
        // The longest clause.
        if let Some(clause) = text
            .split("; ")
            .flat_map(|c| c.split(": "))
            .flat_map(|c| c.split(", "))
            .map(str::trim)
            .max_by_key(|c| c.split_whitespace().count())
        {
            variants.push(clause.to_owned());
        }
        // Figures and dates written another way.
        let check = index.check(text, &CheckContext::default());
        if check.sentences.len() == 1 {
            let mut reworded = text.clone();
            for claim in check.claims.iter().rev() {
                let other = match claim.kind {
                    ClaimKind::Date
                        if claim.normal.len() == 10 && !claim.normal.contains(" or ") =>
                    {
                        Some(claim.normal.clone())
                    }
                    ClaimKind::Number | ClaimKind::Percent => {
                        let plain = claim.normal.clone();
                        (plain != claim.text
                            && plain.parse::<f64>().is_ok_and(|v| {
                                v >= 10.0 || !claim.text.chars().any(|c| c.is_ascii_digit())
                            })
                            || claim.kind == ClaimKind::Percent)
                            .then_some(plain)
                    }
                    _ => None,
                };
                if let Some(other) = other.filter(|o| *o != claim.text) {
                    reworded.replace_range(claim.span.clone(), &other);
                }
            }
            variants.push(reworded);
        }
        for v in variants {
            if v != *text && v.split_whitespace().count() >= 6 && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Whether a check flags its text: some sentence not supported, or some claim not where its
/// sources are.
#[must_use]
pub fn flagged(check: &ReplyCheck) -> bool {
    check.sentences.iter().any(|s| s.checked && !s.supported)
        || check.claims.iter().any(|c| c.found != Found::InSources)
}

/// Page accuracy: extractive sentences, checked as one bulleted reply, whose best source is on
/// their page (or is the same sentence on another page, where the text repeats it). Sentences
/// the check leaves unchecked (lead-ins ending in a colon, very short ones) are not counted.
#[must_use]
pub fn page_accuracy(
    index: &DocumentIndex,
    sentences: &[Extractive],
) -> (usize, usize, Vec<String>) {
    let mut reply = String::new();
    let mut lines = Vec::with_capacity(sentences.len());
    for s in sentences {
        let start = reply.len();
        reply.push_str("- ");
        reply.push_str(&s.text);
        lines.push(start..reply.len());
        reply.push('\n');
    }
    let check = index.check(&reply, &CheckContext::default());
    let mut correct = 0;
    let mut total = 0;
    let mut misses = Vec::new();
    for (s, line) in sentences.iter().zip(&lines) {
        // The first checked sentence the reply's line was read as.
        let Some(found) = check
            .sentences
            .iter()
            .find(|c| line.contains(&c.span.start) && c.checked)
        else {
            continue;
        };
        total += 1;
        let best = found.sources.first();
        let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let same_text = best.is_some_and(|b| flat(&b.text).contains(&flat(&found.text)));
        if best.is_some_and(|b| b.page == s.page || same_text) {
            correct += 1;
        } else {
            misses.push(format!(
                "page {:?}, source {:?}: {}",
                s.page,
                best.map(|b| (b.page, b.text.clone())),
                s.text
            ));
        }
    }
    (correct, total, misses)
}

/// Changed claims flagged, and faithful sentences (the originals, and each one's first clause
/// when it holds a claim) falsely flagged.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClaimRates {
    /// Changed sentences flagged.
    pub changed_flagged: usize,
    /// Changed sentences.
    pub changed: usize,
    /// Faithful sentences flagged.
    pub faithful_flagged: usize,
    /// Faithful sentences.
    pub faithful: usize,
    /// Changed sentences not flagged, and faithful ones flagged (for reading).
    #[serde(skip)]
    pub misses: Vec<String>,
}

/// Checks every changed sentence and every faithful one (the originals of the changed ones,
/// and `reworded`) alone.
#[must_use]
pub fn claim_rates(
    index: &DocumentIndex,
    cases: &[ChangedClaim],
    reworded: &[String],
) -> ClaimRates {
    let mut rates = ClaimRates::default();
    let mut originals: Vec<&str> = cases.iter().map(|c| c.original.as_str()).collect();
    originals.dedup();
    originals.extend(reworded.iter().map(String::as_str));
    for original in originals {
        rates.faithful += 1;
        if flagged(&index.check(original, &CheckContext::default())) {
            rates.faithful_flagged += 1;
            rates.misses.push(format!("faithful flagged: {original}"));
        }
    }
    for case in cases {
        rates.changed += 1;
        if flagged(&index.check(&case.changed, &CheckContext::default())) {
            rates.changed_flagged += 1;
        } else {
            rates.misses.push(format!(
                "changed {:?} -> {:?} not flagged: {}",
                case.from, case.to, case.changed
            ));
        }
    }
    rates
}

/// A question about a document and words of the passage that answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// `dev` (used while designing) or `held-out`.
    pub set: String,
    /// The question.
    pub question: String,
    /// Words of the answering passage.
    pub answer: String,
}

/// The questions of a `.tsv` file of `tests/texts` (set, question, answer words).
///
/// # Errors
/// When the file cannot be read or a line is malformed.
pub fn questions(name: &str) -> Result<Vec<Question>> {
    read_text(name)?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some(set), Some(q), Some(a)) => Ok(Question {
                    set: set.to_owned(),
                    question: q.to_owned(),
                    answer: a.to_owned(),
                }),
                _ => anyhow::bail!("{name}: a line is not `set<TAB>question<TAB>answer`: {line}"),
            }
        })
        .collect()
}

/// One question's reading.
#[derive(Debug, Clone, Serialize)]
pub struct Recall {
    /// The set.
    pub set: String,
    /// The question.
    pub question: String,
    /// Whether a passage read holds the answer.
    pub hit: bool,
    /// Passages read.
    pub passages: usize,
    /// Prompt tokens.
    pub prompt_tokens: usize,
}

/// Reads each question with `model`'s budget (a reply of `reply_tokens`) and says whether the
/// passage holding its answer was among those read.
///
/// # Errors
/// Tokenizer failures.
pub fn evidence_recall(
    model: &mut dyn SummaryModel,
    index: &DocumentIndex,
    questions: &[Question],
    reply_tokens: u32,
) -> Result<Vec<Recall>> {
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    questions
        .iter()
        .map(|q| {
            let reading = read_for_question(
                model,
                index,
                &[],
                &q.question,
                &[],
                &ReadOptions::new(reply_tokens),
            )?;
            let answer = flat(&q.answer);
            Ok(Recall {
                set: q.set.clone(),
                question: q.question.clone(),
                hit: reading.read.iter().any(|p| flat(&p.text).contains(&answer)),
                passages: reading.read.len(),
                prompt_tokens: reading.prompt_tokens,
            })
        })
        .collect()
}

/// The longest prefix of `text` (at a line end) of at most `tokens` tokens.
#[must_use]
pub fn prefix_of_tokens(model: &XgenTextTokenizer, text: &str, tokens: usize) -> String {
    let (mut lo, mut hi) = (0usize, text.len());
    while lo + 1 < hi {
        let mut mid = (lo + hi) / 2;
        while !text.is_char_boundary(mid) {
            mid -= 1;
        }
        let at = text[..mid].rfind('\n').unwrap_or(0);
        if model.count(&text[..at]) <= tokens {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut end = lo;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let at = text[..end].rfind('\n').unwrap_or(0);
    text[..at].to_owned()
}

/// Time to index a document and to check a reply against it.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Tokens of the document.
    pub document_tokens: usize,
    /// Tokens of the reply.
    pub reply_tokens: usize,
    /// Sentences of the reply.
    pub reply_sentences: usize,
    /// Milliseconds to read the document (once per document).
    pub index_ms: f64,
    /// Milliseconds to check the reply (median of five).
    pub check_ms: f64,
}

/// Times indexing `text` (a prefix of about `doc_tokens` tokens) and checking a reply of about
/// `reply_tokens` tokens made of its sentences, every third one with a claim changed.
#[must_use]
pub fn time_alignment(
    model: &XgenTextTokenizer,
    text: &str,
    doc_tokens: usize,
    reply_tokens: usize,
) -> Timing {
    let prefix = prefix_of_tokens(model, text, doc_tokens);
    let document = paged("timing", &prefix, 3000);
    let started = Instant::now();
    let index = DocumentIndex::build(&document);
    let index_ms = started.elapsed().as_secs_f64() * 1000.0;
    let sentences = extractive_sentences(&index, 7, 8);
    let changed = changed_claims(&index, &sentences);
    let mut reply = String::new();
    let mut lines = 0;
    let mut changed_iter = changed.iter();
    for (i, s) in sentences.iter().enumerate() {
        if model.count(&reply) >= reply_tokens {
            break;
        }
        let line = match (i % 3, changed_iter.next()) {
            (0, Some(c)) => c.changed.clone(),
            _ => s.text.clone(),
        };
        reply.push_str(&format!("- {line}\n"));
        lines += 1;
    }
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let check = index.check(&reply, &CheckContext::default());
            std::hint::black_box(check);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing {
        document_tokens: model.count(&prefix),
        reply_tokens: model.count(&reply),
        reply_sentences: lines,
        index_ms,
        check_ms: times[2],
    }
}
