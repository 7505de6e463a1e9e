//! The tokens a context's KV cache holds, kept beside it: the one place where the rule "the
//! token list equals what the cache holds for the sequence" is kept.
//!
//! llama.cpp keeps no token list of its own; the engine decides what to evaluate, what to reuse
//! and what to save from this one. Every change of the cache goes through [`Mirror`]: tokens
//! decoded are appended ([`Mirror::decoded`]), a cut removes the cache's tail and the list's
//! together ([`Mirror::truncate`]), and where the cache refuses a partial removal (llama.cpp
//! cannot cut some caches in the middle) both are cleared, so the list never claims a token the
//! cache lost. Batches for the sequence are filled here too ([`fill_batch`]), at the positions
//! after what the cache holds.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::engine::EngineError;

/// The KV cache of one sequence, as the mirror needs it.
pub(super) trait KvSequence {
    /// Removes every position from `len` on; false when the cache cannot.
    fn remove_from(&mut self, len: usize) -> bool;
    /// Empties the cache.
    fn clear(&mut self);
}

impl KvSequence for LlamaContext<'_> {
    fn remove_from(&mut self, len: usize) -> bool {
        self.kv_cache_seq_rm(0, Some(u32::try_from(len).unwrap_or(u32::MAX)), None)
            .is_ok()
    }

    fn clear(&mut self) {
        self.clear_kv_cache();
    }
}

/// The tokens whose keys and values a KV cache holds for sequence 0, in order.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    tokens: Vec<LlamaToken>,
}

impl Mirror {
    /// The tokens the cache holds.
    pub(super) fn tokens(&self) -> &[LlamaToken] {
        &self.tokens
    }

    /// How many tokens the cache holds (the position of the next one).
    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// How many leading tokens of `target` the cache holds.
    pub(super) fn common_len(&self, target: &[LlamaToken]) -> usize {
        common_len(&self.tokens, target)
    }

    /// Records `tokens` as decoded after what the cache held.
    pub(super) fn decoded(&mut self, tokens: &[LlamaToken]) {
        self.tokens.extend_from_slice(tokens);
    }

    /// Records that the cache was loaded with exactly `tokens` (a saved state).
    pub(super) fn loaded(&mut self, tokens: Vec<LlamaToken>) {
        self.tokens = tokens;
    }

    /// Empties the cache and the list.
    pub(super) fn clear(&mut self, kv: &mut impl KvSequence) {
        kv.clear();
        self.tokens.clear();
    }

    /// Forgets everything after the first `len` tokens; where the cache cannot cut there, it
    /// is emptied. Returns how many tokens it holds now.
    pub(super) fn truncate(&mut self, kv: &mut impl KvSequence, len: usize) -> usize {
        if len >= self.tokens.len() {
            return self.tokens.len();
        }
        if kv.remove_from(len) {
            self.tokens.truncate(len);
        } else {
            self.clear(kv);
        }
        self.tokens.len()
    }

    /// Keeps the longest part of the cache that `prompt` starts with, leaving at least one
    /// token of it to evaluate (for fresh logits), and drops the rest. Returns how many tokens
    /// are kept.
    pub(super) fn reuse_for(&mut self, kv: &mut impl KvSequence, prompt: &[LlamaToken]) -> usize {
        let keep = self.common_len(prompt).min(prompt.len().saturating_sub(1));
        if kv.remove_from(keep) {
            self.tokens.truncate(keep);
            keep
        } else {
            self.clear(kv);
            0
        }
    }
}

/// How many leading tokens `a` and `b` share.
pub(super) fn common_len(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Fills `batch` with `tokens` of sequence 0 at the positions from `start`, with logits where
/// `logits` says: the one batch-filling routine of every slot.
pub(super) fn fill_batch(
    batch: &mut LlamaBatch<'_>,
    start: usize,
    tokens: &[LlamaToken],
    logits: impl Fn(usize) -> bool,
) -> Result<(), EngineError> {
    batch.clear();
    for (i, token) in tokens.iter().enumerate() {
        let pos = i32::try_from(start + i).map_err(|e| EngineError::Decode(e.to_string()))?;
        batch
            .add(*token, pos, &[0], logits(i))
            .map_err(|e| EngineError::Decode(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache as llama.cpp keeps it: positions in order, and (like a recurrent model's) one
    /// that can refuse to cut in the middle.
    #[derive(Default)]
    struct Cache {
        held: Vec<LlamaToken>,
        refuses_cuts: bool,
    }

    impl KvSequence for Cache {
        fn remove_from(&mut self, len: usize) -> bool {
            if self.refuses_cuts && len > 0 && len < self.held.len() {
                return false;
            }
            self.held.truncate(len);
            true
        }

        fn clear(&mut self) {
            self.held.clear();
        }
    }

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken).collect()
    }

    fn decode(cache: &mut Cache, mirror: &mut Mirror, ids: &[i32]) {
        cache.held.extend(tokens(ids));
        mirror.decoded(&tokens(ids));
    }

    #[test]
    fn a_cut_removes_the_same_tail_from_the_cache_and_the_list() {
        let (mut cache, mut mirror) = (Cache::default(), Mirror::default());
        decode(&mut cache, &mut mirror, &[1, 2, 3, 4, 5]);
        assert_eq!(mirror.truncate(&mut cache, 3), 3);
        assert_eq!(mirror.tokens(), tokens(&[1, 2, 3]));
        assert_eq!(cache.held, mirror.tokens());
        // Cutting at or beyond the end changes nothing.
        assert_eq!(mirror.truncate(&mut cache, 7), 3);
        assert_eq!(cache.held, tokens(&[1, 2, 3]));
    }

    #[test]
    fn a_cache_that_refuses_a_cut_is_emptied_with_its_list() {
        let mut cache = Cache {
            refuses_cuts: true,
            ..Cache::default()
        };
        let mut mirror = Mirror::default();
        decode(&mut cache, &mut mirror, &[1, 2, 3, 4]);
        assert_eq!(mirror.truncate(&mut cache, 2), 0);
        assert!(mirror.tokens().is_empty());
        assert!(cache.held.is_empty());
    }

    #[test]
    fn a_prompt_reuses_the_shared_start_and_leaves_a_token_to_evaluate() {
        let (mut cache, mut mirror) = (Cache::default(), Mirror::default());
        decode(&mut cache, &mut mirror, &[1, 2, 3, 9, 9]);
        // Shares 1 2 3: the rest of the cache goes.
        assert_eq!(mirror.reuse_for(&mut cache, &tokens(&[1, 2, 3, 4])), 3);
        assert_eq!(cache.held, tokens(&[1, 2, 3]));
        assert_eq!(cache.held, mirror.tokens());
        // The same prompt again: its last token is evaluated again for its logits.
        assert_eq!(mirror.reuse_for(&mut cache, &tokens(&[1, 2, 3])), 2);
        assert_eq!(cache.held, tokens(&[1, 2]));
        assert_eq!(cache.held, mirror.tokens());
    }

    #[test]
    fn a_prompt_on_a_cache_that_refuses_the_cut_starts_from_nothing() {
        let mut cache = Cache {
            refuses_cuts: true,
            ..Cache::default()
        };
        let mut mirror = Mirror::default();
        decode(&mut cache, &mut mirror, &[1, 2, 3, 9]);
        assert_eq!(mirror.reuse_for(&mut cache, &tokens(&[1, 2, 3, 4])), 0);
        assert!(cache.held.is_empty() && mirror.tokens().is_empty());
    }

    #[test]
    fn a_loaded_state_and_a_clear_replace_what_the_list_says() {
        let (mut cache, mut mirror) = (Cache::default(), Mirror::default());
        decode(&mut cache, &mut mirror, &[5, 6]);
        cache.held = tokens(&[1, 2, 3]);
        mirror.loaded(tokens(&[1, 2, 3]));
        assert_eq!(mirror.common_len(&tokens(&[1, 2, 4])), 2);
        assert_eq!(mirror.len(), 3);
        mirror.clear(&mut cache);
        assert!(cache.held.is_empty() && mirror.tokens().is_empty());
    }

    #[test]
    fn shared_starts_are_counted_to_the_first_difference() {
        assert_eq!(common_len(&tokens(&[1, 2, 3]), &tokens(&[1, 2, 4, 5])), 2);
        assert_eq!(common_len(&tokens(&[]), &tokens(&[1])), 0);
        assert_eq!(common_len(&tokens(&[1, 2]), &tokens(&[1, 2, 3])), 2);
    }
}
