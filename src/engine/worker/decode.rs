//! The per-token loop, with drafts from the prompt (prompt-lookup decoding).
//!
//! Summaries and answers about a document repeat runs of its tokens. After each token, the last
//! few tokens are looked up in everything the model has seen (prompt and reply); when they
//! occurred before, the tokens that followed are proposed as a draft and evaluated in one batch
//! together with the token just chosen. The model's own choice at each drafted position is then
//! drawn the way plain decoding draws it (argmax, or the sampler with its random state, the
//! same numbers in the same order), and drafts are kept only while they equal that choice. The
//! cache is trimmed back to what was kept.
//!
//! The decision rule is plain decoding's, but not the arithmetic: llama.cpp computes a token's
//! logits with other kernels when it shares a batch (tinyBLAS tiles, flash attention without
//! the single-token split of the cache), and the results differ by up to about 0.5 logits on
//! SmolLM2. Near-ties can then go the other way and the wording drifts from there, so drafts are
//! opt-in (`Sampling::drafts`) and a drafted reply is reproducible but not always identical to a
//! plain one. Making each row of a batch compute like a lone token would cost what the batch
//! saves (`n_ubatch` 1), so no exact variant exists on these kernels.

use std::time::Instant;

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{argmax, Session};
use crate::engine::{
    EngineError, GenerateRequest, Outbox, PromptInput, ReplyEvent, StopReason, StopScanner, Timings,
};
use crate::prompt::{self, PromptFormat};

/// Longest n-gram looked up; longer matches are rarer and no better at predicting.
const MAX_NGRAM: usize = 4;
/// Shortest n-gram that may propose a draft: a single repeated token predicts too little to pay
/// for the wider batch.
const MIN_NGRAM: usize = 2;
/// Most tokens drafted at once.
const MAX_DRAFT: usize = 12;
/// Tokens drafted at once when a reply starts.
const START_DRAFT: usize = 6;
/// How far back (in tokens) a draft is looked up.
const LOOKUP_WINDOW: usize = 16_384;

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

/// Proposes up to `max` tokens that followed the most recent earlier occurrence of the longest
/// suffix of `history` (between [`MIN_NGRAM`] and [`MAX_NGRAM`] tokens).
pub(super) fn lookup_draft(history: &[LlamaToken], max: usize) -> Vec<LlamaToken> {
    if max == 0 {
        return Vec::new();
    }
    let start = history.len().saturating_sub(LOOKUP_WINDOW);
    let window = &history[start..];
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        if window.len() <= n {
            continue;
        }
        let suffix = &window[window.len() - n..];
        // The most recent earlier occurrence, not overlapping the suffix itself.
        let found = (0..window.len() - n)
            .rev()
            .find(|&at| &window[at..at + n] == suffix);
        if let Some(at) = found {
            let from = at + n;
            let to = (from + max).min(window.len());
            if from < to {
                return window[from..to].to_vec();
            }
        }
    }
    Vec::new()
}

/// The token streaming of one reply: UTF-8 assembly, stop markers, counting.
struct Stream<'a> {
    scanner: StopScanner,
    decoder: encoding_rs::Decoder,
    piece: Vec<u8>,
    text: String,
    reply: &'a Outbox<ReplyEvent>,
}

impl Session<'_> {
    /// Generates the reply after the prompt was read (`self.cached` ends with it and the logits
    /// of its last token are ready).
    pub(super) fn decode(
        &mut self,
        request: &GenerateRequest,
        reply: &Outbox<ReplyEvent>,
        timings: &mut Timings,
        started: Instant,
    ) -> Result<StopReason, EngineError> {
        let mut sampler = self.build_sampler(&request.sampling);
        let greedy = request.sampling.temperature <= 0.0;
        let xgen = self.format == PromptFormat::Xgen;
        let scanner = if xgen && matches!(request.prompt, PromptInput::Chat(_)) {
            StopScanner::new(vec![format!("\n{}", prompt::XGEN_TURN_MARKER)], true)
        } else {
            StopScanner::new(Vec::new(), false)
        };
        let mut stream = Stream {
            scanner,
            decoder: encoding_rs::UTF_8.new_decoder(),
            piece: Vec::new(),
            text: String::new(),
            reply,
        };
        let reserved = request.sampling.max_tokens as usize;
        let n_ctx = self.ctx.n_ctx() as usize;
        let mut draft_len = START_DRAFT;
        let mut next = Next::Logits(-1);
        let mut first_token_at = None;
        let reason = 'reply: loop {
            if reply.cancelled() {
                break StopReason::Cancelled;
            }
            let token = match next {
                Next::Drawn(token) => token,
                Next::Logits(index) => self.choose(&mut sampler, greedy, index),
            };
            if first_token_at.is_none() {
                let now = Instant::now();
                first_token_at = Some(now);
                timings.ttft_secs = now.duration_since(started).as_secs_f64();
            }
            if let Emitted::Stop(reason) = self.emit(token, request, timings, &mut stream) {
                break reason;
            }
            if timings.generated_tokens >= reserved {
                break StopReason::MaxTokens;
            }
            if self.cached.len() + 1 >= n_ctx {
                break StopReason::ContextFull;
            }
            // The token just chosen goes into the cache, with a draft behind it when the reply
            // so far repeats something seen before.
            let room = (n_ctx - self.cached.len() - 2)
                .min(reserved - timings.generated_tokens)
                .min(self.n_batch - 1);
            let draft = if request.sampling.drafts {
                let mut history = self.cached.clone();
                history.push(token);
                lookup_draft(&history, draft_len.min(room))
            } else {
                Vec::new()
            };
            if draft.is_empty() {
                if let Err(error) = self.evaluate(&[token], &mut |_| true) {
                    self.clear_cache();
                    return Err(error);
                }
                next = Next::Logits(-1);
                continue;
            }
            let base = self.cached.len();
            if let Err(error) = self.evaluate_all_logits(token, &draft) {
                self.clear_cache();
                return Err(error);
            }
            timings.draft_steps += 1;
            timings.drafted += draft.len();
            let mut kept = 0;
            next = Next::Logits(i32::try_from(draft.len()).unwrap_or(i32::MAX));
            for (i, &drafted) in draft.iter().enumerate() {
                if reply.cancelled() {
                    self.truncate_cache(base + 1 + kept);
                    break 'reply StopReason::Cancelled;
                }
                let index = i32::try_from(i).unwrap_or(i32::MAX);
                let chosen = self.choose(&mut sampler, greedy, index);
                if chosen != drafted {
                    next = Next::Drawn(chosen);
                    break;
                }
                kept += 1;
                timings.draft_accepted += 1;
                if let Emitted::Stop(reason) = self.emit(chosen, request, timings, &mut stream) {
                    self.truncate_cache(base + 1 + kept);
                    break 'reply reason;
                }
                if timings.generated_tokens >= reserved {
                    self.truncate_cache(base + 1 + kept);
                    break 'reply StopReason::MaxTokens;
                }
            }
            self.truncate_cache(base + 1 + kept);
            // Longer drafts while they are kept whole, shorter after a miss.
            draft_len = if kept == draft.len() {
                (draft_len * 2).min(MAX_DRAFT)
            } else {
                (kept + 1).clamp(2, MAX_DRAFT)
            };
        };
        let tail = stream.scanner.finish();
        if !tail.is_empty() {
            reply.send(ReplyEvent::Text(tail));
        }
        if let Some(first) = first_token_at {
            timings.generation_secs = first.elapsed().as_secs_f64();
        }
        Ok(reason)
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
    fn emit(
        &self,
        token: LlamaToken,
        request: &GenerateRequest,
        timings: &mut Timings,
        stream: &mut Stream<'_>,
    ) -> Emitted {
        let vocab = self.model.vocab();
        if vocab.is_eog(token) && !request.ignore_end_of_turn {
            return Emitted::Stop(StopReason::EndOfTurn);
        }
        timings.generated_tokens += 1;
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
            stream.reply.send(ReplyEvent::Text(visible));
        }
        if stream.scanner.stopped() && !request.ignore_end_of_turn {
            return Emitted::Stop(StopReason::EndOfTurn);
        }
        Emitted::Continue
    }

    /// Evaluates `token` and `draft` in one batch with logits at every position.
    fn evaluate_all_logits(
        &mut self,
        token: LlamaToken,
        draft: &[LlamaToken],
    ) -> Result<(), EngineError> {
        let batch = &mut self.batch;
        batch.clear();
        let start = self.cached.len();
        for (i, t) in std::iter::once(&token).chain(draft).enumerate() {
            let pos = i32::try_from(start + i).map_err(|e| EngineError::Decode(e.to_string()))?;
            batch
                .add(*t, pos, &[0], true)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
        }
        self.ctx
            .decode(batch)
            .map_err(|e| EngineError::Decode(e.to_string()))?;
        self.cached.push(token);
        self.cached.extend_from_slice(draft);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken).collect()
    }

    #[test]
    fn a_repeated_ngram_proposes_what_followed_it() {
        let history = tokens(&[1, 2, 3, 4, 5, 6, 9, 2, 3]);
        assert_eq!(lookup_draft(&history, 3), tokens(&[4, 5, 6]));
        assert_eq!(lookup_draft(&history, 10), tokens(&[4, 5, 6, 9, 2, 3]));
    }

    #[test]
    fn the_longest_and_most_recent_match_wins() {
        // "7 2 3" occurred twice: the last time it was followed by 8.
        let history = tokens(&[7, 2, 3, 5, 1, 7, 2, 3, 8, 0, 7, 2, 3]);
        assert_eq!(lookup_draft(&history, 1), tokens(&[8]));
    }

    #[test]
    fn a_single_repeated_token_is_not_enough() {
        let history = tokens(&[5, 1, 2, 3, 4, 5]);
        assert!(lookup_draft(&history, 4).is_empty());
        assert!(lookup_draft(&tokens(&[1, 2, 1, 2]), 0).is_empty());
    }
}
