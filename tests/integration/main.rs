//! Integration tests: the real llama.cpp, real GGUF files, real HTTP on loopback.

mod app;
mod cli;
mod common;
mod documents;
mod engine;
mod hub;
mod mock_hub;
mod plan;
mod state_cache;
mod summarize;
mod xgen;
