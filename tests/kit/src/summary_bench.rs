//! Figures for long documents: a synthetic document of a given token count summarized on the
//! real engine, one pass or map-reduce, with prefill speed, time to first token, model calls
//! and coverage.

use std::time::Instant;

use serde::Serialize;

use xgen_desk::cancel::CancelToken;
use xgen_desk::documents::Document;
use xgen_desk::engine::{Inference, Sampling, Timings};
use xgen_desk::prompt::{Message, SummaryStyle};
use xgen_desk::summarize::{
    plan, run_plan, Completion, EngineModel, PartEvent, SummarizeError, SummarizeOptions,
    SummaryModel,
};

/// What one document run measured.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentBench {
    /// Tokens of the document.
    pub document_tokens: usize,
    /// The context.
    pub n_ctx: usize,
    /// One pass (true) or map-reduce.
    pub single_pass: bool,
    /// Parts read.
    pub parts: usize,
    /// Model calls made.
    pub model_calls: usize,
    /// Combine rounds before the final pass.
    pub combine_rounds: usize,
    /// Percent of parts read.
    pub coverage_percent: f64,
    /// Prompt tokens evaluated over all calls, per second of prefill.
    pub prefill_tok_per_sec: f64,
    /// Prompt tokens evaluated over all calls.
    pub prompt_tokens_evaluated: usize,
    /// Seconds from the start (planning included) to the first streamed piece of the summary.
    pub ttft_secs: f64,
    /// Seconds spent planning (tokenizing and chunking).
    pub plan_secs: f64,
    /// Seconds from start to the end of the summary.
    pub total_secs: f64,
    /// Tokens generated over all calls.
    pub generated_tokens: usize,
    /// Tokens generated per second after each call's first, over all calls.
    pub generation_tok_per_sec: f64,
    /// The threads each call ran with, in words ("2 threads", "2→1 threads: the CPU is busy").
    pub threads: Vec<String>,
}

/// Adds up the figures of every call.
struct Recording<'a> {
    inner: EngineModel<'a>,
    evaluated: usize,
    prefill_secs: f64,
    generated: usize,
    /// Tokens after each call's first, and the seconds they took.
    generation: (usize, f64),
    threads: Vec<String>,
}

impl Recording<'_> {
    fn add(&mut self, timings: &Timings) {
        self.evaluated += timings.prompt_evaluated;
        self.prefill_secs += timings.prefill_secs;
        self.generated += timings.generated_tokens;
        self.generation.0 += timings.generated_tokens.saturating_sub(1);
        self.generation.1 += timings.generation_secs;
        self.threads.extend(timings.threads.describe());
    }
}

impl SummaryModel for Recording<'_> {
    fn context(&self) -> usize {
        self.inner.context()
    }

    fn count_tokens(&mut self, text: &str) -> Result<usize, SummarizeError> {
        self.inner.count_tokens(text)
    }

    fn prompt_tokens(&mut self, messages: &[Message]) -> Result<usize, SummarizeError> {
        self.inner.prompt_tokens(messages)
    }

    fn complete(
        &mut self,
        messages: &[Message],
        max_tokens: u32,
        cancel: &CancelToken,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Completion, SummarizeError> {
        let completion = self
            .inner
            .complete(messages, max_tokens, cancel, on_piece)?;
        self.add(&completion.timings);
        Ok(completion)
    }

    fn complete_parts(
        &mut self,
        prompts: &[(Vec<Message>, u32)],
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(PartEvent),
    ) -> Result<(), SummarizeError> {
        let mut finished = Vec::new();
        let result = self.inner.complete_parts(prompts, cancel, &mut |event| {
            if let PartEvent::Finished(_, completion) = &event {
                finished.push(completion.timings);
            }
            on_event(event);
        });
        for timings in &finished {
            self.add(timings);
        }
        result
    }
}

/// Summarizes a synthetic document of about `target_tokens` tokens, from a cold cache (the
/// local engine's; a server keeps its own), with the parts in parallel where `engine` has
/// several slots.
///
/// # Errors
/// Engine failures.
pub fn document(
    engine: &dyn Inference,
    n_ctx: u32,
    target_tokens: usize,
    sampling: Sampling,
) -> Result<DocumentBench, SummarizeError> {
    let max_tokens = sampling.max_tokens;
    let mut model = Recording {
        inner: EngineModel::new(engine, n_ctx, sampling),
        evaluated: 0,
        prefill_secs: 0.0,
        generated: 0,
        generation: (0, 0.0),
        threads: Vec::new(),
    };
    let text = synthetic_text(target_tokens, &mut |t| model.count_tokens(t))?;
    let document = Document::from_text(format!("synthetic-{target_tokens}"), text)?;
    let options = SummarizeOptions::new(SummaryStyle::Default, max_tokens);
    engine.clear_cache();
    let started = Instant::now();
    let planned = plan(&mut model, &document, &options)?;
    let plan_secs = started.elapsed().as_secs_f64();
    let mut first_piece = None;
    let summary = run_plan(
        &mut model,
        &document,
        &planned,
        &options,
        &CancelToken::new(),
        &mut |_| {},
        &mut |_| {
            first_piece.get_or_insert_with(|| started.elapsed().as_secs_f64());
        },
    )?;
    Ok(DocumentBench {
        document_tokens: planned.document_tokens,
        n_ctx: planned.n_ctx,
        single_pass: summary.single_pass,
        parts: summary.coverage.total,
        model_calls: summary.model_calls,
        combine_rounds: summary.combine_rounds,
        coverage_percent: summary.coverage.percent(),
        prefill_tok_per_sec: if model.prefill_secs > 0.0 {
            model.evaluated as f64 / model.prefill_secs
        } else {
            0.0
        },
        prompt_tokens_evaluated: model.evaluated,
        ttft_secs: first_piece.unwrap_or(f64::NAN),
        plan_secs,
        total_secs: started.elapsed().as_secs_f64(),
        generated_tokens: model.generated,
        generation_tok_per_sec: if model.generation.1 > 0.0 {
            model.generation.0 as f64 / model.generation.1
        } else {
            0.0
        },
        threads: model.threads,
    })
}

/// Deterministic report-like prose of at least `target_tokens` tokens (as `count` counts),
/// in paragraphs, with varied places, figures and topics so that summaries have content.
///
/// # Errors
/// Whatever `count` returns.
pub fn synthetic_text(
    target_tokens: usize,
    count: &mut dyn FnMut(&str) -> Result<usize, SummarizeError>,
) -> Result<String, SummarizeError> {
    const PLACES: &[&str] = &[
        "Lisbon", "Kyoto", "Oslo", "Lima", "Nairobi", "Hanoi", "Quebec", "Tbilisi", "Perth",
        "Seville", "Accra", "Tallinn",
    ];
    const TOPICS: &[(&str, &str)] = &[
        ("tram lines", "commuters"),
        ("public libraries", "students"),
        ("solar farms", "households"),
        ("fish markets", "traders"),
        ("cycling lanes", "couriers"),
        ("night clinics", "nurses"),
        ("rain gardens", "gardeners"),
        ("ferry routes", "islanders"),
    ];
    let mut seed: u64 = 0x5EED;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let mut text = String::new();
    let mut tokens = 0;
    let mut i = 0;
    while tokens < target_tokens {
        let place = PLACES[next(PLACES.len())];
        let (topic, people) = TOPICS[next(TOPICS.len())];
        let paragraph = format!(
            "Section {i}. The city of {place} opened {} new {topic} this year, {} more than planned. \
             According to the council, {people} saved on average {} minutes a day, while the budget grew by {} percent. \
             Critics in {place} argued that the money would have been better spent on schools, \
             but a survey of {} residents found that {} percent approved of the {topic}. \
             A full review is due in {}.",
            3 + next(40),
            1 + next(9),
            5 + next(50),
            2 + next(15),
            200 + next(5000),
            40 + next(55),
            ["spring", "summer", "autumn", "winter"][next(4)],
        );
        tokens += count(&paragraph)? + 1;
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&paragraph);
        i += 1;
    }
    Ok(text)
}
