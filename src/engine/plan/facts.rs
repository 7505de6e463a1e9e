//! What the planner knows about a model, read from its GGUF header: dimensions held to ranges
//! real models stay far inside ([`LIMITS`]), and the per-token and per-layer sizes computed
//! from them with saturating arithmetic.

use std::path::Path;

use serde::{Deserialize, Serialize};
use xgen_quantize::gguf::{GgufArray, GgufFile, GgufValue};

use super::super::KvPrecision;

/// Most repeating layers a model may have (the largest today have a few hundred).
pub const MAX_LAYERS: u32 = 1 << 16;

/// The range each header fact must lie in: `(key suffix, least, most)`. Real models stay far
/// inside them; a value outside means a damaged or hostile file, refused before anything is
/// sized from it.
pub const LIMITS: [(&str, u64, u64); 8] = [
    ("block_count", 1, MAX_LAYERS as u64),
    ("embedding_length", 1, 1 << 20),
    ("attention.head_count", 0, 1 << 16),
    ("attention.head_count_kv", 0, 1 << 16),
    ("attention.key_length", 0, 1 << 16),
    ("attention.value_length", 0, 1 << 16),
    ("feed_forward_length", 0, 1 << 24),
    ("context_length", 1, 1 << 28),
];

/// The range of the vocabulary size (`tokenizer.ggml.tokens` or `vocab_size`).
pub const VOCAB_LIMIT: (u64, u64) = (1, 1 << 24);

/// What the planner needs to know about a model, read from its GGUF header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// `general.name`, or the file name.
    pub name: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Repeating layers (`block_count`).
    pub n_layer: u32,
    /// Embedding width.
    pub n_embd: u32,
    /// Attention heads.
    pub n_head: u32,
    /// Key/value heads (fewer than `n_head` with grouped-query attention).
    pub n_head_kv: u32,
    /// Width of one key head.
    pub head_dim_k: u32,
    /// Width of one value head.
    pub head_dim_v: u32,
    /// Feed-forward width.
    pub n_ff: u32,
    /// Tokens in the vocabulary.
    pub n_vocab: u32,
    /// Context the model was trained for.
    pub n_ctx_train: u32,
    /// Bytes of every tensor's data.
    pub weights_bytes: u64,
    /// Bytes of each repeating layer's tensors (`blk.N.*`).
    pub layer_bytes: Vec<u64>,
    /// Bytes of the output layer (`output.weight` and `output_norm`; the token embeddings again
    /// when the model ties them), which goes to the GPU with the first offloaded layer.
    pub output_bytes: u64,
    /// The output layer reuses the token embeddings (no `output.weight`): on the CPU they are
    /// one tensor, on a GPU a second copy.
    #[serde(default)]
    pub tied_embeddings: bool,
}

/// Why a GGUF file could not be read for planning.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The header could not be read.
    #[error("cannot read the GGUF header of {path}: {reason}")]
    Header {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A required metadata key is missing.
    #[error("{path} lacks the metadata key {key}")]
    MissingKey {
        /// The file.
        path: std::path::PathBuf,
        /// The key.
        key: String,
    },
    /// A dimension outside the range any model has.
    #[error("{path}: {key} is {value}, outside the range a model can have ({min} to {max}); the file is damaged or not a model")]
    Implausible {
        /// The file.
        path: std::path::PathBuf,
        /// The key.
        key: String,
        /// The value found.
        value: u64,
        /// The least allowed.
        min: u64,
        /// The most allowed.
        max: u64,
    },
}

fn int_value(value: &GgufValue) -> Option<u64> {
    match value {
        // Per-layer arrays (some architectures): the largest entry.
        GgufValue::Array(a) => a.max_unsigned(),
        other => other.as_unsigned(),
    }
}

impl ModelFacts {
    /// Reads the facts from a GGUF file's header (no tensor data is read).
    ///
    /// # Errors
    /// [`FactsError`] when the file is not a readable GGUF or lacks the dimensions.
    pub fn from_gguf(path: &Path) -> Result<Self, FactsError> {
        let gguf = GgufFile::open_checked(path).map_err(|e| FactsError::Header {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_header(&gguf, path)
    }

    /// The facts of a header already read (and checked: [`GgufFile::open_checked`]); `path`
    /// names the file in errors and gives the name when the header has none.
    ///
    /// # Errors
    /// [`FactsError`] when the header lacks the dimensions or has absurd ones.
    pub fn from_header(gguf: &GgufFile, path: &Path) -> Result<Self, FactsError> {
        let file_size = gguf.file_size;
        let architecture = gguf
            .get("general.architecture")
            .and_then(GgufValue::as_str)
            .unwrap_or("llama")
            .to_owned();
        let key = |suffix: &str| format!("{architecture}.{suffix}");
        // Each fact within its range, or an error naming the key and the value.
        let checked = |key: String, value: u64, (min, max): (u64, u64)| {
            u32::try_from(value)
                .ok()
                .filter(|_| (min..=max).contains(&value))
                .ok_or(FactsError::Implausible {
                    path: path.to_path_buf(),
                    key,
                    value,
                    min,
                    max,
                })
        };
        let limit = |suffix: &str| {
            LIMITS
                .iter()
                .find(|(k, ..)| *k == suffix)
                .map_or((0, u64::from(u32::MAX)), |&(_, min, max)| (min, max))
        };
        let get = |suffix: &str| -> Result<Option<u32>, FactsError> {
            gguf.get(&key(suffix))
                .and_then(int_value)
                .map(|v| checked(key(suffix), v, limit(suffix)))
                .transpose()
        };
        let need = |suffix: &str| {
            get(suffix)?.ok_or_else(|| FactsError::MissingKey {
                path: path.to_path_buf(),
                key: key(suffix),
            })
        };
        let n_layer = need("block_count")?;
        let n_embd = need("embedding_length")?;
        // Recurrent models (Mamba, RWKV) have no attention heads; a width per head still needs
        // a divisor.
        let n_head = need("attention.head_count")?.max(1);
        let n_head_kv = get("attention.head_count_kv")?.unwrap_or(n_head);
        let head_dim = n_embd / n_head;
        let head_dim_k = get("attention.key_length")?.unwrap_or(head_dim);
        let head_dim_v = get("attention.value_length")?.unwrap_or(head_dim);
        let n_ff = match get("feed_forward_length")? {
            Some(v) => v,
            None => checked(
                key("feed_forward_length"),
                4 * u64::from(n_embd),
                limit("feed_forward_length"),
            )?,
        };
        let n_ctx_train = get("context_length")?.unwrap_or(4096);
        let n_vocab = match gguf
            .get("tokenizer.ggml.tokens")
            .and_then(GgufValue::as_array)
            .map(GgufArray::len)
        {
            Some(n) => checked("tokenizer.ggml.tokens".to_owned(), n, VOCAB_LIMIT)?,
            None => match gguf.get(&key("vocab_size")).and_then(int_value) {
                Some(n) => checked(key("vocab_size"), n, VOCAB_LIMIT)?,
                None => 32_000,
            },
        };

        // Tensor sizes from the offsets: each tensor runs to the next one (padding included).
        let data_len = file_size.saturating_sub(gguf.data_offset);
        let mut order: Vec<usize> = (0..gguf.tensors.len()).collect();
        order.sort_by_key(|&i| gguf.tensors[i].offset);
        let mut sizes = vec![0u64; gguf.tensors.len()];
        for (k, &i) in order.iter().enumerate() {
            let end = order
                .get(k + 1)
                .map_or(data_len, |&next| gguf.tensors[next].offset);
            sizes[i] = end.saturating_sub(gguf.tensors[i].offset);
        }
        // n_layer is at most MAX_LAYERS: this is at most 512 KiB.
        let mut layer_bytes = vec![0u64; n_layer as usize];
        let mut output_bytes = 0u64;
        let mut embd_bytes = 0u64;
        let mut has_output = false;
        for (tensor, size) in gguf.tensors.iter().zip(&sizes) {
            let name = tensor.name.as_str();
            if let Some(rest) = name.strip_prefix("blk.") {
                let layer = rest.split('.').next().and_then(|n| n.parse::<usize>().ok());
                if let Some(slot) = layer.and_then(|l| layer_bytes.get_mut(l)) {
                    *slot = slot.saturating_add(*size);
                }
            } else if name.starts_with("output") {
                has_output |= name == "output.weight";
                output_bytes = output_bytes.saturating_add(*size);
            } else if name == "token_embd.weight" {
                embd_bytes = *size;
            }
        }
        if !has_output {
            // Tied embeddings: a GPU holds its own copy of them as the output layer.
            output_bytes = output_bytes.saturating_add(embd_bytes);
        }
        let name = gguf
            .get("general.name")
            .and_then(GgufValue::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        Ok(Self {
            name,
            architecture,
            file_size,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim_k,
            head_dim_v,
            n_ff,
            n_vocab,
            n_ctx_train,
            weights_bytes: data_len,
            layer_bytes,
            output_bytes,
            tied_embeddings: !has_output,
        })
    }

    /// KV cache bytes per token per layer at a precision.
    #[must_use]
    pub fn kv_bytes_per_token_layer(&self, kv: KvPrecision) -> u64 {
        let width = u64::from(self.n_head_kv)
            .saturating_mul(u64::from(self.head_dim_k) + u64::from(self.head_dim_v));
        let (num, den) = kv_bytes_ratio(kv);
        width.saturating_mul(num) / den
    }

    /// The whole KV cache for `n_ctx` tokens (padded as llama.cpp pads it).
    #[must_use]
    pub fn kv_bytes(&self, n_ctx: u32, kv: KvPrecision) -> u64 {
        u64::from(pad_ctx(n_ctx))
            .saturating_mul(u64::from(self.n_layer))
            .saturating_mul(self.kv_bytes_per_token_layer(kv))
    }

    /// The part of the compute buffer that is written, and so resident, when the engine reads a
    /// prompt: it asks for the logits of the last token only, so the rows reserved for the
    /// logits of every token in the batch stay untouched.
    #[must_use]
    pub fn compute_resident_bytes(&self, n_ctx: u32, n_ubatch: u32, flash_attention: bool) -> u64 {
        let unused_logits = u64::from(n_ubatch.max(1) - 1)
            .saturating_mul(u64::from(self.n_vocab))
            .saturating_mul(4);
        self.compute_bytes(n_ctx, n_ubatch, flash_attention)
            .saturating_sub(unused_logits)
    }

    /// The compute buffer llama.cpp reserves for one batch of `n_ubatch` tokens (its log's
    /// "compute buffer size").
    #[must_use]
    pub fn compute_bytes(&self, n_ctx: u32, n_ubatch: u32, flash_attention: bool) -> u64 {
        let ub = u64::from(n_ubatch.max(1));
        // Each term is at most 2^34 (u32 sums), the batch at most 2^32: saturating products.
        let f32s = ub.saturating_mul(
            u64::from(self.n_vocab) + u64::from(self.n_ff) + 4 * u64::from(self.n_embd),
        );
        let scores = if flash_attention {
            0
        } else {
            // Attention scores and their softmax, f32, for every head.
            (2 * ub)
                .saturating_mul(u64::from(pad_ctx(n_ctx)))
                .saturating_mul(u64::from(self.n_head))
        };
        f32s.saturating_add(scores).saturating_mul(4)
    }
}

/// Bytes per element of a KV precision, as a fraction.
fn kv_bytes_ratio(kv: KvPrecision) -> (u64, u64) {
    match kv {
        KvPrecision::F16 => (2, 1),
        KvPrecision::Q8_0 => (34, 32),
        KvPrecision::Q4_0 => (18, 32),
    }
}

/// llama.cpp pads the context to a multiple of 256.
pub(super) fn pad_ctx(n_ctx: u32) -> u32 {
    n_ctx.div_ceil(256).saturating_mul(256)
}
