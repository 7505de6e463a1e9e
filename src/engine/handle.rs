//! Request handles: each load or reply has its own event stream and its own cancel flag, and
//! every wait on it also watches the engine thread, so no wait hangs on an engine that died.

use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;

use super::{
    EngineError, Life, LoadEvent, ModelInfo, ReplyEvent, RequestEvent, StopReason, Timings,
};
use crate::cancel::CancelToken;

/// One request to the engine: its events in order, ending with a final one.
pub struct Handle<E> {
    id: u64,
    events: mpsc::Receiver<E>,
    cancel: CancelToken,
    life: Arc<Life>,
    finished: bool,
}

/// A model load ([`super::Engine::load`]).
pub type LoadHandle = Handle<LoadEvent>;

/// A reply ([`super::Engine::generate`]).
pub type ReplyHandle = Handle<ReplyEvent>;

/// A document read ahead ([`super::Engine::preread`]).
pub type PrereadHandle = Handle<super::PrereadEvent>;

impl<E: RequestEvent> Handle<E> {
    pub(super) fn new(
        id: u64,
        events: mpsc::Receiver<E>,
        cancel: CancelToken,
        life: Arc<Life>,
    ) -> Self {
        Self {
            id,
            events,
            cancel,
            life,
            finished: false,
        }
    }

    /// A number that tells requests of one engine apart (for logs).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stops this request: a reply within one token, a load at its next progress report.
    /// Requests made later are not affected.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The request's cancel token, for another thread to stop it.
    #[must_use]
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// True once the final event was returned.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next event if one has arrived, without waiting: `Ok(None)` when none has (or after
    /// the final one), `Err(Stopped)` when the engine died before the request ended.
    ///
    /// # Errors
    /// [`EngineError::Stopped`] with the reason the engine stopped.
    pub fn try_recv(&mut self) -> Result<Option<E>, EngineError> {
        if self.finished {
            return Ok(None);
        }
        match self.events.try_recv() {
            Ok(event) => Ok(Some(self.seen(event))),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.stopped()),
        }
    }

    /// The next event, waiting for it: `Ok(None)` after the final one.
    ///
    /// # Errors
    /// [`EngineError::Stopped`] when the engine died before the request ended.
    pub fn recv(&mut self) -> Result<Option<E>, EngineError> {
        if self.finished {
            return Ok(None);
        }
        match self.events.recv() {
            Ok(event) => Ok(Some(self.seen(event))),
            Err(_) => Err(self.stopped()),
        }
    }

    fn seen(&mut self, event: E) -> E {
        if event.is_final() {
            self.finished = true;
        }
        event
    }

    fn stopped(&mut self) -> EngineError {
        self.finished = true;
        self.life.stopped_error()
    }
}

impl LoadHandle {
    /// Waits for the load to end.
    ///
    /// # Errors
    /// The load's error, or [`EngineError::Stopped`].
    pub fn wait(self) -> Result<ModelInfo, EngineError> {
        self.wait_with(|_| {})
    }

    /// Waits for the load to end, passing each progress fraction to `on_progress`.
    ///
    /// # Errors
    /// The load's error, or [`EngineError::Stopped`].
    pub fn wait_with(mut self, mut on_progress: impl FnMut(f32)) -> Result<ModelInfo, EngineError> {
        while let Some(event) = self.recv()? {
            match event {
                LoadEvent::Progress(fraction) => on_progress(fraction),
                LoadEvent::Loaded(info) => return Ok(info),
                LoadEvent::Failed(error) => return Err(error),
            }
        }
        Err(self.life.stopped_error())
    }
}

/// A reply that ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// All of its text.
    pub text: String,
    /// Why it ended.
    pub reason: StopReason,
    /// Figures.
    pub timings: Timings,
}

impl ReplyHandle {
    /// Waits for the reply to end.
    ///
    /// # Errors
    /// The request's error, or [`EngineError::Stopped`].
    pub fn wait(self) -> Result<Finished, EngineError> {
        self.wait_with(|_| {})
    }

    /// Waits for the reply to end, passing every event before the final one to `on_event`
    /// (text to stream, prompt progress).
    ///
    /// # Errors
    /// The request's error, or [`EngineError::Stopped`].
    pub fn wait_with(
        mut self,
        mut on_event: impl FnMut(&ReplyEvent),
    ) -> Result<Finished, EngineError> {
        let mut text = String::new();
        while let Some(event) = self.recv()? {
            match event {
                ReplyEvent::Done { reason, timings } => {
                    return Ok(Finished {
                        text,
                        reason,
                        timings,
                    })
                }
                ReplyEvent::Failed(error) => return Err(error),
                other => {
                    if let ReplyEvent::Text(piece) = &other {
                        text.push_str(piece);
                    }
                    on_event(&other);
                }
            }
        }
        Err(self.life.stopped_error())
    }
}
