//! Test and benchmark fixtures: a tiny XGen-shaped Hugging Face checkpoint, and GGUFs with
//! random weights at any (including XGen-7B's real) dimensions.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, View};
use serde_json::json;

use xgen_quantize::convert::{
    declare_llama_gguf, finish_streamed_gguf, partial_path, ConvertError, ConvertProgress,
    ConvertSummary, LlamaConfig, OutType,
};
use xgen_quantize::gguf::{GgmlType, GgufWriter};

/// Errors while writing fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// safetensors serialization failed.
    #[error("writing {path}: {reason}")]
    Safetensors {
        /// The shard.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// JSON serialization failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Dimensions of a tiny XGen-shaped checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyConfig {
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `num_hidden_layers` (at least 2, so the two shards both hold layers).
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads`; written to config.json only when it differs from the heads,
    /// as XGen's config omits it.
    pub num_key_value_heads: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// Number of safetensors shards (`model-0000N-of-0000M.safetensors`), at least 1: the
    /// embedding goes in the first, the final norm and `lm_head` in the last, the layers spread
    /// in order over all of them.
    pub shards: usize,
    /// Element type of every tensor (`torch_dtype` in config.json).
    pub dtype: WeightDtype,
}

/// Element type of a fixture checkpoint's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// fp32, as in XGen's published checkpoints.
    #[default]
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
}

impl WeightDtype {
    /// The `torch_dtype` name in config.json.
    #[must_use]
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }

    fn safetensors(self) -> Dtype {
        match self {
            Self::F32 => Dtype::F32,
            Self::F16 => Dtype::F16,
            Self::BF16 => Dtype::BF16,
        }
    }

    /// Appends `v` rounded to this type (round to nearest even), little-endian.
    fn push(self, out: &mut Vec<u8>, v: f32) {
        match self {
            Self::F32 => out.extend_from_slice(&v.to_le_bytes()),
            Self::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            Self::BF16 => out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
        }
    }
}

impl Default for TinyConfig {
    fn default() -> Self {
        Self {
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 4,
            max_position_embeddings: 8192,
            rms_norm_eps: 1e-6,
            vocab_size: 51200,
            shards: 2,
            dtype: WeightDtype::F32,
        }
    }
}

/// A small deterministic PRNG (splitmix64), enough for fixture weights.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        let (u1, u2) = (self.next_f64(), self.next_f64());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

struct Tensor {
    dtype: WeightDtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype.safetensors()
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn random_tensor(
    rng: &mut SplitMix64,
    dtype: WeightDtype,
    shape: Vec<usize>,
    mean: f64,
    std: f64,
) -> Tensor {
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n * 4);
    for _ in 0..n {
        let v = (mean + std * rng.next_normal()) as f32;
        dtype.push(&mut data, v);
    }
    Tensor { dtype, shape, data }
}

fn write_text(path: &Path, text: &str) -> Result<(), FixtureError> {
    std::fs::write(path, text).map_err(|source| FixtureError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes an XGen-shaped Hugging Face checkpoint with tiny dimensions and random weights into
/// `dir`: `config.json` (XGen's fields), [`TinyConfig::shards`] safetensors shards of
/// [`TinyConfig::dtype`] with `model.safetensors.index.json`, `tokenizer_config.json` and
/// `generation_config.json`. The same seed gives the same values whatever the dtype (rounded
/// from the same fp32 draws) and however many shards.
///
/// Weights are `normal * 0.02`, except q/k projections (std `4/sqrt(hidden)`, so attention is
/// sharp and a wrong RoPE layout changes the logits clearly), norms (`1 + 0.1 * normal`, so a
/// swapped norm shows) and `lm_head` (std 0.5, so the argmax is well separated). The old
/// `rotary_emb.inv_freq` buffers are included, as in XGen's own checkpoint.
///
/// # Errors
/// [`FixtureError`] if a file cannot be written.
pub fn write_tiny_xgen_checkpoint(
    dir: &Path,
    config: &TinyConfig,
    seed: u64,
) -> Result<(), FixtureError> {
    let c = config;
    let mut cfg = json!({
        "_name_or_path": "Salesforce/xgen-7b-8k-inst",
        "architectures": ["LlamaForCausalLM"],
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "hidden_act": "silu",
        "hidden_size": c.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": c.intermediate_size,
        "max_position_embeddings": c.max_position_embeddings,
        "model_type": "llama",
        "num_attention_heads": c.num_attention_heads,
        "num_hidden_layers": c.num_hidden_layers,
        "pad_token_id": 0,
        "rms_norm_eps": c.rms_norm_eps,
        "tie_word_embeddings": false,
        "torch_dtype": c.dtype.torch_name(),
        "transformers_version": "4.29.2",
        "use_cache": true,
        "vocab_size": c.vocab_size
    });
    if c.num_key_value_heads != c.num_attention_heads {
        cfg["num_key_value_heads"] = json!(c.num_key_value_heads);
    }
    write_text(
        &dir.join("config.json"),
        &serde_json::to_string_pretty(&cfg)?,
    )?;
    write_text(
        &dir.join("generation_config.json"),
        &serde_json::to_string_pretty(&json!({
            "_from_model_config": true,
            "bos_token_id": 50256,
            "eos_token_id": 50256,
            "pad_token_id": 0,
            "transformers_version": "4.29.2"
        }))?,
    )?;
    write_text(
        &dir.join("tokenizer_config.json"),
        r#"{
  "add_eos_token": false,
  "add_special_tokens": true,
  "auto_map": {
    "AutoTokenizer": ["tokenization_xgen.XgenTokenizer", null]
  },
  "clean_up_tokenization_spaces": true,
  "eos_token": "<|endoftext|>",
  "model_max_length": 1000000000000000019884624838656,
  "pad_token": null,
  "tokenizer_class": "XgenTokenizer"
}
"#,
    )?;

    let mut rng = SplitMix64::new(seed);
    let h = c.hidden_size;
    let head_dim = h / c.num_attention_heads.max(1);
    let kv = c.num_key_value_heads * head_dim;
    let qk_std = 4.0 / (h as f64).sqrt();
    let inv_freq = || {
        let mut data = Vec::new();
        for i in (0..head_dim).step_by(2) {
            let v = (1.0 / 10000f64.powf(i as f64 / head_dim as f64)) as f32;
            c.dtype.push(&mut data, v);
        }
        Tensor {
            dtype: c.dtype,
            shape: vec![head_dim / 2],
            data,
        }
    };
    let mut random = |shape, mean, std| random_tensor(&mut rng, c.dtype, shape, mean, std);

    let shard_count = c.shards.max(1);
    let last = shard_count - 1;
    let mut shards: Vec<Vec<(String, Tensor)>> = (0..shard_count).map(|_| Vec::new()).collect();
    shards[0].push((
        "model.embed_tokens.weight".into(),
        random(vec![c.vocab_size, h], 0.0, 0.02),
    ));
    for n in 0..c.num_hidden_layers {
        let s = (n * shard_count / c.num_hidden_layers).min(last);
        let name = |t: &str| format!("model.layers.{n}.{t}");
        let layer = [
            ("input_layernorm.weight", vec![h], 1.0, 0.1),
            ("self_attn.q_proj.weight", vec![h, h], 0.0, qk_std),
            ("self_attn.k_proj.weight", vec![kv, h], 0.0, qk_std),
            ("self_attn.v_proj.weight", vec![kv, h], 0.0, 0.02),
            ("self_attn.o_proj.weight", vec![h, h], 0.0, 0.02),
            ("post_attention_layernorm.weight", vec![h], 1.0, 0.1),
            (
                "mlp.gate_proj.weight",
                vec![c.intermediate_size, h],
                0.0,
                0.02,
            ),
            (
                "mlp.up_proj.weight",
                vec![c.intermediate_size, h],
                0.0,
                0.02,
            ),
            (
                "mlp.down_proj.weight",
                vec![h, c.intermediate_size],
                0.0,
                0.02,
            ),
        ];
        for (t, shape, mean, std) in layer {
            shards[s].push((name(t), random(shape, mean, std)));
        }
        shards[s].push((name("self_attn.rotary_emb.inv_freq"), inv_freq()));
    }
    shards[last].push(("model.norm.weight".into(), random(vec![h], 1.0, 0.1)));
    shards[last].push((
        "lm_head.weight".into(),
        random(vec![c.vocab_size, h], 0.0, 0.5),
    ));

    let mut weight_map = BTreeMap::new();
    let mut total_size = 0usize;
    for (i, shard) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{shard_count:05}.safetensors", i + 1);
        let path = dir.join(&file);
        for (name, t) in shard {
            weight_map.insert(name.clone(), file.clone());
            total_size += t.data.len();
        }
        let mut meta = std::collections::HashMap::new();
        meta.insert("format".to_owned(), "pt".to_owned());
        safetensors::serialize_to_file(
            shard.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            &path,
        )
        .map_err(|e| FixtureError::Safetensors {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    write_text(
        &dir.join("model.safetensors.index.json"),
        &serde_json::to_string_pretty(&json!({
            "metadata": { "total_size": total_size },
            "weight_map": weight_map
        }))?,
    )?;
    Ok(())
}

/// XGen-7B-8K's real dimensions (see the spec's config.json).
#[must_use]
pub fn xgen7b_config() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 4096,
        intermediate_size: 11008,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 32,
        max_position_embeddings: 8192,
        rms_norm_eps: 1e-6,
        rope_theta: 10000.0,
        vocab_size: 51200,
        tie_word_embeddings: false,
    }
}

/// Writes a GGUF F16 with XGen-7B's real dimensions (13.8 GB, 291 tensors) and random weights,
/// streaming, for benchmarks. See [`write_random_f16_gguf`].
///
/// # Errors
/// [`ConvertError`] if the file cannot be written.
pub fn write_xgen7b_shaped_f16_gguf(
    path: &Path,
    seed: u64,
    progress: impl FnMut(ConvertProgress),
) -> Result<ConvertSummary, ConvertError> {
    write_random_f16_gguf(path, &xgen7b_config(), seed, progress)
}

/// Writes a GGUF F16 (norms F32 = 1.0, matrices random F16 with magnitudes 2^-6..2^-2) with the
/// dimensions of `config`, the XGen tokenizer and LLaMA metadata, without ever holding more than
/// a 1 MiB buffer. Writes `path` + `.partial` and renames on success.
///
/// # Errors
/// [`ConvertError`] if the file cannot be written or the vocabulary cannot be built.
pub fn write_random_f16_gguf(
    path: &Path,
    config: &LlamaConfig,
    seed: u64,
    mut progress: impl FnMut(ConvertProgress),
) -> Result<ConvertSummary, ConvertError> {
    const BUF: usize = 1 << 20;
    let mut writer = GgufWriter::new();
    let declared = declare_llama_gguf(
        &mut writer,
        config,
        "XGen-7B-shaped random weights",
        OutType::F16,
        true,
    )?;
    let sizes = writer.tensor_sizes().to_vec();
    let bytes_total: u64 = sizes.iter().sum();
    let file_size = writer.file_size();
    let partial = partial_path(path);
    let io = |source| ConvertError::Io {
        path: partial.clone(),
        source,
    };
    let result = (|| {
        let file = File::create(&partial).map_err(io)?;
        let mut sink = writer.start(BufWriter::with_capacity(4 << 20, file))?;
        let mut state = seed | 1;
        let mut buf = vec![0u8; BUF];
        let mut bytes_done = 0u64;
        let count = declared.len();
        for (index, ((name, ty, _, _), &size)) in declared.iter().zip(&sizes).enumerate() {
            let event = |bytes_done| ConvertProgress {
                tensor_index: index,
                tensor_count: count,
                bytes_done,
                bytes_total,
                name: name.clone(),
            };
            progress(event(bytes_done));
            let mut left = size;
            while left > 0 {
                let n = usize::try_from(left).map_or(BUF, |l| l.min(BUF));
                let chunk = &mut buf[..n];
                if *ty == GgmlType::F32 {
                    for c in chunk.chunks_exact_mut(4) {
                        c.copy_from_slice(&1.0f32.to_le_bytes());
                    }
                } else {
                    fill_random_f16(chunk, &mut state);
                }
                sink.write_data(chunk)?;
                left -= n as u64;
                bytes_done += n as u64;
                progress(event(bytes_done));
            }
        }
        let last = declared.last().map(|(name, ..)| ConvertProgress {
            tensor_index: count - 1,
            tensor_count: count,
            bytes_done,
            bytes_total,
            name: name.clone(),
        });
        finish_streamed_gguf(sink, &partial, path, last, &mut progress, file_size)
    })();
    if result.is_err() {
        xgen_fsio::remove_quietly(&partial);
    }
    result
}

/// Fills `buf` with random f16 values: random sign and mantissa, exponent 9..=12.
fn fill_random_f16(buf: &mut [u8], state: &mut u64) {
    for c in buf.chunks_mut(8) {
        // xorshift64
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        let mut bytes = [0u8; 8];
        for (k, half) in bytes.chunks_exact_mut(2).enumerate() {
            let r = (x >> (16 * k)) as u16;
            let exp = 9 + ((r >> 10) & 0x3);
            let bits = (r & 0x8000) | (exp << 10) | (r & 0x03FF);
            half.copy_from_slice(&bits.to_le_bytes());
        }
        c.copy_from_slice(&bytes[..c.len()]);
    }
}
