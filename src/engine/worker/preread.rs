//! The read-ahead slot: a document's prefix is evaluated in the main context one batch per
//! step while no reply is written (the lowest-priority work of the loop), restored from the
//! disk cache where a step of it was saved, and saved in steps as it grows.

use llama_cpp_2::token::LlamaToken;

use super::prefix::StepSaver;
use super::Session;
use crate::engine::{EngineError, Outbox, PrereadEvent, PrereadRequest};

/// A read-ahead under way.
pub(super) struct ReadAhead {
    target: Vec<LlamaToken>,
    reply: Outbox<PrereadEvent>,
    restored: usize,
    steps: StepSaver,
    started: bool,
}

impl Session<'_> {
    /// Starts reading `request`'s document; `None` when there is nothing to read (it ended
    /// already, with its final event sent).
    pub(super) fn preread_start(
        &mut self,
        request: &PrereadRequest,
        reply: Outbox<PrereadEvent>,
    ) -> Option<ReadAhead> {
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
        Some(ReadAhead {
            target,
            reply,
            restored: 0,
            steps: StepSaver::default(),
            started: false,
        })
    }

    /// Reads one more batch; true when the read-ahead ended (its final event sent).
    pub(super) fn preread_step(&mut self, job: &mut ReadAhead) -> bool {
        if job.reply.cancelled() {
            self.preread_finish(job);
            return true;
        }
        if !job.started {
            job.started = true;
            job.restored = self.restore_prefix(&job.target);
            job.steps = StepSaver::resumed(job.restored, &job.target);
        }
        // A request may have used the cache since the last batch: go on from what it shares.
        let have = self.cached.common_len(&job.target);
        if have == job.target.len() {
            self.preread_finish(job);
            return true;
        }
        self.truncate_cache(have);
        let end = (have + self.n_batch).min(job.target.len());
        let batch = job.target[have..end].to_vec();
        if let Err(error) = self.evaluate_chunk(&batch, true) {
            self.clear_cache();
            job.reply.send(PrereadEvent::Failed(error));
            return true;
        }
        job.reply.send(PrereadEvent::Progress {
            done: end,
            total: job.target.len(),
        });
        if end == job.target.len() {
            self.preread_finish(job);
            return true;
        }
        job.steps.after_batch(
            self.state_cache.as_ref(),
            &self.ctx,
            &self.cached,
            &job.target,
        );
        false
    }

    /// Ends a read-ahead that a newer one, or another model, replaces.
    pub(super) fn preread_end(&mut self, mut job: ReadAhead) {
        self.preread_finish(&mut job);
    }

    /// Saves what was read (the whole document, or the steps of it read) and sends the final
    /// event.
    fn preread_finish(&mut self, job: &mut ReadAhead) {
        let done = self.cached.common_len(&job.target);
        job.steps.finish(
            self.state_cache.as_ref(),
            &mut self.ctx,
            &mut self.cached,
            &job.target,
        );
        job.reply.send(PrereadEvent::Done {
            done,
            total: job.target.len(),
            restored: job.restored,
        });
    }
}
