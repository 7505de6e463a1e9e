//! xgen-desk: an offline desktop assistant for Salesforce XGen-7B-8K-Inst on llama.cpp.
//!
//! The binary is thin (`main.rs`); everything lives here so that tests build the real parts.
//! - [`engine`]: one named thread that owns llama.cpp; commands in, events out.
//! - [`remote`]: the same requests answered by an inference server (llama-server, vLLM).
//! - [`backend`]: whichever answers (the engine here, a server, or XGen's tokenizer alone).
//! - [`tokenizer`]: XGen's exact tokenizer without the model (`tokenizer.json`).
//! - [`prompt`]: the XGen prompt format and GGUF chat templates.
//! - [`documents`]: text and page/heading markers from the files of every [`documents::Format`].
//! - [`ocr`]: text recognised in page images (scans, photographs), on the CPU, offline.
//! - [`isolate`]: work on untrusted files in a child process with time and memory limits.
//! - [`summarize`]: token-exact one-pass or map-reduce summaries of documents of any length.
//! - [`sources`]: where each sentence of a reply comes from, the claims a document does not
//!   make, and the passages a question about a long document reads.
//! - [`hub`] and [`catalog`]: model downloads from Hugging Face and the installed-model registry.
//! - [`cli`]: the headless subcommands. [`app`]: the egui desktop app.

pub mod app;
pub mod backend;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod documents;
pub mod engine;
pub mod error_text;
pub mod hub;
pub mod isolate;
pub mod ocr;
pub mod paths;
pub mod pipeline;
pub mod prompt;
pub mod remote;
pub mod sources;
pub mod summarize;
pub mod tokenizer;

pub use xgen_quantize as quantize;
