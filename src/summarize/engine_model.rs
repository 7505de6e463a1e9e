//! [`SummaryModel`] on the real engine: each model call is one request with its own handle;
//! the summary's cancel token is the request's, so Stop reaches the call under way.

use super::{Completion, SummarizeError, SummaryModel};
use crate::cancel::CancelToken;
use crate::engine::{Engine, GenerateRequest, ReplyEvent, Sampling};
use crate::prompt::Message;

/// The engine as a [`SummaryModel`].
pub struct EngineModel<'a> {
    engine: &'a Engine,
    n_ctx: usize,
    sampling: Sampling,
    /// Called with (tokens read, tokens to read) while a prompt is evaluated.
    pub on_prefill: Option<Box<dyn FnMut(usize, usize) + 'a>>,
}

impl<'a> EngineModel<'a> {
    /// A model over a loaded engine whose context holds `n_ctx` tokens; `sampling` is used for
    /// every call, with `max_tokens` set per call.
    #[must_use]
    pub fn new(engine: &'a Engine, n_ctx: u32, sampling: Sampling) -> Self {
        Self {
            engine,
            n_ctx: n_ctx as usize,
            sampling,
            on_prefill: None,
        }
    }
}

impl SummaryModel for EngineModel<'_> {
    fn context(&self) -> usize {
        self.n_ctx
    }

    fn count_tokens(&mut self, text: &str) -> Result<usize, SummarizeError> {
        Ok(self.engine.count_tokens(text)?)
    }

    fn prompt_tokens(&mut self, messages: &[Message]) -> Result<usize, SummarizeError> {
        Ok(self.engine.count_prompt_tokens(messages)?)
    }

    fn complete(
        &mut self,
        messages: &[Message],
        max_tokens: u32,
        cancel: &CancelToken,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Completion, SummarizeError> {
        let sampling = Sampling {
            max_tokens,
            ..self.sampling.clone()
        };
        let handle = self.engine.generate_with_cancel(
            GenerateRequest::chat(messages.to_vec(), sampling),
            cancel.clone(),
        );
        let on_prefill = &mut self.on_prefill;
        let finished = handle.wait_with(|event| match event {
            ReplyEvent::Text(piece) => on_piece(piece),
            ReplyEvent::Prompt { done, total } => {
                if let Some(on_prefill) = on_prefill.as_mut() {
                    on_prefill(*done, *total);
                }
            }
            ReplyEvent::Done { .. } | ReplyEvent::Failed(_) => {}
        })?;
        Ok(Completion {
            text: finished.text,
            stop: finished.reason,
            timings: finished.timings,
        })
    }
}
