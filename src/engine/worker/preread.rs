//! Reading a document ahead: its prefix is evaluated one batch at a time while nothing else
//! is asked of the engine, restored from the disk cache where a step of it was saved, and saved
//! in steps as it grows.

use llama_cpp_2::token::LlamaToken;

use super::prefix::{common_len, SAVE_STEP};
use super::{token_ids, Session};
use crate::engine::{EngineError, Outbox, PrereadEvent, PrereadRequest};

/// A read-ahead under way.
pub(super) struct Preread {
    target: Vec<LlamaToken>,
    reply: Outbox<PrereadEvent>,
    restored: usize,
    /// Length of the partial state saved on disk last, to replace with the next step.
    saved: Option<usize>,
    started: bool,
}

impl Session<'_> {
    /// Starts reading `request`'s document; `None` when there is nothing to read (it ended
    /// already, with its final event sent).
    pub(super) fn preread_start(
        &mut self,
        request: &PrereadRequest,
        reply: Outbox<PrereadEvent>,
    ) -> Option<Preread> {
        let Some(target) = self.prefix_tokens(request.prefix, &request.messages) else {
            reply.send(PrereadEvent::Failed(EngineError::Template(
                "the document's part of the prompt cannot be rendered alone".into(),
            )));
            return None;
        };
        let limit = (self.ctx.n_ctx() as usize).saturating_sub(1);
        if target.is_empty() || target.len() > limit {
            // Nothing to read, or a document the context cannot hold (read in parts instead).
            let total = target.len();
            reply.send(PrereadEvent::Done {
                done: 0,
                total,
                restored: 0,
            });
            return None;
        }
        Some(Preread {
            target,
            reply,
            restored: 0,
            saved: None,
            started: false,
        })
    }

    /// Reads one more batch; true when the read-ahead ended (its final event sent).
    pub(super) fn preread_step(&mut self, job: &mut Preread) -> bool {
        if job.reply.cancelled() {
            self.preread_finish(job, false);
            return true;
        }
        if !job.started {
            job.started = true;
            job.restored = self.restore_prefix(&job.target);
            if job.restored > 0 && job.restored < job.target.len() {
                // A step saved by an earlier read: the whole replaces it when it is saved.
                job.saved = Some(job.restored);
            }
        }
        // A request may have used the cache since the last batch: go on from what it shares.
        let have = common_len(&self.cached, &job.target);
        if have == job.target.len() {
            self.preread_finish(job, true);
            return true;
        }
        self.truncate_cache(have);
        let end = (have + self.n_batch).min(job.target.len());
        let batch = job.target[have..end].to_vec();
        if let Err(error) = self.evaluate(&batch, &mut |_| true) {
            self.clear_cache();
            job.reply.send(PrereadEvent::Failed(error));
            return true;
        }
        job.reply.send(PrereadEvent::Progress {
            done: end,
            total: job.target.len(),
        });
        if end == job.target.len() {
            self.preread_finish(job, true);
            return true;
        }
        if end - job.saved.unwrap_or(0) >= SAVE_STEP {
            self.save_step(job);
        }
        false
    }

    /// Ends a read-ahead that a newer one, or another model, replaces.
    pub(super) fn preread_end(&mut self, mut job: Preread) {
        self.preread_finish(&mut job, false);
    }

    fn preread_finish(&mut self, job: &mut Preread, whole: bool) {
        let done = common_len(&self.cached, &job.target);
        if whole && done == job.target.len() {
            let ids = token_ids(&job.target);
            if self.state_cache.as_ref().is_some_and(|c| !c.contains(&ids)) {
                self.save_prefix();
            }
            self.drop_step(job);
        } else if done > job.saved.unwrap_or(0) && done >= SAVE_STEP {
            // Keep what was read for next time, rounded down to a step.
            let step = done / SAVE_STEP * SAVE_STEP;
            if step > job.saved.unwrap_or(0) {
                self.truncate_cache(step);
                self.save_step(job);
            }
        }
        job.reply.send(PrereadEvent::Done {
            done,
            total: job.target.len(),
            restored: job.restored,
        });
    }

    /// Saves what was read so far (the live cache is a prefix of the target) and deletes the
    /// step saved before it.
    fn save_step(&mut self, job: &mut Preread) {
        if self.state_cache.is_none() {
            return;
        }
        let len = self.cached.len();
        self.save_prefix();
        self.drop_step(job);
        job.saved = Some(len);
    }

    fn drop_step(&mut self, job: &mut Preread) {
        if let (Some(cache), Some(len)) = (self.state_cache.as_ref(), job.saved.take()) {
            if len < job.target.len() {
                cache.remove(&token_ids(&job.target[..len]));
            }
        }
    }
}
