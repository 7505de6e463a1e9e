//! The reply's steps: one token per step, with drafts from the prompt (prompt-lookup
//! decoding).
//!
//! Summaries and answers about a document repeat runs of its tokens. After each token, the
//! longest suffix of what the model has seen (prompt and reply) is looked up further back; the
//! tokens that followed it there are a draft, evaluated in one batch together with the token
//! just chosen. The model's own choice at each drafted position is then drawn the way plain
//! decoding draws it (argmax, or the sampler with its random state, the same numbers in the
//! same order), and drafts are kept only while they equal that choice. The cache is trimmed
//! back to what was kept. Whether and how much to draft is decided per step from measured
//! costs and acceptance (`drafts`).
//!
//! The decision rule is plain decoding's, but the arithmetic need not be: llama.cpp may compute
//! a token in a batch with other kernels than a token alone (on the CPU, attention over an f16
//! cache splits a lone token's cache across threads and a batch's rows not; tinyBLAS tiles
//! batches of some types). Then a near-tie can go the other way and the wording drifts from
//! there. [`DraftMode::Auto`] therefore checks, once per range of cache depths, that the first
//! row of a verify batch comes out bit for bit like the same token evaluated alone (the check
//! step evaluates both and goes on from the lone one), and drafts only where it did; once a
//! check finds a difference, drafts stop for the engine's life. With the same cache contents
//! and the same logits at every step, the
//! reply is the one plain decoding gives, token for token.

use std::time::Instant;

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::drafts::{self, Acceptance, Lookup, Shadow};
use super::mirror::fill_batch;
use super::{argmax, Session};
use crate::engine::threads::Work;
use crate::engine::{
    DraftMode, EngineError, GenerateRequest, Outbox, PromptInput, ReplyEvent, StopReason,
    StopScanner, Timings,
};
use crate::prompt::{self, PromptFormat};

/// Where the next token comes from.
enum Next {
    /// Sample from the logits of this batch position (`-1`: the last one).
    Logits(i32),
    /// A token already drawn (the correction after a rejected draft).
    Drawn(LlamaToken),
}

/// What emitting a token did.
enum Emitted {
    Continue,
    Stop(StopReason),
}

/// What the step after a chosen token evaluates.
struct Plan {
    /// The draft to verify with it (empty: the token alone).
    draft: Vec<LlamaToken>,
    /// Its kind, for the acceptance counts.
    kind: usize,
    /// First compare a lone evaluation of the token with the batch's first row.
    check: bool,
}

/// The token streaming of one reply: UTF-8 assembly, stop markers, counting.
struct Stream {
    scanner: StopScanner,
    decoder: encoding_rs::Decoder,
    piece: Vec<u8>,
    text: String,
}

/// A reply being written: what its steps carry from one to the next.
pub(super) struct Decoding {
    sampler: LlamaSampler,
    greedy: bool,
    stream: Stream,
    reserved: usize,
    n_ctx: usize,
    mode: DraftMode,
    acceptance: Acceptance,
    shadow: Option<Shadow>,
    quoting: bool,
    /// What the model has seen, for looking up drafts (reused from step to step).
    history: Vec<LlamaToken>,
    next: Next,
    first_token_at: Option<Instant>,
    /// The thread count of the last step.
    threads: usize,
}

impl Session<'_> {
    /// The state of a reply whose prompt was read (`self.cached` ends with it and the logits
    /// of its last token are ready).
    pub(super) fn decode_begin(&self, request: &GenerateRequest) -> Decoding {
        let xgen = self.format == PromptFormat::Xgen;
        let scanner = if xgen && matches!(request.prompt, PromptInput::Chat(_)) {
            StopScanner::new(vec![format!("\n{}", prompt::XGEN_TURN_MARKER)], true)
        } else {
            StopScanner::new(Vec::new(), false)
        };
        Decoding {
            sampler: self.build_sampler(&request.sampling),
            greedy: request.sampling.temperature <= 0.0,
            stream: Stream {
                scanner,
                decoder: encoding_rs::UTF_8.new_decoder(),
                piece: Vec::new(),
                text: String::new(),
            },
            reserved: request.sampling.max_tokens as usize,
            n_ctx: self.ctx.n_ctx() as usize,
            mode: request.sampling.drafts,
            acceptance: Acceptance::default(),
            shadow: None,
            quoting: false,
            history: Vec::new(),
            next: Next::Logits(-1),
            first_token_at: None,
            threads: self.threads.current(Work::Tokens),
        }
    }

    /// One step of the reply: chooses the next token, streams it, and evaluates it (with a
    /// draft behind it when one is expected to pay, keeping the drafted tokens the model
    /// agrees with). Returns why the reply ends, when it does.
    pub(super) fn decode_step(
        &mut self,
        d: &mut Decoding,
        parts: &mut ReplyParts<'_>,
    ) -> Result<Option<StopReason>, EngineError> {
        let reply = parts.reply;
        if reply.cancelled() {
            return Ok(Some(StopReason::Cancelled));
        }
        let token = match d.next {
            Next::Drawn(token) => token,
            Next::Logits(index) => self.choose(&mut d.sampler, d.greedy, index),
        };
        if let Some(pending) = &mut d.shadow {
            if !pending.observe(token, &mut d.acceptance) {
                d.shadow = None;
            }
        }
        if d.first_token_at.is_none() {
            let now = Instant::now();
            d.first_token_at = Some(now);
            parts.timings.ttft_secs = now.duration_since(parts.started).as_secs_f64();
        }
        if let Emitted::Stop(reason) = self.emit(token, parts, &mut d.stream) {
            return Ok(Some(reason));
        }
        if parts.timings.generated_tokens >= d.reserved {
            return Ok(Some(StopReason::MaxTokens));
        }
        if self.cached.len() + 1 >= d.n_ctx {
            return Ok(Some(StopReason::ContextFull));
        }
        // The token just chosen goes into the cache, with a draft behind it when the reply
        // so far repeats something seen before and the draft is expected to pay.
        // The thread count of this step: drafts are costed and checked per count.
        d.threads = self.threads.choose(Work::Tokens);
        self.threads.note_token(d.threads);
        let room = (d.n_ctx - self.cached.len() - 2)
            .min(d.reserved - parts.timings.generated_tokens)
            .min(self.n_batch - 1);
        let found = if d.mode == DraftMode::Off {
            None
        } else {
            d.history.clear();
            d.history.extend_from_slice(self.cached.tokens());
            d.history.push(token);
            drafts::lookup_draft(&d.history, room.min(drafts::MAX_DRAFT))
        };
        let plan = found.and_then(|lookup| {
            self.plan_draft(
                d.mode,
                lookup,
                d.quoting,
                &d.acceptance,
                &mut d.shadow,
                d.threads,
            )
        });
        let Some(plan) = plan else {
            d.quoting = false;
            if let Err(error) = self.evaluate_timed(token, d.threads) {
                self.clear_cache();
                return Err(error);
            }
            d.next = Next::Logits(-1);
            return Ok(None);
        };
        d.shadow = None;
        if plan.check {
            // The check step drafts nothing: it leaves the cache as plain decoding leaves it
            // (the token alone evaluated, its logits ready), whatever it finds.
            if let Err(error) = self.check_exactness(token, &plan.draft, d.threads) {
                self.clear_cache();
                return Err(error);
            }
            d.quoting = false;
            d.next = Next::Logits(-1);
            return Ok(None);
        }
        let base = self.cached.len();
        if let Err(error) = self.evaluate_all_logits(token, &plan.draft, d.threads) {
            self.clear_cache();
            return Err(error);
        }
        parts.timings.draft_steps += 1;
        parts.timings.drafted += plan.draft.len();
        let mut kept = 0;
        d.next = Next::Logits(i32::try_from(plan.draft.len()).unwrap_or(i32::MAX));
        for (i, &drafted) in plan.draft.iter().enumerate() {
            if reply.cancelled() {
                self.truncate_cache(base + 1 + kept);
                return Ok(Some(StopReason::Cancelled));
            }
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            let chosen = self.choose(&mut d.sampler, d.greedy, index);
            if chosen != drafted {
                d.next = Next::Drawn(chosen);
                break;
            }
            kept += 1;
            parts.timings.draft_accepted += 1;
            if let Emitted::Stop(reason) = self.emit(chosen, parts, &mut d.stream) {
                self.truncate_cache(base + 1 + kept);
                return Ok(Some(reason));
            }
            if parts.timings.generated_tokens >= d.reserved {
                self.truncate_cache(base + 1 + kept);
                return Ok(Some(StopReason::MaxTokens));
            }
        }
        self.truncate_cache(base + 1 + kept);
        d.quoting = kept == plan.draft.len();
        d.acceptance
            .record(plan.kind, (kept + 1).min(plan.draft.len()), kept);
        Ok(None)
    }

    /// After the reply's last step: the text held back for a stop marker, and the figures.
    pub(super) fn decode_finish(&mut self, d: &mut Decoding, parts: &mut ReplyParts<'_>) {
        parts.timings.batch_exact = self.drafts.at(d.threads).exactness.known();
        let tail = d.stream.scanner.finish();
        if !tail.is_empty() {
            parts.reply.send(ReplyEvent::Text(tail));
        }
        if let Some(first) = d.first_token_at {
            parts.timings.generation_secs = first.elapsed().as_secs_f64();
        }
    }

    /// The model's next token from the logits at batch position `index`: the largest logit
    /// when greedy (skipping the candidate array llama.cpp builds over the whole vocabulary),
    /// else the sampler's draw, which also records the token for its repeat penalty.
    fn choose(&mut self, sampler: &mut LlamaSampler, greedy: bool, index: i32) -> LlamaToken {
        if greedy {
            argmax(self.ctx.get_logits_ith(index))
        } else {
            sampler.sample(&self.ctx, index)
        }
    }

    /// Streams `token` as text; says whether the reply ends there.
    fn emit(&self, token: LlamaToken, parts: &mut ReplyParts<'_>, stream: &mut Stream) -> Emitted {
        let request = parts.request;
        let vocab = self.model.vocab();
        if vocab.is_eog(token) && !request.ignore_end_of_turn {
            return Emitted::Stop(StopReason::EndOfTurn);
        }
        parts.timings.generated_tokens += 1;
        stream.piece.clear();
        vocab.token_to_piece_into(token, &mut stream.piece, false, None);
        stream.text.clear();
        let max = stream
            .decoder
            .max_utf8_buffer_length(stream.piece.len())
            .unwrap_or(stream.piece.len() * 3 + 4);
        stream.text.reserve(max);
        // `text` was reserved for the worst case, so the decoder never reports a full buffer.
        let (_, _, _) = stream
            .decoder
            .decode_to_string(&stream.piece, &mut stream.text, false);
        let visible = stream.scanner.push(&stream.text);
        if !visible.is_empty() {
            parts.reply.send(ReplyEvent::Text(visible));
        }
        if stream.scanner.stopped() && !request.ignore_end_of_turn {
            return Emitted::Stop(StopReason::EndOfTurn);
        }
        Emitted::Continue
    }

    /// Decides what follows `lookup` in this step: a draft to verify (with the exactness check
    /// first where [`DraftMode::Auto`] needs it), or nothing, leaving the draft to be compared
    /// with the coming tokens at no cost.
    fn plan_draft(
        &mut self,
        mode: DraftMode,
        lookup: Lookup,
        quoting: bool,
        acceptance: &Acceptance,
        shadow: &mut Option<Shadow>,
        threads: usize,
    ) -> Option<Plan> {
        let kind = drafts::kind(lookup.matched, quoting);
        let depth = self.cached.len();
        let state = self.drafts.at(threads);
        let exactness = &state.exactness;
        let mut len = match mode {
            DraftMode::Off => 0,
            DraftMode::Always => lookup.tokens.len(),
            DraftMode::Auto if exactness.differs() => 0,
            DraftMode::Auto | DraftMode::On => {
                drafts::best_length(acceptance.chance(kind), &state.costs, lookup.tokens.len())
            }
        };
        // Auto checks each range of depths once, on the first draft found there.
        let check = mode == DraftMode::Auto && exactness.unchecked(depth);
        if check {
            len = len.max(1);
        }
        if len == 0 {
            if shadow.is_none() {
                *shadow = Some(Shadow::new(lookup, kind));
            }
            return None;
        }
        let mut draft = lookup.tokens;
        draft.truncate(len);
        Some(Plan { draft, kind, check })
    }

    /// Evaluates `token` in a batch with `draft`, then again alone, and compares the logits
    /// of the two at the token; records what it found. Leaves the cache as plain decoding
    /// leaves it: the token evaluated alone, its logits ready. (Batch first: a batch trimmed
    /// back and a token evaluated again alone is the order every rejected draft takes; the
    /// other order crashed Mesa's lavapipe Vulkan driver.)
    fn check_exactness(
        &mut self,
        token: LlamaToken,
        draft: &[LlamaToken],
        threads: usize,
    ) -> Result<(), EngineError> {
        let depth = self.cached.len();
        self.evaluate_all_logits(token, draft, threads)?;
        let batched = self.ctx.get_logits_ith(0).to_vec();
        self.truncate_cache(depth);
        if self.cached.len() != depth {
            return Err(EngineError::Decode(
                "could not remove a checked batch from the cache".into(),
            ));
        }
        let threads = self.evaluate_timed(token, threads)?;
        let alone = self.ctx.get_logits_ith(-1);
        let same = alone.len() == batched.len()
            && alone
                .iter()
                .zip(&batched)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        self.drafts.at(threads).exactness.record(depth, same);
        Ok(())
    }

    /// Evaluates `token` alone with `threads`, timing it for the draft costs and the thread
    /// policy; returns the threads it ran with.
    fn evaluate_timed(&mut self, token: LlamaToken, threads: usize) -> Result<usize, EngineError> {
        let start = self.cached.len();
        fill_batch(&mut self.batch, start, &[token], |_| true)?;
        let (threads, secs) = self.decode_batch(threads)?;
        self.cached.decoded(&[token]);
        self.drafts.at(threads).costs.record(1, secs);
        self.threads.record(Work::Tokens, threads, 1, secs);
        Ok(threads)
    }

    /// Evaluates `token` and `draft` in one batch with logits at every position, with
    /// `threads`, timing it for the draft costs.
    fn evaluate_all_logits(
        &mut self,
        token: LlamaToken,
        draft: &[LlamaToken],
        threads: usize,
    ) -> Result<(), EngineError> {
        let start = self.cached.len();
        let tokens: Vec<LlamaToken> = std::iter::once(token)
            .chain(draft.iter().copied())
            .collect();
        fill_batch(&mut self.batch, start, &tokens, |_| true)?;
        let (threads, secs) = self.decode_batch(threads)?;
        self.cached.decoded(&tokens);
        self.drafts.at(threads).costs.record(tokens.len(), secs);
        Ok(())
    }
}

/// The parts of a reply that writing its tokens uses beside its decoding state.
pub(super) struct ReplyParts<'a> {
    pub(super) request: &'a GenerateRequest,
    pub(super) reply: &'a Outbox<ReplyEvent>,
    pub(super) timings: &'a mut Timings,
    /// When the request was taken up.
    pub(super) started: Instant,
}
