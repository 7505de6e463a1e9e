#![no_main]
//! Fuzz target `markdown`: see `fuzz/harness.rs`.
#![allow(dead_code, unused_imports)]

#[path = "../../src/isolate.rs"]
mod isolate;

#[path = "../readers.rs"]
mod xgen_desk;

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::markdown(data));
