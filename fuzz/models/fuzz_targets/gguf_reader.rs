#![no_main]
//! cargo-fuzz target `gguf_reader`: the entry in `fuzz/models/entries/gguf_reader.rs`, which a regular
//! test also runs on the saved corpus and on every crash input.

include!("../entries/gguf_reader.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
