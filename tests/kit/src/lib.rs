//! The test and benchmark kit of xgen-desk: what tests and benchmark scripts need and the
//! shipped binary must not carry.
//!
//! - [`fixture`]: a tiny XGen-shaped checkpoint and GGUFs with random weights;
//! - [`engine_bench`]: the document state cache and the memory planner measured on a model;
//! - [`summary_bench`]: synthetic documents summarized in one pass or in parts;
//! - [`draft_bench`]: generation with and without drafts, and the cost of a verify batch;
//! - [`preread_bench`]: a summary clicked at times while its document is read ahead;
//! - [`thread_trace`]: step times with each thread count, quiet and with busy cores, for the
//!   thread policy's unit tests;
//! - [`sources_bench`]: sources and claims of replies, and long-document questions, on real texts;
//! - [`save_loop`]: a conversation saved over and over (the crash-safety test kills it);
//! - `xgen-dev` (`src/bin/xgen-dev.rs`): the developer commands the benchmark scripts run.
//!
//! Depending on the kit turns on the engine's `fault-injection` feature.

pub mod draft_bench;
pub mod engine_bench;
pub mod fixture;
pub mod preread_bench;
pub mod sources_bench;
pub mod summary_bench;
pub mod thread_trace;

use std::path::Path;

use xgen_desk::app::{ChatMessage, Conversation, ConversationStore, StoreError};

/// Two versions of conversation `loop`: every message says "A" in one and "B" in the other,
/// each about 1 MB, so that a process killed while saving often dies mid-write.
#[must_use]
pub fn save_loop_versions() -> [Conversation; 2] {
    ["A", "B"].map(|letter| {
        let mut c = Conversation::new();
        "loop".clone_into(&mut c.id);
        letter.clone_into(&mut c.title);
        c.messages = (0..64)
            .map(|_| ChatMessage::user(letter.repeat(16 * 1024)))
            .collect();
        c
    })
}

/// Saves the two [`save_loop_versions`] in `dir`, alternating, `rounds` times (forever with
/// `None`).
///
/// # Errors
/// The first failed save.
pub fn save_loop(dir: &Path, rounds: Option<usize>) -> Result<(), StoreError> {
    let store = ConversationStore::new(dir);
    let versions = save_loop_versions();
    let mut round = 0;
    while rounds.is_none_or(|n| round < n) {
        for c in &versions {
            store.save(c)?;
        }
        round += 1;
    }
    Ok(())
}

/// Child processes of tests: a test that needs a process of its own (to kill it, or to read its
/// peak memory) runs this test binary again with only one test selected and a role in the
/// environment; that test sees its role and acts as the child.
pub mod child {
    use std::process::Command;

    /// The environment variable that carries the role.
    pub const ROLE: &str = "XGEN_TEST_CHILD_ROLE";

    /// The role this process was started with, if it is a child.
    #[must_use]
    pub fn role() -> Option<String> {
        std::env::var(ROLE).ok()
    }

    /// A command that runs test `test` (its full path, e.g. `app::save_loop_child`) of this
    /// test binary as a child with `role`.
    ///
    /// # Panics
    /// When the path of the running test binary is unknown (a test may panic).
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "a test binary that does not know its own path cannot run its child"
    )]
    pub fn command(test: &str, role: &str) -> Command {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1", "-q"])
            .env(ROLE, role);
        command
    }
}
