#![no_main]
//! cargo-fuzz target `gguf_facts`: the entry in `fuzz/models/entries/gguf_facts.rs`, which a regular
//! test also runs on the saved corpus and on every crash input.

include!("../entries/gguf_facts.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
