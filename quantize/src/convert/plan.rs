//! The tensor plan: the tensors of a LLaMA model in GGUF order, with their Hugging Face names,
//! shapes and how each is transformed; the GGUF metadata and tensor infos they become.

use super::{ConvertError, LlamaConfig, OutType};
use crate::gguf::{GgmlType, GgufError, GgufWriter};
use crate::vocab::XgenVocab;

/// How a tensor is transformed on its way into the GGUF.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Norm,
    Matrix,
    /// q/k projection: rows permuted per head for llama.cpp's RoPE (interleaved pairs).
    Rope,
}

/// One tensor of the plan: its Hugging Face and GGUF names, its shape and its transform.
pub(super) struct Planned {
    pub(super) hf: String,
    pub(super) gguf: String,
    pub(super) shape: Vec<usize>,
    pub(super) kind: Kind,
}

/// The tensors of a LLaMA model in GGUF order, with their HF names and expected shapes.
pub(super) fn plan(cfg: &LlamaConfig, with_output: bool) -> Vec<Planned> {
    let h = cfg.hidden_size;
    let kv = cfg.num_key_value_heads * cfg.head_dim();
    let ff = cfg.intermediate_size;
    let p = |hf: String, gguf: String, shape: Vec<usize>, kind| Planned {
        hf,
        gguf,
        shape,
        kind,
    };
    let mut out = vec![p(
        "model.embed_tokens.weight".into(),
        "token_embd.weight".into(),
        vec![cfg.vocab_size, h],
        Kind::Matrix,
    )];
    for n in 0..cfg.num_hidden_layers {
        let l = |s: &str| format!("model.layers.{n}.{s}.weight");
        let g = |s: &str| format!("blk.{n}.{s}.weight");
        out.push(p(l("input_layernorm"), g("attn_norm"), vec![h], Kind::Norm));
        out.push(p(
            l("self_attn.q_proj"),
            g("attn_q"),
            vec![h, h],
            Kind::Rope,
        ));
        out.push(p(
            l("self_attn.k_proj"),
            g("attn_k"),
            vec![kv, h],
            Kind::Rope,
        ));
        out.push(p(
            l("self_attn.v_proj"),
            g("attn_v"),
            vec![kv, h],
            Kind::Matrix,
        ));
        out.push(p(
            l("self_attn.o_proj"),
            g("attn_output"),
            vec![h, h],
            Kind::Matrix,
        ));
        out.push(p(
            l("post_attention_layernorm"),
            g("ffn_norm"),
            vec![h],
            Kind::Norm,
        ));
        out.push(p(
            l("mlp.gate_proj"),
            g("ffn_gate"),
            vec![ff, h],
            Kind::Matrix,
        ));
        out.push(p(l("mlp.up_proj"), g("ffn_up"), vec![ff, h], Kind::Matrix));
        out.push(p(
            l("mlp.down_proj"),
            g("ffn_down"),
            vec![h, ff],
            Kind::Matrix,
        ));
    }
    out.push(p(
        "model.norm.weight".into(),
        "output_norm.weight".into(),
        vec![h],
        Kind::Norm,
    ));
    if with_output {
        out.push(p(
            "lm_head.weight".into(),
            "output.weight".into(),
            vec![cfg.vocab_size, h],
            Kind::Matrix,
        ));
    }
    out
}

/// The number of tensors and the bytes of tensor data that converting a checkpoint with `cfg`
/// writes, worked out without reading or writing anything.
///
/// # Errors
/// [`ConvertError::Gguf`] with [`GgufError::Overflow`] naming the tensor whose size does not
/// fit in 64 bits (impossible within [`super::CONFIG_LIMITS`]).
pub fn planned_output(
    cfg: &LlamaConfig,
    out_type: OutType,
    with_output: bool,
) -> Result<(usize, u64), ConvertError> {
    let planned = plan(cfg, with_output);
    let mut total = 0u64;
    for t in &planned {
        let elem: u64 = match t.kind {
            Kind::Norm => 4,
            Kind::Matrix | Kind::Rope => match out_type {
                OutType::F16 => 2,
                OutType::F32 => 4,
            },
        };
        total = t
            .shape
            .iter()
            .try_fold(elem, |a, &d| a.checked_mul(d as u64))
            .and_then(|bytes| total.checked_add(bytes))
            .ok_or_else(|| GgufError::Overflow(format!("tensor {}", t.gguf)))?;
    }
    Ok((planned.len(), total))
}

/// Adds the `general.*` and `llama.*` metadata for `cfg`.
fn add_model_metadata(
    w: &mut GgufWriter,
    cfg: &LlamaConfig,
    name: &str,
    file_type: u32,
) -> Result<(), GgufError> {
    let u = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    w.add_string("general.architecture", "llama")?;
    w.add_string("general.name", name)?;
    w.add_u32("general.file_type", file_type)?;
    w.add_u32("llama.vocab_size", u(cfg.vocab_size))?;
    w.add_u32("llama.context_length", u(cfg.max_position_embeddings))?;
    w.add_u32("llama.embedding_length", u(cfg.hidden_size))?;
    w.add_u32("llama.block_count", u(cfg.num_hidden_layers))?;
    w.add_u32("llama.feed_forward_length", u(cfg.intermediate_size))?;
    w.add_u32("llama.rope.dimension_count", u(cfg.head_dim()))?;
    w.add_u32("llama.attention.head_count", u(cfg.num_attention_heads))?;
    w.add_u32("llama.attention.head_count_kv", u(cfg.num_key_value_heads))?;
    w.add_f32("llama.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps)?;
    w.add_f32("llama.rope.freq_base", cfg.rope_theta)?;
    Ok(())
}

/// Writes the model metadata, the XGen tokenizer and tensor infos for `cfg` into `w`.
///
/// Used by the converter and by the random-weight fixtures of the test kit, so both produce
/// the same layout. Returns the planned tensors' GGUF names with their element types and
/// 2-D/1-D row shapes (rows, cols).
///
/// # Errors
/// [`ConvertError`] when the vocabulary cannot be built or the writer refuses an entry.
pub fn declare_llama_gguf(
    w: &mut GgufWriter,
    cfg: &LlamaConfig,
    name: &str,
    out_type: OutType,
    with_output: bool,
) -> Result<Vec<(String, GgmlType, usize, usize)>, ConvertError> {
    add_model_metadata(w, cfg, name, out_type.file_type())?;
    XgenVocab::shared()?.add_to_gguf(w)?;
    let mut declared = Vec::new();
    for t in plan(cfg, with_output) {
        let ty = match t.kind {
            Kind::Norm => GgmlType::F32,
            Kind::Matrix | Kind::Rope => out_type.matrix_type(),
        };
        let dims: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        w.add_tensor_info(&t.gguf, &dims, ty)?;
        let (rows, cols) = match t.shape.as_slice() {
            [r, c] => (*r, *c),
            [c] => (1, *c),
            _ => (0, 0),
        };
        declared.push((t.gguf, ty, rows, cols));
    }
    Ok(declared)
}

/// The row of the HF matrix that becomes row `r` of the GGUF matrix under the RoPE
/// permutation `W.reshape(n_head, 2, hd/2, in).swapaxes(1, 2).reshape(W.shape)`.
#[must_use]
pub fn rope_source_row(r: usize, head_dim: usize) -> usize {
    let (h, rem) = (r / head_dim, r % head_dim);
    let (i, t) = (rem / 2, rem % 2);
    h * head_dim + t * (head_dim / 2) + i
}
