//! Background work for the app: a named thread per job, its messages on a channel of its own,
//! and the UI woken after each, so the window never waits for a file, a download or a model.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::engine::Wake;

/// Streamed text and progress redraw at most this often: drawing every token would take CPU
/// time from the model on machines that render in software.
pub(crate) const STREAM_FRAME: Duration = Duration::from_millis(50);

/// Wakes the UI thread.
#[derive(Clone)]
pub(crate) struct Waker(egui::Context);

impl Waker {
    pub(crate) fn new(ctx: &egui::Context) -> Self {
        Self(ctx.clone())
    }

    pub(crate) fn wake(&self, wake: Wake) {
        match wake {
            Wake::Soon => self.0.request_repaint_after(STREAM_FRAME),
            Wake::Now => self.0.request_repaint(),
        }
    }
}

/// What a job's thread uses to report.
pub(crate) struct Reporter<M> {
    tx: Sender<M>,
    waker: Waker,
    cancel: CancelToken,
}

impl<M> Reporter<M> {
    /// Sends a message; `frequent` ones (progress, text) redraw at a bounded rate.
    pub(crate) fn send(&self, message: M, frequent: bool) {
        // The app dropped the job (it was replaced or cancelled): nobody needs the message.
        if self.tx.send(message).is_ok() {
            self.waker
                .wake(if frequent { Wake::Soon } else { Wake::Now });
        }
    }

    pub(crate) fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }
}

/// A job running on its own thread; dropping it stops listening (and asks the work to stop).
pub(crate) struct Job<M> {
    rx: Receiver<M>,
    cancel: CancelToken,
    finished: bool,
}

impl<M: Send + 'static> Job<M> {
    /// Starts `work` on a thread called `name`.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub(crate) fn spawn(
        name: &str,
        waker: &Waker,
        work: impl FnOnce(&Reporter<M>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let cancel = CancelToken::new();
        let reporter = Reporter {
            tx,
            waker: waker.clone(),
            cancel: cancel.clone(),
        };
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                work(&reporter);
                // The end of the thread wakes the UI too, so a job that ended without a last
                // message is noticed.
                reporter.waker.wake(Wake::Now);
            })?;
        Ok(Self {
            rx,
            cancel,
            finished: false,
        })
    }

    /// The messages that arrived since the last call.
    pub(crate) fn drain(&mut self) -> Vec<M> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(message) => out.push(message),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.finished = true;
                    break;
                }
            }
        }
        out
    }

    /// True once the thread ended and every message was drained.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Asks the work to stop at its next check.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl<M> Drop for Job<M> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Shows a native open dialog off the UI thread (on the UI thread on macOS, which requires it).
pub(crate) fn pick_file(
    waker: &Waker,
    filter_name: &'static str,
    extensions: Vec<&'static str>,
) -> std::io::Result<Job<Option<PathBuf>>> {
    let dialog = move || {
        rfd::FileDialog::new()
            .add_filter(filter_name, &extensions)
            .pick_file()
    };
    if cfg!(target_os = "macos") {
        let picked = dialog();
        return Job::spawn("xgen-file-dialog", waker, move |r| r.send(picked, false));
    }
    Job::spawn("xgen-file-dialog", waker, move |r| r.send(dialog(), false))
}

/// Asks where to save `markdown` with a save dialog offering `file_name` (off the UI thread),
/// then writes it there; a failure comes back as a message for a notice.
pub(crate) fn save_markdown(
    waker: &Waker,
    file_name: String,
    markdown: String,
) -> std::io::Result<Job<String>> {
    Job::spawn("xgen-export", waker, move |r| {
        let Some(path) = rfd::FileDialog::new()
            .set_file_name(file_name)
            .add_filter("Markdown", &["md"])
            .save_file()
        else {
            return;
        };
        if let Err(failure) = write_markdown(&path, &markdown) {
            r.send(failure, false);
        }
    })
}

/// Writes `markdown` to `path` atomically; the failure in words.
pub(crate) fn write_markdown(path: &Path, markdown: &str) -> Result<(), String> {
    xgen_fsio::write_atomic(path, markdown.as_bytes())
        .map_err(|e| format!("could not write {}: {e}", path.display()))
}
