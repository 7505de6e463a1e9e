//! Integration tests of xgen-quantize: one target, topic modules under `suite/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use,
    reason = "a failed unwrap is a failed test, with its message; results a test does not need are dropped"
)]

#[path = "suite/alloc.rs"]
mod alloc;
#[path = "suite/common.rs"]
mod common;
#[path = "suite/convert.rs"]
mod convert;
#[path = "suite/convert_hostile.rs"]
mod convert_hostile;
#[path = "suite/faults.rs"]
mod faults;
#[path = "suite/fuzz_replay.rs"]
mod fuzz_replay;
#[path = "suite/gguf.rs"]
mod gguf;
#[path = "suite/gguf_hostile.rs"]
mod gguf_hostile;
#[path = "suite/quantize.rs"]
mod quantize;
#[path = "suite/tokenizer.rs"]
mod tokenizer;
#[path = "suite/torch_bin.rs"]
mod torch_bin;
#[path = "suite/torch_hostile.rs"]
mod torch_hostile;
#[path = "suite/vocab.rs"]
mod vocab;
