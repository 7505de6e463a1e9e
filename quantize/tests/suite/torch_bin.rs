//! PyTorch `.bin` checkpoints: the tiny fixture re-saved in torch's zip format by an independent
//! writer (`torch_bin.py`: Python's `pickle` and `zipfile`, no torch) converts to the very same
//! GGUF as its safetensors original; broken files get clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use xgen_quantize::{
    convert_checkpoint, read_torch_checkpoint, ConvertError, ConvertOptions, ConvertProgress,
    OutType, TorchError,
};
use xgen_testkit::fixture::{TinyConfig, WeightDtype};

use crate::common;

/// Runs `torch_bin.py` on the safetensors checkpoint `src`, writing `dst`.
fn to_bin(src: &Path, dst: &Path, extra: &[&str]) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/suite/torch_bin.py");
    // Windows' Python installers name it `python`.
    let out = Command::new(if cfg!(windows) { "python" } else { "python3" })
        .arg(script)
        .arg(src)
        .arg(dst)
        .args(extra)
        .output()
        .expect("run python3 (scripts/setup-deps.sh installs it)");
    assert!(
        out.status.success(),
        "torch_bin.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dst.to_path_buf()
}

fn convert_with_events(
    hf: &Path,
    out: &Path,
    out_type: OutType,
) -> Result<Vec<ConvertProgress>, ConvertError> {
    let opts = ConvertOptions {
        out_type,
        name: "tiny-xgen".to_owned(),
        cancel: None,
    };
    let mut events = Vec::new();
    convert_checkpoint(hf, out, &opts, |p| events.push(p))?;
    Ok(events)
}

fn convert_err(hf: &Path, dir: &Path) -> ConvertError {
    let out = dir.join("bad.gguf");
    let err = convert_with_events(hf, &out, OutType::F16).expect_err("conversion must fail");
    assert!(!out.exists(), "no output on failure");
    assert!(common::partials(&out).is_empty(), "no partial file left");
    err
}

#[test]
fn bin_shards_convert_to_the_same_gguf_as_safetensors() {
    let tmp = common::tempdir();
    let st = common::tiny_checkpoint(tmp.path(), &TinyConfig::default(), 11);
    let bin = to_bin(&st, &tmp.path().join("bin"), &[]);
    assert!(bin.join("pytorch_model.bin.index.json").is_file());
    assert!(!bin.join("model.safetensors.index.json").exists());

    let shard = std::fs::read(bin.join("pytorch_model-00001-of-00002.bin")).unwrap();
    let table = read_torch_checkpoint(&shard).expect("read shard 1");
    let embd = table
        .iter()
        .find(|t| t.name == "model.embed_tokens.weight")
        .expect("embedding in shard 1");
    assert_eq!(embd.shape, vec![51200, 64]);
    assert_eq!(embd.end - embd.start, 51200 * 64 * 4);
    // The 1-D tensors share one storage: at least one starts past its storage's first byte.
    let norms: Vec<_> = table.iter().filter(|t| t.shape.len() == 1).collect();
    assert!(norms.len() >= 3, "{norms:?}");
    assert!(
        norms.windows(2).all(|w| w[1].start == w[0].end),
        "{norms:?}"
    );

    let from_st = tmp.path().join("st.gguf");
    let from_bin = tmp.path().join("bin.gguf");
    let st_events = convert_with_events(&st, &from_st, OutType::F16).expect("convert st");
    let bin_events = convert_with_events(&bin, &from_bin, OutType::F16).expect("convert bin");
    let (a, b) = (
        std::fs::read(&from_st).unwrap(),
        std::fs::read(&from_bin).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(
        a == b,
        "the .bin conversion differs from the safetensors one"
    );
    assert_eq!(st_events, bin_events, "same progress events");
    assert!(bin_events.len() > 20, "{}", bin_events.len());
}

#[test]
fn single_bin_file_bf16_converts_like_safetensors() {
    let tmp = common::tempdir();
    let cfg = TinyConfig {
        shards: 1,
        dtype: WeightDtype::BF16,
        ..TinyConfig::default()
    };
    let st = common::tiny_checkpoint(tmp.path(), &cfg, 12);
    let bin = to_bin(&st, &tmp.path().join("bin"), &["--single"]);
    assert!(bin.join("pytorch_model.bin").is_file());
    assert!(!bin.join("pytorch_model.bin.index.json").exists());
    let from_st = common::convert(&st, tmp.path(), "st.gguf", OutType::F32);
    let from_bin = common::convert(&bin, tmp.path(), "bin.gguf", OutType::F32);
    assert!(
        std::fs::read(from_st).unwrap() == std::fs::read(from_bin).unwrap(),
        "the .bin conversion differs from the safetensors one"
    );
}

#[test]
fn truncated_bin_shard_is_a_clear_error() {
    let tmp = common::tempdir();
    let st = common::tiny_checkpoint(tmp.path(), &TinyConfig::default(), 13);
    let bin = to_bin(&st, &tmp.path().join("bin"), &[]);
    let shard = bin.join("pytorch_model-00002-of-00002.bin");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let err = convert_err(&bin, tmp.path());
    match &err {
        ConvertError::BadTorchShard {
            path,
            source: TorchError::Zip(_),
        } => assert_eq!(path, &shard),
        other => panic!("expected a zip error on shard 2, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("pytorch_model-00002-of-00002.bin"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn unknown_global_in_pickle_is_refused() {
    let tmp = common::tempdir();
    let st = common::tiny_checkpoint(tmp.path(), &TinyConfig::default(), 14);
    let bin = to_bin(&st, &tmp.path().join("bin"), &["--unknown-global"]);
    let err = convert_err(&bin, tmp.path());
    match &err {
        ConvertError::BadTorchShard {
            source: TorchError::UnknownGlobal { name, .. },
            ..
        } => assert_eq!(name, "system"),
        other => panic!("expected an unknown global, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("unsupported global"), "{msg}");
    assert!(msg.contains("pytorch_model-00001-of-00002.bin"), "{msg}");
}

#[test]
fn non_contiguous_tensor_is_refused() {
    let tmp = common::tempdir();
    let st = common::tiny_checkpoint(tmp.path(), &TinyConfig::default(), 15);
    let name = "model.layers.0.self_attn.q_proj.weight";
    let bin = to_bin(&st, &tmp.path().join("bin"), &["--non-contiguous", name]);
    let err = convert_err(&bin, tmp.path());
    match &err {
        ConvertError::BadTorchShard {
            source:
                TorchError::NotContiguous {
                    name: found,
                    size,
                    stride,
                },
            ..
        } => {
            assert_eq!(found, name);
            assert_eq!(size, &vec![64, 64]);
            assert_eq!(stride, &vec![1, 64]);
        }
        other => panic!("expected a non-contiguous tensor, got {other}"),
    }
    assert!(err.to_string().contains("not contiguous"), "{err}");
}
