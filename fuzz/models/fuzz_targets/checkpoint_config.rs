#![no_main]
//! cargo-fuzz target `checkpoint_config`: the entry in `fuzz/models/entries/checkpoint_config.rs`, which a regular
//! test also runs on the saved corpus and on every crash input.

include!("../entries/checkpoint_config.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
