//! Integration tests: the real llama.cpp, real GGUF files, real HTTP on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use,
    reason = "a failed unwrap is a failed test, with its message; results a test does not need are dropped"
)]

mod app;
mod check;
mod cli;
mod common;
mod cpu;
mod documents;
mod engine;
mod fuzz_replay;
mod hostile;
mod hub;
mod mock_hub;
mod ocr;
mod pdf;
mod plan;
mod preread;
mod queue;
mod real_pdfs;
mod remote;
mod scans;
mod scripts;
mod sources;
mod sources_app;
mod state_cache;
mod stores;
mod summarize;
mod threads;
#[cfg(feature = "vulkan")]
mod vulkan;
mod xgen;
