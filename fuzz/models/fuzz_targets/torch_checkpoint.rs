#![no_main]
//! cargo-fuzz target `torch_checkpoint`: the entry in `fuzz/models/entries/torch_checkpoint.rs`, which a regular
//! test also runs on the saved corpus and on every crash input.

include!("../entries/torch_checkpoint.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
