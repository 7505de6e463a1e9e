//! Integration tests: the real llama.cpp, real GGUF files, real HTTP on loopback.

mod cli;
mod common;
mod engine;
mod hub;
mod mock_hub;
mod xgen;
