//! The reply slot: a request's prompt read one batch per step, then its reply written one token
//! (or one verified draft) per step (`decode`).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::decode::{Decoding, ReplyParts};
use super::Session;
use crate::engine::{
    EngineError, GenerateRequest, Outbox, PromptInput, ReplyEvent, StopReason, Timings,
};

/// A reply being written.
pub(super) struct Reply {
    request: GenerateRequest,
    reply: Outbox<ReplyEvent>,
    /// When the request was taken up.
    started: Instant,
    timings: Timings,
    phase: Phase,
}

/// Where a reply stands.
enum Phase {
    /// Reading the prompt.
    Prompt(Prefill),
    /// Writing the reply.
    Tokens(Box<Decoding>),
}

/// The prompt being read.
struct Prefill {
    prompt: Vec<LlamaToken>,
    /// The next position of `prompt` to evaluate.
    at: usize,
    /// Where the document prefix ends, when its state is to be saved there (it is not on disk
    /// yet): the prompt is read up to it, saved, and read on.
    save_at: Option<usize>,
    /// Tokens evaluated so far, and how many there are to evaluate.
    done: usize,
    total: usize,
    started: Instant,
}

/// What a step of a reply did.
pub(super) enum Step {
    /// The reply goes on; a read alongside may take about as long as `secs` (0 while the
    /// prompt is read).
    Continue { secs: f64 },
    /// The reply ended (its final event sent).
    Done,
}

impl Session<'_> {
    /// Takes up `request`: tokenizes its prompt, restores the document prefix from the disk
    /// cache when the live cache lacks it, and keeps what the cache shares with the prompt.
    /// The slot then reads the rest of the prompt and writes the reply step by step. `None`
    /// when the request fails at once (its event sent).
    pub(super) fn reply_start(
        &mut self,
        request: GenerateRequest,
        reply: Outbox<ReplyEvent>,
    ) -> Option<Reply> {
        let started = Instant::now();
        self.threads.begin_reply();
        let prompt = match &request.prompt {
            PromptInput::Chat(messages) => match self.prompt_tokens(messages) {
                Ok(prompt) => prompt,
                Err(error) => {
                    reply.send(ReplyEvent::Failed(error));
                    return None;
                }
            },
            PromptInput::Tokens(ids) => ids.iter().copied().map(LlamaToken).collect(),
        };
        let n_ctx = self.ctx.n_ctx() as usize;
        let reserved = request.sampling.max_tokens as usize;
        if prompt.is_empty() || prompt.len() + reserved > n_ctx {
            let error = EngineError::PromptTooLong {
                prompt_tokens: prompt.len(),
                reserved,
                n_ctx,
            };
            reply.send(ReplyEvent::Failed(error));
            return None;
        }

        // The document prefix to keep on disk, and its state from disk when the live cache
        // lacks it.
        let prefix_len = self.cache_prefix_len(&request, &prompt);
        let restore_start = Instant::now();
        let restored = self.restore_prefix(&prompt[..prefix_len]);
        let restore_secs = restore_start.elapsed().as_secs_f64();

        // Reuse the cached prefix; at least one token is evaluated to get fresh logits.
        let keep = self.cached.reuse_for(&mut self.ctx, &prompt);
        let to_evaluate = prompt.len() - keep;
        let timings = Timings {
            prompt_tokens: prompt.len(),
            prompt_evaluated: to_evaluate,
            prompt_restored: restored,
            restore_secs,
            ..Timings::default()
        };
        // A prefix to save that is not on disk yet: read up to its end, save, read the rest.
        let save_at = (prefix_len >= keep
            && prefix_len > 0
            && self
                .state_cache
                .as_ref()
                .is_some_and(|cache| !cache.contains(&super::token_ids(&prompt[..prefix_len]))))
        .then_some(prefix_len);
        Some(Reply {
            request,
            reply,
            started,
            timings,
            phase: Phase::Prompt(Prefill {
                prompt,
                at: keep,
                save_at,
                done: 0,
                total: to_evaluate,
                started: Instant::now(),
            }),
        })
    }

    /// One step of `slot`: a batch of its prompt, or a token of its reply (with a draft
    /// behind it where drafts pay). The reply ends with its final event: done, cancelled, or
    /// failed.
    pub(super) fn reply_step(&mut self, slot: &mut Reply) -> Step {
        let step_started = Instant::now();
        let Reply {
            request,
            reply,
            started,
            timings,
            phase,
        } = slot;
        let mut parts = ReplyParts {
            request,
            reply,
            timings,
            started: *started,
        };
        let ended = match phase {
            Phase::Prompt(prefill) => match self.prefill_step(prefill, parts.reply) {
                Ok(PrefillStep::Read) => return Step::Continue { secs: 0.0 },
                Ok(PrefillStep::Finished) => {
                    parts.timings.prefill_secs = prefill.started.elapsed().as_secs_f64();
                    *phase = Phase::Tokens(Box::new(self.decode_begin(parts.request)));
                    return Step::Continue { secs: 0.0 };
                }
                Ok(PrefillStep::Cancelled) => {
                    parts.timings.prefill_secs = prefill.started.elapsed().as_secs_f64();
                    parts.timings.ttft_secs = parts.started.elapsed().as_secs_f64();
                    Ok(StopReason::Cancelled)
                }
                Err(error) => Err(error),
            },
            Phase::Tokens(decoding) => match self.decode_step(decoding, &mut parts) {
                Ok(None) => {
                    return Step::Continue {
                        secs: step_started.elapsed().as_secs_f64(),
                    }
                }
                Ok(Some(reason)) => {
                    self.decode_finish(decoding, &mut parts);
                    Ok(reason)
                }
                Err(error) => Err(error),
            },
        };
        match ended {
            Ok(reason) => {
                parts.timings.threads = self.threads.reply_use();
                parts.reply.send(ReplyEvent::Done {
                    reason,
                    timings: std::mem::take(parts.timings),
                });
            }
            Err(error) => {
                // The cache may hold half a batch: start clean next time.
                self.clear_cache();
                parts.reply.send(ReplyEvent::Failed(error));
            }
        }
        Step::Done
    }

    /// Reads the next batch of the prompt (up to the prefix to save first, which is saved once
    /// read).
    fn prefill_step(
        &mut self,
        prefill: &mut Prefill,
        reply: &Outbox<ReplyEvent>,
    ) -> Result<PrefillStep, EngineError> {
        if prefill.save_at == Some(prefill.at) {
            prefill.save_at = None;
            self.save_prefix();
        }
        let len = prefill.prompt.len();
        if prefill.at == len {
            return Ok(PrefillStep::Finished);
        }
        let segment_end = prefill.save_at.unwrap_or(len);
        let end = (prefill.at + self.n_batch).min(segment_end);
        let chunk = prefill.prompt[prefill.at..end].to_vec();
        self.evaluate_chunk(&chunk, end == segment_end)?;
        prefill.at = end;
        prefill.done += chunk.len();
        reply.send(ReplyEvent::Prompt {
            done: prefill.done,
            total: prefill.total,
        });
        if reply.cancelled() {
            return Ok(PrefillStep::Cancelled);
        }
        if prefill.save_at == Some(end) {
            prefill.save_at = None;
            self.save_prefix();
        }
        Ok(if end == len {
            PrefillStep::Finished
        } else {
            PrefillStep::Read
        })
    }
}

/// What a step of the prompt did.
enum PrefillStep {
    /// A batch was read; more to come.
    Read,
    /// The whole prompt is read.
    Finished,
    /// The request was cancelled while its prompt was read.
    Cancelled,
}
