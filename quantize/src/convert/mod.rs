//! Hugging Face LLaMA checkpoint (XGen) -> GGUF, tensor by tensor, with the XGen vocabulary.
//!
//! The weights are sharded safetensors (`model.safetensors.index.json`, or `model.safetensors`)
//! or PyTorch zip checkpoints (`pytorch_model.bin.index.json`, or `pytorch_model.bin`), read
//! through [`crate::pytorch`] without executing the pickle.
//!
//! Shards are memory-mapped and each tensor is converted a few rows at a time, so memory use
//! stays at a few MiB however big the model is.
//!
//! A checkpoint directory is outside data: `config.json` and the index files are read with a
//! size cap, every dimension is held to a range real models stay far inside
//! ([`CONFIG_LIMITS`]) before anything is sized from it, shard names from an index are confined
//! to the directory ([`crate::fsio::confined_join`]), and a safetensors header must fit its
//! file. The output is written under a temporary name unique to this process and call, fsynced,
//! and renamed durably into place, so two conversions never share a half-written file.
//!
//! Longer than 600 lines: config validation, the tensor plan, shard reading (safetensors and
//! PyTorch) and the streaming writer are one pipeline whose bounds (sizes, names, offsets) are
//! checked against each other; the unpickler and the GGUF writer live in their own modules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::fsio::{confined_join, rename_durable, temp_path_beside};
use crate::gguf::{GgmlType, GgufError, GgufWriter};
use crate::pytorch::{read_torch_checkpoint, TorchError};
use crate::vocab::{VocabError, XgenVocab, XGEN_VOCAB_SIZE};

/// Bytes buffered before they are handed to the GGUF writer (and a progress event is sent).
const CHUNK_BYTES: usize = 4 << 20;

/// Most bytes of `config.json` (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Most bytes of a shard index (`*.index.json`; real ones are a few hundred KiB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Most bytes of a safetensors header (real ones are well under a MiB).
pub const MAX_SAFETENSORS_HEADER: u64 = 32 << 20;

/// The range each `config.json` dimension must lie in: `(field, least, most)`. Real models stay
/// far inside them; a value outside is refused before anything is sized from it.
pub const CONFIG_LIMITS: [(&str, usize, usize); 7] = [
    ("hidden_size", 1, 1 << 16),
    ("intermediate_size", 1, 1 << 18),
    ("num_hidden_layers", 1, 1024),
    ("num_attention_heads", 1, 1024),
    ("num_key_value_heads", 1, 1024),
    ("max_position_embeddings", 1, 1 << 24),
    ("vocab_size", 1, 1 << 20),
];

/// Errors of [`convert_checkpoint`].
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The checkpoint has no `config.json`.
    #[error("no config.json in {0}")]
    MissingConfig(PathBuf),
    /// `config.json` is not valid or lacks a required field.
    #[error("invalid {path}: {reason}")]
    BadConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint is not a `LlamaForCausalLM`.
    #[error("not a LLaMA checkpoint: architectures = {0:?}, expected [\"LlamaForCausalLM\"]")]
    NotLlama(Vec<String>),
    /// The config's vocabulary size does not match the XGen vocabulary.
    #[error("vocab_size is {0} but the XGen vocabulary has 51200 tokens")]
    VocabSize(u64),
    /// None of `model.safetensors.index.json`, `model.safetensors`,
    /// `pytorch_model.bin.index.json`, `pytorch_model.bin` is present.
    #[error("no weights in {0} (model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json or pytorch_model.bin)")]
    NoWeights(PathBuf),
    /// The index names a shard that is not on disk.
    #[error("missing shard {shard} (listed in {index})")]
    MissingShard {
        /// The shard's file name.
        shard: String,
        /// The index that lists it.
        index: PathBuf,
    },
    /// The index file is malformed.
    #[error("invalid {path}: {reason}")]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard is not a valid safetensors file.
    #[error("invalid safetensors file {path}: {reason}")]
    BadShard {
        /// The shard.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A PyTorch `.bin` shard cannot be read.
    #[error("invalid PyTorch checkpoint {path}: {source}")]
    BadTorchShard {
        /// The shard.
        path: PathBuf,
        /// What is wrong.
        source: TorchError,
    },
    /// A tensor the model needs is in no shard.
    #[error("missing tensor {0}")]
    MissingTensor(String),
    /// A tensor that is not part of a LLaMA model.
    #[error("unexpected tensor {0} in checkpoint")]
    UnexpectedTensor(String),
    /// A tensor's shape disagrees with config.json.
    #[error("tensor {name} has shape {found:?}, expected {expected:?} from config.json")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// Shape from config.json.
        expected: Vec<usize>,
        /// Shape in the shard.
        found: Vec<usize>,
    },
    /// A tensor dtype other than f32, f16 or bf16.
    #[error("tensor {name} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// Building the XGen vocabulary failed.
    #[error(transparent)]
    Vocab(#[from] VocabError),
    /// Writing the GGUF failed.
    #[error("writing GGUF: {0}")]
    Gguf(#[from] GgufError),
    /// [`ConvertOptions::cancel`] was set; the partial output was removed.
    #[error("conversion cancelled")]
    Cancelled,
}

/// Element type of the converted 2-D matrices (norms are always F32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutType {
    /// Matrices F16, norms F32 (`general.file_type` 1): the input of quantization.
    #[default]
    F16,
    /// Everything F32 (`general.file_type` 0): for exact comparisons.
    F32,
}

impl OutType {
    fn matrix_type(self) -> GgmlType {
        match self {
            Self::F16 => GgmlType::F16,
            Self::F32 => GgmlType::F32,
        }
    }

    fn file_type(self) -> u32 {
        match self {
            Self::F16 => 1,
            Self::F32 => 0,
        }
    }
}

/// Options of [`convert_checkpoint`].
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Output element type.
    pub out_type: OutType,
    /// `general.name`.
    pub name: String,
    /// Checked before each tensor and after every few MiB: once set, conversion stops with
    /// [`ConvertError::Cancelled`] and removes its partial output (a conversion cannot be
    /// resumed half-way; the checkpoint it reads is untouched).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl ConvertOptions {
    fn cancelled(&self) -> Result<(), ConvertError> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(ConvertError::Cancelled),
            _ => Ok(()),
        }
    }
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            out_type: OutType::F16,
            name: "XGen-7B-8K-Inst".to_owned(),
            cancel: None,
        }
    }
}

/// A progress event of [`convert_checkpoint`], sent as each tensor starts and every few MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertProgress {
    /// 0-based index of the tensor being written.
    pub tensor_index: usize,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Output tensor bytes written so far.
    pub bytes_done: u64,
    /// Output tensor bytes in all.
    pub bytes_total: u64,
    /// GGUF name of the tensor being written.
    pub name: String,
}

/// What [`convert_checkpoint`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    /// The GGUF written.
    pub path: PathBuf,
    /// Number of tensors.
    pub tensor_count: usize,
    /// File size in bytes.
    pub file_size: u64,
}

/// The LLaMA dimensions read from a Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (defaults to `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f32,
    /// `rope_theta` (defaults to 10000).
    pub rope_theta: f32,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `tie_word_embeddings` (defaults to false).
    pub tie_word_embeddings: bool,
}

impl LlamaConfig {
    /// Reads and validates `config.json` (LLaMA architecture, required fields, head sizes).
    ///
    /// # Errors
    /// [`ConvertError::MissingConfig`], [`ConvertError::BadConfig`], [`ConvertError::NotLlama`].
    pub fn from_file(path: &Path) -> Result<Self, ConvertError> {
        let text = match read_capped(path, MAX_CONFIG_BYTES) {
            Err(ConvertError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(ConvertError::MissingConfig(
                    path.parent().unwrap_or(path).to_path_buf(),
                ))
            }
            other => other?,
        };
        Self::from_json(path, &text)
    }

    /// Parses and validates the text of a `config.json` (`path` names it in errors). Every
    /// dimension must lie in its [`CONFIG_LIMITS`] range, the heads must divide the hidden
    /// size into even halves and the key/value heads must divide the heads.
    ///
    /// # Errors
    /// [`ConvertError::BadConfig`] naming the field and its allowed range,
    /// [`ConvertError::NotLlama`].
    pub fn from_json(path: &Path, text: &str) -> Result<Self, ConvertError> {
        let bad = |reason: String| ConvertError::BadConfig {
            path: path.to_path_buf(),
            reason,
        };
        let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let Some(obj) = raw.as_object() else {
            return Err(bad("it is not a JSON object".to_owned()));
        };
        let architectures: Vec<String> = match obj.get("architectures") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .take(16)
                .collect(),
            Some(other) => return Err(bad(format!("architectures is {other}, not a list"))),
        };
        if architectures.iter().all(|a| a != "LlamaForCausalLM") {
            return Err(ConvertError::NotLlama(architectures));
        }
        let dim = |field: &str, required: bool| -> Result<Option<usize>, ConvertError> {
            let (min, max) = CONFIG_LIMITS
                .iter()
                .find(|(f, ..)| *f == field)
                .map_or((0, usize::MAX), |&(_, min, max)| (min, max));
            match obj.get(field) {
                None | Some(serde_json::Value::Null) if required => {
                    Err(bad(format!("missing {field}")))
                }
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (min..=max).contains(n))
                    .map(Some)
                    .ok_or_else(|| {
                        bad(format!(
                            "{field} is {v}; it must be a whole number from {min} to {max}"
                        ))
                    }),
            }
        };
        let real = |field: &str| -> Result<Option<f64>, ConvertError> {
            match obj.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| bad(format!("{field} is {v}, not a number"))),
            }
        };
        let need = |v: Option<usize>| v.unwrap_or_default();
        let hidden_size = need(dim("hidden_size", true)?);
        let intermediate_size = need(dim("intermediate_size", true)?);
        let num_hidden_layers = need(dim("num_hidden_layers", true)?);
        let num_attention_heads = need(dim("num_attention_heads", true)?);
        let num_key_value_heads = dim("num_key_value_heads", false)?.unwrap_or(num_attention_heads);
        let max_position_embeddings = need(dim("max_position_embeddings", true)?);
        let rms_norm_eps =
            real("rms_norm_eps")?.ok_or_else(|| bad("missing rms_norm_eps".to_owned()))?;
        if !(rms_norm_eps > 0.0 && rms_norm_eps < 1.0) {
            return Err(bad(format!(
                "rms_norm_eps is {rms_norm_eps}; it must be a small positive number such as 1e-6"
            )));
        }
        let rope_theta = real("rope_theta")?.unwrap_or(10000.0);
        if !(rope_theta > 0.0 && rope_theta <= f64::from(f32::MAX)) {
            return Err(bad(format!(
                "rope_theta is {rope_theta}; it must be a positive number such as 10000"
            )));
        }
        let tie_word_embeddings = match obj.get("tie_word_embeddings") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => {
                return Err(bad(format!(
                    "tie_word_embeddings is {other}, not true or false"
                )))
            }
        };
        let cfg = Self {
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            max_position_embeddings,
            rms_norm_eps: rms_norm_eps as f32,
            rope_theta: rope_theta as f32,
            vocab_size: need(dim("vocab_size", true)?),
            tie_word_embeddings,
        };
        let heads = cfg.num_attention_heads;
        if !cfg.hidden_size.is_multiple_of(heads) || !(cfg.hidden_size / heads).is_multiple_of(2) {
            return Err(bad(format!(
                "num_attention_heads {heads} does not divide hidden_size {} into heads of even size",
                cfg.hidden_size
            )));
        }
        if !heads.is_multiple_of(cfg.num_key_value_heads) {
            return Err(bad(format!(
                "num_key_value_heads {} does not divide num_attention_heads {heads}",
                cfg.num_key_value_heads
            )));
        }
        Ok(cfg)
    }

    /// Size of one attention head.
    #[must_use]
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// How a tensor is transformed on its way into the GGUF.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Norm,
    Matrix,
    /// q/k projection: rows permuted per head for llama.cpp's RoPE (interleaved pairs).
    Rope,
}

struct Planned {
    hf: String,
    gguf: String,
    shape: Vec<usize>,
    kind: Kind,
}

/// The tensors of a LLaMA model in GGUF order, with their HF names and expected shapes.
fn plan(cfg: &LlamaConfig, with_output: bool) -> Vec<Planned> {
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
/// fit in 64 bits (impossible within [`CONFIG_LIMITS`]).
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

/// How a checkpoint's shards are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardFormat {
    Safetensors,
    Pytorch,
}

/// Lists the shard files of the checkpoint in `dir` (safetensors preferred when both exist).
fn shard_files(dir: &Path) -> Result<(ShardFormat, Vec<PathBuf>), ConvertError> {
    for (format, index, single) in [
        (
            ShardFormat::Safetensors,
            "model.safetensors.index.json",
            "model.safetensors",
        ),
        (
            ShardFormat::Pytorch,
            "pytorch_model.bin.index.json",
            "pytorch_model.bin",
        ),
    ] {
        if let Some(files) = shards_of(dir, index, single)? {
            return Ok((format, files));
        }
    }
    Err(ConvertError::NoWeights(dir.to_path_buf()))
}

/// The shards listed by `dir/index`, or `dir/single`, or None when neither exists.
fn shards_of(dir: &Path, index: &str, single: &str) -> Result<Option<Vec<PathBuf>>, ConvertError> {
    let index = dir.join(index);
    if index.is_file() {
        #[derive(Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let text = read_capped(&index, MAX_INDEX_BYTES)?;
        let parsed: Index = serde_json::from_str(&text).map_err(|e| ConvertError::BadIndex {
            path: index.clone(),
            reason: e.to_string(),
        })?;
        let shards: BTreeSet<String> = parsed.weight_map.into_values().collect();
        let mut files = Vec::new();
        for shard in shards {
            // Names come from the checkpoint: `/etc/passwd` or `../x` must not be read.
            let path = confined_join(dir, &shard).map_err(|e| ConvertError::BadIndex {
                path: index.clone(),
                reason: e.to_string(),
            })?;
            if !path.is_file() {
                return Err(ConvertError::MissingShard { shard, index });
            }
            files.push(path);
        }
        return Ok(Some(files));
    }
    let single = dir.join(single);
    Ok(single.is_file().then(|| vec![single]))
}

/// One tensor of a safetensors file and where its bytes are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLocation {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Byte offset of the first element in the file.
    pub start: usize,
    /// Byte offset just past the last element.
    pub end: usize,
}

/// The tensors of the safetensors file whose bytes are `file` (typically a memory map). The
/// header's length is checked against [`MAX_SAFETENSORS_HEADER`] and the file before it is
/// parsed, so a hostile header cannot make the parser allocate beyond a bounded multiple of
/// what the file holds; the safetensors crate then checks that the tensors' offsets tile the
/// data exactly.
///
/// # Errors
/// What is wrong with the file, in words.
pub fn safetensors_tensors(file: &[u8]) -> Result<Vec<TensorLocation>, String> {
    let Some(len_bytes) = file.first_chunk::<8>() else {
        return Err(format!(
            "the file is {} bytes long, shorter than a safetensors header (an interrupted download?)",
            file.len()
        ));
    };
    let header = u64::from_le_bytes(*len_bytes);
    if header > MAX_SAFETENSORS_HEADER {
        return Err(format!(
            "its header claims {header} bytes, more than the {MAX_SAFETENSORS_HEADER} any checkpoint needs (a damaged file?)"
        ));
    }
    if header.saturating_add(8) > file.len() as u64 {
        return Err(format!(
            "its header claims {header} bytes but the file holds only {} (an interrupted download?)",
            file.len()
        ));
    }
    let st = SafeTensors::deserialize(file).map_err(|e| e.to_string())?;
    let base = file.as_ptr() as usize;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let start = (view.data().as_ptr() as usize) - base;
            TensorLocation {
                name,
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                start,
                end: start + view.data().len(),
            }
        })
        .collect())
}

/// Reads a text file of at most `limit` bytes (a longer one is refused, not read).
fn read_capped(path: &Path, limit: u64) -> Result<String, ConvertError> {
    let io = |source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > limit {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file is larger than {limit} bytes, far more than such a file needs"),
        )));
    }
    Ok(text)
}

/// Where one checkpoint tensor's bytes are: a byte range of a shard's memory map.
struct Source {
    shard: usize,
    start: usize,
    end: usize,
    dtype: Dtype,
    shape: Vec<usize>,
}

/// The tensors of every shard by name (a later shard wins a duplicate, as in loading).
fn tensor_table(
    format: ShardFormat,
    files: &[PathBuf],
    maps: &[Mmap],
) -> Result<HashMap<String, Source>, ConvertError> {
    let mut table = HashMap::new();
    for (shard, (path, map)) in files.iter().zip(maps).enumerate() {
        match format {
            ShardFormat::Safetensors => {
                let tensors =
                    safetensors_tensors(map).map_err(|reason| ConvertError::BadShard {
                        path: path.clone(),
                        reason,
                    })?;
                for t in tensors {
                    let source = Source {
                        shard,
                        start: t.start,
                        end: t.end,
                        dtype: t.dtype,
                        shape: t.shape,
                    };
                    table.insert(t.name, source);
                }
            }
            ShardFormat::Pytorch => {
                let tensors =
                    read_torch_checkpoint(map).map_err(|source| ConvertError::BadTorchShard {
                        path: path.clone(),
                        source,
                    })?;
                for t in tensors {
                    let source = Source {
                        shard,
                        start: t.start,
                        end: t.end,
                        dtype: t.dtype,
                        shape: t.shape,
                    };
                    table.insert(t.name, source);
                }
            }
        }
    }
    Ok(table)
}

/// Converts the Hugging Face LLaMA checkpoint in `dir` (XGen: vocab_size 51200) to a GGUF at
/// `out` with the XGen tokenizer, writing a temporary file beside `out` (unique to this process
/// and call) and renaming it durably on success; the same tokenizer is written beside it as a
/// Hugging Face `tokenizer.json` ([`crate::hf_tokenizer`]).
///
/// `progress` is called as each tensor starts and after every few MiB written;
/// [`ConvertOptions::cancel`] is checked just before each of those calls.
///
/// # Errors
/// [`ConvertError`] naming the missing/invalid file or tensor.
pub fn convert_checkpoint(
    dir: &Path,
    out: &Path,
    options: &ConvertOptions,
    mut progress: impl FnMut(ConvertProgress),
) -> Result<ConvertSummary, ConvertError> {
    let cfg = LlamaConfig::from_file(&dir.join("config.json"))?;
    if cfg.vocab_size != XGEN_VOCAB_SIZE {
        return Err(ConvertError::VocabSize(cfg.vocab_size as u64));
    }
    // The sizes are known from the config alone: an overflow stops here, before any file is
    // opened or written.
    planned_output(&cfg, options.out_type, true)?;
    let (format, files) = shard_files(dir)?;
    let mut maps = Vec::with_capacity(files.len());
    for path in &files {
        let io = |source| ConvertError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the shard is only read; a concurrent writer truncating it is outside the
        // contract of a downloaded checkpoint (the same assumption safetensors' own mmap loader makes).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        maps.push(map);
    }
    let mut location = tensor_table(format, &files, &maps)?;
    let with_output = location.contains_key("lm_head.weight") || !cfg.tie_word_embeddings;
    let planned = plan(&cfg, with_output);
    let known: BTreeSet<&str> = planned.iter().map(|p| p.hf.as_str()).collect();
    for name in location.keys() {
        if !known.contains(name.as_str()) && !name.ends_with("rotary_emb.inv_freq") {
            return Err(ConvertError::UnexpectedTensor(name.clone()));
        }
    }
    let mut views = Vec::with_capacity(planned.len());
    for p in &planned {
        let Some(view) = location.remove(&p.hf) else {
            return Err(ConvertError::MissingTensor(p.hf.clone()));
        };
        if view.shape != p.shape {
            return Err(ConvertError::ShapeMismatch {
                name: p.hf.clone(),
                expected: p.shape.clone(),
                found: view.shape,
            });
        }
        if !matches!(view.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(ConvertError::UnsupportedDtype {
                name: p.hf.clone(),
                dtype: format!("{:?}", view.dtype),
            });
        }
        views.push(view);
    }

    let mut writer = GgufWriter::new();
    let declared = declare_llama_gguf(
        &mut writer,
        &cfg,
        &options.name,
        options.out_type,
        with_output,
    )?;
    let file_size = writer.file_size();
    let bytes_total: u64 = writer.tensor_sizes().iter().sum();

    // Unique to this process and call: two conversions to the same `out` never write, rename
    // or delete each other's temporary file.
    let partial = temp_path_beside(out, "partial");
    let result = (|| {
        let io = |source| ConvertError::Io {
            path: partial.clone(),
            source,
        };
        let file = File::create(&partial).map_err(io)?;
        let mut sink = writer.start(BufWriter::with_capacity(CHUNK_BYTES, file))?;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
        let mut bytes_done = 0u64;
        let count = planned.len();
        for (index, ((p, view), (gguf_name, ty, rows, cols))) in
            planned.iter().zip(&views).zip(&declared).enumerate()
        {
            let event = |bytes_done| ConvertProgress {
                tensor_index: index,
                tensor_count: count,
                bytes_done,
                bytes_total,
                name: gguf_name.clone(),
            };
            options.cancelled()?;
            progress(event(bytes_done));
            let map = &maps[view.shard];
            let src = &map[view.start..view.end];
            let mut released = 0usize;
            let elem = view.dtype.bitsize() / 8;
            let row_bytes = cols * elem;
            for r in 0..*rows {
                let src_row = match p.kind {
                    Kind::Rope => rope_source_row(r, cfg.head_dim()),
                    Kind::Norm | Kind::Matrix => r,
                };
                let bytes = &src[src_row * row_bytes..(src_row + 1) * row_bytes];
                push_converted(&mut buf, bytes, view.dtype, *ty);
                if buf.len() >= CHUNK_BYTES {
                    sink.write_data(&buf)?;
                    bytes_done += buf.len() as u64;
                    buf.clear();
                    options.cancelled()?;
                    progress(event(bytes_done));
                    // Rows are read in order, or (RoPE) permuted within one head: everything
                    // before the current head is done with.
                    let head_rows = cfg.head_dim().max(1);
                    let done_rows = (r + 1) / head_rows * head_rows;
                    release_pages(map, &src[released..done_rows * row_bytes]);
                    released = released.max(done_rows * row_bytes);
                }
            }
            if !buf.is_empty() {
                sink.write_data(&buf)?;
                bytes_done += buf.len() as u64;
                buf.clear();
            }
            release_pages(map, &src[released.min(src.len())..]);
        }
        let last = declared.last().map(|(name, ..)| ConvertProgress {
            tensor_index: count - 1,
            tensor_count: count,
            bytes_done,
            bytes_total,
            name: name.clone(),
        });
        finish_streamed_gguf(sink, &partial, out, last, &mut progress, file_size)
    })();
    if result.is_err() {
        crate::fsio::remove_quietly(&partial);
    }
    let summary = result?;
    // The tokenizer beside the model, for counting tokens without loading it.
    crate::hf_tokenizer::write_beside(out).map_err(|e| match e {
        crate::hf_tokenizer::TokenizerJsonError::Vocab(e) => ConvertError::Vocab(e),
        crate::hf_tokenizer::TokenizerJsonError::Io { path, source } => {
            ConvertError::Io { path, source }
        }
    })?;
    Ok(summary)
}

/// Ends a streamed GGUF: the last progress event, flush and fsync, then the partial file is
/// renamed into place.
///
/// # Errors
/// [`ConvertError::Io`] when the file cannot be written, synced or renamed.
pub fn finish_streamed_gguf(
    sink: crate::gguf::GgufTensorSink<BufWriter<File>>,
    partial: &Path,
    out: &Path,
    last: Option<ConvertProgress>,
    progress: &mut dyn FnMut(ConvertProgress),
    file_size: u64,
) -> Result<ConvertSummary, ConvertError> {
    let tensor_count = last.as_ref().map_or(0, |p| p.tensor_count);
    if let Some(last) = last {
        progress(last);
    }
    let io = |path: &Path, source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = sink
        .finish()?
        .into_inner()
        .map_err(|e| io(partial, e.into_error()))?;
    file.sync_all().map_err(|e| io(partial, e))?;
    drop(file);
    rename_durable(partial, out).map_err(|e| io(out, e))?;
    Ok(ConvertSummary {
        path: out.to_path_buf(),
        tensor_count,
        file_size,
    })
}

/// `path` with `.partial` appended to its file name (the fixtures' temporary name; conversion
/// and quantization use [`temp_path_beside`], unique per process and call).
#[must_use]
pub fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Converts one row of `src` (elements of `dtype`, little-endian) to `to` and appends it.
fn push_converted(buf: &mut Vec<u8>, src: &[u8], dtype: Dtype, to: GgmlType) {
    let to_f16 = to == GgmlType::F16;
    match (dtype, to_f16) {
        (Dtype::F32, false) | (Dtype::F16, true) => buf.extend_from_slice(src),
        (Dtype::F32, true) => {
            for c in src.chunks_exact(4) {
                let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                buf.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
        }
        (Dtype::F16, false) => {
            for c in src.chunks_exact(2) {
                let v = f16::from_le_bytes([c[0], c[1]]).to_f32();
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        (_, false) => {
            for c in src.chunks_exact(2) {
                let v = bf16::from_le_bytes([c[0], c[1]]).to_f32();
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        (_, true) => {
            for c in src.chunks_exact(2) {
                let v = bf16::from_le_bytes([c[0], c[1]]).to_f32();
                buf.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
        }
    }
}

/// Drops the pages of a converted tensor from this process's resident set, so that peak memory
/// stays bounded by one tensor however large the checkpoint (the page cache keeps them if there
/// is room). Best effort: an error only means the pages stay resident until unmapped.
fn release_pages(map: &Mmap, data: &[u8]) {
    #[cfg(unix)]
    {
        let offset = (data.as_ptr() as usize).wrapping_sub(map.as_ptr() as usize);
        if offset
            .checked_add(data.len())
            .is_some_and(|end| end <= map.len())
        {
            // SAFETY: MADV_DONTNEED on a read-only, file-backed mapping only drops cached pages;
            // a later read of the same bytes faults them in again from the unchanged file.
            // The advice only saves memory; a kernel that refuses it changes nothing else.
            let advised = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, data.len())
            };
            if let Err(e) = advised {
                tracing::debug!("madvise(DONTNEED) refused: {e}");
            }
        }
    }
    // Windows has no DONTNEED for a file view: the pages of a read-only mapping are clean and
    // the memory manager trims them from the working set when memory is short, so peak use
    // stays bounded there too, only later.
    #[cfg(not(unix))]
    let _ = (map, data);
}
