//! What answers requests, as a trait: the engine thread here, and elsewhere an inference server
//! (`crate::remote`) or XGen's tokenizer alone (`crate::tokenizer`). Each gives the same
//! request handles, so the app, the CLI and the summarizer do not care which one answers.

use std::sync::Arc;

use super::{
    request_channel, Engine, EngineError, GenerateRequest, Handle, Life, Notify, PrereadEvent,
    PrereadHandle, PrereadRequest, ReplyHandle, RequestEvent, Wake,
};
use crate::cancel::CancelToken;
use crate::prompt::Message;

/// What answers requests: generation and token counting.
pub trait Inference: Send + Sync {
    /// Starts a reply; `cancel` stops it (within a token here, by closing the request on a
    /// server).
    fn generate_with_cancel(&self, request: GenerateRequest, cancel: CancelToken) -> ReplyHandle;

    /// Starts a reply with a cancel token of its own.
    fn generate(&self, request: GenerateRequest) -> ReplyHandle {
        self.generate_with_cancel(request, CancelToken::new())
    }

    /// Tokens of plain text (special tokens not parsed).
    ///
    /// # Errors
    /// When there is nothing to count with, or the server cannot be asked.
    fn count_tokens(&self, text: &str) -> Result<usize, EngineError>;

    /// Tokens of the whole prompt a conversation becomes.
    ///
    /// # Errors
    /// As [`Inference::count_tokens`], and template errors.
    fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError>;

    /// Reads a document ahead of any request about it ([`Engine::preread`]). Where nothing
    /// can be read ahead, the handle ends at once, having read nothing.
    fn preread(&self, _request: PrereadRequest) -> PrereadHandle {
        ended_at_once(PrereadEvent::Done {
            done: 0,
            total: 0,
            restored: 0,
        })
    }

    /// Forgets any cached conversation.
    fn clear_cache(&self) {}

    /// Why the engine is gone, once it is.
    fn stopped(&self) -> Option<String> {
        None
    }

    /// Requests that are answered at the same time (a server's slots); 1 answers one after
    /// another.
    fn parallel_slots(&self) -> usize {
        1
    }

    /// False when token counts are estimates (a server that cannot tokenize).
    fn exact_counts(&self) -> bool {
        true
    }
}

impl Inference for Engine {
    fn generate_with_cancel(&self, request: GenerateRequest, cancel: CancelToken) -> ReplyHandle {
        Engine::generate_with_cancel(self, request, cancel)
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Engine::count_tokens(self, text)
    }

    fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError> {
        Engine::count_prompt_tokens(self, messages)
    }

    fn preread(&self, request: PrereadRequest) -> PrereadHandle {
        Engine::preread(self, request)
    }

    fn clear_cache(&self) {
        Engine::clear_cache(self);
    }

    fn stopped(&self) -> Option<String> {
        Engine::stopped(self)
    }
}

/// A handle whose request ended before it began, with `event`.
pub(crate) fn ended_at_once<E: RequestEvent>(event: E) -> Handle<E> {
    let nobody: Notify = Arc::new(|_: Wake| {});
    let (outbox, handle) =
        request_channel(0, CancelToken::new(), nobody, Arc::new(Life::default()));
    outbox.send(event);
    handle
}
