// Fuzz entry: a checkpoint's `config.json` text through the converter's validation and
// output plan (nothing is read or written), and the same bytes as a safetensors file through
// the header check. A config that validates always plans without overflow; every tensor a
// safetensors header yields lies inside the file.

use std::path::Path;

use xgen_quantize::convert::{planned_output, safetensors_tensors};
use xgen_quantize::{LlamaConfig, OutType};

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cfg) = LlamaConfig::from_json(Path::new("config.json"), text) {
            for with_output in [false, true] {
                for out_type in [OutType::F16, OutType::F32] {
                    let planned = planned_output(&cfg, out_type, with_output);
                    assert!(planned.is_ok(), "{cfg:?}: {planned:?}");
                }
            }
        }
    }
    if let Ok(tensors) = safetensors_tensors(data) {
        for t in tensors {
            assert!(t.start <= t.end && t.end <= data.len(), "{t:?}");
        }
    }
}
