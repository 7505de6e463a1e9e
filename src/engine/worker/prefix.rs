//! Document prefixes: which leading tokens of a prompt are a document, and their KV state kept
//! on disk so that a document read once is not read again (in a new engine, after a restart,
//! or half-way, from the last step saved while it was being read).
//!
//! [`StepSaver`] is the one step-saver of every slot that reads a document (ahead in the main
//! context, or alongside in a second one): it saves the part read in steps as it grows, each
//! replacing the one before, and at the end the whole document or what was read of it.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::token::LlamaToken;

use super::mirror::{common_len, Mirror};
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
        let live = self.cached.common_len(prefix);
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
                    self.cached.loaded(tokens);
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
            save_state(cache, &self.ctx, self.cached.tokens());
        }
    }

    /// Forgets everything in the cache after the first `len` tokens.
    pub(super) fn truncate_cache(&mut self, len: usize) {
        self.cached.truncate(&mut self.ctx, len);
    }
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

/// What a slot reading a document has saved of it on disk so far, in steps of [`SAVE_STEP`]
/// tokens. The context it saves from holds the document's first tokens (its [`Mirror`] says how
/// many).
#[derive(Debug, Default)]
pub(super) struct StepSaver {
    /// Length of the partial state saved on disk last, to replace with the next step.
    saved: Option<usize>,
}

impl StepSaver {
    /// A saver that goes on from `restored` tokens of `target` loaded from a step saved before:
    /// the next step (or the whole) replaces that one.
    pub(super) fn resumed(restored: usize, target: &[LlamaToken]) -> Self {
        Self {
            saved: (restored > 0 && restored < target.len()).then_some(restored),
        }
    }

    /// After a batch of `target` was read: saves what the context holds (exactly the first
    /// `mirror.len()` tokens of `target`) when it grew a step beyond the last save.
    pub(super) fn after_batch(
        &mut self,
        cache: Option<&StateCache>,
        ctx: &LlamaContext<'_>,
        mirror: &Mirror,
        target: &[LlamaToken],
    ) {
        let len = mirror.len();
        if len >= target.len() || len - self.saved.unwrap_or(0) < SAVE_STEP {
            return;
        }
        if let Some(cache) = cache {
            self.save(cache, ctx, target, len);
        }
    }

    /// When the reading ends: saves the whole of `target` when the context holds it (unless it
    /// is on disk already), else what was read of it rounded down to a step (cutting the cache
    /// there), and deletes the step saved before.
    pub(super) fn finish(
        &mut self,
        cache: Option<&StateCache>,
        ctx: &mut LlamaContext<'_>,
        mirror: &mut Mirror,
        target: &[LlamaToken],
    ) {
        let Some(cache) = cache else {
            return;
        };
        let done = mirror.common_len(target);
        if done == target.len() {
            let ids = token_ids(target);
            if !cache.contains(&ids) && mirror.len() == done {
                save_state(cache, ctx, target);
            }
            if cache.contains(&ids) {
                self.drop_previous(cache, target);
            }
            return;
        }
        // Keep what was read for next time, rounded down to a step.
        let step = done / SAVE_STEP * SAVE_STEP;
        if step > self.saved.unwrap_or(0) {
            if mirror.truncate(ctx, step) == step {
                self.save(cache, ctx, target, step);
            } else {
                tracing::warn!("state cache: could not cut a document's state to a step");
            }
        }
    }

    /// Saves the state of `ctx` as the first `len` tokens of `target` and deletes the step
    /// saved before.
    fn save(
        &mut self,
        cache: &StateCache,
        ctx: &LlamaContext<'_>,
        target: &[LlamaToken],
        len: usize,
    ) {
        save_state(cache, ctx, &target[..len]);
        self.drop_previous(cache, target);
        self.saved = Some(len);
    }

    fn drop_previous(&mut self, cache: &StateCache, target: &[LlamaToken]) {
        if let Some(len) = self.saved.take() {
            if len < target.len() {
                cache.remove(&token_ids(&target[..len]));
            }
        }
    }
}
