//! How many threads llama.cpp runs: the count the person fixed (`--threads N`), or, by default,
//! counts adapted to the CPU the engine actually gets, one for prompt batches and one for
//! generation, applied to the context between batches with `llama_set_n_threads`.
//!
//! A computer is rarely idle: a browser, an indexer or a compiler takes part of the CPU, and
//! llama.cpp's threads wait for each other at every step of the graph, so a thread sharing its
//! core with another program slows every token down many times (see `policy`). The engine
//! measures the idle time of the system and the time of its own steps, runs on the cores that
//! are free, and goes back to all of them when the load goes away.

#![allow(
    unsafe_code,
    reason = "the thread counts are set through llama.cpp's C API (llama_set_n_threads)"
)]

mod load;
mod policy;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use serde::{Deserialize, Serialize};

use super::hardware;
use super::LoadSettings;
pub use policy::Slowdown;
use policy::{Policy, Tuning, BATCHES, TOKENS};

/// The two kinds of work whose thread counts are chosen apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// Generation: one token per step (and the small batches that verify drafts).
    Tokens,
    /// Prompt batches: many tokens per step.
    Batches,
}

/// The threads a reply ran with, for the reply's footer and `bench`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadUse {
    /// Threads of the prompt's last batch (0: the prompt came from the cache).
    pub prompt: usize,
    /// Threads of the first generated token (0: none was generated).
    pub first: usize,
    /// Threads of the last generated token.
    pub last: usize,
    /// Fewest threads a generated token ran with.
    pub fewest: usize,
    /// Most threads the engine may use: one per physical core, or the count fixed.
    pub max: usize,
    /// The count was fixed by the person (`--threads N`), not adapted.
    pub fixed: bool,
    /// Why fewer than `max` threads ran, when they did.
    pub slowdown: Option<Slowdown>,
}

impl ThreadUse {
    /// What ran, in words: "2 threads", "2→1 threads: the CPU is busy", "1 of 2 threads: the
    /// CPU is busy", "2→1→2 threads: the CPU was busy for a while"; `None` when nothing ran
    /// (a remote engine, a reply from the cache alone).
    #[must_use]
    pub fn describe(&self) -> Option<String> {
        let (first, last) = if self.first > 0 {
            (self.first, self.last)
        } else if self.prompt > 0 {
            (self.prompt, self.prompt)
        } else {
            return None;
        };
        let fewest = if self.first > 0 {
            self.fewest.min(first).min(last)
        } else {
            first
        };
        let plural = |n: usize| if n == 1 { "thread" } else { "threads" };
        // Both reasons read the same to a person: other work takes the cores.
        let why = if self.fixed || self.slowdown.is_none() {
            ""
        } else {
            ": the CPU is busy"
        };
        Some(if first == last && fewest < first {
            format!("{first}→{fewest}→{last} threads: the CPU was busy for a while")
        } else if first != last {
            let why = if last > first { "" } else { why };
            format!("{first}→{last} {}{why}", plural(first.max(last)))
        } else if first < self.max {
            format!("{first} of {} threads{why}", self.max)
        } else {
            format!("{first} {}", plural(first))
        })
    }
}

/// The thread counts the engine runs with now, as the hardware panel shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadsNow {
    /// Threads of generation.
    pub tokens: usize,
    /// Threads of prompt batches.
    pub batches: usize,
    /// Most threads the engine may use.
    pub max: usize,
    /// The counts adapt to the CPU (`false`: fixed by the person).
    pub adaptive: bool,
    /// Why fewer than `max` threads run, when they do.
    pub slowdown: Option<Slowdown>,
}

impl ThreadsNow {
    /// In words: "2 threads, adapted to the CPU", "1 of 2 threads: the CPU is busy", "4
    /// threads (fixed)".
    #[must_use]
    pub fn describe(&self) -> String {
        let running = self.tokens.min(self.batches);
        if !self.adaptive {
            let plural = if self.tokens == 1 { "" } else { "s" };
            return format!("{} thread{plural} (fixed)", self.tokens);
        }
        match self.slowdown {
            Some(_) if running < self.max => {
                format!("{running} of {} threads: the CPU is busy", self.max)
            }
            _ => format!("{} threads, adapted to the CPU", self.max),
        }
    }
}

/// The counts in use, shared between the engine thread and whoever asks ([`super::Engine`]).
#[derive(Debug, Default)]
pub(crate) struct Live {
    tokens: AtomicUsize,
    batches: AtomicUsize,
    max: AtomicUsize,
    /// 0: fixed, 1: adaptive, no slowdown, 2: busy, 3: shared.
    state: AtomicU8,
}

impl Live {
    pub(crate) fn get(&self) -> Option<ThreadsNow> {
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 {
            return None;
        }
        let state = self.state.load(Ordering::Relaxed);
        Some(ThreadsNow {
            tokens: self.tokens.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            max,
            adaptive: state != 0,
            slowdown: match state {
                2 => Some(Slowdown::Busy),
                3 => Some(Slowdown::Slow),
                _ => None,
            },
        })
    }

    /// No model: nothing runs.
    pub(crate) fn clear(&self) {
        self.max.store(0, Ordering::Relaxed);
    }
}

/// One kind of work's count: fixed, or adapted.
#[derive(Debug, Clone)]
enum Control {
    Fixed(usize),
    Auto(Box<Policy>),
}

impl Control {
    fn new(fixed: Option<usize>, max: usize, tuning: Tuning) -> Self {
        match fixed {
            Some(n) => Self::Fixed(n.max(1)),
            None => Self::Auto(Box::new(Policy::new(max, tuning))),
        }
    }

    fn current(&self) -> (usize, Option<Slowdown>) {
        match self {
            Self::Fixed(n) => (*n, None),
            Self::Auto(policy) => policy.current(),
        }
    }

    fn max(&self) -> usize {
        match self {
            Self::Fixed(n) => *n,
            Self::Auto(policy) => policy.max(),
        }
    }
}

/// The engine's thread counts for one loaded model: chosen before each step, learned from
/// each step's time.
pub(crate) struct Threads {
    tokens: Control,
    batches: Control,
    load: load::CpuLoad,
    origin: Instant,
    live: Arc<Live>,
    reply: ThreadUse,
}

impl Threads {
    /// The counts `settings` ask for: fixed where a count is given, else adapted between 1
    /// and one per physical core. `load` started measuring the idle time when the model load
    /// began, so the first step already knows what other programs use.
    pub(crate) fn new(settings: &LoadSettings, cpu: CpuLoad, live: Arc<Live>) -> Self {
        let cores = hardware::default_threads();
        let tokens = Control::new(settings.threads, cores, TOKENS);
        let batch_fixed = settings.threads_batch.or(settings.threads);
        let batches = Control::new(batch_fixed, cores, BATCHES);
        let threads = Self {
            tokens,
            batches,
            load: cpu.0,
            origin: Instant::now(),
            live,
            reply: ThreadUse::default(),
        };
        threads.publish();
        threads
    }

    /// Whether either count adapts.
    pub(crate) fn adaptive(&self) -> bool {
        matches!(self.tokens, Control::Auto(_)) || matches!(self.batches, Control::Auto(_))
    }

    /// The most threads of generation and of prompt batches.
    pub(crate) fn max(&self) -> (usize, usize) {
        (self.tokens.max(), self.batches.max())
    }

    fn control(&mut self, work: Work) -> &mut Control {
        match work {
            Work::Tokens => &mut self.tokens,
            Work::Batches => &mut self.batches,
        }
    }

    /// Takes a reading of the system's idle time (while idle: the next step then sees the
    /// load of the last second).
    pub(crate) fn sample_load(&mut self) {
        if self.adaptive() {
            self.load.others();
        }
    }

    /// Threads for the next step of `work`.
    pub(crate) fn choose(&mut self, work: Work) -> usize {
        let now = self.origin.elapsed().as_secs_f64();
        let adaptive = matches!(self.control(work), Control::Auto(_));
        let free = if adaptive { self.load.free() } else { None };
        let threads = match self.control(work) {
            Control::Fixed(n) => *n,
            Control::Auto(policy) => policy.threads(now, free),
        };
        self.publish();
        threads
    }

    /// The count `work` runs with now, without starting anything (a read alongside, which
    /// takes the time between other steps and is not measured).
    pub(crate) fn current(&self, work: Work) -> usize {
        match work {
            Work::Tokens => self.tokens.current().0,
            Work::Batches => self.batches.current().0,
        }
    }

    /// Records a step of `work` with `threads` that evaluated `tokens` in `secs`.
    pub(crate) fn record(&mut self, work: Work, threads: usize, tokens: usize, secs: f64) {
        let now = self.origin.elapsed().as_secs_f64();
        if let Control::Auto(policy) = self.control(work) {
            policy.record(now, threads, secs, tokens);
        }
        self.publish();
    }

    /// A reply starts: its thread use is counted from here.
    pub(crate) fn begin_reply(&mut self) {
        self.reply = ThreadUse {
            max: self.tokens.max(),
            fixed: !self.adaptive(),
            ..ThreadUse::default()
        };
    }

    /// The reply read a prompt batch with `threads`.
    pub(crate) fn note_prompt(&mut self, threads: usize) {
        self.reply.prompt = threads;
        self.note_slowdown(Work::Batches);
    }

    /// The reply generated a token with `threads`.
    pub(crate) fn note_token(&mut self, threads: usize) {
        let reply = &mut self.reply;
        if reply.first == 0 {
            reply.first = threads;
            reply.fewest = threads;
        }
        reply.last = threads;
        reply.fewest = reply.fewest.min(threads);
        self.note_slowdown(Work::Tokens);
    }

    fn note_slowdown(&mut self, work: Work) {
        if let (_, Some(reason)) = self.control(work).current() {
            self.reply.slowdown = Some(reason);
        }
    }

    /// What the reply ran with.
    pub(crate) fn reply_use(&self) -> ThreadUse {
        self.reply
    }

    fn publish(&self) {
        let (tokens, token_reason) = self.tokens.current();
        let (batches, batch_reason) = self.batches.current();
        self.live.tokens.store(tokens, Ordering::Relaxed);
        self.live.batches.store(batches, Ordering::Relaxed);
        self.live.max.store(self.tokens.max(), Ordering::Relaxed);
        let state = if !self.adaptive() {
            0
        } else {
            match token_reason.or(batch_reason) {
                None => 1,
                Some(Slowdown::Busy) => 2,
                Some(Slowdown::Slow) => 3,
            }
        };
        self.live.state.store(state, Ordering::Relaxed);
    }
}

/// How much of the CPU other programs use, measured from the system's idle time less this
/// process's own CPU time.
pub struct CpuLoad(load::CpuLoad);

impl CpuLoad {
    /// Takes the first reading now; the first figure covers the time from here.
    #[must_use]
    pub fn start() -> Self {
        Self(load::CpuLoad::new())
    }

    /// Cores other programs kept busy since the last reading at least 100 ms ago (the figure
    /// before, when the last reading is more recent); `None` where the system does not say, or
    /// before 100 ms have passed.
    pub fn others(&mut self) -> Option<f64> {
        self.0.others()
    }

    /// The logical CPUs other programs left free over the same window: the system's CPUs less
    /// [`Self::others`]. On a processor with two hardware threads per core, a core still
    /// counts as free for one engine thread while another program uses its sibling.
    pub fn free(&mut self) -> Option<f64> {
        self.0.free()
    }
}

/// Sets the thread counts of `ctx` to `threads` for both single tokens and batches (the
/// engine chooses per step which kind of count applies) when `applied` says they differ;
/// returns the count llama.cpp has now.
///
/// llama-cpp-2 keeps the context's pointer private and has no call for this, so the pointer is
/// read from the context's `Debug` text, which prints exactly that pointer (the version is
/// pinned in Cargo.toml; `llama_n_threads` reading back the count proves it is the context).
/// When the pointer cannot be read, the count stays what the context was created with.
pub fn apply(ctx: &mut LlamaContext<'_>, applied: &mut usize, threads: usize) -> usize {
    if *applied == threads {
        return threads;
    }
    let Some(raw) = context_pointer(ctx) else {
        tracing::warn!("cannot change llama.cpp's thread count: its context is out of reach");
        return *applied;
    };
    let n = i32::try_from(threads).unwrap_or(i32::MAX);
    // SAFETY: `raw` is the live context `ctx` wraps, which is borrowed mutably here, so
    // nothing else uses it during the call; the call writes two integers of its parameters.
    let now = unsafe {
        llama_cpp_sys_2::llama_set_n_threads(raw, n, n);
        llama_cpp_sys_2::llama_n_threads(raw)
    };
    *applied = usize::try_from(now).unwrap_or(*applied);
    *applied
}

/// The `llama_context` pointer inside `ctx`, from its `Debug` text
/// (`LlamaContext { context: 0x… }`).
fn context_pointer(ctx: &LlamaContext<'_>) -> Option<*mut llama_cpp_sys_2::llama_context> {
    let text = format!("{ctx:?}");
    let hex = text.split("context: 0x").nth(1)?;
    let digits: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    let address = usize::from_str_radix(&digits, 16).ok()?;
    (address != 0).then_some(address as *mut llama_cpp_sys_2::llama_context)
}

#[cfg(test)]
mod tests;
