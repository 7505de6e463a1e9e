// Fuzz entry: a GGUF header's facts and the memory planner on them: the dimensions are held
// to their ranges and every estimate is saturating, so no header and no request makes the
// planner panic or run long.

use std::path::Path;

use xgen_desk::engine::plan::GpuMemory;
use xgen_desk::engine::{plan, Hardware, KvPrecision, ModelFacts, PlanRequest};
use xgen_quantize::gguf::{GgufFile, ReadOptions};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(file) = GgufFile::from_bytes(data, data.len() as u64, ReadOptions::HEADER) else {
        return;
    };
    let Ok(facts) = ModelFacts::from_header(&file, Path::new("fuzz.gguf")) else {
        return;
    };
    let gib = 1u64 << 30;
    let gpu = Hardware {
        ram_total: 16 * gib,
        ram_available: 12 * gib,
        gpus: vec![GpuMemory {
            name: "fuzz".to_owned(),
            total: 8 * gib,
            free: 6 * gib,
            shared: false,
        }],
    };
    let requests = [
        PlanRequest::default(),
        PlanRequest {
            n_ctx: Some(u32::MAX),
            n_batch: u32::MAX,
            flash_attention: Some(false),
            ..PlanRequest::default()
        },
        PlanRequest {
            gpu_layers: Some(u32::MAX),
            kv_cache: Some(KvPrecision::Q4_0),
            ..PlanRequest::default()
        },
    ];
    for hardware in [Hardware::cpu_only(8 * gib, 6 * gib), gpu] {
        for request in &requests {
            if let Ok(p) = plan(&facts, &hardware, request) {
                assert!(p.gpu_layers <= p.total_layers);
                let _text = p.to_string();
            }
        }
    }
}
