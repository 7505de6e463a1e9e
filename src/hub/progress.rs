//! Progress events, rate/ETA measurement and cancellation shared by downloads and the pipeline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A step of model setup; the UI shows one bar per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Fetching files from the Hub (units: bytes).
    Download,
    /// Checkpoint to F16 GGUF (units: bytes written, or tensors when sizes are unknown).
    Convert,
    /// F16 GGUF to the chosen quantization (units: tensors).
    Quantize,
    /// Checking that the final file loads (units: steps).
    Verify,
}

impl Stage {
    /// Lower-case name for logs and the CLI.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Download => "download",
            Self::Convert => "convert",
            Self::Quantize => "quantize",
            Self::Verify => "verify",
        }
    }
}

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The stage reporting.
    pub stage: Stage,
    /// What is being worked on (file name for downloads, tensor name for quantization).
    pub item: Option<String>,
    /// Units done in this stage (bytes for downloads, including bytes already on disk). It only
    /// goes down when a file has to start over (corrupt download, server ignoring `Range`).
    pub done: u64,
    /// Units in this stage (0 when unknown).
    pub total: u64,
    /// Recent speed in units per second (bytes/s for downloads), when measurable.
    pub rate: Option<f64>,
    /// Estimated time left, when the rate is known.
    pub eta: Option<Duration>,
}

impl Progress {
    /// `done / total` in `0.0..=1.0` (0 when the total is unknown).
    #[must_use]
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            let f = self.done as f64 / self.total as f64;
            f.clamp(0.0, 1.0)
        }
    }
}

/// Receives progress reports; called on the working thread, so keep it quick (send to a channel).
pub type ProgressFn<'a> = dyn FnMut(&Progress) + 'a;

/// Turns a running count into throttled [`Progress`] events with a rate over the last few
/// seconds and an ETA.
pub(crate) struct Meter {
    stage: Stage,
    total: u64,
    done: u64,
    samples: VecDeque<(Instant, u64)>,
    last_emit: Option<Instant>,
    last_emit_done: u64,
    item: Option<String>,
}

const WINDOW: Duration = Duration::from_secs(5);
const EMIT_EVERY: Duration = Duration::from_millis(100);

impl Meter {
    pub(crate) fn new(stage: Stage, done: u64, total: u64) -> Self {
        Self {
            stage,
            total,
            done,
            samples: VecDeque::new(),
            last_emit: None,
            last_emit_done: done,
            item: None,
        }
    }

    pub(crate) fn set_item(&mut self, item: &str) {
        self.item = Some(item.to_owned());
    }

    /// Adds `n` units that count towards the rate (transferred now).
    pub(crate) fn advance(&mut self, n: u64, progress: &mut ProgressFn<'_>) {
        self.done = self.done.saturating_add(n);
        let now = Instant::now();
        self.samples.push_back((now, self.done));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        // Every 100 ms, and at every percent so short transfers still show movement.
        let percent_step = (self.total / 100).max(1);
        if self
            .last_emit
            .is_none_or(|t| now.duration_since(t) >= EMIT_EVERY)
            || self.done.saturating_sub(self.last_emit_done) >= percent_step
        {
            self.emit(progress);
        }
    }

    /// Sets absolute counts (for producers that report totals rather than increments).
    pub(crate) fn update(&mut self, done: u64, total: u64, progress: &mut ProgressFn<'_>) {
        self.total = total;
        let delta = done.saturating_sub(self.done);
        if done < self.done {
            self.done = done;
            self.samples.clear();
        }
        self.advance(delta, progress);
    }

    /// Adds `n` units that were already done (resumed or cached): no effect on the rate.
    pub(crate) fn skip(&mut self, n: u64, progress: &mut ProgressFn<'_>) {
        self.done = self.done.saturating_add(n);
        for sample in &mut self.samples {
            sample.1 = sample.1.saturating_add(n);
        }
        self.emit(progress);
    }

    /// Like [`Meter::skip`], emitting at most every 100 ms or percent (for the many small
    /// steps of checking a cached file).
    pub(crate) fn skip_quietly(&mut self, n: u64, progress: &mut ProgressFn<'_>) {
        self.done = self.done.saturating_add(n);
        for sample in &mut self.samples {
            sample.1 = sample.1.saturating_add(n);
        }
        let percent_step = (self.total / 100).max(1);
        if self.last_emit.is_none_or(|t| t.elapsed() >= EMIT_EVERY)
            || self.done.saturating_sub(self.last_emit_done) >= percent_step
        {
            self.emit(progress);
        }
    }

    /// Takes `n` units back (a corrupt partial file was discarded).
    pub(crate) fn rewind(&mut self, n: u64, progress: &mut ProgressFn<'_>) {
        self.done = self.done.saturating_sub(n);
        self.samples.clear();
        self.emit(progress);
    }

    pub(crate) fn emit(&mut self, progress: &mut ProgressFn<'_>) {
        self.last_emit = Some(Instant::now());
        self.last_emit_done = self.done;
        let rate = self.rate();
        let eta = rate.filter(|r| *r > 0.0).map(|r| {
            let left = self.total.saturating_sub(self.done) as f64;
            Duration::from_secs_f64(left / r)
        });
        progress(&Progress {
            stage: self.stage,
            item: self.item.clone(),
            done: self.done,
            total: self.total,
            rate,
            eta,
        });
    }

    fn rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let secs = last.0.duration_since(first.0).as_secs_f64();
        let rate = last.1.saturating_sub(first.1) as f64 / secs;
        (secs >= 0.2).then_some(rate)
    }
}
