//! Aligning a reply with its document.
//!
//! Per sentence of the reply: its words, each weighted by how rare it is in the document
//! (inverse document frequency over sentences; a word the document lacks weighs the most, and
//! a word of the question little, since repeating the question is no evidence). Candidate
//! passages are the document's sentences that share its rarer words; each is scored by how
//! much of the sentence's weight it covers (an exact word counts fully, a word sharing a long
//! prefix, `founded`/`founder`, partly) and by the share of the sentence's word pairs it holds
//! in the same order. The best passage comes first; others are added while they cover a
//! useful part of what is still uncovered (a summary sentence often joins two places).
//!
//! Then the claims: a figure, date or name must be found in (or beside) the sentence's
//! passages. If it is not, a passage that holds it and supports the rest of the sentence is
//! added; failing that it is found elsewhere (the sentence is not supported) or nowhere.

use std::collections::HashSet;

use super::claims::{self, ClaimKind, DateParts, NameContext, Scanned, Value};
use super::index::DocumentIndex;
use super::reply::{self, BlockKind, ReplySentence};
use super::text;
use super::{
    CheckContext, Claim, Found, ReplyCheck, SentenceCheck, SentenceKind, Source, CHECK_VERSION,
};

/// Score at or above which a sentence counts as supported.
const SUPPORTED: f32 = 0.5;
/// Weight of a word that the question also has.
const QUESTION_WEIGHT: f32 = 0.3;
/// Credit for a word matched by a shared prefix only.
const PREFIX_CREDIT: f32 = 0.6;
/// Candidate sentences scored in full per reply sentence.
const CANDIDATES: usize = 40;
/// Most sources per sentence.
const MAX_SOURCES: usize = 4;
/// What another passage must add (share of the sentence's weight) to be a source too.
const MIN_GAIN: f32 = 0.12;
/// What a passage holding a claim must add besides the claim (share of the sentence's weight)
/// to be taken as that claim's source.
const MIN_ADDED: f32 = 0.05;

/// A word of a reply sentence: its id in the document (if the document has it), key and
/// weight.
#[derive(Debug, Clone)]
struct Term {
    id: Option<u32>,
    key: String,
    weight: f32,
    from_question: bool,
}

/// A document sentence scored against a reply sentence.
#[derive(Debug, Clone)]
struct Scored {
    sentence: u32,
    /// Per term of the reply sentence: 1 matched, PREFIX_CREDIT by prefix, 0.
    matched: Vec<f32>,
    coverage: f32,
    pairs: f32,
    score: f32,
}

impl DocumentIndex {
    /// Checks `reply` against this document: sources and support per sentence, and every
    /// claim. Takes about a millisecond per sentence of the reply (an 8K-token document and a
    /// 1K-token reply: tens of milliseconds); call it off the UI thread for long replies.
    #[must_use]
    pub fn check(&self, reply: &str, context: &CheckContext<'_>) -> ReplyCheck {
        let question: HashSet<String> = context
            .question
            .map(|q| {
                text::words_in(q, 0..q.len())
                    .into_iter()
                    .map(|w| w.key)
                    .collect()
            })
            .unwrap_or_default();
        let sentences = reply::sentences(reply);
        // Words the reply itself writes capitalised inside its sentences are names there.
        let reply_names: HashSet<String> = sentences
            .iter()
            .flat_map(|s| capitalised_inside(&s.plain))
            .collect();
        let reply_lower: HashSet<String> = sentences
            .iter()
            .flat_map(|s| lower_case_words(&s.plain))
            .collect();
        let names = NameContext {
            names_checked: self.names_checked,
            capitalised_elsewhere: &|key: &str| {
                reply_names.contains(key) || self.capitalised_inside(key)
            },
            lower_case_elsewhere: &|key: &str| {
                reply_lower.contains(key) || self.lower_case_inside(key)
            },
        };
        let mut out = ReplyCheck {
            version: CHECK_VERSION,
            sentences: Vec::with_capacity(sentences.len()),
            claims: Vec::new(),
            read: Vec::new(),
            document_chars: self.extract_chars,
        };
        for (index, sentence) in sentences.iter().enumerate() {
            let (check, claims) = self.check_sentence(sentence, index, &question, &names);
            out.sentences.push(check);
            out.claims.extend(claims);
        }
        out
    }

    fn check_sentence(
        &self,
        sentence: &ReplySentence,
        index: usize,
        question: &HashSet<String>,
        names: &NameContext<'_>,
    ) -> (SentenceCheck, Vec<Claim>) {
        let plain = sentence.plain.as_str();
        let mut check = SentenceCheck {
            text: plain.to_owned(),
            span: sentence.span.clone(),
            kind: SentenceKind::Statement,
            checked: false,
            sources: Vec::new(),
            supported: true,
            score: 0.0,
        };
        match sentence.kind {
            BlockKind::Heading => {
                check.kind = SentenceKind::Heading;
                return (check, Vec::new());
            }
            BlockKind::Code => {
                check.kind = SentenceKind::Code;
                return (check, Vec::new());
            }
            BlockKind::Text => {}
        }
        let scanned = claims::scan(plain, 0..plain.len(), names);
        let terms = self.terms_of(plain, question);
        let total: f32 = terms.iter().map(|t| t.weight).sum();
        // Claims the question makes too ("the Debian project") are not the sentence's own.
        let own_claims = scanned.iter().any(|c| {
            text::words_in(plain, c.range.clone())
                .iter()
                .any(|w| !question.contains(&w.key))
        });
        if !own_claims {
            let own = terms.iter().filter(|t| !t.from_question).count();
            let lead_in = plain.trim_end().ends_with([':', '：']);
            if terms.len() < 3 || own == 0 || lead_in {
                check.kind = SentenceKind::Short;
                return (check, Vec::new());
            }
            // Repeating the question ("The obligations of the licensee are the following"):
            // two of its words or more, and at most two words of its own.
            let asked = terms.iter().filter(|t| t.from_question).count();
            if asked >= 2 && own <= 2 {
                check.kind = SentenceKind::Restatement;
                return (check, Vec::new());
            }
        }
        check.checked = true;
        let candidates = self.candidates(&terms);
        let mut scored: Vec<Scored> = candidates
            .iter()
            .map(|&s| self.score(s, &terms, total))
            .collect();
        scored.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.sentence.cmp(&b.sentence))
        });
        let mut chosen: Vec<Scored> = Vec::new();
        let mut covered = vec![0f32; terms.len()];
        if let Some(best) = scored.first().filter(|b| b.score > 0.0) {
            covered.clone_from(&best.matched);
            chosen.push(best.clone());
        }
        // Further sources must add words of the sentence besides its claims: a passage that
        // only shares a figure or a name with it would vouch for that very claim.
        let claim_words: HashSet<String> =
            scanned.iter().flat_map(|c| claim_terms(c, plain)).collect();
        let plain_terms = without_words(&terms, &claim_words);
        while chosen.len() < MAX_SOURCES - 1 && !chosen.is_empty() {
            let next = scored
                .iter()
                .filter(|c| !chosen.iter().any(|k| k.sentence == c.sentence) && c.score >= 0.2)
                .map(|c| (gain(&plain_terms, &covered, &c.matched, total), c))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match next {
                Some((g, c)) if g >= MIN_GAIN => {
                    for (k, m) in covered.iter_mut().zip(&c.matched) {
                        *k = k.max(*m);
                    }
                    chosen.push(c.clone());
                }
                _ => break,
            }
        }
        let union = coverage(&terms, &covered, total);
        let pairs = chosen.iter().map(|c| c.pairs).fold(0f32, f32::max);
        let mut score = 0.75 * union + 0.25 * pairs;
        // The claims: each must be where the sentence's passages are.
        let mut claims = Vec::with_capacity(scanned.len());
        let mut all_in_sources = true;
        for claim in &scanned {
            let located = self.locate(&claim.value);
            // A name the document writes in one sentence of twenty or more is what it is
            // about ("Debian" in a history of Debian): where it stands says nothing.
            let subject = claim.kind == ClaimKind::Name
                && located.len() >= 3
                && located.len() * 20 >= self.layout.sentences.len();
            // In a source, or in the sentence that opens the best source's paragraph.
            let best_source = chosen.first().map(|c| c.sentence);
            let mut found = if subject
                || located.iter().any(|&s| {
                    chosen.iter().any(|c| c.sentence == s)
                        || best_source.is_some_and(|b| self.leads(s, b))
                }) {
                Found::InSources
            } else if located.is_empty() {
                Found::Nowhere
            } else {
                Found::Elsewhere
            };
            if found == Found::Elsewhere && chosen.len() < MAX_SOURCES {
                if let Some(extra) =
                    self.claim_source(claim, plain, &terms, &covered, &chosen, &located)
                {
                    let full = self.score(extra, &terms, total);
                    for (k, m) in covered.iter_mut().zip(&full.matched) {
                        *k = k.max(*m);
                    }
                    chosen.push(full);
                    found = Found::InSources;
                    score = 0.75 * coverage(&terms, &covered, total) + 0.25 * pairs;
                }
            }
            all_in_sources &= found == Found::InSources;
            if found == Found::InSources {
                // A claim its sources make, however written (`July 6th, 2019` for
                // `2019-07-06`), covers its own words.
                let words = claim_terms(claim, plain);
                for (k, t) in covered.iter_mut().zip(&terms) {
                    if words.contains(&t.key) {
                        *k = 1.0;
                    }
                }
                score = 0.75 * coverage(&terms, &covered, total) + 0.25 * pairs;
            }
            claims.push(Claim {
                normal: normal(&claim.value),
                text: plain[claim.range.clone()].to_owned(),
                span: reply_span(sentence, claim.range.clone()),
                kind: claim.kind,
                sentence: index,
                found,
            });
        }
        check.score = score;
        check.supported = score >= SUPPORTED && all_in_sources;
        check.sources = chosen
            .iter()
            .map(|c| self.source(c.sentence, c.score))
            .collect();
        (check, claims)
    }

    /// The words of a reply sentence, distinct, with their weights.
    fn terms_of(&self, plain: &str, question: &HashSet<String>) -> Vec<Term> {
        let mut seen = HashSet::new();
        text::words_in(plain, 0..plain.len())
            .into_iter()
            .filter(|w| seen.insert(w.key.clone()))
            .map(|w| {
                let id = self.vocab.get(&w.key).copied();
                let from_question = question.contains(&w.key);
                let idf = self.idf(id);
                Term {
                    id,
                    weight: if from_question {
                        idf * QUESTION_WEIGHT
                    } else {
                        idf
                    },
                    key: w.key,
                    from_question,
                }
            })
            .collect()
    }

    /// Document sentences sharing the reply sentence's rarer words, the most promising first.
    fn candidates(&self, terms: &[Term]) -> Vec<u32> {
        let n = self.layout.sentences.len();
        let mut known: Vec<&Term> = terms.iter().filter(|t| t.id.is_some()).collect();
        known.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let mut acc: std::collections::HashMap<u32, f32> = std::collections::HashMap::new();
        for (rank, term) in known.iter().enumerate() {
            let Some(id) = term.id else { continue };
            let postings = &self.postings[id as usize];
            // Words in a quarter of the sentences and more say little about where; they are
            // skipped unless the sentence has few rarer ones.
            if postings.len() * 4 > n && rank >= 3 {
                continue;
            }
            for &s in postings {
                *acc.entry(s).or_default() += term.weight;
            }
        }
        let mut ranked: Vec<(u32, f32)> = acc.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(CANDIDATES);
        ranked.into_iter().map(|(s, _)| s).collect()
    }

    /// Scores document sentence `s` against a reply sentence's terms.
    fn score(&self, s: u32, terms: &[Term], total: f32) -> Scored {
        let distinct = &self.distinct[s as usize];
        let matched: Vec<f32> = terms
            .iter()
            .map(|t| match t.id {
                Some(id) if distinct.binary_search(&id).is_ok() => 1.0,
                _ if t.key.chars().count() >= 5
                    && distinct
                        .iter()
                        .any(|&d| shares_stem(&t.key, &self.terms[d as usize])) =>
                {
                    PREFIX_CREDIT
                }
                _ => 0.0,
            })
            .collect();
        let coverage = coverage(terms, &matched, total);
        // Word pairs of the reply sentence found in the same order in the passage.
        let words = &self.words[s as usize];
        let ids: Vec<Option<u32>> = terms.iter().map(|t| t.id).collect();
        let pair_total = ids.len().saturating_sub(1);
        let pairs = if pair_total == 0 {
            coverage
        } else {
            let found = ids
                .windows(2)
                .filter(|w| match (w[0], w[1]) {
                    (Some(a), Some(b)) => words.windows(2).any(|p| p[0] == a && p[1] == b),
                    _ => false,
                })
                .count();
            found as f32 / pair_total as f32
        };
        Scored {
            sentence: s,
            matched,
            coverage,
            pairs,
            score: 0.75 * coverage + 0.25 * pairs,
        }
    }

    /// A passage that holds a claim its sentence's sources lack, and says more of the sentence
    /// than the claim: either it holds words of the sentence that no source holds (besides the
    /// claim's own, at least [`MIN_ADDED`] of the sentence's weight), or it supports the rest of
    /// the sentence (the claim's words left out) about as well as the best source does. A
    /// figure that only occurs in another statement of the same kind ("led Debian from April
    /// 2005", when the sources cover every other word) is not taken for the sentence's.
    fn claim_source(
        &self,
        claim: &Scanned,
        plain: &str,
        terms: &[Term],
        covered: &[f32],
        chosen: &[Scored],
        located: &[u32],
    ) -> Option<u32> {
        let claim_words = claim_terms(claim, plain);
        let rest = without_words(terms, &claim_words);
        let total: f32 = terms.iter().map(|t| t.weight).sum();
        let rest_total: f32 = rest.iter().map(|t| t.weight).sum();
        if rest_total <= 0.0 {
            return None;
        }
        let best_rest = chosen
            .iter()
            .map(|c| self.score(c.sentence, &rest, rest_total).coverage)
            .fold(0f32, f32::max);
        let mut best: Option<(f32, u32)> = None;
        for &s in located.iter().take(400) {
            let scored = self.score(s, &rest, rest_total);
            let added: f32 = rest
                .iter()
                .zip(scored.matched.iter().zip(covered))
                .filter(|(_, (m, c))| **m >= 1.0 && **c < 1.0)
                .map(|(t, _)| t.weight)
                .sum();
            let adds = total > 0.0 && added / total >= MIN_ADDED;
            let restates = scored.coverage >= (best_rest - 0.15).max(0.5);
            if (adds || restates) && best.is_none_or(|(c, _)| scored.coverage > c) {
                best = Some((scored.coverage, s));
            }
        }
        best.map(|(_, s)| s)
    }

    /// Whether document sentence `lead` opens the paragraph that holds sentence `source`
    /// ("Debian 2.0 Hamm (July 24th, 1998): ..." before "this release had 1500 packages"): what
    /// it names, the paragraph's sentences speak of.
    fn leads(&self, lead: u32, source: u32) -> bool {
        if lead >= source {
            return false;
        }
        let at = self
            .layout
            .paragraphs
            .partition_point(|p| p.sentences.end <= source as usize);
        self.layout
            .paragraphs
            .get(at)
            .is_some_and(|p| p.sentences.start == lead as usize)
    }

    /// Sentences of the document that make a claim.
    fn locate(&self, value: &Value) -> Vec<u32> {
        let mut out: Vec<u32> = match value {
            Value::Number {
                candidates,
                sig,
                approx,
                percent,
                currency,
            } => {
                let mut out = Vec::new();
                for &v in candidates {
                    let tolerance = if *approx {
                        // Within one unit of the last digit written, and at most 10 %.
                        let unit = 10f64.powi(magnitude(v) - i32::try_from(*sig).unwrap_or(1) + 1);
                        unit.min(v.abs() * 0.05) * 0.999
                    } else {
                        v.abs() * 1e-9
                    };
                    let lo = self.numbers.partition_point(|n| n.value < v - tolerance);
                    for n in self.numbers[lo..]
                        .iter()
                        .take_while(|n| n.value <= v + tolerance)
                    {
                        let currency_ok = match (currency, n.currency) {
                            (Some(a), Some(b)) => *a == b,
                            _ => true,
                        };
                        if currency_ok && (!*percent || n.percent) {
                            out.push(n.sentence);
                        }
                    }
                }
                out
            }
            Value::Date(readings) => self
                .dates
                .iter()
                .filter(|(d, _)| readings.iter().any(|r| date_matches(r, d)))
                .map(|(_, s)| *s)
                .collect(),
            Value::Name(keys) => self.sentences_with_all(keys),
            Value::Literal(key) => self.sentences_with_all(std::slice::from_ref(key)),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    fn sentences_with_all(&self, keys: &[String]) -> Vec<u32> {
        let mut lists: Vec<&Vec<u32>> = Vec::with_capacity(keys.len());
        for key in keys {
            match self.vocab.get(key) {
                Some(&id) => lists.push(&self.postings[id as usize]),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let Some((first, rest)) = lists.split_first() else {
            return Vec::new();
        };
        first
            .iter()
            .copied()
            .filter(|s| rest.iter().all(|l| l.binary_search(s).is_ok()))
            .collect()
    }

    fn source(&self, s: u32, score: f32) -> Source {
        let range = self.layout.sentences[s as usize].clone();
        let passage = self.passage(range);
        Source {
            page: passage.page,
            heading: passage.heading,
            start: passage.start,
            end: passage.end,
            text: passage.text,
            score: (score * 1000.0).round() / 1000.0,
            bytes: passage.bytes,
        }
    }
}

/// `terms` with the words in `words` weighing nothing: what a sentence says besides its claims.
fn without_words(terms: &[Term], words: &HashSet<String>) -> Vec<Term> {
    terms
        .iter()
        .map(|t| Term {
            weight: if words.contains(&t.key) {
                0.0
            } else {
                t.weight
            },
            ..t.clone()
        })
        .collect()
}

/// The word keys a claim is written with (left out when asking whether a passage supports
/// the rest of its sentence).
fn claim_terms(claim: &Scanned, plain: &str) -> HashSet<String> {
    text::words_in(plain, claim.range.clone())
        .into_iter()
        .map(|w| w.key)
        .collect()
}

/// A claim's value as it is compared: `12000000`, `12%`, `USD 12000000`, `2018-03-03`,
/// `2018-03`, `--03-03` (a day without a year), `ian murdock`.
fn normal(value: &Value) -> String {
    match value {
        Value::Number {
            candidates,
            percent,
            currency,
            ..
        } => {
            let figure = candidates.first().map_or_else(String::new, |v| {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{v:.0}")
                } else {
                    format!("{v}")
                }
            });
            match (percent, currency) {
                (true, _) => format!("{figure}%"),
                (false, Some(code)) => format!("{code} {figure}"),
                (false, None) => figure,
            }
        }
        Value::Date(readings) => readings
            .iter()
            .map(|d| match (d.year, d.month, d.day) {
                (Some(y), Some(m), Some(day)) => format!("{y:04}-{m:02}-{day:02}"),
                (Some(y), Some(m), None) => format!("{y:04}-{m:02}"),
                (None, Some(m), Some(day)) => format!("--{m:02}-{day:02}"),
                (Some(y), None, _) => format!("{y:04}"),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join(" or "),
        Value::Name(keys) => keys.join(" "),
        Value::Literal(key) => key.clone(),
    }
}

/// Share of the weight of `terms` that `matched` covers.
fn coverage(terms: &[Term], matched: &[f32], total: f32) -> f32 {
    if total <= 0.0 {
        return 0.0;
    }
    terms
        .iter()
        .zip(matched)
        .map(|(t, m)| t.weight * m)
        .sum::<f32>()
        / total
}

/// What `matched` adds to `covered`, as a share of the sentence's weight.
fn gain(terms: &[Term], covered: &[f32], matched: &[f32], total: f32) -> f32 {
    if total <= 0.0 {
        return 0.0;
    }
    terms
        .iter()
        .zip(covered.iter().zip(matched))
        .map(|(t, (c, m))| t.weight * (m - c).max(0.0))
        .sum::<f32>()
        / total
}

/// Whether two words share a long prefix and differ only in a short ending (`founded` and
/// `founder`, `package` and `packages`): inflections in languages that inflect at the end,
/// without a language's stemmer.
fn shares_stem(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    common >= 5 && common + 3 >= shorter && common * 4 >= shorter * 3
}

/// The power of ten of a number's leading digit.
fn magnitude(v: f64) -> i32 {
    if v == 0.0 {
        0
    } else {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a float's log10 of a value under 1e308 fits an i32"
        )]
        let m = v.abs().log10().floor() as i32;
        m
    }
}

/// Whether a date of the reply matches one of the document: every part the reply writes is
/// the document's.
fn date_matches(reply: &DateParts, doc: &DateParts) -> bool {
    let part = |r: Option<i64>, d: Option<i64>| r.is_none() || r == d;
    (reply.year.is_some() || reply.month.is_some())
        && part(reply.year.map(i64::from), doc.year.map(i64::from))
        && part(reply.month.map(i64::from), doc.month.map(i64::from))
        && part(reply.day.map(i64::from), doc.day.map(i64::from))
}

/// Keys of the words a text writes capitalised inside its sentences.
fn capitalised_inside(plain: &str) -> Vec<String> {
    let words = text::words_in(plain, 0..plain.len());
    words
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, w)| {
            let between = &plain[words[i - 1].range.end..w.range.start];
            !between
                .chars()
                .any(|c| matches!(c, ':' | '.' | '!' | '?' | '"' | '“' | '('))
                && claims::capitalised(&plain[w.range.clone()])
        })
        .map(|(_, w)| w.key.clone())
        .collect()
}

/// Keys of the words a text writes in lower case.
fn lower_case_words(plain: &str) -> Vec<String> {
    text::words_in(plain, 0..plain.len())
        .into_iter()
        .filter(|w| {
            plain[w.range.clone()]
                .chars()
                .next()
                .is_some_and(char::is_lowercase)
        })
        .map(|w| w.key)
        .collect()
}

/// The bytes of the reply a range of a sentence's plain text comes from.
fn reply_span(sentence: &ReplySentence, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let start = sentence
        .origin
        .get(range.start)
        .copied()
        .unwrap_or(sentence.span.start);
    let last_len = sentence.plain[..range.end]
        .chars()
        .next_back()
        .map_or(1, char::len_utf8);
    let end = sentence
        .origin
        .get(range.end.saturating_sub(last_len))
        .map_or(sentence.span.end, |b| b + last_len);
    start..end.max(start + 1).min(sentence.span.end.max(start + 1))
}
