//! [`SummaryModel`] on a real engine (the local one or a server, [`Inference`]): each model
//! call is one request with its own handle; the summary's cancel token reaches the calls under
//! way. On a server with several slots, the parts of a document are sent at the same time.

use std::time::Duration;

use super::{one_after_another, Completion, PartEvent, SummarizeError, SummaryModel};
use crate::cancel::CancelToken;
use crate::documents::Document;
use crate::engine::{
    CachePrefix, GenerateRequest, Inference, ReplyEvent, ReplyHandle, Sampling, StopReason,
};
use crate::prompt::{document_len, Message, SummaryStyle};

/// How often the parallel calls are looked at while none has news.
const POLL: Duration = Duration::from_millis(10);

/// An engine as a [`SummaryModel`].
pub struct EngineModel<'a> {
    engine: &'a dyn Inference,
    n_ctx: usize,
    sampling: Sampling,
    /// Called with (tokens read, tokens to read) while a prompt is evaluated.
    pub on_prefill: Option<Box<dyn FnMut(usize, usize) + 'a>>,
    /// The one-pass prompt of the document being summarized, and the bytes of its message
    /// that are the document.
    one_pass: Option<(Vec<Message>, usize)>,
}

impl<'a> EngineModel<'a> {
    /// A model over a loaded engine whose context holds `n_ctx` tokens; `sampling` is used for
    /// every call, with `max_tokens` set per call.
    #[must_use]
    pub fn new(engine: &'a dyn Inference, n_ctx: u32, sampling: Sampling) -> Self {
        Self {
            engine,
            n_ctx: n_ctx as usize,
            sampling,
            on_prefill: None,
            one_pass: None,
        }
    }

    /// Marks the document of `document`'s one-pass prompt (in `style`) for the disk state
    /// cache: a one-pass summary then loads its state when it was read before (or ahead,
    /// alongside another summary) and saves it once read.
    #[must_use]
    pub fn with_document(mut self, document: &Document, style: SummaryStyle) -> Self {
        self.one_pass = Some((
            super::single_pass_messages(document, style),
            document_len(&document.text),
        ));
        self
    }

    fn request(&self, messages: &[Message], max_tokens: u32) -> GenerateRequest {
        let sampling = Sampling {
            max_tokens,
            ..self.sampling.clone()
        };
        let request = GenerateRequest::chat(messages.to_vec(), sampling);
        match &self.one_pass {
            Some((one_pass, bytes)) if one_pass.as_slice() == messages => request
                .with_cache_prefix(CachePrefix::Document {
                    message: 0,
                    bytes: *bytes,
                }),
            _ => request,
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
        let request = self.request(messages, max_tokens);
        let handle = self.engine.generate_with_cancel(request, cancel.clone());
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

    fn complete_parts(
        &mut self,
        prompts: &[(Vec<Message>, u32)],
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(PartEvent),
    ) -> Result<(), SummarizeError> {
        let slots = self.engine.parallel_slots();
        if slots <= 1 {
            return one_after_another(self, prompts, cancel, on_event);
        }
        let mut calls = Calls::default();
        let result = self.run_parallel(prompts, slots, cancel, on_event, &mut calls);
        // Calls still under way after a failure are stopped: nobody reads them any more.
        calls.cancel_all();
        result
    }
}

/// The calls under way: each with its own cancel token, so a failed part stops the others
/// without cancelling the summary.
#[derive(Default)]
struct Calls {
    running: Vec<(usize, ReplyHandle, String)>,
}

impl Calls {
    fn cancel_all(&self) {
        for (_, handle, _) in &self.running {
            handle.cancel();
        }
    }
}

impl EngineModel<'_> {
    fn run_parallel(
        &self,
        prompts: &[(Vec<Message>, u32)],
        slots: usize,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(PartEvent),
        calls: &mut Calls,
    ) -> Result<(), SummarizeError> {
        let mut next = 0;
        loop {
            if cancel.is_cancelled() {
                calls.cancel_all();
            } else {
                while calls.running.len() < slots && next < prompts.len() {
                    let (messages, max_tokens) = &prompts[next];
                    let request = self.request(messages, *max_tokens);
                    let handle = self
                        .engine
                        .generate_with_cancel(request, CancelToken::new());
                    on_event(PartEvent::Started(next));
                    calls.running.push((next, handle, String::new()));
                    next += 1;
                }
            }
            if calls.running.is_empty() {
                return Ok(());
            }
            let mut news = false;
            let mut ended = Vec::new();
            for (slot, (index, handle, text)) in calls.running.iter_mut().enumerate() {
                while let Some(event) = handle.try_recv()? {
                    news = true;
                    match event {
                        ReplyEvent::Text(piece) => text.push_str(&piece),
                        ReplyEvent::Prompt { .. } => {}
                        ReplyEvent::Done { reason, timings } => {
                            let completion = Completion {
                                text: std::mem::take(text),
                                stop: reason,
                                timings,
                            };
                            ended.push((slot, *index, completion));
                            break;
                        }
                        ReplyEvent::Failed(error) => return Err(error.into()),
                    }
                }
            }
            for (slot, index, completion) in ended.into_iter().rev() {
                calls.running.remove(slot);
                let cancelled = completion.stop == StopReason::Cancelled;
                on_event(PartEvent::Finished(index, completion));
                if cancelled {
                    // A part that did not finish leaves a gap: no further part is started.
                    next = prompts.len();
                    calls.cancel_all();
                }
            }
            if !news {
                std::thread::sleep(POLL);
            }
        }
    }
}
