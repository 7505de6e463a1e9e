//! Reading a document ahead, measured: the time to the first word of a summary clicked a given
//! while after the document arrived, against a cold read. Run by `xgen-dev bench-preread`
//! (see `scripts/bench-preread.sh`); printed figures, not a timed test.
//!
//! Each run uses a fresh engine and a fresh, empty state cache directory, so nothing is found
//! on disk and the only difference between runs is how long the engine read ahead before the
//! click.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use xgen_desk::engine::{
    CachePrefix, Engine, EngineError, GenerateRequest, LoadSettings, Planning, PrereadEvent,
    PrereadHandle, PrereadRequest, ReplyEvent, Sampling, StateCacheConfig,
};
use xgen_desk::prompt::{document_len, summarize_request, Message, SummaryStyle};
use xgen_desk::summarize::SummarizeError;

use crate::summary_bench::synthetic_text;

/// When Summarize is clicked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Click {
    /// With no reading ahead: the request reads the whole document.
    Cold,
    /// This many seconds after reading ahead started.
    After(f64),
    /// Once reading ahead finished.
    Finished,
}

impl Click {
    /// Parses `cold`, `finished` or a number of seconds (`10`, `10s`).
    ///
    /// # Errors
    /// Anything else, with what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "cold" => Ok(Self::Cold),
            "finished" => Ok(Self::Finished),
            other => other
                .trim_end_matches('s')
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Self::After)
                .ok_or_else(|| {
                    format!("{other:?} is not a click time: use cold, finished or seconds (10s)")
                }),
        }
    }

    /// `cold`, `10s`, `finished`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Cold => "cold".to_owned(),
            Self::After(secs) => format!("{secs}s"),
            Self::Finished => "finished".to_owned(),
        }
    }
}

/// What one click measured.
#[derive(Debug, Clone, Serialize)]
pub struct PrereadRun {
    /// `cold`, `10s`, `30s` or `finished`.
    pub click: String,
    /// Seconds the engine read ahead before the click.
    pub read_ahead_secs: f64,
    /// Tokens of the document's prefix read ahead when Summarize was clicked (the last
    /// progress report; a batch under way is not counted).
    pub read_at_click: usize,
    /// Tokens of the document's prefix (what reading ahead reads).
    pub document_prefix_tokens: usize,
    /// Tokens of the summary prompt.
    pub prompt_tokens: usize,
    /// Tokens of the prompt the summary request evaluated itself.
    pub prompt_evaluated: usize,
    /// Tokens restored from the disk cache (0: each run starts with an empty cache).
    pub prompt_restored: usize,
    /// Seconds from the click to the first piece of the summary, as the user sees it (includes
    /// waiting for a batch of reading ahead that was under way).
    pub ttft_secs: f64,
    /// The engine's own time to first token, from when it took the request.
    pub engine_ttft_secs: f64,
    /// Seconds the request waited for the engine (`ttft_secs - engine_ttft_secs`).
    pub wait_secs: f64,
    /// Seconds to load the model (not part of any TTFT).
    pub load_secs: f64,
}

/// Figures of the whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct PrereadFigures {
    /// The model's name.
    pub model: String,
    /// Context.
    pub n_ctx: u32,
    /// Threads.
    pub threads: usize,
    /// The memory plan's one line (KV precision, flash attention).
    pub plan: Option<String>,
    /// Batch size (reading ahead reads one batch at a time).
    pub n_batch: u32,
    /// Tokens of the document text alone.
    pub document_tokens: usize,
    /// One run per click time.
    pub runs: Vec<PrereadRun>,
}

/// Summarizes a synthetic document of about `doc_tokens` tokens once per click time, each on a
/// fresh engine with an empty state cache in a new directory under `cache_root`; `on_run` sees
/// each run as it ends.
///
/// # Errors
/// Engine errors, and a reading ahead that failed.
pub fn run(
    model: &Path,
    settings: &LoadSettings,
    planning: Planning,
    doc_tokens: usize,
    clicks: &[Click],
    cache_root: &Path,
    on_run: &mut dyn FnMut(&PrereadRun),
) -> Result<PrereadFigures, EngineError> {
    let (engine, info) = Engine::open(model, settings.clone(), planning)?;
    let text = synthetic_text(doc_tokens, &mut |t| {
        engine.count_tokens(t).map_err(SummarizeError::from)
    })
    .map_err(|e| EngineError::Decode(format!("could not make the document: {e}")))?;
    let document_tokens = engine.count_tokens(&text)?;
    drop(engine);
    let mut runs = Vec::new();
    for (i, &click) in clicks.iter().enumerate() {
        let dir = cache_root.join(format!("run-{i}"));
        let settings = LoadSettings {
            state_cache: Some(StateCacheConfig::new(&dir)),
            ..settings.clone()
        };
        let run = one_click(model, settings, planning, &text, click)?;
        std::fs::remove_dir_all(&dir).ok();
        on_run(&run);
        runs.push(run);
    }
    // A cold run reads no prefix of its own: it has the same one as the others.
    let prefix = runs
        .iter()
        .map(|r| r.document_prefix_tokens)
        .max()
        .unwrap_or(0);
    for run in &mut runs {
        run.document_prefix_tokens = prefix;
    }
    Ok(PrereadFigures {
        model: info.name,
        n_ctx: info.n_ctx,
        threads: info.threads.0,
        plan: info.plan.as_ref().map(xgen_desk::engine::Plan::summary),
        n_batch: settings.n_batch,
        document_tokens,
        runs,
    })
}

/// The prompt of a summary of `doc` and the part of it reading ahead reads, as the app lays
/// them out (no system prompt: the app's default is empty).
fn summary_prompt(doc: &str) -> (Vec<Message>, CachePrefix) {
    let messages = vec![Message::user(summarize_request(doc, SummaryStyle::Default))];
    let prefix = CachePrefix::Document {
        message: 0,
        bytes: document_len(doc),
    };
    (messages, prefix)
}

fn one_click(
    model: &Path,
    settings: LoadSettings,
    planning: Planning,
    doc: &str,
    click: Click,
) -> Result<PrereadRun, EngineError> {
    let loading = Instant::now();
    let (engine, _) = Engine::open(model, settings, planning)?;
    let load_secs = loading.elapsed().as_secs_f64();
    let (messages, prefix) = summary_prompt(doc);
    let reading_started = Instant::now();
    let mut reading = (click != Click::Cold).then(|| {
        engine.preread(PrereadRequest {
            messages: messages.clone(),
            prefix,
        })
    });
    let (mut read, mut total) = (0, 0);
    if let Some(handle) = reading.as_mut() {
        let deadline = match click {
            Click::After(secs) => Some(reading_started + Duration::from_secs_f64(secs)),
            Click::Cold | Click::Finished => None,
        };
        follow(handle, deadline, &mut read, &mut total)?;
    }
    let read_ahead_secs = if reading.is_some() {
        reading_started.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let clicked = Instant::now();
    let mut first_piece = None;
    let mut reply = engine
        .generate(GenerateRequest::chat(messages, Sampling::greedy(128)).with_cache_prefix(prefix));
    let timings = loop {
        match reply.recv()? {
            Some(ReplyEvent::Text(_)) => {
                if first_piece.is_none() {
                    first_piece = Some(clicked.elapsed().as_secs_f64());
                    // Only the first word is measured.
                    reply.cancel();
                }
            }
            Some(ReplyEvent::Done { timings, .. }) => break timings,
            Some(ReplyEvent::Failed(error)) => return Err(error),
            Some(ReplyEvent::Prompt { .. }) => {}
            None => return Err(EngineError::Stopped("the reply ended without Done".into())),
        }
    };
    if let Some(handle) = reading.as_mut() {
        handle.cancel();
        let mut ignored = (0, 0);
        follow(handle, None, &mut ignored.0, &mut ignored.1)?;
    }
    let ttft_secs = first_piece.unwrap_or(f64::NAN);
    Ok(PrereadRun {
        click: click.label(),
        read_ahead_secs,
        read_at_click: read,
        document_prefix_tokens: total,
        prompt_tokens: timings.prompt_tokens,
        prompt_evaluated: timings.prompt_evaluated,
        prompt_restored: timings.prompt_restored,
        ttft_secs,
        engine_ttft_secs: timings.ttft_secs,
        wait_secs: ttft_secs - timings.ttft_secs,
        load_secs,
    })
}

/// Follows reading ahead until `deadline` (or its end without one), keeping the last progress.
fn follow(
    handle: &mut PrereadHandle,
    deadline: Option<Instant>,
    read: &mut usize,
    total: &mut usize,
) -> Result<(), EngineError> {
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // What came in until now counts; what is still under way does not.
            while let Some(event) = handle.try_recv()? {
                if note(event, read, total)? {
                    return Ok(());
                }
            }
            return Ok(());
        }
        let event = if deadline.is_some() {
            std::thread::sleep(Duration::from_millis(5));
            handle.try_recv()?
        } else {
            handle.recv()?
        };
        let ended = match event {
            Some(event) => note(event, read, total)?,
            None => deadline.is_none() || handle.is_finished(),
        };
        if ended {
            return Ok(());
        }
    }
}

/// Records an event; true when reading ahead ended.
fn note(event: PrereadEvent, read: &mut usize, total: &mut usize) -> Result<bool, EngineError> {
    match event {
        PrereadEvent::Progress { done, total: t } => {
            (*read, *total) = (done, t);
            Ok(false)
        }
        PrereadEvent::Done { done, total: t, .. } => {
            (*read, *total) = (done, t);
            Ok(true)
        }
        PrereadEvent::Failed(error) => Err(error),
    }
}
