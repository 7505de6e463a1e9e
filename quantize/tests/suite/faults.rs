//! Each broken input gives its own, specific error.

use xgen_quantize::gguf::GgufFile;
use xgen_quantize::{convert_checkpoint, ConvertError, ConvertOptions, GgufError, OutType};
use xgen_testkit::fixture::TinyConfig;

use crate::common;

fn convert_err(hf: &std::path::Path, dir: &std::path::Path) -> ConvertError {
    let out = dir.join("out.gguf");
    let err = convert_checkpoint(hf, &out, &ConvertOptions::default(), |_| {}).unwrap_err();
    assert!(!out.exists());
    assert!(common::partials(&out).is_empty());
    err
}

fn edit_config(hf: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = hf.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

#[test]
fn missing_shard_is_named() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    std::fs::remove_file(hf.join("model-00002-of-00002.safetensors")).unwrap();
    let err = convert_err(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::MissingShard { shard, .. } if shard == "model-00002-of-00002.safetensors"),
        "{err}"
    );
    assert!(err.to_string().contains("model-00002-of-00002.safetensors"));
}

#[test]
fn missing_or_malformed_config_json() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    std::fs::write(hf.join("config.json"), "{ not json").unwrap();
    assert!(matches!(
        convert_err(&hf, dir.path()),
        ConvertError::BadConfig { .. }
    ));

    std::fs::write(
        hf.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "vocab_size": 51200}"#,
    )
    .unwrap();
    let err = convert_err(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::BadConfig { reason, .. } if reason.contains("hidden_size")),
        "{err}"
    );

    std::fs::remove_file(hf.join("config.json")).unwrap();
    assert!(matches!(
        convert_err(&hf, dir.path()),
        ConvertError::MissingConfig(_)
    ));
}

#[test]
fn non_llama_architecture_is_refused() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    edit_config(&hf, |v| {
        v["architectures"] = serde_json::json!(["GPTNeoXForCausalLM"])
    });
    let err = convert_err(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::NotLlama(a) if a == &["GPTNeoXForCausalLM"]),
        "{err}"
    );
}

#[test]
fn wrong_vocab_size_is_refused() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    edit_config(&hf, |v| v["vocab_size"] = serde_json::json!(32000));
    assert!(matches!(
        convert_err(&hf, dir.path()),
        ConvertError::VocabSize(32000)
    ));
}

#[test]
fn missing_tensor_and_shape_mismatch() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    edit_config(&hf, |v| v["num_hidden_layers"] = serde_json::json!(3));
    let err = convert_err(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::MissingTensor(n) if n == "model.layers.2.input_layernorm.weight"),
        "{err}"
    );
    edit_config(&hf, |v| {
        v["num_hidden_layers"] = serde_json::json!(2);
        v["intermediate_size"] = serde_json::json!(96);
    });
    let err = convert_err(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::ShapeMismatch { name, .. } if name.contains("mlp")),
        "{err}"
    );
}

#[test]
fn no_safetensors_at_all() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    for f in [
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        std::fs::remove_file(hf.join(f)).unwrap();
    }
    assert!(matches!(
        convert_err(&hf, dir.path()),
        ConvertError::NoWeights(_)
    ));
}

#[test]
fn garbage_and_truncated_gguf_are_told_apart() {
    let dir = common::tempdir();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"PK\x03\x04 this is a zip file, not a model").unwrap();
    assert!(matches!(GgufFile::read(&garbage), Err(GgufError::NotGguf(m)) if &m == b"PK\x03\x04"));

    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(GgufFile::read(&empty), Err(GgufError::Empty)));

    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 3);
    let good = common::convert(&hf, dir.path(), "good.gguf", OutType::F16);
    let bytes = std::fs::read(&good).unwrap();
    assert!(GgufFile::read(&good).is_ok());
    for cut in [3usize, 10, 30, 1000, 400_000, 900_000] {
        let path = dir.path().join(format!("cut{cut}.gguf"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = GgufFile::read(&path).unwrap_err();
        assert!(
            matches!(err, GgufError::Truncated(_)),
            "cut at {cut}: {err}"
        );
    }
    let mut bad_version = bytes[..64].to_vec();
    bad_version[4..8].copy_from_slice(&99u32.to_le_bytes());
    let path = dir.path().join("v99.gguf");
    std::fs::write(&path, &bad_version).unwrap();
    assert!(matches!(
        GgufFile::read(&path),
        Err(GgufError::UnsupportedVersion(99))
    ));
}
