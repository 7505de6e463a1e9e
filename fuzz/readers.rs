//! The library's readers, compiled here from their own source files (`src/documents/`,
//! `src/summarize/chunk.rs`) without the rest of xgen-desk: the fuzz targets then build in
//! minutes instead of also building llama.cpp, the GUI and the HTTP stack with sanitizers.
//! `harness.rs` reaches them as `super::xgen_desk::…`, which the replay test maps to the real
//! library, so both run the same code.

#[path = "../src/documents/mod.rs"]
pub mod documents;

#[path = "../src/summarize/chunk.rs"]
mod chunk;

/// The one error of the summarizer the chunker returns (the library's has more variants).
#[derive(Debug, thiserror::Error)]
pub enum SummarizeError {
    /// The chunk budget cannot hold even one character.
    #[error("a chunk budget of {budget} tokens cannot hold a single character")]
    BudgetTooSmall {
        /// The budget.
        budget: usize,
    },
}

/// The chunker, where the library has it.
pub mod summarize {
    pub use super::chunk::{chunk_text, Chunk};
    pub use super::SummarizeError;
}
