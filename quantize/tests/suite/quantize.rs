//! F16 -> Q4_K_M / Q8_0 through llama.cpp, with progress from its log lines.

use xgen_quantize::gguf::{GgufFile, GgufValue};
use xgen_quantize::quantize::parse_progress_line;
use xgen_quantize::{quantize_gguf, GgmlType, OutType, QuantType, QuantizeError};
use xgen_testkit::fixture::TinyConfig;

use crate::common;

#[test]
fn quant_type_parses_and_displays() {
    for (s, q, ftype) in [
        ("q4_k_m", QuantType::Q4KM, 15),
        ("q4_0", QuantType::Q4_0, 2),
        ("q5_k_m", QuantType::Q5KM, 17),
        ("q8_0", QuantType::Q8_0, 7),
        ("f16", QuantType::F16, 1),
    ] {
        assert_eq!(s.parse::<QuantType>().unwrap(), q);
        assert_eq!(s.to_uppercase().parse::<QuantType>().unwrap(), q);
        assert_eq!(q.to_string(), s);
        assert_eq!(q.ftype(), ftype);
    }
    assert_eq!(QuantType::default(), QuantType::Q4KM);
    assert!("q3_k".parse::<QuantType>().is_err());
}

#[test]
fn progress_line_parser() {
    let p = parse_progress_line(
        "[  12/ 291]                   blk.1.attn_q.weight - [ 4096,  4096,     1,     1], type =    f16, ",
    )
    .unwrap();
    assert_eq!((p.tensor_index, p.tensor_count), (12, 291));
    assert_eq!(p.name, "blk.1.attn_q.weight");
    assert_eq!(p.input_type, "f16");
    assert!(parse_progress_line("llama_model_quantize_impl: model size = 10 MiB").is_none());
    assert!(parse_progress_line("converting to q4_K .. size = 1 MiB").is_none());
}

#[test]
fn f16_to_q4_k_m_and_q8_0() {
    let dir = common::tempdir();
    let cfg = TinyConfig {
        hidden_size: 256,
        intermediate_size: 512,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        ..TinyConfig::default()
    };
    let hf = common::tiny_checkpoint(dir.path(), &cfg, 9);
    let f16 = common::convert(&hf, dir.path(), "tiny-f16.gguf", OutType::F16);
    let f16_size = std::fs::metadata(&f16).unwrap().len();
    let prompt = [50256, 1000, 2000, 3000];
    let base = common::llama_logits(&common::load(&f16), &prompt);
    let long_prompt: Vec<u32> = (0..24).map(|i| (i * 2111 + 50) % 50000).collect();
    let long_base = common::llama_logits(&common::load(&f16), &long_prompt);

    for (quant, range, matrix_types, max_rel_err, min_agreement) in [
        (
            QuantType::Q4KM,
            0.25..0.42,
            &[GgmlType::Q4_K, GgmlType::Q6_K][..],
            0.45,
            // Random tiny weights leave little margin between the top logits, so 4-bit noise
            // flips many of them; chance would be 1 in 51200.
            0.2,
        ),
        (
            QuantType::Q8_0,
            0.50..0.56,
            &[GgmlType::Q8_0][..],
            0.05,
            0.85,
        ),
    ] {
        let out = dir.path().join(format!("tiny-{quant}.gguf"));
        let mut events = Vec::new();
        let summary = quantize_gguf(&f16, &out, quant, 2, |p| events.push(p)).unwrap();
        assert!(common::partials(&out).is_empty());
        let ratio = summary.output_size as f64 / f16_size as f64;
        println!(
            "{quant}: {} -> {} bytes (ratio {ratio:.3}), {} progress events",
            f16_size,
            summary.output_size,
            events.len()
        );
        assert!(range.contains(&ratio), "{quant} size ratio {ratio}");
        assert_eq!(events.len(), 21, "one progress event per tensor");
        assert_eq!(summary.tensors_seen, 21);
        for (i, e) in events.iter().enumerate() {
            assert_eq!((e.tensor_index, e.tensor_count), (i + 1, 21));
        }
        let file = GgufFile::read(&out).unwrap();
        assert_eq!(
            file.get("general.file_type"),
            Some(&GgufValue::U32(quant.ftype()))
        );
        for t in &file.tensors {
            if t.dims.len() == 2 {
                assert!(matrix_types.contains(&t.ty), "{} is {}", t.name, t.ty);
            } else {
                assert_eq!(t.ty, GgmlType::F32, "{}", t.name);
            }
        }
        let quantized = common::load(&out);
        let logits = common::llama_logits(&quantized, &prompt);
        // Greedy choice at every position of a longer prompt, quantized vs F16.
        let long_logits = common::llama_logits(&quantized, &long_prompt);
        let agree = long_logits
            .iter()
            .zip(&long_base)
            .filter(|(q, f)| common::argmax(q) == common::argmax(f))
            .count();
        let agreement = agree as f64 / long_base.len() as f64;
        println!(
            "{quant}: greedy top-1 agreement with F16 {agree}/{} ({:.0}%)",
            long_base.len(),
            agreement * 100.0
        );
        assert!(
            agreement >= min_agreement,
            "{quant} greedy agreement {agreement}"
        );
        let (mut err2, mut base2) = (0.0f64, 0.0f64);
        for (a, b) in logits.iter().flatten().zip(base.iter().flatten()) {
            err2 += f64::from(a - b).powi(2);
            base2 += f64::from(*b).powi(2);
        }
        let rel = (err2 / base2).sqrt();
        println!("{quant}: relative RMS logit error vs F16 {rel:.4}");
        assert!(logits.iter().flatten().all(|v| v.is_finite()));
        assert!(
            rel < max_rel_err,
            "{quant} logits drifted: relative RMS error {rel}"
        );
    }
}

#[test]
fn quantize_errors_name_the_input() {
    let dir = common::tempdir();
    let missing = dir.path().join("nope.gguf");
    let err = quantize_gguf(
        &missing,
        &dir.path().join("o.gguf"),
        QuantType::Q4KM,
        1,
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, QuantizeError::MissingInput(p) if p == &missing),
        "{err}"
    );

    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let out = dir.path().join("o.gguf");
    let err = quantize_gguf(&garbage, &out, QuantType::Q8_0, 1, |_| {}).unwrap_err();
    println!("{err}");
    assert!(
        matches!(&err, QuantizeError::Failed { input, .. } if input == &garbage),
        "{err}"
    );
    assert!(err.to_string().contains("garbage.gguf"));
    assert!(!out.exists());
    assert!(common::partials(&out).is_empty());
}
