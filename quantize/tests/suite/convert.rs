//! Conversion correctness: llama.cpp on the converted GGUF vs an independent Hugging Face-style
//! LLaMA forward pass on the original safetensors.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use xgen_quantize::gguf::{read_tensor_bytes, GgufFile, GgufValue};
use xgen_quantize::{convert_checkpoint, ConvertOptions, GgmlType, OutType, XgenTokenizer};
use xgen_testkit::fixture::{TinyConfig, WeightDtype};

use crate::common;

/// Row-major f64 matrices by HF name.
struct Weights(HashMap<String, (Vec<usize>, Vec<f64>)>);

impl Weights {
    fn load(dir: &Path) -> Self {
        let mut map = HashMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "safetensors") {
                let bytes = std::fs::read(&path).unwrap();
                let st = SafeTensors::deserialize(&bytes).unwrap();
                for (name, view) in st.tensors() {
                    let data = view
                        .data()
                        .chunks_exact(4)
                        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect();
                    map.insert(name, (view.shape().to_vec(), data));
                }
            }
        }
        Self(map)
    }

    fn get(&self, name: &str) -> &[f64] {
        &self.0[name].1
    }

    fn rows(&self, name: &str) -> usize {
        self.0[name].0[0]
    }
}

/// `x` (n) times `w`^T where `w` is (rows, n): returns rows values.
fn matvec(w: &[f64], rows: usize, x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..rows)
        .map(|r| {
            w[r * n..(r + 1) * n]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * inv * g).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Rope {
    /// Hugging Face: rotate_half, pairs (i, i + d/2).
    RotateHalf,
    /// Adjacent pairs (2i, 2i+1) on the *unpermuted* weights: what llama.cpp would compute if
    /// the converter skipped the permutation. Used to show the test can tell the difference.
    InterleavedUnpermuted,
}

fn apply_rope(v: &mut [f64], pos: usize, head_dim: usize, theta: f64, rope: Rope) {
    let half = head_dim / 2;
    for i in 0..half {
        let freq = theta.powf(-2.0 * i as f64 / head_dim as f64);
        let (s, c) = (pos as f64 * freq).sin_cos();
        let (a, b) = match rope {
            Rope::RotateHalf => (i, i + half),
            Rope::InterleavedUnpermuted => (2 * i, 2 * i + 1),
        };
        let (x0, x1) = (v[a], v[b]);
        v[a] = x0 * c - x1 * s;
        v[b] = x1 * c + x0 * s;
    }
}

/// A plain LLaMA forward pass (HF conventions), logits at every position.
fn reference_logits(w: &Weights, cfg: &TinyConfig, tokens: &[u32], rope: Rope) -> Vec<Vec<f64>> {
    let h = cfg.hidden_size;
    let n_head = cfg.num_attention_heads;
    let n_kv = cfg.num_key_value_heads;
    let hd = h / n_head;
    let eps = cfg.rms_norm_eps;
    let emb = w.get("model.embed_tokens.weight");
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| emb[t as usize * h..(t as usize + 1) * h].to_vec())
        .collect();
    for l in 0..cfg.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{l}.{s}.weight");
        let (mut qs, mut ks, mut vs) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, x) in xs.iter().enumerate() {
            let hn = rms_norm(x, w.get(&p("input_layernorm")), eps);
            let mut q = matvec(w.get(&p("self_attn.q_proj")), h, &hn);
            let mut k = matvec(w.get(&p("self_attn.k_proj")), n_kv * hd, &hn);
            for head in q.chunks_mut(hd).chain(k.chunks_mut(hd)) {
                apply_rope(head, pos, hd, 10000.0, rope);
            }
            qs.push(q);
            ks.push(k);
            vs.push(matvec(w.get(&p("self_attn.v_proj")), n_kv * hd, &hn));
        }
        for t in 0..xs.len() {
            let mut attn = vec![0.0; h];
            for head in 0..n_head {
                let kvh = head / (n_head / n_kv);
                let q = &qs[t][head * hd..(head + 1) * hd];
                let scores: Vec<f64> = (0..=t)
                    .map(|j| {
                        let k = &ks[j][kvh * hd..(kvh + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                for (j, e) in exps.iter().enumerate() {
                    let v = &vs[j][kvh * hd..(kvh + 1) * hd];
                    for d in 0..hd {
                        attn[head * hd + d] += e / sum * v[d];
                    }
                }
            }
            let o = matvec(w.get(&p("self_attn.o_proj")), h, &attn);
            for (x, o) in xs[t].iter_mut().zip(o) {
                *x += o;
            }
            let hn = rms_norm(&xs[t], w.get(&p("post_attention_layernorm")), eps);
            let ff = cfg.intermediate_size;
            let g = matvec(w.get(&p("mlp.gate_proj")), ff, &hn);
            let u = matvec(w.get(&p("mlp.up_proj")), ff, &hn);
            let act: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let d = matvec(w.get(&p("mlp.down_proj")), h, &act);
            for (x, d) in xs[t].iter_mut().zip(d) {
                *x += d;
            }
        }
    }
    let vocab = w.rows("lm_head.weight");
    xs.iter()
        .map(|x| {
            let hn = rms_norm(x, w.get("model.norm.weight"), eps);
            matvec(w.get("lm_head.weight"), vocab, &hn)
        })
        .collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (f64::from(*p) - q).abs()))
        .fold(0.0, f64::max)
}

fn argmax64(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

#[test]
fn f32_gguf_logits_match_hf_reference_and_f16_agrees_on_argmax() {
    let dir = common::tempdir();
    let cfg = TinyConfig::default();
    let hf = common::tiny_checkpoint(dir.path(), &cfg, 42);
    let f32_path = common::convert(&hf, dir.path(), "tiny-f32.gguf", OutType::F32);
    let f16_path = common::convert(&hf, dir.path(), "tiny-f16.gguf", OutType::F16);

    let prompt = "### Human: Summarize:    the  cat\tsat.\n###";
    let tokens = XgenTokenizer::new().unwrap().encode_ordinary(prompt);
    assert!((8..=16).contains(&tokens.len()), "{tokens:?}");

    let weights = Weights::load(&hf);
    let want = reference_logits(&weights, &cfg, &tokens, Rope::RotateHalf);
    let got = common::llama_logits(&common::load(&f32_path), &tokens);
    let diff = max_abs_diff(&got, &want);
    let spread = want[0].iter().map(|v| v.abs()).fold(0.0, f64::max);
    println!(
        "F32 logits: {} positions x {} vocab, max abs diff {diff:.3e} (max |logit| {spread:.2})",
        tokens.len(),
        want[0].len()
    );
    for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
        println!(
            "  position {pos}: max abs diff {:.3e}",
            max_abs_diff(std::slice::from_ref(g), std::slice::from_ref(w))
        );
    }
    assert!(diff < 1e-3, "max abs diff {diff}");
    for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(common::argmax(g), argmax64(w), "argmax at position {pos}");
    }

    // The comparison is sensitive to the RoPE layout: without the permutation it fails.
    let wrong = reference_logits(&weights, &cfg, &tokens, Rope::InterleavedUnpermuted);
    let wrong_diff = max_abs_diff(&got, &wrong);
    println!("unpermuted-RoPE reference differs by {wrong_diff:.3e}");
    assert!(
        wrong_diff > 1e-2,
        "test cannot see the RoPE layout ({wrong_diff})"
    );

    let got16 = common::llama_logits(&common::load(&f16_path), &tokens);
    let diff16 = max_abs_diff(&got16, &want);
    println!("F16 logits: max abs diff {diff16:.3e}");
    for (pos, (g, w)) in got16.iter().zip(&want).enumerate() {
        assert_eq!(
            common::argmax(g),
            argmax64(w),
            "F16 argmax at position {pos}"
        );
    }
}

#[test]
fn converted_gguf_has_spec_metadata_and_tensors() {
    let dir = common::tempdir();
    let cfg = TinyConfig::default();
    let hf = common::tiny_checkpoint(dir.path(), &cfg, 1);
    let out = dir.path().join("tiny-f16.gguf");
    let mut events = Vec::new();
    let summary =
        convert_checkpoint(&hf, &out, &ConvertOptions::default(), |p| events.push(p)).unwrap();
    assert!(common::partials(&out).is_empty());
    let file = GgufFile::read(&out).unwrap();
    assert_eq!(summary.tensor_count, 3 + 9 * cfg.num_hidden_layers);
    assert_eq!(file.tensors.len(), summary.tensor_count);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), summary.file_size);
    let u = |k: &str| match file.get(k) {
        Some(GgufValue::U32(v)) => *v,
        _ => panic!("{k}"),
    };
    let s = |k: &str| {
        file.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{k}"))
    };
    assert_eq!(s("general.architecture"), "llama");
    assert_eq!(s("general.name"), "XGen-7B-8K-Inst");
    assert_eq!(u("general.file_type"), 1);
    assert_eq!(u("llama.vocab_size"), 51200);
    assert_eq!(u("llama.context_length"), 8192);
    assert_eq!(u("llama.embedding_length"), 64);
    assert_eq!(u("llama.block_count"), 2);
    assert_eq!(u("llama.feed_forward_length"), 128);
    assert_eq!(u("llama.rope.dimension_count"), 16);
    assert_eq!(u("llama.attention.head_count"), 4);
    assert_eq!(u("llama.attention.head_count_kv"), 4);
    let f = |k: &str| match file.get(k) {
        Some(GgufValue::F32(v)) => *v,
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(f("llama.attention.layer_norm_rms_epsilon"), 1e-6);
    assert_eq!(f("llama.rope.freq_base"), 10000.0);
    assert_eq!(s("tokenizer.ggml.model"), "gpt2");
    assert_eq!(s("tokenizer.ggml.pre"), "gpt-2");
    assert_eq!(u("tokenizer.ggml.bos_token_id"), 50256);
    assert_eq!(u("tokenizer.ggml.eos_token_id"), 50256);
    assert_eq!(
        file.get("tokenizer.ggml.add_bos_token").unwrap().as_bool(),
        Some(false)
    );
    assert_eq!(
        file.get("tokenizer.ggml.add_eos_token").unwrap().as_bool(),
        Some(false)
    );
    assert_eq!(
        file.get("tokenizer.ggml.tokens")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        51200
    );
    assert_eq!(
        file.get("tokenizer.ggml.merges")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        50038
    );

    let t = |n: &str| file.tensor(n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(t("token_embd.weight").dims, [64, 51200]);
    assert_eq!(t("token_embd.weight").ty, GgmlType::F16);
    assert_eq!(t("blk.1.ffn_down.weight").dims, [128, 64]);
    assert_eq!(t("blk.1.ffn_gate.weight").dims, [64, 128]);
    assert_eq!(t("blk.0.attn_norm.weight").ty, GgmlType::F32);
    assert_eq!(t("output_norm.weight").dims, [64]);
    assert_eq!(t("output.weight").dims, [64, 51200]);
    assert!(file.tensors.iter().all(|t| !t.name.contains("rotary")));

    // Progress: starts at 0, monotone, ends at the total, covers every tensor.
    assert!(!events.is_empty());
    assert_eq!(events[0].bytes_done, 0);
    assert!(events
        .windows(2)
        .all(|w| w[0].bytes_done <= w[1].bytes_done));
    let last = events.last().unwrap();
    assert_eq!(last.tensor_index + 1, last.tensor_count);
    let distinct: std::collections::HashSet<_> = events.iter().map(|e| e.tensor_index).collect();
    assert_eq!(distinct.len(), summary.tensor_count);

    // The model loads and reports the fixture's shape.
    let model = common::load(&out);
    assert_eq!(model.n_vocab(), 51200);
    assert_eq!(model.n_layer(), 2);
    assert_eq!(model.n_embd(), 64);
}

/// Relative RMS difference of `got` from `base`, over every position.
fn relative_rms(got: &[Vec<f32>], base: &[Vec<f32>]) -> f64 {
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (g, b) in got.iter().zip(base) {
        for (x, y) in g.iter().zip(b) {
            err += f64::from(x - y).powi(2);
            norm += f64::from(*y).powi(2);
        }
    }
    (err / norm).sqrt()
}

#[test]
fn f16_and_bf16_checkpoints_convert_like_fp32() {
    let dir = common::tempdir();
    let tokens = XgenTokenizer::new()
        .unwrap()
        .encode_ordinary("### Human: half precision in,\tsame answers out.\n###");
    // The same seed draws the same fp32 values; the fixture rounds them to each dtype.
    let convert = |dtype: WeightDtype, out_type: OutType| {
        let sub = dir.path().join(dtype.torch_name());
        let cfg = TinyConfig {
            dtype,
            shards: 3,
            ..TinyConfig::default()
        };
        let hf = sub.join("hf");
        if !hf.exists() {
            common::tiny_checkpoint(&sub, &cfg, 42);
        }
        let name = format!("{out_type:?}.gguf");
        common::convert(&hf, &sub, &name, out_type)
    };
    let base_f32 = convert(WeightDtype::F32, OutType::F32);
    let base = common::llama_logits(&common::load(&base_f32), &tokens);
    let base_f16 = convert(WeightDtype::F32, OutType::F16);
    let base_file = GgufFile::read(&base_f16).unwrap();

    for (dtype, max_rel) in [(WeightDtype::F16, 5e-3), (WeightDtype::BF16, 4e-2)] {
        let gguf = convert(dtype, OutType::F32);
        let got = common::llama_logits(&common::load(&gguf), &tokens);
        let rel = relative_rms(&got, &base);
        let agree = got
            .iter()
            .zip(&base)
            .filter(|(g, b)| common::argmax(g) == common::argmax(b))
            .count();
        println!(
            "{} checkpoint: relative RMS logit difference from fp32 {rel:.2e}, top-1 agrees at \
             {agree}/{} positions",
            dtype.torch_name(),
            tokens.len()
        );
        assert!(rel < max_rel, "{dtype:?}: {rel}");
        assert_eq!(agree, tokens.len(), "{dtype:?}: top-1 at every position");
        assert!(rel > 0.0, "{dtype:?} weights were really rounded");
    }

    // An fp16 checkpoint's matrices are copied into an F16 GGUF bit for bit: the same bytes the
    // converter writes when it rounds the fp32 checkpoint.
    let f16 = convert(WeightDtype::F16, OutType::F16);
    let file = GgufFile::read(&f16).unwrap();
    let mut matrices = 0;
    for info in file.tensors.iter().filter(|t| t.ty == GgmlType::F16) {
        let want = base_file.tensor(&info.name).unwrap();
        assert_eq!(
            read_tensor_bytes(&f16, &file, info).unwrap(),
            read_tensor_bytes(&base_f16, &base_file, want).unwrap(),
            "{}",
            info.name
        );
        matrices += 1;
    }
    assert_eq!(
        matrices,
        2 + 7 * 2,
        "embedding, output and 7 matrices per layer"
    );
}

#[test]
fn cancel_stops_before_the_next_tensor_and_removes_the_partial_file() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 5);
    let out = dir.path().join("cancelled.gguf");
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = ConvertOptions {
        cancel: Some(cancel.clone()),
        ..ConvertOptions::default()
    };
    let mut started = Vec::new();
    let err = convert_checkpoint(&hf, &out, &options, |p| {
        if started.last() != Some(&p.tensor_index) {
            started.push(p.tensor_index);
        }
        if p.tensor_index == 3 {
            assert_eq!(common::partials(&out).len(), 1, "writing has begun");
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .expect_err("cancelled");
    assert!(
        matches!(err, xgen_quantize::ConvertError::Cancelled),
        "{err}"
    );
    assert_eq!(started, [0, 1, 2, 3], "no tensor starts after the cancel");
    assert!(!out.exists());
    assert!(
        common::partials(&out).is_empty(),
        "a half-written GGUF cannot be resumed, so it is removed"
    );
    assert!(hf.join("model-00001-of-00002.safetensors").is_file());

    // The same options without the flag set convert the checkpoint completely.
    cancel.store(false, std::sync::atomic::Ordering::SeqCst);
    let summary = convert_checkpoint(&hf, &out, &options, |_| {}).expect("convert");
    assert_eq!(summary.tensor_count, 21);
}
