//! Step-time traces for the thread policy's unit tests (`src/engine/threads/traces/`), recorded
//! on llama.cpp directly by `xgen-dev record-threads`: in each cycle one step with every thread
//! count from 1 to the most, in turn (the order alternating between cycles), with the cores
//! other programs used at the start of the cycle. Phases of the recording keep busy loops
//! running in child processes (`busy1`: one, `busy2`: two, `quiet`: none), started and stopped
//! here, so a trace holds the machine quiet, with busy cores, and with load appearing and
//! disappearing.

use std::num::NonZeroU32;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use xgen_desk::engine::hardware::default_threads;
use xgen_desk::engine::threads::{apply, CpuLoad};
use xgen_desk::engine::{runtime, EngineError};

/// One phase of a recording: a name, busy loops kept running, seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// `quiet`, `busy1`, `busy2`, ...
    pub name: String,
    /// Busy loops running during the phase.
    pub busy: usize,
    /// How long it lasts.
    pub secs: f64,
}

impl Phase {
    /// Reads `quiet:20` or `busy1:30`.
    ///
    /// # Errors
    /// A phase in another form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, secs) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: expected NAME:SECONDS (quiet:20, busy1:30)"))?;
        let secs: f64 = secs
            .parse()
            .map_err(|_| format!("{text:?}: {secs:?} is not a number of seconds"))?;
        let busy = match name {
            "quiet" => 0,
            other => other
                .strip_prefix("busy")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{text:?}: a phase is quiet or busyN"))?,
        };
        Ok(Self {
            name: name.to_owned(),
            busy,
            secs,
        })
    }
}

/// What each step evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceWork {
    /// One token after the ones before (generation), the cache restarting at `max_depth`.
    Tokens,
    /// A batch of 512 tokens into an empty cache (prompt reading).
    Batches,
}

/// What went wrong recording.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// llama.cpp could not load the model or make a context.
    #[error("could not load {path}: {reason}")]
    Load {
        /// The GGUF.
        path: String,
        /// llama.cpp's reason.
        reason: String,
    },
    /// A step failed.
    #[error("a step failed: {0}")]
    Decode(String),
    /// A busy loop could not be started.
    #[error("could not start a busy loop: {0}")]
    Busy(#[from] std::io::Error),
    /// The engine's setup failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Busy loops in child processes, stopped when dropped.
struct BusyLoops(Vec<Child>);

impl BusyLoops {
    fn start(n: usize) -> Result<Self, std::io::Error> {
        let mut loops = Self(Vec::new());
        for _ in 0..n {
            loops.0.push(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()?,
            );
        }
        Ok(loops)
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Records a trace of `work` on the GGUF at `path` through `phases`; returns its text (a
/// header of `#` lines, then `seconds free cost-1 … cost-max` per cycle, costs in seconds per
/// token).
///
/// # Errors
/// Load and decode failures, a busy loop that does not start.
pub fn record(
    path: &Path,
    work: TraceWork,
    phases: &[Phase],
    max_threads: Option<usize>,
    max_depth: usize,
) -> Result<String, TraceError> {
    let backend = runtime::backend()?;
    let load_error = |reason: String| TraceError::Load {
        path: path.display().to_string(),
        reason,
    };
    let model = LlamaModel::load_from_file(
        backend,
        path,
        &LlamaModelParams::default().with_use_mmap(false),
    )
    .map_err(|e| load_error(e.to_string()))?;
    let max = max_threads.unwrap_or_else(default_threads).max(1);
    let n_threads = i32::try_from(max).unwrap_or(1);
    let depth = match work {
        TraceWork::Tokens => max_depth.max(16),
        TraceWork::Batches => 512,
    };
    // As the engine runs on the CPU: flash attention (the planner's choice), an f16 cache.
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(
            u32::try_from(depth + 64).unwrap_or(u32::MAX),
        ))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(n_threads)
        .with_n_threads_batch(n_threads)
        .with_type_k(KvCacheType::F16)
        .with_type_v(KvCacheType::F16)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED);
    let mut ctx = model
        .new_context(backend, params)
        .map_err(|e| load_error(e.to_string()))?;
    let mut applied = max;
    let n_vocab = usize::try_from(model.n_vocab())
        .unwrap_or(2)
        .clamp(2, 20_000);
    let token = |i: usize| LlamaToken(i32::try_from((i * 7919 + 13) % n_vocab).unwrap_or(1));
    let decode_error = |e: &dyn std::fmt::Display| TraceError::Decode(e.to_string());
    let mut batch = LlamaBatch::new(512, 1);
    let mut pos = 0usize;
    let mut step = |ctx: &mut llama_cpp_2::context::LlamaContext<'_>| -> Result<f64, TraceError> {
        batch.clear();
        let tokens = match work {
            TraceWork::Tokens => {
                if pos >= depth {
                    ctx.clear_kv_cache();
                    pos = 0;
                }
                let at = i32::try_from(pos).map_err(|e| decode_error(&e))?;
                batch
                    .add(token(pos), at, &[0], true)
                    .map_err(|e| decode_error(&e))?;
                pos += 1;
                1
            }
            TraceWork::Batches => {
                ctx.clear_kv_cache();
                for i in 0..512 {
                    let at = i32::try_from(i).map_err(|e| decode_error(&e))?;
                    batch
                        .add(token(i), at, &[0], i == 511)
                        .map_err(|e| decode_error(&e))?;
                }
                512
            }
        };
        let started = Instant::now();
        ctx.decode(&mut batch).map_err(|e| decode_error(&e))?;
        Ok(started.elapsed().as_secs_f64() / f64::from(tokens))
    };
    let mut text = String::new();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.push_str(&format!(
        "# xgen-dev record-threads: {}, {work:?}, phases {}, 1..={max} threads; load average at the start: {}\n",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        phases
            .iter()
            .map(|p| format!("{}:{}", p.name, p.secs))
            .collect::<Vec<_>>()
            .join(","),
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    text.push_str(&format!(
        "# seconds, CPUs other programs left free, seconds per token with 1..={max} threads\n"
    ));
    // The idle time is measured from before the warm-up, so the first cycle has a figure.
    let mut cpu = CpuLoad::start();
    // One warm-up step per count, not recorded.
    for threads in 1..=max {
        apply(&mut ctx, &mut applied, threads);
        step(&mut ctx)?;
    }
    let origin = Instant::now();
    let mut cycle = 0usize;
    for phase in phases {
        let busy = BusyLoops::start(phase.busy)?;
        let until = origin.elapsed().as_secs_f64() + phase.secs;
        while origin.elapsed().as_secs_f64() < until {
            let at = origin.elapsed().as_secs_f64();
            let free = cpu.free();
            let mut costs = vec![0.0; max];
            let order: Vec<usize> = if cycle.is_multiple_of(2) {
                (1..=max).collect()
            } else {
                (1..=max).rev().collect()
            };
            for threads in order {
                let ran = apply(&mut ctx, &mut applied, threads);
                costs[ran - 1] = step(&mut ctx)?;
            }
            cycle += 1;
            let free = free.map_or_else(|| "-".to_owned(), |f| format!("{f:.2}"));
            let costs: Vec<String> = costs.iter().map(|c| format!("{c:.6}")).collect();
            text.push_str(&format!("{at:.3} {free} {}\n", costs.join(" ")));
        }
        drop(busy);
    }
    Ok(text)
}
