//! Hostile GGUF headers, generated here: each is refused with an error that says what is
//! wrong, within seconds and bounded memory (the reader runs before llama.cpp, on files nobody
//! vetted). And [`check_file`], the one check before a file reaches llama.cpp.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xgen_quantize::gguf::{
    check_file, read_tensor_bytes, GgufArray, GgufStrings, GgufTensorInfo, GgufValue,
    GgufValueType, ReadOptions,
};
use xgen_quantize::{GgmlType, GgufError, GgufFile, GgufWriter, LlamaConfig};
use xgen_testkit::fixture::write_random_f16_gguf;
use xgen_testkit::fixture::xgen7b_config;

use crate::alloc::peak_during;
use crate::common;

const MIB: usize = 1 << 20;

/// The raw bytes of a GGUF header, written field by field.
struct Raw(Vec<u8>);

impl Raw {
    fn new(n_tensors: u64, n_kv: u64) -> Self {
        let mut r = Self(b"GGUF".to_vec());
        r.u32(3).u64(n_tensors).u64(n_kv);
        r
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// A key whose value is an array of `count` elements of type `elem`; the elements follow.
    fn array_key(&mut self, key: &str, elem: GgufValueType, count: u64) -> &mut Self {
        self.str(key)
            .u32(GgufValueType::Array as u32)
            .u32(elem as u32)
            .u64(count)
    }
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.0).unwrap();
        path
    }
}

/// Runs `f`, asserting it returns within `secs` seconds and `max_bytes` of peak allocation.
fn bounded<T>(secs: u64, max_bytes: usize, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let (out, peak) = peak_during(f);
    let took = start.elapsed();
    println!("took {took:?}, peak allocation {peak} bytes");
    assert!(took < Duration::from_secs(secs), "took {took:?}");
    assert!(
        peak <= max_bytes,
        "peak allocation {peak} bytes > {max_bytes}"
    );
    out
}

#[test]
fn nested_arrays_half_a_million_deep_are_refused_without_overflowing_the_stack() {
    let dir = common::tempdir();
    let mut raw = Raw::new(0, 1);
    raw.str("deep").u32(GgufValueType::Array as u32);
    for _ in 0..500_000 {
        raw.u32(GgufValueType::Array as u32).u64(1);
    }
    raw.u32(GgufValueType::U8 as u32).u64(0);
    let path = raw.write(dir.path(), "deep.gguf");
    assert!(std::fs::metadata(&path).unwrap().len() > 6_000_000);
    for options in [ReadOptions::ALL, ReadOptions::HEADER] {
        let err = bounded(5, MIB, || GgufFile::read_with(&path, options)).unwrap_err();
        assert!(
            matches!(&err, GgufError::TooDeep(key) if key == "deep"),
            "{err}"
        );
        assert!(err.to_string().contains("levels deep"), "{err}");
    }
}

#[test]
fn skipped_arrays_of_deep_arrays_are_refused_too() {
    let dir = common::tempdir();
    let mut raw = Raw::new(0, 1);
    // 2000 elements: more than the header read keeps, so it is skipped, level by level.
    raw.array_key("wide", GgufValueType::Array, 2000);
    for _ in 0..2000 {
        for _ in 0..10 {
            raw.u32(GgufValueType::Array as u32).u64(1);
        }
        raw.u32(GgufValueType::U8 as u32).u64(0);
    }
    let path = raw.write(dir.path(), "wide.gguf");
    let err = bounded(5, MIB, || GgufFile::read_with(&path, ReadOptions::HEADER)).unwrap_err();
    assert!(
        matches!(&err, GgufError::TooDeep(key) if key == "wide"),
        "{err}"
    );
}

#[test]
fn one_byte_array_elements_cost_one_byte_each() {
    let dir = common::tempdir();
    let n = 16 * MIB;
    let mut raw = Raw::new(0, 2);
    raw.array_key("bytes", GgufValueType::U8, n as u64);
    raw.bytes(&vec![7u8; n]);
    raw.array_key("names", GgufValueType::String, 1 << 20);
    for _ in 0..1 << 20 {
        raw.str("");
    }
    let path = raw.write(dir.path(), "bytes.gguf");
    // 16 MiB of bytes and a million empty strings (8 MiB of lengths in the file): kept in
    // about what the file spends on them, not 32 bytes per element (over 500 MiB).
    let file = bounded(10, 16 * MIB + 8 * MIB + 8 * MIB, || GgufFile::read(&path)).unwrap();
    let bytes = file.get("bytes").and_then(GgufValue::as_array).unwrap();
    assert!(matches!(bytes, GgufArray::U8(v) if v.len() == n && v.iter().all(|&b| b == 7)));
    let names = file.get("names").and_then(GgufValue::as_array).unwrap();
    assert_eq!(names.len(), 1 << 20);
    let GgufArray::String(names) = names else {
        panic!("{names:?}")
    };
    assert_eq!(names.get(12345), Some(""));

    // The header read keeps neither: both are counted, not held.
    let header = bounded(10, MIB, || GgufFile::read_with(&path, ReadOptions::HEADER)).unwrap();
    assert_eq!(
        header.get("bytes").and_then(GgufValue::as_array),
        Some(&GgufArray::Skipped {
            elem: GgufValueType::U8,
            len: n as u64
        })
    );
    assert_eq!(
        header
            .get("names")
            .and_then(GgufValue::as_array)
            .map(GgufArray::len),
        Some(1 << 20)
    );
}

#[test]
fn counts_beyond_the_file_are_refused_before_allocating() {
    let dir = common::tempdir();
    let check = |name: &str, raw: &Raw, want: &dyn Fn(&GgufError) -> bool| {
        let path = raw.write(dir.path(), name);
        for options in [ReadOptions::ALL, ReadOptions::HEADER] {
            let err = bounded(2, 64 * 1024, || GgufFile::read_with(&path, options)).unwrap_err();
            assert!(want(&err), "{name}: {err}");
        }
    };
    // u64 elements: the count fits the bytes left, eight times the count does not.
    let mut raw = Raw::new(0, 1);
    raw.array_key("wide", GgufValueType::U64, 4_000_000)
        .bytes(&[0; 4_000_000]);
    check(
        "u64s.gguf",
        &raw,
        &|e| matches!(e, GgufError::Truncated(what) if what.starts_with("wide: 4000000 entries")),
    );
    // 2^60 one-byte elements.
    let mut raw = Raw::new(0, 1);
    raw.array_key("huge", GgufValueType::U8, 1 << 60)
        .bytes(&[0; 64]);
    check("huge.gguf", &raw, &|e| {
        matches!(e, GgufError::Truncated(_)) && e.to_string().contains("1152921504606846976")
    });
    // A string of 2^60 bytes, as a key and as a value.
    let mut raw = Raw::new(0, 1);
    raw.u64(1 << 60).bytes(&[b'k'; 64]);
    check("longkey.gguf", &raw, &|e| {
        matches!(e, GgufError::Truncated(_))
    });
    let mut raw = Raw::new(0, 1);
    raw.str("s")
        .u32(GgufValueType::String as u32)
        .u64(1 << 60)
        .bytes(&[b's'; 64]);
    check(
        "longstr.gguf",
        &raw,
        &|e| matches!(e, GgufError::Truncated(w) if w == "s"),
    );
    // Tensor and metadata counts.
    check("tensors.gguf", &Raw::new(1 << 60, 0), &|e| {
        matches!(
            e,
            GgufError::TooMany {
                what: "tensors",
                ..
            }
        )
    });
    check("keys.gguf", &Raw::new(0, 1 << 60), &|e| {
        matches!(
            e,
            GgufError::TooMany {
                what: "metadata keys",
                ..
            }
        )
    });
    check(
        "manykeys.gguf",
        &Raw::new(0, 60_000),
        &|e| matches!(e, GgufError::Truncated(w) if w.contains("60000 entries")),
    );
    check(
        "manytensors.gguf",
        &Raw::new(1000, 0),
        &|e| matches!(e, GgufError::Truncated(w) if w.contains("1000 entries")),
    );
}

#[test]
fn tensor_shapes_whose_size_overflows_are_errors_naming_the_tensor() {
    let dir = common::tempdir();
    let mut raw = Raw::new(1, 0);
    raw.str("blk.0.huge")
        .u32(3)
        .u64(1 << 32)
        .u64(1 << 32)
        .u64(1 << 32);
    raw.u32(0).u64(0);
    let path = raw.write(dir.path(), "overflow.gguf");
    let err = GgufFile::read(&path).unwrap_err();
    assert!(
        matches!(&err, GgufError::BadTensor { name, reason } if name == "blk.0.huge" && reason.contains("more elements")),
        "{err}"
    );

    let mut raw = Raw::new(1, 0);
    raw.str("t")
        .u32(5)
        .u64(1)
        .u64(1)
        .u64(1)
        .u64(1)
        .u64(1)
        .u32(0)
        .u64(0);
    let err = GgufFile::read(&raw.write(dir.path(), "dims.gguf")).unwrap_err();
    assert!(err.to_string().contains("5 dimensions"), "{err}");

    // The writer and the tensor reader check their products too.
    let mut w = GgufWriter::new();
    assert!(matches!(
        w.add_tensor_info("w", &[u64::MAX, 2], GgmlType::F32),
        Err(GgufError::Overflow(what)) if what.contains('w')
    ));
    let good = dir.path().join("good.gguf");
    let mut w = GgufWriter::new();
    w.add_tensor_info("t", &[4], GgmlType::F32).unwrap();
    let mut sink = w.start(std::fs::File::create(&good).unwrap()).unwrap();
    sink.write_data(&[0; 16]).unwrap();
    sink.finish().unwrap();
    let file = GgufFile::read(&good).unwrap();
    let forged = GgufTensorInfo {
        dims: vec![1 << 40, 1 << 40],
        ..file.tensors[0].clone()
    };
    assert!(matches!(
        read_tensor_bytes(&good, &file, &forged),
        Err(GgufError::Overflow(_))
    ));
    let past_end = GgufTensorInfo {
        offset: 1 << 20,
        ..file.tensors[0].clone()
    };
    assert!(matches!(
        read_tensor_bytes(&good, &file, &past_end),
        Err(GgufError::Truncated(_))
    ));
}

#[test]
fn metadata_beyond_the_header_budget_is_refused() {
    let dir = common::tempdir();
    let mut raw = Raw::new(0, 1);
    raw.str("general.description")
        .u32(GgufValueType::String as u32);
    raw.str(&"x".repeat(4000));
    let path = raw.write(dir.path(), "long.gguf");
    let small = ReadOptions {
        max_kept_bytes: 1000,
        ..ReadOptions::HEADER
    };
    let err = GgufFile::read_with(&path, small).unwrap_err();
    assert!(
        matches!(&err, GgufError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert!(GgufFile::read_with(&path, ReadOptions::HEADER).is_ok());
}

#[test]
fn every_value_type_round_trips_including_nested_arrays() {
    let dir = common::tempdir();
    let path = dir.path().join("types.gguf");
    let arrays = [
        GgufArray::U8(vec![1, 2]),
        GgufArray::I8(vec![-1]),
        GgufArray::U16(vec![65535]),
        GgufArray::I16(vec![-2, 2]),
        GgufArray::U32(vec![7]),
        GgufArray::F32(vec![0.5]),
        GgufArray::Bool(vec![true, false]),
        GgufArray::U64(vec![u64::MAX]),
        GgufArray::I64(vec![i64::MIN]),
        GgufArray::F64(vec![2.25]),
        GgufArray::String(["a", "", "ĠĠ"].into_iter().collect::<GgufStrings>()),
        GgufArray::Array(vec![
            GgufArray::I32(vec![1]),
            GgufArray::String(GgufStrings::default()),
        ]),
    ];
    let mut w = GgufWriter::new();
    for (i, a) in arrays.iter().enumerate() {
        w.add(&format!("a{i}"), GgufValue::Array(a.clone()))
            .unwrap();
    }
    w.add("s.u64", GgufValue::U64(9)).unwrap();
    w.add("s.f64", GgufValue::F64(-1.5)).unwrap();
    assert!(matches!(
        w.add(
            "skipped",
            GgufValue::Array(GgufArray::Skipped {
                elem: GgufValueType::U8,
                len: 3
            })
        ),
        Err(GgufError::SkippedArray(_))
    ));
    let size = w.file_size();
    w.start(std::fs::File::create(&path).unwrap())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    let file = GgufFile::read(&path).unwrap();
    for (i, a) in arrays.iter().enumerate() {
        assert_eq!(
            file.get(&format!("a{i}")),
            Some(&GgufValue::Array(a.clone()))
        );
    }
    assert_eq!(file.get("s.u64").and_then(GgufValue::as_unsigned), Some(9));
    assert_eq!(file.get("s.f64"), Some(&GgufValue::F64(-1.5)));
}

fn small_model(dir: &Path) -> PathBuf {
    let path = dir.join("small.gguf");
    let cfg = LlamaConfig {
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        ..xgen7b_config()
    };
    write_random_f16_gguf(&path, &cfg, 3, |_| {}).unwrap();
    path
}

#[test]
fn check_file_accepts_a_model_and_reads_its_header_in_bounded_memory() {
    let dir = common::tempdir();
    let path = small_model(dir.path());
    let info = bounded(5, 4 * MIB, || check_file(&path)).unwrap();
    assert_eq!(info.version, 3);
    assert_eq!(info.tensor_count, 21);
    assert_eq!(info.architecture.as_deref(), Some("llama"));
    assert_eq!(info.file_size, std::fs::metadata(&path).unwrap().len());
    // The 51200 tokens and 50000 merges are counted, not kept.
    let file = GgufFile::open_checked(&path).unwrap();
    let tokens = file
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .unwrap();
    assert_eq!(
        tokens,
        &GgufArray::Skipped {
            elem: GgufValueType::String,
            len: 51200
        }
    );
    assert!(file.get("llama.block_count").is_some());
}

#[test]
fn check_file_says_what_is_wrong_in_words() {
    let dir = common::tempdir();
    let d = dir.path();
    let message = |path: &Path| check_file(path).unwrap_err().to_string();
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };

    let missing = d.join("missing.gguf");
    assert!(matches!(check_file(&missing), Err(GgufError::NotFound(_))));
    assert!(
        message(&missing).contains("missing.gguf") && message(&missing).contains("does not exist")
    );
    assert!(message(&write("empty.gguf", b"")).contains("empty"));
    assert!(matches!(check_file(d), Err(GgufError::NotAFile(_))));
    assert!(message(&write("short.gguf", b"GGU")).contains("truncated"));
    let zip = message(&write("model.bin", b"PK\x03\x04\x14\x00\x00\x00"));
    assert!(zip.contains("zip") && zip.contains(".bin"), "{zip}");
    let mut st = 60u64.to_le_bytes().to_vec();
    st.extend_from_slice(br#"{"a": {"dtype": "F32"}}"#);
    let st = message(&write("model.safetensors", &st));
    assert!(st.contains("safetensors"), "{st}");
    assert!(message(&write("config.json", br#"{"a": 1}"#)).contains("JSON"));
    let mut v1 = Raw::new(0, 0);
    v1.0[4..8].copy_from_slice(&1u32.to_le_bytes());
    let v1 = message(&v1.write(d, "v1.gguf"));
    assert!(v1.contains("version 1"), "{v1}");

    // A model cut short in its tensor data: the header reads, the data is not all there.
    let good = small_model(d);
    let bytes = std::fs::read(&good).unwrap();
    let cut = write("cut.gguf", &bytes[..bytes.len() - 1000]);
    let err = check_file(&cut).unwrap_err();
    assert!(
        matches!(&err, GgufError::BadTensor { reason, .. } if reason.contains("truncated download")),
        "{err}"
    );

    // Tensor infos llama.cpp would refuse.
    let tensor = |name: &str, ty: u32, offset: u64| {
        let mut raw = Raw::new(1, 0);
        raw.str("t").u32(1).u64(32).u32(ty).u64(offset);
        raw.0.resize(raw.0.len().next_multiple_of(32) + 256, 0);
        raw.write(d, name)
    };
    assert!(check_file(&tensor("ok.gguf", 0, 0)).is_ok());
    assert!(message(&tensor("type.gguf", 99, 0)).contains("type id 99"));
    assert!(message(&tensor("removed.gguf", 4, 0)).contains("type id 4"));
    assert!(message(&tensor("offset.gguf", 0, 64)).contains("expected 0"));
    let mut rows = Raw::new(1, 0);
    rows.str("t").u32(1).u64(33).u32(GgmlType::Q4_0.0).u64(0);
    rows.0.resize(rows.0.len() + 256, 0);
    assert!(message(&rows.write(d, "rows.gguf")).contains("blocks of 32"));

    // Metadata llama.cpp would refuse.
    let mut dup = Raw::new(0, 2);
    for _ in 0..2 {
        dup.str("k").u32(GgufValueType::U8 as u32).bytes(&[1]);
    }
    assert!(
        matches!(check_file(&dup.write(d, "dup.gguf")), Err(GgufError::DuplicateKey(k)) if k == "k")
    );
    let mut align = Raw::new(0, 1);
    align
        .str("general.alignment")
        .u32(GgufValueType::U32 as u32)
        .u32(0);
    assert!(message(&align.write(d, "align.gguf")).contains("power of two"));
}
