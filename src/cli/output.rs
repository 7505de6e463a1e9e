//! Standard output for results. A reader that goes away (`xgen-desk summarize x | head`) ends
//! the command normally: writes then fail with [`StdoutClosed`], which `main` turns into exit
//! code 0, and the command stops instead of generating text nobody reads. `println!` would
//! panic there, so results never go through it.

use std::io::{self, Write};

/// Standard output was closed by its reader.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes `text` to standard output and flushes it (streamed replies show as they come).
///
/// # Errors
/// [`StdoutClosed`] when the reader went away; other I/O errors as they are.
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("could not write to standard output")),
    }
}

/// Writes `text` and a line break.
///
/// # Errors
/// As [`write()`].
pub fn line(text: &str) -> anyhow::Result<()> {
    write(&format!("{text}\n"))
}

/// True when `error` (or one of its causes) is [`StdoutClosed`].
#[must_use]
pub fn is_closed_stdout(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<StdoutClosed>())
}
