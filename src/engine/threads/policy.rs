//! The thread-count policy: how many threads the next step of one kind of work gets.
//!
//! Every step of llama.cpp's graph ends at a barrier where all threads wait for the slowest.
//! A thread that shares its core with another program arrives a scheduler slice late, hundreds
//! of times per token, so on a computer where another program keeps one core busy, generation
//! with a thread on every core runs many times slower than with one thread fewer. The policy
//! therefore decides from two measurements:
//!
//! - **the system's idle time**: the CPUs other programs leave free ([`super::load`]) cap the
//!   count, at once (a busy core is seen within one 100 ms window);
//! - **step times**: a window of steps much slower than the same count gave a moment ago (a
//!   competitor the idle time does not show, such as a hypervisor's other guests, or a partly
//!   busy core) steps the count down (while the idle time shows every core free, only when
//!   slowness lasts: a moment's noise is no reason), and a probe of one thread more, when the cores look free
//!   again, is kept only when it is faster. A probe ends at its first step that is clearly
//!   slower, so probing on a busy computer costs one slow step; after a failed probe the next
//!   waits twice as long, and at least twenty times the time the failure cost, so probing never
//!   takes more than a twentieth of the time however slow the busy count is.
//!
//! Time is passed in as seconds, so the policy runs the same on recorded traces in the unit
//! tests as on the engine's clock.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Why fewer threads than the most ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slowdown {
    /// Other programs keep cores busy (the system's idle time says so).
    Busy,
    /// Steps ran slower than the same thread count ran a moment before, or a probe found fewer
    /// threads faster: something shares the cores that the idle time does not show.
    Slow,
}

/// How the policy behaves for one kind of work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tuning {
    /// Steps whose median is one measurement.
    pub(crate) window: usize,
    /// How much of a busy CPU the thread count may overlap: the cap is the free CPUs plus
    /// this, rounded down.
    pub(crate) spare: f64,
    /// The same for the first step, before anything was measured.
    pub(crate) start_spare: f64,
    /// A window this many times slower than the reference at the same count means contention.
    pub(crate) slow: f64,
    /// Slow windows in a row that step the count down while the idle time shows every core
    /// free (otherwise one does): what slows steps then is most often a moment's noise (the
    /// hypervisor, an interrupt, the page cache), which a busy program would show in the idle
    /// time.
    pub(crate) slow_in_a_row_when_free: usize,
    /// How long a measurement stays a reference, in seconds.
    pub(crate) reference_secs: f64,
    /// The reference is the latest measurement before, not the best recent one (prompt
    /// batches: their cost per token grows with the cache's depth).
    pub(crate) latest_only: bool,
    /// Steps of a probe.
    pub(crate) probe_steps: usize,
    /// Windows a count measures before one thread fewer is probed against it.
    pub(crate) compare_after: usize,
    /// A probe is kept when its median is at most this share of the count it left.
    pub(crate) keep_probe: f64,
    /// A probe ends at a step this many times slower than the count it left.
    pub(crate) abort_probe: f64,
    /// Seconds to wait before the next probe: the first wait, and the longest after failures
    /// (unless the failure itself cost more: see [`PROBE_SHARE`]).
    pub(crate) probe_wait: (f64, f64),
}

/// After a failed probe the next one waits at least this many times the time the failure
/// cost: probing takes at most about a twentieth of the time.
const PROBE_SHARE: f64 = 20.0;

/// Free CPUs must grow by this much over what they were at a failed probe before the wait
/// starts over: a figure hovering around a threshold would otherwise call for a probe at each
/// crossing (hysteresis).
const FREED_MARGIN: f64 = 0.5;

/// Every core counts as free while the idle time shows at most this much of a CPU busy
/// elsewhere (slow windows then step down only when they last: see
/// [`Tuning::slow_in_a_row_when_free`]).
const ALL_FREE_MARGIN: f64 = 0.25;

/// Generation: one token per step, a step every few to a few hundred milliseconds.
pub(crate) const TOKENS: Tuning = Tuning {
    window: 4,
    spare: 0.5,
    start_spare: 0.5,
    slow: 1.5,
    // Windows slide by one step, so a burst of a few slow steps makes as many slow windows and
    // one more: two windows' steps must run slow before a quiet machine drops a core.
    slow_in_a_row_when_free: 8,
    reference_secs: 8.0,
    latest_only: false,
    probe_steps: 4,
    compare_after: 1,
    keep_probe: 0.95,
    abort_probe: 1.5,
    probe_wait: (0.25, 16.0),
};

/// Prompt batches: hundreds of tokens per step, a step every fraction of a second to a minute.
///
/// A batch's matrix products are large and llama.cpp hands their chunks out to whichever
/// thread is free, so a thread sharing its core with another program does fewer chunks instead
/// of holding the others up at every barrier: batches may run one thread on a busy core
/// (measured on two cores with one kept busy: 149 tokens/s with two threads, 130 with one).
/// Whether that pays is measured: the first batch runs on the free cores, the next probes one
/// thread more and keeps it when it is faster, and while the count overlaps a busy core, one
/// thread fewer is probed again once in a while.
pub(crate) const BATCHES: Tuning = Tuning {
    window: 1,
    spare: 1.4,
    // The first batch runs on the cores that are free; a thread more on a busy core is then a
    // probe, kept when it is faster.
    start_spare: 0.5,
    slow: 1.5,
    slow_in_a_row_when_free: 1,
    reference_secs: 120.0,
    latest_only: true,
    probe_steps: 1,
    // The first batches of a count (a fresh context, a cold cache) say little about it.
    compare_after: 3,
    keep_probe: 0.95,
    abort_probe: 1.5,
    probe_wait: (0.0, 60.0),
};

/// The thread count of one kind of work, adapted step by step.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    tuning: Tuning,
    max: usize,
    current: usize,
    reason: Option<Slowdown>,
    /// Per thread count (index = threads - 1): what its steps measured.
    counts: Vec<Measured>,
    probe: Option<Probe>,
    /// No probe before this time.
    next_probe: f64,
    /// The wait after the next failed probe, before doubling.
    wait: f64,
    /// The cap the idle time gave at the last step.
    cap: Option<usize>,
    /// The free CPUs when the last probe failed.
    free_at_failure: Option<f64>,
    /// The free CPUs at the last step.
    free: Option<f64>,
    /// Windows in a row at the current count that were slow.
    slow_in_a_row: usize,
    started: bool,
}

#[derive(Debug, Clone, Default)]
struct Measured {
    /// Seconds per token of the latest steps, newest last, at most a window.
    recent: VecDeque<f64>,
    /// Medians of windows and when they were measured, newest last.
    references: VecDeque<(f64, f64)>,
    /// When the latest step ran.
    last_at: f64,
}

#[derive(Debug, Clone)]
struct Probe {
    threads: usize,
    from: usize,
    /// Seconds per token at `from` before the probe.
    baseline: f64,
    /// Seconds per token of the probe's steps.
    steps: Vec<f64>,
    /// Seconds the probe's steps took more than `from` would have.
    lost: f64,
}

impl Policy {
    /// A policy between 1 and `max` threads.
    pub(crate) fn new(max: usize, tuning: Tuning) -> Self {
        let max = max.max(1);
        Self {
            tuning,
            max,
            current: max,
            reason: None,
            counts: vec![Measured::default(); max],
            probe: None,
            next_probe: 0.0,
            wait: tuning.probe_wait.0,
            cap: None,
            free_at_failure: None,
            free: None,
            slow_in_a_row: 0,
            started: false,
        }
    }

    /// The most threads this policy uses.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The count steps run with now (outside probes), and why it is below the most.
    pub(crate) fn current(&self) -> (usize, Option<Slowdown>) {
        (self.current, self.reason)
    }

    /// Threads for the next step at time `now`; `free` is how many CPUs other programs leave
    /// free (`None` where the system does not say).
    pub(crate) fn threads(&mut self, now: f64, free: Option<f64>) -> usize {
        let cap = free.map(|free| self.room(free, self.tuning.spare));
        if !self.started {
            self.started = true;
            self.current = free.map_or(self.max, |free| self.room(free, self.tuning.start_spare));
            self.reason = (self.current < self.max).then_some(Slowdown::Busy);
            self.next_probe = now + self.wait;
        }
        let limit = cap.unwrap_or(self.max);
        let freed = match (self.free_at_failure, free) {
            // After a failed probe only clearly more free CPUs than then count (all of the
            // engine's cores free is enough: the free figure cannot pass the CPUs there are).
            (Some(failed), Some(free)) => {
                free >= (failed + FREED_MARGIN).min(self.max as f64 - FREED_MARGIN / 2.0)
            }
            _ => matches!((self.cap, cap), (Some(before), Some(after)) if after > before),
        };
        self.cap = cap;
        self.free = free;
        if let Some(probe) = &self.probe {
            if probe.threads <= limit {
                return probe.threads;
            }
            // The cores went busy during the probe: it ends without a verdict.
            self.probe = None;
        }
        if self.current > limit {
            self.current = limit;
            self.slow_in_a_row = 0;
            self.reason = Some(Slowdown::Busy);
            self.next_probe = now + self.wait;
        }
        if freed {
            // Cores came free: look at once, however long failed probes made the wait.
            self.wait = self.tuning.probe_wait.0;
            self.next_probe = now;
            self.free_at_failure = None;
        }
        if now < self.next_probe {
            return self.current;
        }
        let baseline = self.baseline(self.current, now);
        if self.current < limit {
            if let Some(baseline) = baseline {
                return self.start_probe(self.current + 1, baseline);
            }
        } else if self.current > 1
            && free.is_none_or(|free| self.current as f64 > free + TOKENS.spare)
            && self.fresh_best(self.current - 1, now).is_none()
            && self.fresh_windows(self.current, now) >= self.tuning.compare_after
        {
            // Without the idle time, or with threads on cores other programs keep busy (prompt
            // batches may run so), contention only shows against fewer threads: measure them
            // once in a while.
            if let Some(baseline) = baseline {
                return self.start_probe(self.current - 1, baseline);
            }
        }
        self.current
    }

    /// Records a step at time `now` that ran with `threads` and took `secs` for `tokens`.
    pub(crate) fn record(&mut self, now: f64, threads: usize, secs: f64, tokens: usize) {
        let Some(index) = threads.checked_sub(1).filter(|&i| i < self.max) else {
            return;
        };
        let secs_per_token = secs / tokens.max(1) as f64;
        if !secs_per_token.is_finite() || secs_per_token <= 0.0 {
            return;
        }
        let tuning = self.tuning;
        let measured = &mut self.counts[index];
        measured.last_at = now;
        measured.recent.push_back(secs_per_token);
        while measured.recent.len() > tuning.window {
            measured.recent.pop_front();
        }
        let window = (measured.recent.len() == tuning.window).then(|| median(&measured.recent));
        let reference = self.reference(threads, now);
        if let Some(window) = window {
            let references = &mut self.counts[index].references;
            references.push_back((now, window));
            while references.len() > 64
                || references
                    .front()
                    .is_some_and(|&(at, _)| now - at > tuning.reference_secs)
            {
                references.pop_front();
            }
        }
        if let Some(probe) = self.probe.as_mut() {
            if probe.threads == threads {
                probe.steps.push(secs_per_token);
                probe.lost += secs - probe.baseline * tokens.max(1) as f64;
                let clearly_slower = secs_per_token > probe.baseline * tuning.abort_probe;
                if clearly_slower || probe.steps.len() >= tuning.probe_steps {
                    let kept = !clearly_slower
                        && median(&probe.steps) <= probe.baseline * tuning.keep_probe;
                    let (to, from, lost) = (probe.threads, probe.from, probe.lost);
                    self.probe = None;
                    self.end_probe(now, (to, from), kept, lost);
                }
            }
            return;
        }
        if threads != self.current || threads == 1 {
            return;
        }
        let Some(window) = window else {
            return;
        };
        let slower_than_before = reference.is_some_and(|r| window > r * tuning.slow);
        let slower_than_fewer = !tuning.latest_only
            && self
                .fresh_best(threads - 1, now)
                .is_some_and(|fewer| window > fewer);
        if !(slower_than_before || slower_than_fewer) {
            self.slow_in_a_row = 0;
            return;
        }
        self.slow_in_a_row += 1;
        let every_core_free = self
            .free
            .is_some_and(|free| free >= self.max as f64 - ALL_FREE_MARGIN);
        if !every_core_free || self.slow_in_a_row >= tuning.slow_in_a_row_when_free {
            self.slow_in_a_row = 0;
            self.current = threads - 1;
            self.reason = Some(Slowdown::Slow);
            self.counts[index].recent.clear();
            self.next_probe = now + self.wait;
        }
    }

    fn start_probe(&mut self, threads: usize, baseline: f64) -> usize {
        self.probe = Some(Probe {
            threads,
            from: self.current,
            baseline,
            steps: Vec::new(),
            lost: 0.0,
        });
        threads
    }

    fn end_probe(&mut self, now: f64, (to, from): (usize, usize), kept: bool, lost: f64) {
        if kept {
            self.current = to;
            self.slow_in_a_row = 0;
            self.reason = if to < from {
                Some(Slowdown::Slow)
            } else if to < self.max {
                self.reason.or(Some(Slowdown::Busy))
            } else {
                None
            };
        }
        if kept && to > from {
            self.wait = self.tuning.probe_wait.0;
            self.free_at_failure = None;
        } else {
            // A probe that failed, or one that found fewer threads faster (the count it left
            // failed, in effect): the next probe waits longer.
            let doubled = (self.wait * 2.0)
                .max(self.tuning.probe_wait.0.max(0.25))
                .min(self.tuning.probe_wait.1);
            self.wait = doubled.max(PROBE_SHARE * lost);
            self.free_at_failure = self.free;
        }
        self.next_probe = now + self.wait;
    }

    /// What `threads` measured just now (its latest steps, up to a window), to compare a
    /// probe with.
    fn baseline(&self, threads: usize, now: f64) -> Option<f64> {
        let measured = self.counts.get(threads.checked_sub(1)?)?;
        let fresh = now - measured.last_at <= self.tuning.reference_secs;
        (fresh && !measured.recent.is_empty()).then(|| median(&measured.recent))
    }

    /// The reference a new window at `threads` is compared with.
    fn reference(&self, threads: usize, now: f64) -> Option<f64> {
        if self.tuning.latest_only {
            let measured = self.counts.get(threads.checked_sub(1)?)?;
            measured
                .references
                .back()
                .filter(|&&(at, _)| now - at <= self.tuning.reference_secs)
                .map(|&(_, value)| value)
        } else {
            self.fresh_best(threads, now)
        }
    }

    /// Threads that fit `free` CPUs overlapped by `spare` of a busy one: between 1 and the most.
    fn room(&self, free: f64, spare: f64) -> usize {
        ((free + spare).floor().max(1.0) as usize).min(self.max)
    }

    /// The windows `threads` measured within the reference time.
    fn fresh(&self, threads: usize, now: f64) -> impl Iterator<Item = f64> + '_ {
        threads
            .checked_sub(1)
            .and_then(|index| self.counts.get(index))
            .into_iter()
            .flat_map(|measured| &measured.references)
            .filter(move |&&(at, _)| now - at <= self.tuning.reference_secs)
            .map(|&(_, value)| value)
    }

    /// How many windows `threads` measured within the reference time.
    fn fresh_windows(&self, threads: usize, now: f64) -> usize {
        self.fresh(threads, now).count()
    }

    /// The fastest window `threads` measured within the reference time.
    fn fresh_best(&self, threads: usize, now: f64) -> Option<f64> {
        self.fresh(threads, now).min_by(f64::total_cmp)
    }
}

fn median<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    let mut sorted: Vec<f64> = values.into_iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
