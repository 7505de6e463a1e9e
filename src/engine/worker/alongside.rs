//! The read-alongside slot: a document read in a second context, alongside the requests that
//! use the main one: the next file of a queue is read while the summary before it is written.
//!
//! The second context shares the model's weights and has a KV cache the size of the document.
//! After each step of a reply the loop gives it about as many tokens as the step took time (a
//! reply then runs at about half speed, and the next file needs no reading of its own when its
//! turn comes); when nothing else is to be done it reads a full batch per step. What it read goes to the
//! disk state cache, in steps as it grows (quitting half-way keeps them) and whole at the end,
//! and the context is freed. A request about the document first finishes the reading, then
//! finds its state on disk like any document read before.

use std::path::Path;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use super::mirror::{fill_batch, Mirror};
use super::prefix::StepSaver;
use super::{context_params, token_ids, Session};
use crate::engine::hardware::Hardware;
use crate::engine::plan::ModelFacts;
use crate::engine::runtime::backend;
use crate::engine::threads::{self, Work};
use crate::engine::{
    EngineError, GenerateRequest, LoadSettings, Outbox, PrereadEvent, PrereadRequest, PromptInput,
};

/// Tokens per batch of the second context (its compute buffer scales with it).
const SIDE_BATCH: usize = 128;
/// Fewest tokens read between two steps of a reply.
const MIN_CHUNK: usize = 4;
/// Memory left free beyond the second context's estimate.
const MARGIN_BYTES: u64 = 256 << 20;

/// What a second context needs: the main one's settings, and the model's shapes to size it.
pub(super) struct SideSettings {
    settings: LoadSettings,
    facts: Option<ModelFacts>,
    offloaded: bool,
}

impl SideSettings {
    pub(super) fn new(path: &Path, settings: &LoadSettings, offloaded: bool) -> Self {
        let mut settings = settings.clone();
        settings.n_batch = u32::try_from(SIDE_BATCH).unwrap_or(u32::MAX);
        Self {
            settings,
            facts: ModelFacts::from_gguf(path).ok(),
            offloaded,
        }
    }

    /// Why a second context of `n_ctx` tokens does not fit in the memory free now, if it does
    /// not.
    fn does_not_fit(&self, n_ctx: u32) -> Option<String> {
        let Some(facts) = &self.facts else {
            return Some("the model's shapes are unknown".into());
        };
        let flash = self.settings.flash_attention.unwrap_or(true);
        let needed = facts
            .kv_bytes(n_ctx, self.settings.kv_cache)
            .saturating_add(facts.compute_bytes(n_ctx, self.settings.n_batch, flash))
            .saturating_add(MARGIN_BYTES);
        let hardware = Hardware::detect();
        let (free, place) = match hardware.gpus.first() {
            Some(gpu) if self.offloaded && !gpu.shared => (gpu.free, gpu.name.as_str()),
            _ => (hardware.ram_available, "RAM"),
        };
        (needed > free).then(|| {
            format!(
                "reading alongside needs {} MiB for a second context of {n_ctx} tokens, {} MiB of {place} is free",
                needed >> 20,
                free >> 20
            )
        })
    }
}

/// A document read alongside.
pub(super) struct Alongside<'m> {
    ctx: LlamaContext<'m>,
    /// The tokens of `target` in `ctx`.
    cached: Mirror,
    /// The thread count `ctx` runs with now.
    applied: usize,
    batch: LlamaBatch<'static>,
    target: Vec<LlamaToken>,
    steps: StepSaver,
    reply: Outbox<PrereadEvent>,
    /// Seconds of reply steps not yet matched by reading alongside.
    credit: f64,
    /// Tokens read per second alongside, measured.
    rate: Option<f64>,
}

/// The read-alongside slot: empty, or a document read in a second context.
pub(super) type AlongsideSlot<'m> = Option<Alongside<'m>>;

impl<'m> Session<'m> {
    /// Starts reading `request`'s document in a second context (replacing one under way), or
    /// ends it at once: read before, nothing to read, no disk cache to hand it over, or not
    /// enough memory.
    pub(super) fn alongside_start(
        &mut self,
        slot: &mut AlongsideSlot<'m>,
        request: &PrereadRequest,
        reply: Outbox<PrereadEvent>,
    ) {
        self.alongside_end(slot);
        let failed = |reply: &Outbox<PrereadEvent>, n_ctx: usize, reason: String| {
            reply.send(PrereadEvent::Failed(EngineError::Context {
                n_ctx: u32::try_from(n_ctx).unwrap_or(u32::MAX),
                reason,
            }));
        };
        let Some(cache) = self.state_cache.clone() else {
            failed(
                &reply,
                0,
                "reading alongside needs the disk state cache".into(),
            );
            return;
        };
        let Some(target) = self.prefix_tokens(request.prefix, &request.messages) else {
            reply.send(PrereadEvent::Failed(EngineError::Template(
                "the document's part of the prompt cannot be rendered alone".into(),
            )));
            return;
        };
        let total = target.len();
        let read_before = cache.contains(&token_ids(&target));
        if target.is_empty() || total + 1 >= self.ctx.n_ctx() as usize || read_before {
            // Nothing to read, read before, or a document read in parts.
            let done = if read_before { total } else { 0 };
            reply.send(PrereadEvent::Done {
                done,
                total,
                restored: done,
            });
            return;
        }
        let n_ctx = u32::try_from(total + 1).unwrap_or(u32::MAX);
        if let Some(reason) = self.side.does_not_fit(n_ctx) {
            failed(&reply, total + 1, reason);
            return;
        }
        let created = backend().and_then(|backend| {
            self.model
                .new_context(backend, context_params(&self.side.settings, n_ctx))
                .map_err(|e| EngineError::Context {
                    n_ctx,
                    reason: e.to_string(),
                })
        });
        match created {
            Ok(ctx) => {
                *slot = Some(Alongside {
                    ctx,
                    cached: Mirror::default(),
                    applied: self.side.settings.resolved_threads(),
                    batch: LlamaBatch::new(SIDE_BATCH, 1),
                    target,
                    steps: StepSaver::default(),
                    reply,
                    credit: 0.0,
                    rate: None,
                });
            }
            Err(error) => reply.send(PrereadEvent::Failed(error)),
        }
    }

    /// After a step of a reply that took `step_secs`: reads about as long as the step took.
    pub(super) fn alongside_tick(&mut self, slot: &mut AlongsideSlot<'m>, step_secs: f64) {
        let Some(job) = slot.as_mut() else {
            return;
        };
        job.credit += step_secs;
        if job.credit <= 0.0 {
            return;
        }
        let tokens = job
            .rate
            .map_or(MIN_CHUNK, |rate| (rate * step_secs) as usize)
            .clamp(MIN_CHUNK, SIDE_BATCH);
        self.alongside_read(slot, tokens);
    }

    /// When nothing else is to be done: reads one full batch.
    pub(super) fn alongside_step(&mut self, slot: &mut AlongsideSlot<'m>) {
        self.alongside_read(slot, SIDE_BATCH);
    }

    /// Before `request`: when it is about the document read alongside, the reading finishes
    /// now, so that the request finds the whole document on disk.
    pub(super) fn alongside_handoff(
        &mut self,
        slot: &mut AlongsideSlot<'m>,
        request: &GenerateRequest,
    ) {
        let Some(job) = slot.as_ref() else {
            return;
        };
        let (Some(spec), PromptInput::Chat(messages)) = (request.cache_prefix, &request.prompt)
        else {
            return;
        };
        if self.prefix_tokens(spec, messages).as_ref() != Some(&job.target) {
            return;
        }
        while slot.is_some() {
            self.alongside_read(slot, SIDE_BATCH);
        }
    }

    /// Ends the reading under way, keeping on disk what was read (in whole steps).
    pub(super) fn alongside_end(&mut self, slot: &mut AlongsideSlot<'m>) {
        if let Some(job) = slot.take() {
            self.alongside_finish(job);
        }
    }

    /// Reads up to `tokens` more tokens; the job ends (and the context is freed) when the
    /// document is read, it was cancelled, or llama.cpp failed.
    fn alongside_read(&mut self, slot: &mut AlongsideSlot<'m>, tokens: usize) {
        let Some(job) = slot.as_mut() else {
            return;
        };
        if job.reply.cancelled() {
            self.alongside_end(slot);
            return;
        }
        // The prompt batches' count, as it stands: reading alongside fills the time between
        // other steps and is not measured for the thread policy.
        threads::apply(
            &mut job.ctx,
            &mut job.applied,
            self.threads.current(Work::Batches),
        );
        let started = Instant::now();
        let done = job.cached.len();
        let end = (done + tokens.max(1)).min(job.target.len());
        let decoded =
            fill_batch(&mut job.batch, done, &job.target[done..end], |_| false).and_then(|()| {
                job.ctx
                    .decode(&mut job.batch)
                    .map_err(|e| EngineError::Decode(e.to_string()))
            });
        if let Err(error) = decoded {
            if let Some(job) = slot.take() {
                job.reply.send(PrereadEvent::Failed(error));
            }
            return;
        }
        job.cached.decoded(&job.target[done..end]);
        let secs = started.elapsed().as_secs_f64();
        let read = end - done;
        job.credit -= secs;
        if secs > 0.0 {
            let rate = read as f64 / secs;
            job.rate = Some(job.rate.map_or(rate, |r| r + 0.25 * (rate - r)));
        }
        job.reply.send(PrereadEvent::Progress {
            done: end,
            total: job.target.len(),
        });
        if end == job.target.len() {
            self.alongside_end(slot);
        } else {
            job.steps.after_batch(
                self.state_cache.as_ref(),
                &job.ctx,
                &job.cached,
                &job.target,
            );
        }
    }

    /// Saves what `job` read (whole, or rounded down to a step) and sends its final event.
    fn alongside_finish(&self, job: Alongside<'_>) {
        let Alongside {
            mut ctx,
            mut cached,
            target,
            mut steps,
            reply,
            ..
        } = job;
        let done = cached.len();
        steps.finish(self.state_cache.as_ref(), &mut ctx, &mut cached, &target);
        reply.send(PrereadEvent::Done {
            done,
            total: target.len(),
            restored: 0,
        });
    }
}
