//! Helpers shared by the test modules.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use xgen_quantize::{convert_checkpoint, ConvertOptions, OutType};
use xgen_testkit::fixture::{write_tiny_xgen_checkpoint, TinyConfig};

/// llama.cpp's backend may be initialised once per process; its CPU code for this processor is
/// loaded first (on x86-64 Linux and Windows it is a module, chosen at run time).
pub fn backend() -> &'static LlamaBackend {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        xgen_cpu::load().expect("llama.cpp's CPU code");
        LlamaBackend::init().expect("llama backend init")
    })
}

/// A fresh temp dir per test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::TempDir::new().expect("tempdir")
}

/// Writes the tiny fixture into `dir/hf` and returns that directory.
pub fn tiny_checkpoint(dir: &Path, cfg: &TinyConfig, seed: u64) -> PathBuf {
    let hf = dir.join("hf");
    std::fs::create_dir_all(&hf).expect("mkdir");
    write_tiny_xgen_checkpoint(&hf, cfg, seed).expect("fixture");
    hf
}

/// Converts `hf` to `dir/name` at `out_type`.
pub fn convert(hf: &Path, dir: &Path, name: &str, out_type: OutType) -> PathBuf {
    let out = dir.join(name);
    let opts = ConvertOptions {
        out_type,
        name: "tiny-xgen".to_owned(),
        cancel: None,
    };
    convert_checkpoint(hf, &out, &opts, |_| {}).expect("convert");
    out
}

/// Loads a GGUF with llama.cpp on the CPU.
pub fn load(path: &Path) -> LlamaModel {
    LlamaModel::load_from_file(backend(), path, &LlamaModelParams::default()).expect("load gguf")
}

/// Runs `tokens` through llama.cpp in one batch and returns the logits at every position.
pub fn llama_logits(model: &LlamaModel, tokens: &[u32]) -> Vec<Vec<f32>> {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(64))
        .with_n_batch(64)
        .with_n_ubatch(64)
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_type_k(KvCacheType::F32)
        .with_type_v(KvCacheType::F32)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
    let mut ctx = model.new_context(backend(), params).expect("context");
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    for (i, &t) in tokens.iter().enumerate() {
        batch
            .add(LlamaToken(t as i32), i as i32, &[0], true)
            .expect("batch add");
    }
    ctx.decode(&mut batch).expect("decode");
    (0..tokens.len())
        .map(|i| ctx.get_logits_ith(i as i32).to_vec())
        .collect()
}

/// The temporary files a conversion or quantization to `out` left beside it
/// (`.{name}.partial-{pid}-{n}`): none once it has finished or failed.
pub fn partials(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        ".{}.partial",
        out.file_name().expect("file name").to_string_lossy()
    );
    let dir = out.parent().expect("parent");
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect()
}

/// Index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}
