//! Document prefixes: which leading tokens of a prompt are a document, and their KV state kept
//! on disk so that a document read once is not read again (in a new engine, after a restart,
//! or half-way, from the last step saved while it was being read).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::token::LlamaToken;

use super::{token_ids, Session};
use crate::engine::state_cache::{CachePrefix, StateCache};
use crate::engine::{GenerateRequest, PromptInput};
use crate::prompt::Message;

/// While a document is read ahead, its state is saved every this many tokens, so quitting
/// half-way keeps what was read (each save replaces the previous one).
pub(super) const SAVE_STEP: usize = 2048;

impl Session<'_> {
    /// How many leading tokens of `prompt` form the document prefix of `request` (0: none, or
    /// no disk cache).
    pub(super) fn cache_prefix_len(
        &self,
        request: &GenerateRequest,
        prompt: &[LlamaToken],
    ) -> usize {
        if self.state_cache.is_none() {
            return 0;
        }
        match (request.cache_prefix, &request.prompt) {
            (None, _) => 0,
            (Some(spec), PromptInput::Chat(messages)) => {
                let prefix = self.prefix_tokens(spec, messages).unwrap_or_default();
                common_len(&prefix, prompt)
            }
            (Some(CachePrefix::Tokens(n)), PromptInput::Tokens(_)) => n.min(prompt.len()),
            (Some(_), PromptInput::Tokens(_)) => 0,
        }
    }

    /// The tokens `spec` names in the prompt of `messages`; `None` when the template cannot
    /// render the part alone (it is then simply not cached).
    pub(super) fn prefix_tokens(
        &self,
        spec: CachePrefix,
        messages: &[Message],
    ) -> Option<Vec<LlamaToken>> {
        spec.tokens(messages, |m| self.prompt_tokens(m).ok())
    }

    /// Loads from the disk cache the longest saved state of `prefix` (the whole of it, or a
    /// step saved while it was read ahead) when the live cache holds less of it. Returns the
    /// number of tokens restored.
    pub(super) fn restore_prefix(&mut self, prefix: &[LlamaToken]) -> usize {
        let Some(cache) = self.state_cache.clone() else {
            return 0;
        };
        let live = common_len(&self.cached, prefix);
        if prefix.is_empty() || live >= prefix.len() || prefix.len() >= self.ctx.n_ctx() as usize {
            return 0;
        }
        let steps = (1..=prefix.len() / SAVE_STEP)
            .rev()
            .map(|k| k * SAVE_STEP)
            .filter(|&n| n > live && n < prefix.len());
        for n in std::iter::once(prefix.len()).chain(steps) {
            let part = &prefix[..n];
            let ids = token_ids(part);
            let Some(file) = cache.lookup(&ids) else {
                continue;
            };
            self.clear_cache();
            match self.ctx.state_seq_load_file(&file, 0, n) {
                Ok((tokens, _)) if tokens == part => {
                    self.cached = tokens;
                    cache.touch(&ids);
                    return n;
                }
                other => {
                    tracing::warn!(
                        "state cache: {} did not load ({:?}); deleting it",
                        file.display(),
                        other.err()
                    );
                    self.clear_cache();
                    cache.remove(&ids);
                    return 0;
                }
            }
        }
        0
    }

    /// Saves the live cache (which holds exactly a document prefix, or the part of it read so
    /// far) to the disk cache.
    pub(super) fn save_prefix(&self) {
        if let Some(cache) = &self.state_cache {
            save_state(cache, &self.ctx, &self.cached);
        }
    }

    /// Forgets everything in the cache after the first `len` tokens.
    pub(super) fn truncate_cache(&mut self, len: usize) {
        if len >= self.cached.len() {
            return;
        }
        let removed = self
            .ctx
            .kv_cache_seq_rm(0, Some(u32::try_from(len).unwrap_or(u32::MAX)), None)
            .is_ok();
        if removed {
            self.cached.truncate(len);
        } else {
            self.clear_cache();
        }
    }
}

/// How many leading tokens `a` and `b` share.
pub(super) fn common_len(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Saves the state of `ctx`, which holds exactly `tokens`, to the disk cache.
pub(super) fn save_state(cache: &StateCache, ctx: &LlamaContext<'_>, tokens: &[LlamaToken]) {
    let result = cache.store(&token_ids(tokens), |path| {
        ctx.state_seq_save_file(path, 0, tokens)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        tracing::warn!("state cache: not saved: {e}");
    }
}
