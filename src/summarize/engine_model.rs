//! [`SummaryModel`] on the real engine: requests go to the engine thread, and this side
//! listens on the channel its events arrive on, ignoring other requests' events.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Completion, SummarizeError, SummaryModel};
use crate::engine::{Engine, EngineError, Event, GenerateRequest, Sampling};
use crate::hub::CancelToken;
use crate::prompt::Message;

/// How often a running request checks the caller's cancel token.
const POLL: Duration = Duration::from_millis(25);

/// The engine as a [`SummaryModel`]. The app routes the engine's events for this request to
/// `events` (the CLI passes the engine's own channel); events of other request ids are
/// ignored.
pub struct EngineModel<'a> {
    engine: &'a Engine,
    events: &'a Receiver<Event>,
    n_ctx: usize,
    sampling: Sampling,
    /// No event for this long means the engine is stuck.
    pub timeout: Duration,
    /// Called with (tokens read, tokens to read) while a prompt is evaluated.
    pub on_prefill: Option<Box<dyn FnMut(usize, usize) + 'a>>,
}

impl<'a> EngineModel<'a> {
    /// A model over a loaded engine whose context holds `n_ctx` tokens; `sampling` is used for
    /// every call, with `max_tokens` set per call.
    #[must_use]
    pub fn new(
        engine: &'a Engine,
        events: &'a Receiver<Event>,
        n_ctx: u32,
        sampling: Sampling,
    ) -> Self {
        Self {
            engine,
            events,
            n_ctx: n_ctx as usize,
            sampling,
            timeout: Duration::from_secs(600),
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
        let id = self.engine.next_request_id();
        let sampling = Sampling {
            max_tokens,
            ..self.sampling.clone()
        };
        self.engine
            .generate(GenerateRequest::chat(id, messages.to_vec(), sampling));
        let mut text = String::new();
        let mut cancel_sent = false;
        let mut last_event = Instant::now();
        loop {
            // Checked after `generate`, which clears the engine's flag when it sends.
            if !cancel_sent && cancel.is_cancelled() {
                self.engine.cancel();
                cancel_sent = true;
            }
            match self.events.recv_timeout(POLL) {
                Ok(Event::Token {
                    id: got,
                    text: piece,
                }) if got == id => {
                    last_event = Instant::now();
                    text.push_str(&piece);
                    on_piece(&piece);
                }
                Ok(Event::PromptProgress {
                    id: got,
                    done,
                    total,
                }) if got == id => {
                    last_event = Instant::now();
                    if let Some(on_prefill) = self.on_prefill.as_mut() {
                        on_prefill(done, total);
                    }
                }
                Ok(Event::Done {
                    id: got,
                    reason,
                    timings,
                }) if got == id => {
                    return Ok(Completion {
                        text,
                        stop: reason,
                        timings,
                    })
                }
                Ok(Event::Failed { id: got, error }) if got == id => return Err(error.into()),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if last_event.elapsed() > self.timeout {
                        self.engine.cancel();
                        return Err(EngineError::Stopped.into());
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(EngineError::Stopped.into()),
            }
        }
    }
}
