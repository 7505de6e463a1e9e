//! Panics a reader catches, kept quiet. pdf-extract (and lopdf, and the page renderer) panic on
//! much that they do not expect; the readers catch that per page and say so in words (a
//! warning, or an error naming the page). Rust's panic hook would still print "thread 'main'
//! panicked at ..." on the terminal first, next to the real message, so while [`catch`] runs
//! the hook stays silent, and the report goes to the log (`XGEN_DESK_LOG=debug` shows it).
//! Panics anywhere else are printed as always.

use std::cell::Cell;
use std::panic::{catch_unwind, UnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls are running on this thread.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// Runs `work`, turning a panic into its message, without a report on the terminal.
pub(crate) fn catch<R>(work: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                tracing::debug!("a reader panicked (caught): {info}");
            } else {
                previous(info);
            }
        }));
    });
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(work);
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "it panicked".into())
    })
}
