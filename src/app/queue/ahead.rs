//! The next file of the queue, read ahead into the engine while the file before it is
//! summarized.

use crate::backend::Backend;
use crate::documents::Document;
use crate::engine::{CachePrefix, PrereadEvent, PrereadHandle, PrereadRequest};
use crate::prompt::{document_len, SummaryStyle};
use crate::summarize;

/// The next file of the queue, read ahead while the file before it is written.
///
/// Where requests are answered side by side (a server with several slots), the summary being
/// written holds one slot and another reads the next file's one-pass prompt up to the end of
/// its document, so that its summary then reads only the request (llama-server gives a request
/// the slot whose cache shares most with it). The local engine reads it in a second context of
/// its own, between the steps of the summary being written, where memory allows
/// ([`crate::engine::Engine::preread_alongside`]), and hands it over through the disk state
/// cache. A document longer than the context ends at once, having read nothing (it is read in
/// parts).
pub(crate) struct Ahead {
    pub(crate) id: u64,
    handle: PrereadHandle,
}

impl Ahead {
    /// Starts reading `document` (file `id`) ahead: in a second context of the local engine,
    /// or on a server that answers several requests at once; `None` on one that does not.
    pub(crate) fn start(
        id: u64,
        document: &Document,
        engine: &Backend,
        style: SummaryStyle,
    ) -> Option<Self> {
        let request = PrereadRequest {
            messages: summarize::single_pass_messages(document, style),
            prefix: CachePrefix::Document {
                message: 0,
                bytes: document_len(&document.text),
            },
        };
        let handle = match engine {
            Backend::Local(engine) => engine.preread_alongside(request),
            _ if engine.parallel_slots() >= 2 => engine.preread(request),
            _ => return None,
        };
        Some(Self { id, handle })
    }

    /// What to show for the file from what arrived since the last call: the tokens read so far
    /// and in all, or why it is not read ahead (not enough memory for a second context, …).
    /// A failure only ends the reading ahead: the summary reads the document itself.
    pub(crate) fn poll(&mut self) -> Option<String> {
        let mut last = None;
        while let Ok(Some(event)) = self.handle.try_recv() {
            last = Some(match event {
                PrereadEvent::Progress { done, total } | PrereadEvent::Done { done, total, .. } => {
                    format!("Read ahead: {done} of {total} tokens")
                }
                PrereadEvent::Failed(error) => format!("Not read ahead: {error}"),
            });
        }
        last
    }

    /// The reading ahead ended (done, failed, or nothing to read).
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}
