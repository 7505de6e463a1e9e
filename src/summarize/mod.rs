//! Summaries of documents of any length, with every token counted.
//!
//! [`plan`] measures the one-pass prompt with the model's own tokenizer: when it and the
//! reserved reply fit the context, the document is read in one pass with exactly the prompt
//! of [`summarize_request`]. Otherwise it is map-reduced in document order: cut into chunks
//! at paragraph, then sentence, then word boundaries ([`chunk_text`]) with a small overlap,
//! each chunk summarized (the prompt says it is part k of n and which pages or sections it
//! covers), and the partial summaries combined, in groups first when they do not all fit.
//! Nothing is dropped: coverage is 100% unless the caller cancels.
//!
//! The model is behind [`SummaryModel`], so the strategy is tested with a fake model and run
//! for real through [`EngineModel`].
//!
//! From a UI: run [`summarize`] on a background thread with an [`EngineModel`] over the shared
//! engine and a channel that receives the engine's events (the UI's event router forwards them;
//! other request ids are ignored). [`plan`] alone gives the token meter (`document_tokens`,
//! [`Plan::fits`], [`Plan::parts`]). Keep the [`CancelToken`]: setting it stops the current
//! model call within a token and makes no further call. Pieces of the final pass arrive in
//! `on_piece`; [`Progress`] says which part is read and the coverage so far.
//!
//! Longer than 600 lines: one-pass planning and map-reduce share the token budget arithmetic
//! that makes coverage exact; chunking and the engine adapter have files of their own.

mod chunk;
mod engine_model;
mod map;
mod notes;
pub mod report;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelToken;
use crate::documents::Document;
use crate::engine::{EngineError, StopReason, Timings};
use crate::prompt::{summarize_request, Message, SummaryStyle};

pub use chunk::{chunk_text, Chunk};
pub use engine_model::EngineModel;
pub use map::{one_after_another, PartEvent};
pub use notes::PartNotes;

/// What the summarizer needs from a model.
pub trait SummaryModel {
    /// The context size in tokens.
    fn context(&self) -> usize;

    /// Tokens of plain text (special tokens not parsed).
    ///
    /// # Errors
    /// When the model cannot tokenize.
    fn count_tokens(&mut self, text: &str) -> Result<usize, SummarizeError>;

    /// Tokens of the whole prompt a conversation becomes.
    ///
    /// # Errors
    /// When the model cannot tokenize or apply its template.
    fn prompt_tokens(&mut self, messages: &[Message]) -> Result<usize, SummarizeError>;

    /// Answers a conversation with at most `max_tokens` tokens, passing text pieces to
    /// `on_piece` as they come. Stops soon after `cancel` is set and then reports
    /// [`StopReason::Cancelled`].
    ///
    /// # Errors
    /// When the model fails.
    fn complete(
        &mut self,
        messages: &[Message],
        max_tokens: u32,
        cancel: &CancelToken,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Completion, SummarizeError>;

    /// Answers independent prompts (the parts of a document), each with at most its number of
    /// tokens, reporting each call as it starts and as it ends ([`PartEvent`]). Calls may run
    /// at the same time (a server with several slots) and end in any order. Once `cancel` is
    /// set, no call starts and those under way end as cancelled. By default: one after another.
    ///
    /// # Errors
    /// The first failed call (the others are stopped).
    fn complete_parts(
        &mut self,
        prompts: &[(Vec<Message>, u32)],
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(PartEvent),
    ) -> Result<(), SummarizeError> {
        one_after_another(self, prompts, cancel, on_event)
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// Why it ended.
    pub stop: StopReason,
    /// How fast it was.
    pub timings: Timings,
}

/// What can go wrong while summarizing.
#[derive(Debug, thiserror::Error)]
pub enum SummarizeError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The document could not be made.
    #[error(transparent)]
    Document(#[from] crate::documents::DocumentError),
    /// The context cannot hold a prompt, a piece of the document and a reply.
    #[error("a {n_ctx}-token context is too small to summarize in parts with a {reserved}-token reply: use a larger context (--ctx) or a shorter reply (--max-tokens)")]
    ContextTooSmall {
        /// The context.
        n_ctx: usize,
        /// Tokens reserved for the reply.
        reserved: usize,
    },
    /// The chunk budget cannot hold even one character.
    #[error("a chunk budget of {budget} tokens cannot hold a single character")]
    BudgetTooSmall {
        /// The budget.
        budget: usize,
    },
}

/// How to summarize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummarizeOptions {
    /// The shape of the final summary.
    pub style: SummaryStyle,
    /// Most tokens of the final summary (reserved in the context of the last pass).
    pub max_tokens: u32,
    /// Most tokens of each partial summary; `None` picks one from the context size.
    pub partial_tokens: Option<u32>,
    /// Tokens each chunk repeats from the end of the previous one.
    pub overlap_tokens: usize,
}

impl SummarizeOptions {
    /// Options for a style and a final-summary length, with automatic partial lengths and a
    /// 64-token overlap.
    #[must_use]
    pub fn new(style: SummaryStyle, max_tokens: u32) -> Self {
        Self {
            style,
            max_tokens,
            partial_tokens: None,
            overlap_tokens: 64,
        }
    }
}

/// How a document will be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The model's context.
    pub n_ctx: usize,
    /// Tokens of the document's text.
    pub document_tokens: usize,
    /// Tokens of the one-pass prompt (template, request and document).
    pub single_pass_tokens: usize,
    /// Tokens reserved for the final summary.
    pub reserved: usize,
    /// One pass or map-reduce.
    pub strategy: Strategy,
}

impl Plan {
    /// True when the whole document is read in one pass.
    #[must_use]
    pub fn fits(&self) -> bool {
        matches!(self.strategy, Strategy::SinglePass)
    }

    /// Parts the document is read in (1 for one pass).
    #[must_use]
    pub fn parts(&self) -> usize {
        match &self.strategy {
            Strategy::SinglePass => 1,
            Strategy::MapReduce { chunks, .. } => chunks.len(),
        }
    }
}

/// One pass, or chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Template + document + reply fit the context.
    SinglePass,
    /// The document is read in chunks, then the partial summaries are combined.
    MapReduce {
        /// The chunks, in document order.
        chunks: Vec<Chunk>,
        /// Most tokens of a chunk's text (overlap included).
        chunk_budget: usize,
        /// Most tokens of each partial summary.
        partial_tokens: u32,
    },
}

/// What a model call is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Reading the whole document at once.
    SinglePass,
    /// Reading part `part` (1-based) of `parts`.
    Read {
        /// Which part.
        part: usize,
        /// How many.
        parts: usize,
    },
    /// Combining a group of partial summaries that do not all fit at once.
    Combine {
        /// 1 for the first round of combining.
        round: usize,
        /// Which group (1-based).
        group: usize,
        /// How many groups this round.
        groups: usize,
    },
    /// Writing the final summary from `inputs` partial summaries (streamed).
    Final {
        /// Partial summaries combined.
        inputs: usize,
    },
}

/// Parts read of all parts: 100% when the summary is complete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Parts read.
    pub read: usize,
    /// Parts in all.
    pub total: usize,
}

impl Coverage {
    /// Percent read.
    #[must_use]
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.read as f64 * 100.0 / self.total as f64
    }

    /// Whether everything was read.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.total > 0 && self.read == self.total
    }
}

/// What the summarizer reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The plan is made.
    Planned {
        /// Tokens of the document.
        document_tokens: usize,
        /// The context.
        n_ctx: usize,
        /// Parts to read (1 for one pass).
        parts: usize,
    },
    /// A model call starts.
    Step {
        /// 1-based number of the call.
        step: usize,
        /// What it does.
        phase: Phase,
        /// Coverage before it.
        coverage: Coverage,
    },
    /// An intermediate summary is written (not streamed: the final pass is).
    Partial {
        /// 1-based number of the call.
        step: usize,
        /// What it did.
        phase: Phase,
        /// Where in the document it comes from (`page 2 to page 4`), if known.
        location: Option<String>,
        /// The summary.
        text: String,
        /// Coverage after it.
        coverage: Coverage,
    },
}

/// A summary and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The final summary (what was streamed); empty when cancelled before the final pass.
    pub text: String,
    /// Parts read of all parts.
    pub coverage: Coverage,
    /// Model calls made.
    pub model_calls: usize,
    /// Rounds of combining before the final pass (0 for one pass or a direct combine).
    pub combine_rounds: usize,
    /// True when the caller cancelled.
    pub cancelled: bool,
    /// Whether it was one pass.
    pub single_pass: bool,
    /// Figures of the final pass.
    pub final_timings: Option<Timings>,
    /// Seconds from start to end, planning included.
    pub total_secs: f64,
}

/// Tokens kept free besides the reply, for differences in how text tokenizes at the seams of
/// a prompt.
const MARGIN: usize = 8;

/// Measures the document and decides how to read it.
///
/// # Errors
/// Tokenizer failures; [`SummarizeError::ContextTooSmall`] when no plan fits.
pub fn plan(
    model: &mut dyn SummaryModel,
    document: &Document,
    options: &SummarizeOptions,
) -> Result<Plan, SummarizeError> {
    let n_ctx = model.context();
    let reserved = options.max_tokens as usize;
    let document_tokens = model.count_tokens(&document.text)?;
    let single = single_pass_messages(document, options.style);
    let single_pass_tokens = model.prompt_tokens(&single)?;
    let base = Plan {
        n_ctx,
        document_tokens,
        single_pass_tokens,
        reserved,
        strategy: Strategy::SinglePass,
    };
    if single_pass_tokens + reserved <= n_ctx {
        return Ok(base);
    }
    let too_small = SummarizeError::ContextTooSmall { n_ctx, reserved };
    // The final pass must hold its request, two partial summaries and the reply; a combine
    // round must hold at least three partials, so each round makes progress.
    let final_overhead = model.prompt_tokens(&combine_messages(&[], options.style, true))?;
    let part_label =
        model.count_tokens("Part 9999 to 9999 (\"a\", \"b\", \"c\", \"d\", and 99 more):\n")?;
    let auto = (n_ctx / 8).clamp(32, 512);
    let wanted = options.partial_tokens.map_or(auto, |t| t as usize);
    let fits_final =
        (n_ctx.saturating_sub(final_overhead + reserved + MARGIN) / 2).saturating_sub(part_label);
    let fits_round = (n_ctx.saturating_sub(final_overhead + MARGIN) / 4).saturating_sub(part_label);
    let partial_tokens = wanted.min(fits_final).min(fits_round);
    if partial_tokens < 16 {
        return Err(too_small);
    }
    let probe = part_messages(9999, 9999, Some(&"x".repeat(64)), "", options.style);
    let part_overhead = model.prompt_tokens(&probe)?;
    let mut budget = n_ctx
        .checked_sub(part_overhead + partial_tokens + MARGIN)
        .filter(|b| *b >= 32)
        .ok_or(too_small)?;
    // Cut, then check every chunk's real prompt; shrink the budget if one came out over.
    for _ in 0..8 {
        let mut chunks = chunk_text(&document.text, budget, options.overlap_tokens, &mut |t| {
            model.count_tokens(t)
        })?;
        if chunks.len() == 1 {
            // The reply reserved for a part is smaller than for one pass: still read in two.
            budget = budget.min(chunks[0].tokens / 2 + 1);
            chunks = chunk_text(&document.text, budget, options.overlap_tokens, &mut |t| {
                model.count_tokens(t)
            })?;
        }
        let parts = chunks.len();
        let mut worst = 0usize;
        for (i, chunk) in chunks.iter().enumerate() {
            let location = document.location(chunk.span());
            let messages = map::chunk_messages(
                document,
                chunk,
                location.as_deref(),
                i,
                parts,
                options.style,
            );
            let tokens = model.prompt_tokens(&messages)?;
            worst = worst.max((tokens + partial_tokens).saturating_sub(n_ctx));
        }
        if worst == 0 {
            return Ok(Plan {
                strategy: Strategy::MapReduce {
                    chunks,
                    chunk_budget: budget,
                    partial_tokens: u32::try_from(partial_tokens).unwrap_or(u32::MAX),
                },
                ..base
            });
        }
        budget = budget
            .checked_sub(worst + MARGIN)
            .filter(|b| *b >= 32)
            .ok_or(SummarizeError::ContextTooSmall { n_ctx, reserved })?;
    }
    Err(SummarizeError::ContextTooSmall { n_ctx, reserved })
}

/// The one-pass prompt: exactly the model card's request over the whole text.
#[must_use]
pub fn single_pass_messages(document: &Document, style: SummaryStyle) -> Vec<Message> {
    vec![Message::user(summarize_request(&document.text, style))]
}

/// The prompt for part `part` of `parts`.
#[must_use]
pub fn part_messages(
    part: usize,
    parts: usize,
    location: Option<&str>,
    text: &str,
    style: SummaryStyle,
) -> Vec<Message> {
    let place = location.map_or_else(String::new, |l| format!(" It covers {l}."));
    let focus = match style {
        SummaryStyle::KeyPoints | SummaryStyle::Bullets => "the key points",
        SummaryStyle::Default | SummaryStyle::Paragraph => "the main facts",
    };
    vec![Message::user(format!(
        "This is part {part} of {parts} of a long article.{place} Please summarize this part, keeping {focus}, names and figures.\n\n{}",
        text.trim_end()
    ))]
}

/// A summary of one or more consecutive parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartSummary {
    first: usize,
    last: usize,
    location: Option<String>,
    text: String,
}

impl PartSummary {
    fn heading(&self) -> String {
        let parts = if self.first == self.last {
            format!("Part {}", self.first)
        } else {
            format!("Parts {} to {}", self.first, self.last)
        };
        match &self.location {
            Some(location) => format!("{parts} ({location}):"),
            None => format!("{parts}:"),
        }
    }
}

/// The prompt that combines partial summaries; `last` asks for the final summary in the
/// requested style.
fn combine_messages(parts: &[PartSummary], style: SummaryStyle, last: bool) -> Vec<Message> {
    let ask = if last {
        match style {
            SummaryStyle::Default => "Please combine them into one summary of the whole article.",
            SummaryStyle::Bullets => {
                "Please combine them into one summary of the whole article as a list of bullet points."
            }
            SummaryStyle::Paragraph => {
                "Please combine them into one summary of the whole article in one paragraph."
            }
            SummaryStyle::KeyPoints => "Please list the key points of the whole article.",
        }
    } else {
        "Please combine them into one summary of these parts, keeping the main facts, names and figures."
    };
    let mut text = format!(
        "Below are summaries of consecutive parts of one long article, in order. {ask}\n\n"
    );
    for part in parts {
        text.push_str(&part.heading());
        text.push('\n');
        text.push_str(part.text.trim());
        text.push_str("\n\n");
    }
    vec![Message::user(text.trim_end().to_owned())]
}

fn merge_locations(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (Some(a), Some(b)) if a == b => Some(a.to_owned()),
        (Some(a), Some(b)) => {
            let start = a.split(" to ").next().unwrap_or(a);
            let end = b.rsplit(" to ").next().unwrap_or(b);
            Some(format!("{start} to {end}"))
        }
        (Some(a), None) | (None, Some(a)) => Some(a.to_owned()),
        (None, None) => None,
    }
}

/// Summarizes a document: one pass when it fits, map-reduce otherwise. Only the final pass is
/// streamed to `on_piece`; the rest is reported through `on_progress`.
///
/// When `cancel` is set, the current call stops within a token and no further call is made;
/// the summary then has `cancelled` set and the coverage reached.
///
/// # Errors
/// Model failures, and [`SummarizeError::ContextTooSmall`].
pub fn summarize(
    model: &mut dyn SummaryModel,
    document: &Document,
    options: &SummarizeOptions,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(&Progress),
    on_piece: &mut dyn FnMut(&str),
) -> Result<Summary, SummarizeError> {
    let started = Instant::now();
    let plan = plan(model, document, options)?;
    run_plan(
        model,
        document,
        &plan,
        options,
        cancel,
        on_progress,
        on_piece,
    )
    .map(|mut s| {
        s.total_secs = started.elapsed().as_secs_f64();
        s
    })
}

/// Carries out a [`plan`] (made for the same document, model and options).
///
/// # Errors
/// As [`summarize`].
pub fn run_plan(
    model: &mut dyn SummaryModel,
    document: &Document,
    plan: &Plan,
    options: &SummarizeOptions,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(&Progress),
    on_piece: &mut dyn FnMut(&str),
) -> Result<Summary, SummarizeError> {
    let started = Instant::now();
    on_progress(&Progress::Planned {
        document_tokens: plan.document_tokens,
        n_ctx: plan.n_ctx,
        parts: plan.parts(),
    });
    let mut summary = Summary {
        text: String::new(),
        coverage: Coverage {
            read: 0,
            total: plan.parts(),
        },
        model_calls: 0,
        combine_rounds: 0,
        cancelled: false,
        single_pass: plan.fits(),
        final_timings: None,
        total_secs: 0.0,
    };
    let finish = |mut summary: Summary| -> Result<Summary, SummarizeError> {
        summary.total_secs = started.elapsed().as_secs_f64();
        Ok(summary)
    };
    let (chunks, partial_tokens) = match &plan.strategy {
        Strategy::SinglePass => {
            if cancel.is_cancelled() {
                summary.cancelled = true;
                return finish(summary);
            }
            on_progress(&Progress::Step {
                step: 1,
                phase: Phase::SinglePass,
                coverage: summary.coverage,
            });
            let messages = single_pass_messages(document, options.style);
            let completion = model.complete(&messages, options.max_tokens, cancel, on_piece)?;
            summary.model_calls = 1;
            summary.final_timings = Some(completion.timings);
            summary.text = completion.text;
            if completion.stop == StopReason::Cancelled {
                summary.cancelled = true;
            } else {
                summary.coverage.read = 1;
            }
            return finish(summary);
        }
        Strategy::MapReduce {
            chunks,
            partial_tokens,
            ..
        } => (chunks, *partial_tokens),
    };

    // Map: every chunk, the calls perhaps at the same time (a server's slots).
    let Some(mut partials) = map::read_parts(
        model,
        document,
        chunks,
        partial_tokens,
        options.style,
        &mut summary,
        cancel,
        on_progress,
    )?
    else {
        summary.cancelled = true;
        return finish(summary);
    };

    // Reduce: combine in groups until the final request fits, then the final pass.
    let n_ctx = plan.n_ctx;
    let reserved = options.max_tokens as usize;
    loop {
        if cancel.is_cancelled() {
            summary.cancelled = true;
            return finish(summary);
        }
        let messages = combine_messages(&partials, options.style, true);
        if model.prompt_tokens(&messages)? + reserved <= n_ctx {
            summary.model_calls += 1;
            on_progress(&Progress::Step {
                step: summary.model_calls,
                phase: Phase::Final {
                    inputs: partials.len(),
                },
                coverage: summary.coverage,
            });
            let completion = model.complete(&messages, options.max_tokens, cancel, on_piece)?;
            summary.final_timings = Some(completion.timings);
            summary.text = completion.text;
            summary.cancelled = completion.stop == StopReason::Cancelled;
            return finish(summary);
        }
        let groups = group_partials(model, &partials, partial_tokens as usize, n_ctx)?;
        if groups.len() >= partials.len() {
            return Err(SummarizeError::ContextTooSmall { n_ctx, reserved });
        }
        summary.combine_rounds += 1;
        let count = groups.len();
        let mut next = Vec::with_capacity(count);
        for (g, group) in groups.into_iter().enumerate() {
            if group.len() == 1 {
                next.extend(group);
                continue;
            }
            if cancel.is_cancelled() {
                summary.cancelled = true;
                return finish(summary);
            }
            let phase = Phase::Combine {
                round: summary.combine_rounds,
                group: g + 1,
                groups: count,
            };
            summary.model_calls += 1;
            on_progress(&Progress::Step {
                step: summary.model_calls,
                phase: phase.clone(),
                coverage: summary.coverage,
            });
            let messages = combine_messages(&group, options.style, false);
            let completion = model.complete(&messages, partial_tokens, cancel, &mut |_| {})?;
            if completion.stop == StopReason::Cancelled {
                summary.cancelled = true;
                return finish(summary);
            }
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let combined = PartSummary {
                first: first.first,
                last: last.last,
                location: merge_locations(first.location.as_deref(), last.location.as_deref()),
                text: completion.text.trim().to_owned(),
            };
            on_progress(&Progress::Partial {
                step: summary.model_calls,
                phase,
                location: combined.location.clone(),
                text: completion.text,
                coverage: summary.coverage,
            });
            next.push(combined);
        }
        partials = next;
    }
}

/// Groups consecutive partial summaries so that each group's combine prompt and its reply fit
/// the context.
fn group_partials(
    model: &mut dyn SummaryModel,
    partials: &[PartSummary],
    reply: usize,
    n_ctx: usize,
) -> Result<Vec<Vec<PartSummary>>, SummarizeError> {
    let mut groups: Vec<Vec<PartSummary>> = Vec::new();
    let mut current: Vec<PartSummary> = Vec::new();
    for partial in partials {
        current.push(partial.clone());
        if current.len() == 1 {
            continue;
        }
        let tokens =
            model.prompt_tokens(&combine_messages(&current, SummaryStyle::Default, false))?;
        if tokens + reply + MARGIN > n_ctx {
            current.pop();
            groups.push(std::mem::take(&mut current));
            current.push(partial.clone());
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    Ok(groups)
}
