//! When a draft pays: where drafts come from, what a verify batch costs on this machine, how
//! often drafts are kept, and whether a batched token is computed exactly like a lone one.
//!
//! A verify batch of `k + 1` tokens costs `c(k + 1)` single-token evaluations and yields the
//! chosen token plus the run of drafted tokens the model agrees with. With a per-token chance
//! `p` that the next drafted token is kept (given the ones before it were), a draft of `k`
//! yields `1 + p + p² + … + pᵏ` tokens on average, so it pays when that exceeds `c(k + 1)`.
//! Both sides are measured as the engine runs, not assumed: `c` from the wall time of the
//! batches and single tokens this engine evaluated (a 135M model on two CPU cores pays almost
//! a whole token per extra row, a 7B model on a GPU almost nothing), `p` per kind of match from
//! the drafts of this reply, including the drafts that were not sent (each one is compared with
//! the tokens plain decoding then chose, at no cost).

use llama_cpp_2::token::LlamaToken;

/// Longest n-gram looked up; a longer match is rarer and says little more.
pub(super) const MAX_NGRAM: usize = 8;
/// Shortest n-gram that may propose a draft: a single repeated token predicts too little.
const MIN_NGRAM: usize = 2;
/// Most tokens drafted at once.
pub(super) const MAX_DRAFT: usize = 12;
/// How far back (in tokens) a draft is looked up.
const LOOKUP_WINDOW: usize = 16_384;
/// The chance that a drafted token is kept, before any was tried in this reply.
const PRIOR_KEPT: f64 = 0.6;
/// How many observed tokens that prior weighs.
const PRIOR_WEIGHT: f64 = 2.0;
/// What one more token in a batch costs, relative to a token alone, before any batch of that
/// size was timed (a CPU-like guess; the first batches replace it).
const PRIOR_EXTRA_ROW: f64 = 0.5;
/// Weight of the newest timing in the running averages.
const SMOOTHING: f64 = 0.25;

/// A draft found in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lookup {
    /// The tokens that followed the earlier occurrence.
    pub tokens: Vec<LlamaToken>,
    /// How many tokens of the history's end that occurrence matched.
    pub matched: usize,
}

/// Proposes up to `max` tokens that followed the most recent earlier occurrence of the longest
/// suffix of `history` (between [`MIN_NGRAM`] and [`MAX_NGRAM`] tokens).
pub(super) fn lookup_draft(history: &[LlamaToken], max: usize) -> Option<Lookup> {
    if max == 0 {
        return None;
    }
    let window = &history[history.len().saturating_sub(LOOKUP_WINDOW)..];
    let n = window.len();
    let &last = window.last()?;
    // (end of the occurrence, its length); an occurrence must end before the history does.
    let mut best: Option<(usize, usize)> = None;
    for end in (1..n).rev() {
        if window[end - 1] != last {
            continue;
        }
        let mut len = 1;
        while len < MAX_NGRAM && len < end && window[end - 1 - len] == window[n - 1 - len] {
            len += 1;
        }
        if len >= MIN_NGRAM && best.is_none_or(|(_, longest)| len > longest) {
            best = Some((end, len));
            if len == MAX_NGRAM {
                break;
            }
        }
    }
    best.map(|(end, matched)| Lookup {
        tokens: window[end..(end + max).min(n)].to_vec(),
        matched,
    })
}

/// Kinds of draft whose acceptance is counted apart: the length of the match (2, 3, 4–5, 6 or
/// more tokens), and whether the draft before was kept whole (the reply is quoting).
const KINDS: usize = 8;

/// The kind of a draft found with `matched` tokens, after a draft kept whole or not.
pub(super) fn kind(matched: usize, quoting: bool) -> usize {
    let by_length = match matched {
        0..=2 => 0,
        3 => 1,
        4 | 5 => 2,
        _ => 3,
    };
    by_length * 2 + usize::from(quoting)
}

/// How often drafted tokens were kept in this reply, per kind of draft.
#[derive(Debug, Default)]
pub(super) struct Acceptance {
    /// Per kind: drafted tokens compared with the model's choice, and those that agreed.
    counts: [(u32, u32); KINDS],
}

impl Acceptance {
    /// Records a draft of `kind` whose first `kept` tokens agreed out of `compared`.
    pub fn record(&mut self, kind: usize, compared: usize, kept: usize) {
        if let Some((seen, agreed)) = self.counts.get_mut(kind) {
            *seen = seen.saturating_add(u32::try_from(compared).unwrap_or(u32::MAX));
            *agreed = agreed.saturating_add(u32::try_from(kept).unwrap_or(u32::MAX));
        }
    }

    /// The chance that the next drafted token of `kind` is kept, given the ones before it were.
    pub fn chance(&self, kind: usize) -> f64 {
        let (seen, agreed) = self.counts.get(kind).copied().unwrap_or_default();
        (f64::from(agreed) + PRIOR_KEPT * PRIOR_WEIGHT) / (f64::from(seen) + PRIOR_WEIGHT)
    }
}

/// A draft that was not sent, compared with the tokens chosen after it.
#[derive(Debug)]
pub(super) struct Shadow {
    tokens: Vec<LlamaToken>,
    kind: usize,
    next: usize,
}

impl Shadow {
    pub fn new(lookup: Lookup, kind: usize) -> Self {
        Self {
            tokens: lookup.tokens,
            kind,
            next: 0,
        }
    }

    /// Compares the token just chosen; returns whether the shadow goes on.
    pub fn observe(&mut self, chosen: LlamaToken, acceptance: &mut Acceptance) -> bool {
        let Some(&drafted) = self.tokens.get(self.next) else {
            return false;
        };
        let agreed = drafted == chosen;
        acceptance.record(self.kind, 1, usize::from(agreed));
        self.next += 1;
        agreed && self.next < self.tokens.len()
    }
}

/// What batches cost on this engine, relative to one token: running averages of the wall time
/// of each batch size the engine evaluated while generating.
#[derive(Debug, Default)]
pub(super) struct Costs {
    /// Seconds per evaluation, by tokens in the batch (index 1: a token alone).
    secs: [Option<f64>; MAX_DRAFT + 2],
}

impl Costs {
    /// Records an evaluation of `tokens` tokens that took `secs`.
    pub fn record(&mut self, tokens: usize, secs: f64) {
        if let Some(slot) = self.secs.get_mut(tokens) {
            *slot = Some(slot.map_or(secs, |avg| avg + SMOOTHING * (secs - avg)));
        }
    }

    /// What a batch of `tokens` costs in single-token evaluations: measured, else interpolated
    /// between the sizes measured, else extended along the line from a lone token (cost 1) to
    /// the nearest size measured, else the prior guess.
    pub fn relative(&self, tokens: usize) -> f64 {
        if tokens <= 1 {
            return 1.0;
        }
        let Some(single) = self.secs[1].filter(|s| *s > 0.0) else {
            return prior(tokens);
        };
        let measured = |size: usize| self.secs.get(size).copied().flatten().map(|s| s / single);
        let below = (2..=tokens).rev().find_map(|m| measured(m).map(|r| (m, r)));
        let above = (tokens..self.secs.len()).find_map(|m| measured(m).map(|r| (m, r)));
        let line = |(m, r): (usize, f64)| 1.0 + (r - 1.0) * (tokens - 1) as f64 / (m - 1) as f64;
        match (below, above) {
            (Some((m, r)), _) if m == tokens => r,
            (Some((m0, r0)), Some((m1, r1))) => {
                r0 + (r1 - r0) * (tokens - m0) as f64 / (m1 - m0) as f64
            }
            (Some(point), None) | (None, Some(point)) => line(point),
            (None, None) => prior(tokens),
        }
    }
}

fn prior(tokens: usize) -> f64 {
    1.0 + PRIOR_EXTRA_ROW * (tokens - 1) as f64
}

/// How many of `available` drafted tokens to send with a chance `p` that each next one is
/// kept: the length with the most tokens per unit of cost, or 0 when no length beats plain
/// decoding.
pub(super) fn best_length(p: f64, costs: &Costs, available: usize) -> usize {
    let mut best = (0, 1.0);
    let mut expected = 1.0;
    let mut run = 1.0;
    for k in 1..=available.min(MAX_DRAFT) {
        run *= p;
        expected += run;
        let gain = expected / costs.relative(k + 1);
        if gain > best.1 {
            best = (k, gain);
        }
    }
    best.0
}

/// Whether a token in a batch is computed bit for bit like a token alone on this engine, by
/// depth: kernels change with the length of the cache (llama.cpp's CPU attention splits a lone
/// token's cache across threads from 512 cells on), so each power-of-two range of depths is
/// checked once.
#[derive(Debug, Default)]
pub(super) struct Exactness {
    /// Depth ranges (by `ilog2`) where a check found the two the same.
    exact: u64,
    /// A check found them different: then no depth is trusted.
    differs: bool,
}

impl Exactness {
    fn range(depth: usize) -> u32 {
        depth.max(1).ilog2()
    }

    /// Whether the check at `depth` is still to be done.
    pub fn unchecked(&self, depth: usize) -> bool {
        !self.differs && self.exact & (1 << Self::range(depth)) == 0
    }

    pub fn differs(&self) -> bool {
        self.differs
    }

    /// Records what the check at `depth` found.
    pub fn record(&mut self, depth: usize, same: bool) {
        if same {
            self.exact |= 1 << Self::range(depth);
        } else {
            self.differs = true;
        }
    }

    /// What is known: `None` before any check.
    pub fn known(&self) -> Option<bool> {
        if self.differs {
            Some(false)
        } else if self.exact != 0 {
            Some(true)
        } else {
            None
        }
    }
}

/// Everything the engine learns about drafts while it runs a model with one thread count.
#[derive(Debug, Default)]
pub(super) struct DraftState {
    pub costs: Costs,
    pub exactness: Exactness,
}

/// What the engine learns about drafts, per thread count: a batch's cost against a lone
/// token's changes with the threads, and so does whether the two are computed alike (a lone
/// token's attention over an f16 cache is split across threads, a batch's rows are not).
#[derive(Debug, Default)]
pub(super) struct DraftStates {
    by_threads: Vec<DraftState>,
}

impl DraftStates {
    /// What is known with `threads` threads.
    pub fn at(&mut self, threads: usize) -> &mut DraftState {
        let index = threads.max(1) - 1;
        if self.by_threads.len() <= index {
            self.by_threads.resize_with(index + 1, DraftState::default);
        }
        &mut self.by_threads[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken).collect()
    }

    fn draft(history: &[i32], max: usize) -> Option<(Vec<LlamaToken>, usize)> {
        lookup_draft(&tokens(history), max).map(|l| (l.tokens, l.matched))
    }

    #[test]
    fn a_repeated_ngram_proposes_what_followed_it() {
        let history = [1, 2, 3, 4, 5, 6, 9, 2, 3];
        assert_eq!(draft(&history, 3), Some((tokens(&[4, 5, 6]), 2)));
        assert_eq!(draft(&history, 10), Some((tokens(&[4, 5, 6, 9, 2, 3]), 2)));
    }

    #[test]
    fn the_longest_and_most_recent_match_wins() {
        // "7 2 3" occurred twice: the last time it was followed by 8; "2 3" alone more recently.
        let history = [7, 2, 3, 5, 1, 7, 2, 3, 8, 2, 3, 6, 7, 2, 3];
        assert_eq!(draft(&history, 1), Some((tokens(&[8]), 3)));
    }

    #[test]
    fn a_single_repeated_token_is_not_enough() {
        assert_eq!(draft(&[5, 1, 2, 3, 4, 5], 4), None);
        assert_eq!(draft(&[1, 2, 1, 2], 0), None);
        assert_eq!(draft(&[], 4), None);
    }

    #[test]
    fn matches_are_counted_up_to_the_longest_looked_up() {
        let quote: Vec<i32> = (10..30).collect();
        let mut history = quote.clone();
        history.extend([99, 98]);
        history.extend(&quote[..12]);
        let (next, matched) = draft(&history, 3).expect("a draft");
        assert_eq!(next, tokens(&[22, 23, 24]));
        assert_eq!(matched, MAX_NGRAM);
    }

    #[test]
    fn a_draft_pays_only_when_its_expected_tokens_beat_its_cost() {
        // Costs as on two CPU cores with a tiny model: each extra row costs 0.47 of a token.
        let mut cpu = Costs::default();
        cpu.record(1, 0.010);
        cpu.record(2, 0.0147);
        cpu.record(5, 0.0288);
        assert!((cpu.relative(2) - 1.47).abs() < 1e-9);
        assert!((cpu.relative(3) - (1.47 + (2.88 - 1.47) / 3.0)).abs() < 1e-9);
        assert!((cpu.relative(9) - (1.0 + 1.88 * 2.0)).abs() < 1e-9);
        assert_eq!(best_length(0.4, &cpu, 12), 0, "40 % does not pay there");
        let quoting = best_length(0.95, &cpu, 12);
        assert!((4..=12).contains(&quoting), "{quoting}");
        assert_eq!(best_length(0.95, &cpu, 2), 2, "no more than is available");
        // A bandwidth-bound machine: a batch of 5 costs 1.1 tokens; even 50 % pays.
        let mut gpu = Costs::default();
        gpu.record(1, 0.020);
        gpu.record(5, 0.022);
        assert!(best_length(0.5, &gpu, 12) >= 3);
        // Nothing measured: the prior lets a likely draft through, an unlikely one not.
        let fresh = Costs::default();
        assert!(best_length(0.9, &fresh, 12) > 0);
        assert_eq!(best_length(0.3, &fresh, 12), 0);
    }

    #[test]
    fn acceptance_starts_at_the_prior_and_follows_what_was_seen() {
        let mut seen = Acceptance::default();
        let quoting = kind(6, true);
        assert!((seen.chance(quoting) - PRIOR_KEPT).abs() < 1e-9);
        seen.record(quoting, 20, 19);
        assert!(seen.chance(quoting) > 0.9);
        assert!(
            (seen.chance(kind(2, false)) - PRIOR_KEPT).abs() < 1e-9,
            "kinds apart"
        );
        let mut shadow = Shadow::new(
            Lookup {
                tokens: tokens(&[4, 5, 6]),
                matched: 2,
            },
            kind(2, false),
        );
        assert!(shadow.observe(LlamaToken(4), &mut seen));
        assert!(!shadow.observe(LlamaToken(7), &mut seen), "a miss ends it");
        assert_eq!(seen.counts[kind(2, false)], (2, 1));
    }

    #[test]
    fn one_difference_distrusts_every_depth() {
        let mut exactness = Exactness::default();
        assert_eq!(exactness.known(), None);
        assert!(exactness.unchecked(700));
        exactness.record(700, true);
        assert!(!exactness.unchecked(1000), "same range");
        assert!(exactness.unchecked(1100), "next range");
        assert_eq!(exactness.known(), Some(true));
        exactness.record(1100, false);
        assert!(exactness.differs());
        assert!(!exactness.unchecked(5000));
        assert_eq!(exactness.known(), Some(false));
    }
}
