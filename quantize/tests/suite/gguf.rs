//! The GGUF writer and reader round-trip, and random-weight GGUFs load in llama.cpp.

use std::fs::File;

use xgen_quantize::gguf::{read_tensor_bytes, GgufArray, GgufValue, GgufValueType};
use xgen_quantize::{GgmlType, GgufError, GgufFile, GgufWriter, LlamaConfig};
use xgen_testkit::fixture::write_random_f16_gguf;
use xgen_testkit::fixture::xgen7b_config;

use crate::common;

#[test]
fn writer_round_trips_metadata_tensor_infos_and_data() {
    let dir = common::tempdir();
    let path = dir.path().join("rt.gguf");
    let mut w = GgufWriter::new();
    w.add_u32("a.u32", 7).unwrap();
    w.add("a.i32", GgufValue::I32(-7)).unwrap();
    w.add_f32("a.f32", 1.5).unwrap();
    w.add_bool("a.bool", true).unwrap();
    w.add_string("a.str", "héllo").unwrap();
    w.add_string_array("a.strs", &["x".into(), "".into(), "ĠĠ".into()])
        .unwrap();
    w.add_i32_array("a.i32s", vec![1, -2, 3]).unwrap();
    assert!(matches!(
        w.add_u32("a.u32", 8),
        Err(GgufError::DuplicateKey(_))
    ));
    w.add_tensor_info("t.odd", &[3], GgmlType::F32).unwrap();
    w.add_tensor_info("t.mat", &[5, 2], GgmlType::F16).unwrap();
    assert!(matches!(
        w.add_tensor_info("q", &[32], GgmlType::Q4_0),
        Err(GgufError::UnsizedType { .. })
    ));
    let size = w.file_size();
    let mut sink = w.start(File::create(&path).unwrap()).unwrap();
    // The first tensor takes the first bytes (too many for it are refused before writing).
    assert!(matches!(
        sink.write_data(&[0u8; 13]),
        Err(GgufError::DataSize(m)) if m.starts_with("tensor t.odd holds 12 bytes")
    ));
    sink.write_data(&[1u8; 12]).unwrap();
    assert!(matches!(
        sink.write_data(&[0u8; 21]),
        Err(GgufError::DataSize(_))
    ));
    sink.write_data(&[2u8; 7]).unwrap();
    sink.write_data(&[3u8; 13]).unwrap();
    sink.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);

    let f = GgufFile::read(&path).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.data_offset % 32, 0);
    assert_eq!(f.get("a.u32"), Some(&GgufValue::U32(7)));
    assert_eq!(f.get("a.i32"), Some(&GgufValue::I32(-7)));
    assert_eq!(f.get("a.f32"), Some(&GgufValue::F32(1.5)));
    assert_eq!(f.get("a.bool"), Some(&GgufValue::Bool(true)));
    assert_eq!(f.get("a.str").and_then(GgufValue::as_str), Some("héllo"));
    let strs = f.get("a.strs").and_then(GgufValue::as_array).unwrap();
    assert_eq!(strs.elem_type(), GgufValueType::String);
    let GgufArray::String(strs) = strs else {
        panic!("{strs:?}")
    };
    assert_eq!(strs.iter().collect::<Vec<_>>(), ["x", "", "ĠĠ"]);
    assert!(matches!(
        f.get("a.i32s").unwrap().as_array().unwrap(),
        GgufArray::I32(v) if v.as_slice() == [1, -2, 3]
    ));
    let odd = f.tensor("t.odd").unwrap();
    let mat = f.tensor("t.mat").unwrap();
    assert_eq!((odd.offset, mat.offset), (0, 32));
    assert_eq!(mat.dims, [5, 2]);
    assert_eq!(read_tensor_bytes(&path, &f, odd).unwrap(), vec![1u8; 12]);
    let mut want = vec![2u8; 7];
    want.extend([3u8; 13]);
    assert_eq!(read_tensor_bytes(&path, &f, mat).unwrap(), want);
}

#[test]
fn incomplete_tensor_data_is_an_error() {
    let dir = common::tempdir();
    let mut w = GgufWriter::new();
    w.add_tensor_info("t", &[4], GgmlType::F32).unwrap();
    let mut sink = w
        .start(File::create(dir.path().join("x.gguf")).unwrap())
        .unwrap();
    sink.write_data(&[0; 8]).unwrap();
    assert!(matches!(sink.finish(), Err(GgufError::DataSize(_))));
}

#[test]
fn random_f16_gguf_loads_in_llama_cpp_and_7b_shape_is_right() {
    let cfg7b = xgen7b_config();
    // 6,895,702,016 parameters (the spec's figure) in 291 tensors.
    let params = |c: &LlamaConfig| {
        let (h, ff, v) = (
            c.hidden_size as u64,
            c.intermediate_size as u64,
            c.vocab_size as u64,
        );
        2 * v * h + h + c.num_hidden_layers as u64 * (4 * h * h + 3 * h * ff + 2 * h)
    };
    assert_eq!(params(&cfg7b), 6_895_702_016);

    let dir = common::tempdir();
    let path = dir.path().join("rand.gguf");
    let small = LlamaConfig {
        hidden_size: 128,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        ..cfg7b
    };
    let mut last = None;
    let summary = write_random_f16_gguf(&path, &small, 5, |p| last = Some(p)).unwrap();
    let last = last.unwrap();
    assert_eq!(last.bytes_done, last.bytes_total);
    assert_eq!(summary.tensor_count, 21);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), summary.file_size);
    let model = common::load(&path);
    assert_eq!(model.n_params(), params(&small));
    let logits = common::llama_logits(&model, &[1, 2, 3]);
    assert!(logits.iter().flatten().all(|v| v.is_finite()));
}
