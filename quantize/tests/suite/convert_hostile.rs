//! Hostile checkpoint directories, generated here from the tiny fixture: absurd `config.json`
//! values, shard names that leave the directory, safetensors headers that do not fit their
//! file. Each is refused with an error naming what is wrong, before anything is written, within
//! seconds and bounded memory. And two conversions to one output at once both succeed.

use std::path::Path;
use std::time::{Duration, Instant};

use xgen_quantize::convert::{planned_output, safetensors_tensors, CONFIG_LIMITS};
use xgen_quantize::{
    convert_checkpoint, ConvertError, ConvertOptions, GgufFile, LlamaConfig, OutType,
};
use xgen_testkit::fixture::TinyConfig;

use crate::alloc::peak_during;
use crate::common;

const MIB: usize = 1 << 20;

fn edit_config(hf: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = hf.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

/// Converts `hf`, expecting a failure within 5 s and 16 MiB, with nothing left behind.
fn refused(hf: &Path, dir: &Path) -> ConvertError {
    let out = dir.join("out.gguf");
    let start = Instant::now();
    let (result, peak) =
        peak_during(|| convert_checkpoint(hf, &out, &ConvertOptions::default(), |_| {}));
    let err = result.expect_err("conversion must fail");
    println!(
        "{err}: took {:?}, peak allocation {peak} bytes",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_secs(5), "{err}");
    assert!(peak < 16 * MIB, "peak {peak} bytes: {err}");
    assert!(!out.exists());
    assert!(common::partials(&out).is_empty());
    err
}

#[test]
fn absurd_config_values_are_refused_naming_the_field_and_its_range() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 21);
    let original = std::fs::read_to_string(hf.join("config.json")).unwrap();
    let cases: [(&str, serde_json::Value, &str); 12] = [
        (
            "num_hidden_layers",
            1_000_000_000_000u64.into(),
            "from 1 to 1024",
        ),
        ("num_hidden_layers", 0.into(), "from 1 to 1024"),
        ("hidden_size", 0.into(), "from 1 to 65536"),
        (
            "intermediate_size",
            1_000_000_000_000u64.into(),
            "from 1 to 262144",
        ),
        ("vocab_size", 0.into(), "from 1 to 1048576"),
        ("num_key_value_heads", 0.into(), "from 1 to 1024"),
        ("max_position_embeddings", (-1).into(), "from 1 to 16777216"),
        ("hidden_size", 1.5.into(), "whole number"),
        (
            "num_attention_heads",
            7.into(),
            "does not divide hidden_size",
        ),
        ("num_key_value_heads", 3.into(), "does not divide"),
        ("rms_norm_eps", 0.into(), "small positive number"),
        ("rope_theta", "x".into(), "not a number"),
    ];
    for (field, value, want) in cases {
        std::fs::write(hf.join("config.json"), &original).unwrap();
        let shown = value.to_string();
        edit_config(&hf, |v| v[field] = value);
        let err = refused(&hf, dir.path());
        let message = err.to_string();
        assert!(
            matches!(&err, ConvertError::BadConfig { .. }),
            "{field} = {shown}: {message}"
        );
        assert!(
            message.contains(field) && message.contains(want),
            "{field} = {shown}: {message}"
        );
    }
    // Every limit admits XGen-7B itself.
    let xgen = xgen_testkit::fixture::xgen7b_config();
    let (count, bytes) = planned_output(&xgen, OutType::F16, true).unwrap();
    assert_eq!(count, 291);
    // 6,895,702,016 parameters: the norms (2 per layer and the last) in f32, the rest in f16.
    let norms = 32 * 2 * 4096 + 4096;
    assert_eq!(bytes, 2 * (6_895_702_016 - norms) + 4 * norms);
    assert_eq!(CONFIG_LIMITS.len(), 7);
}

#[test]
fn an_oversized_config_json_is_not_read() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 22);
    edit_config(&hf, |v| v["padding"] = "x".repeat(2 * MIB).into());
    let err = refused(&hf, dir.path());
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );
    // The parser alone, on text.
    let err = LlamaConfig::from_json(Path::new("config.json"), "[1, 2]").unwrap_err();
    assert!(err.to_string().contains("not a JSON object"), "{err}");
}

#[test]
fn shard_names_outside_the_checkpoint_are_refused() {
    for bad in [
        "/etc/passwd",
        "../outside.safetensors",
        "sub\\..\\x",
        "a\0b",
    ] {
        let dir = common::tempdir();
        let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 23);
        let index = hf.join("model.safetensors.index.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
        v["weight_map"]["model.norm.weight"] = bad.into();
        std::fs::write(&index, v.to_string()).unwrap();
        std::fs::write(dir.path().join("outside.safetensors"), b"not read").unwrap();
        let err = refused(&hf, dir.path());
        assert!(
            matches!(&err, ConvertError::BadIndex { reason, .. } if reason.contains("not an acceptable file name")),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn safetensors_headers_that_do_not_fit_their_file_are_refused() {
    let header = |len: u64, rest: &[u8]| {
        let mut b = len.to_le_bytes().to_vec();
        b.extend_from_slice(rest);
        b
    };
    let cases: [(Vec<u8>, &str); 4] = [
        (b"shrt".to_vec(), "shorter than a safetensors header"),
        (header(1 << 62, b"{}"), "more than the 33554432"),
        (header(1000, b"{\"a\":"), "holds only 13"),
        (
            header(
                60,
                br#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,1024]}}  "#,
            ),
            "",
        ),
    ];
    for (bytes, want) in cases {
        let (result, peak) = peak_during(|| safetensors_tensors(&bytes));
        let err = result.expect_err("refused");
        assert!(err.contains(want), "{err}");
        assert!(peak < MIB, "{peak}");
    }

    // In a checkpoint: the shard is named in the error.
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 24);
    let shard = hf.join("model-00002-of-00002.safetensors");
    std::fs::write(&shard, header(u64::MAX, b"{}")).unwrap();
    let err = refused(&hf, dir.path());
    assert!(
        matches!(&err, ConvertError::BadShard { path, .. } if path == &shard),
        "{err}"
    );
}

#[test]
fn two_conversions_to_one_output_at_once_both_succeed() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 25);
    let out = dir.path().join("shared.gguf");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let options = ConvertOptions {
                        out_type: OutType::F16,
                        ..ConvertOptions::default()
                    };
                    convert_checkpoint(&hf, &out, &options, |_| {
                        std::thread::sleep(Duration::from_millis(2));
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let file = GgufFile::open_checked(&out).expect("a whole GGUF");
    assert_eq!(file.tensors.len(), 21);
    assert!(common::partials(&out).is_empty());
}
