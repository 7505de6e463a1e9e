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
//! to the directory ([`xgen_fsio::confined_join`]), and a safetensors header must fit its
//! file. The output is written under a temporary name unique to this process and call, fsynced,
//! and renamed durably into place, so two conversions never share a half-written file.
//!
//! The pipeline's parts: `config.rs` validates `config.json`, `plan.rs` lays out the tensors,
//! `shards.rs` finds each tensor's bytes; this file streams them into the GGUF. The unpickler
//! and the GGUF writer live in their own modules.

#![allow(
    unsafe_code,
    reason = "the shards are memory-mapped, and their pages released with madvise"
)]

mod config;
mod plan;
mod shards;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::Dtype;
use xgen_fsio::{rename_durable, temp_path_beside};

use crate::gguf::{GgmlType, GgufError, GgufWriter};
use crate::pytorch::TorchError;
use crate::vocab::{VocabError, XGEN_VOCAB_SIZE};
pub use config::{LlamaConfig, CONFIG_LIMITS, MAX_CONFIG_BYTES};
pub use plan::{declare_llama_gguf, planned_output, rope_source_row};
use plan::{plan, Kind};
pub use shards::{safetensors_tensors, TensorLocation, MAX_INDEX_BYTES, MAX_SAFETENSORS_HEADER};
use shards::{shard_files, tensor_table};

/// Bytes buffered before they are handed to the GGUF writer (and a progress event is sent).
const CHUNK_BYTES: usize = 4 << 20;

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
    pub(crate) fn matrix_type(self) -> GgmlType {
        match self {
            Self::F16 => GgmlType::F16,
            Self::F32 => GgmlType::F32,
        }
    }

    pub(crate) fn file_type(self) -> u32 {
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
        xgen_fsio::remove_quietly(&partial);
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
