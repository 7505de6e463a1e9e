//! The memory planner: before a model is loaded, estimate what it will need (weights, KV cache
//! at each precision, compute buffers, overhead) against the RAM and VRAM that are free, and
//! choose the GPU layers and KV-cache precision that fit the requested context.
//!
//! [`plan`] is a pure function of [`ModelFacts`] (read from the GGUF header), [`Hardware`] (free
//! memory) and a [`PlanRequest`] (context size and overrides), so tests can give any figures;
//! [`plan_for_model`] gathers the real ones. A [`Plan`] explains itself (`Display`, and
//! [`Plan::summary`] for one line) and is applied to [`LoadSettings`] with [`Plan::apply`].
//!
//! What the estimate counts, as llama.cpp allocates it on the CPU with memory mapping off (the
//! planner turns it off there: llama.cpp repacks most 4-bit weights into an interleaved copy,
//! and with mapping on the file pages it read stay resident beside that copy):
//! - weights: the tensor data of the layers kept in RAM (the file minus its header);
//! - KV cache: context (padded to 256) x layers x (K + V width) x bytes per element, where the
//!   width is `head_count_kv x head_dim`; f16 2 bytes, q8_0 34/32, q4_0 18/32;
//! - compute buffer: the graph's activations for one 512-token batch, dominated by the output
//!   logits (vocabulary x batch) and, without flash attention, the attention scores (context x
//!   batch x heads);
//! - a fixed overhead for the program, the tokenizer and llama.cpp's bookkeeping.
//!
//! The header is read before llama.cpp ever sees the file, from files nobody vetted: it goes
//! through [`GgufFile::open_checked`] (bounded memory, tensor data inside the file), every
//! dimension is held to a range real models stay far inside ([`LIMITS`]), and the estimates use
//! saturating arithmetic, so an absurd figure can only mean "does not fit", never an overflow.
//! The search over GPU layers is linear in the layer count (per-layer sizes are summed once).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use xgen_quantize::gguf::{GgufArray, GgufFile, GgufValue};

use super::{KvPrecision, LoadSettings};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Fixed RAM for the program, its libraries, the tokenizer and llama.cpp's bookkeeping; the
/// overhead also grows with the weights by [`RAM_OVERHEAD_PER_WEIGHT`] (measured beyond
/// weights, KV cache and compute buffers: 32 MiB with SmolLM2-135M, 106 MiB with XGen-7B).
pub const RAM_OVERHEAD: u64 = 30 * MIB;
/// Overhead per byte of weights in RAM (1/50: 2 %).
pub const RAM_OVERHEAD_PER_WEIGHT: u64 = 50;
/// Fixed VRAM for a GPU backend's context and scratch when anything is offloaded.
pub const VRAM_OVERHEAD: u64 = 400 * MIB;
/// RAM left free for the rest of the system.
pub const RAM_HEADROOM: u64 = 256 * MIB;
/// VRAM left free (other programs, the display).
pub const VRAM_HEADROOM: u64 = 256 * MIB;

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
fn pad_ctx(n_ctx: u32) -> u32 {
    n_ctx.div_ceil(256).saturating_mul(256)
}

/// One GPU as llama.cpp reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuMemory {
    /// The device, e.g. "NVIDIA GeForce RTX 4060".
    pub name: String,
    /// Total memory in bytes.
    pub total: u64,
    /// Free memory in bytes.
    pub free: u64,
    /// True when the GPU shares the system RAM (Apple silicon, integrated GPUs): what it uses is
    /// then taken from RAM too.
    pub shared: bool,
}

/// The memory of the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// Installed RAM in bytes.
    pub ram_total: u64,
    /// RAM available to a new program (free plus reclaimable cache), in bytes.
    pub ram_available: u64,
    /// GPUs usable by the built-in GPU backend (empty on CPU-only builds).
    pub gpus: Vec<GpuMemory>,
}

impl Hardware {
    /// A CPU-only machine with `available` bytes of free RAM.
    #[must_use]
    pub fn cpu_only(ram_total: u64, ram_available: u64) -> Self {
        Self {
            ram_total,
            ram_available,
            gpus: Vec::new(),
        }
    }

    /// Reads this machine's figures: free RAM (within a container's memory limit) and the GPUs
    /// llama.cpp's built-in backend lists.
    #[must_use]
    pub fn detect() -> Self {
        let mut system = sysinfo::System::new();
        system.refresh_memory();
        let mut ram_total = system.total_memory();
        let mut ram_available = system.available_memory();
        if let Some(limits) = system.cgroup_limits() {
            ram_total = ram_total.min(limits.total_memory);
            ram_available = ram_available.min(limits.free_memory);
        }
        let gpus = if super::runtime::gpu_backend().is_some() {
            llama_cpp_2::list_llama_ggml_backend_devices()
                .into_iter()
                .filter(|d| {
                    matches!(
                        d.device_type,
                        llama_cpp_2::LlamaBackendDeviceType::Gpu
                            | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
                    )
                })
                .map(|d| GpuMemory {
                    shared: matches!(
                        d.device_type,
                        llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
                    ) || cfg!(feature = "metal"),
                    name: if d.description.is_empty() {
                        d.name
                    } else {
                        d.description
                    },
                    total: d.memory_total as u64,
                    free: d.memory_free as u64,
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            ram_total,
            ram_available,
            gpus,
        }
    }
}

/// What is asked of the planner: the context and any choices made by the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Context in tokens; `None` means the model's training context, at most 8192.
    pub n_ctx: Option<u32>,
    /// Tokens per batch (the compute buffer grows with it).
    pub n_batch: u32,
    /// Layers to offload, fixed by the person; `None` lets the planner choose.
    pub gpu_layers: Option<u32>,
    /// KV precision fixed by the person; `None` lets the planner choose.
    pub kv_cache: Option<KvPrecision>,
    /// Flash attention forced on or off; `None` lets the planner choose (on when the KV cache
    /// is quantized, which needs it).
    pub flash_attention: Option<bool>,
}

impl Default for PlanRequest {
    fn default() -> Self {
        Self {
            n_ctx: None,
            n_batch: 512,
            gpu_layers: None,
            kv_cache: None,
            flash_attention: None,
        }
    }
}

impl PlanRequest {
    /// The request that `settings` make, with the KV precision fixed only when `kv_fixed`.
    #[must_use]
    pub fn from_settings(settings: &LoadSettings, kv_fixed: bool) -> Self {
        Self {
            n_ctx: settings.n_ctx,
            n_batch: settings.n_batch,
            gpu_layers: settings.gpu_layers,
            kv_cache: kv_fixed.then_some(settings.kv_cache),
            flash_attention: settings.flash_attention,
        }
    }
}

/// Bytes of one kind of memory a plan uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUse {
    /// Model weights.
    pub weights: u64,
    /// KV cache.
    pub kv_cache: u64,
    /// Compute buffers.
    pub compute: u64,
    /// Fixed overhead.
    pub overhead: u64,
}

impl MemoryUse {
    /// The sum.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.kv_cache)
            .saturating_add(self.compute)
            .saturating_add(self.overhead)
    }
}

/// The planner's choice, with the figures behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The model.
    pub model: String,
    /// Context in tokens.
    pub n_ctx: u32,
    /// Layers offloaded to the GPU (llama.cpp counts the output layer as one).
    pub gpu_layers: u32,
    /// Layers the model has, output layer included (`n_layer + 1`).
    pub total_layers: u32,
    /// KV cache precision.
    pub kv_cache: KvPrecision,
    /// Flash attention on.
    pub flash_attention: bool,
    /// Memory-map the weights (only when every layer is offloaded: layers on the CPU are
    /// repacked into a copy, see the module documentation).
    pub use_mmap: bool,
    /// Estimated RAM use (peak resident memory of the process).
    pub ram: MemoryUse,
    /// Estimated VRAM use.
    pub vram: MemoryUse,
    /// RAM the plan may use (available minus headroom).
    pub ram_budget: u64,
    /// VRAM the plan may use (free minus headroom; 0 without a GPU).
    pub vram_budget: u64,
    /// The GPU, if any.
    pub gpu: Option<String>,
    /// Why these choices, in words.
    pub reasons: Vec<String>,
}

impl Plan {
    /// One line for a status bar or stderr.
    #[must_use]
    pub fn summary(&self) -> String {
        let placement = if self.gpu_layers == 0 {
            "CPU only".to_owned()
        } else if self.gpu_layers >= self.total_layers {
            "all layers on the GPU".to_owned()
        } else {
            format!(
                "{}/{} layers on the GPU",
                self.gpu_layers, self.total_layers
            )
        };
        let mut line = format!(
            "{} tokens, KV cache {}{}, {placement}: about {} of {} RAM",
            self.n_ctx,
            kv_name(self.kv_cache),
            if self.flash_attention {
                " (flash attention)"
            } else {
                ""
            },
            gib(self.ram.total()),
            gib(self.ram_budget),
        );
        if self.vram.total() > 0 {
            line.push_str(&format!(
                " and {} of {} VRAM",
                gib(self.vram.total()),
                gib(self.vram_budget)
            ));
        }
        line
    }

    /// Writes the plan's choices into load settings.
    pub fn apply(&self, settings: &mut LoadSettings) {
        settings.n_ctx = Some(self.n_ctx);
        settings.gpu_layers = Some(self.gpu_layers);
        settings.kv_cache = self.kv_cache;
        settings.flash_attention = Some(self.flash_attention);
        settings.use_mmap = Some(self.use_mmap);
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Memory plan for {}: {}", self.model, self.summary())?;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, m: &MemoryUse| {
            writeln!(
                f,
                "  {what:<5} weights {}, KV cache {}, compute {}, overhead {} = {}",
                gib(m.weights),
                gib(m.kv_cache),
                gib(m.compute),
                gib(m.overhead),
                gib(m.total())
            )
        };
        row(f, "RAM", &self.ram)?;
        if self.vram.total() > 0 {
            row(f, "VRAM", &self.vram)?;
        }
        for reason in &self.reasons {
            writeln!(f, "  - {reason}")?;
        }
        Ok(())
    }
}

/// Nothing fits, or a fixed choice does not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Even the smallest configuration needs more memory than there is.
    #[error("{model} does not fit with {n_ctx} tokens of context: the smallest configuration (KV cache {}, {} GPU layers) needs {} of RAM{} but {} is available{}. {hint}",
        kv_name(*kv_cache), gpu_layers, gib(*ram_needed),
        if *vram_needed > 0 { format!(" and {} of VRAM", gib(*vram_needed)) } else { String::new() },
        gib(*ram_budget),
        if *vram_budget > 0 { format!(" ({} of VRAM)", gib(*vram_budget)) } else { String::new() })]
    DoesNotFit {
        /// The model.
        model: String,
        /// The context asked for.
        n_ctx: u32,
        /// The KV precision of the smallest configuration tried.
        kv_cache: KvPrecision,
        /// Its GPU layers.
        gpu_layers: u32,
        /// RAM it needs.
        ram_needed: u64,
        /// VRAM it needs.
        vram_needed: u64,
        /// RAM available to the plan.
        ram_budget: u64,
        /// VRAM available to the plan.
        vram_budget: u64,
        /// What would help.
        hint: String,
    },
    /// The model's facts are outside what any model has (see [`MAX_LAYERS`]).
    #[error("{model} cannot be planned for: {reason}")]
    ImplausibleModel {
        /// The model.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// A quantized KV cache was asked for with flash attention off.
    #[error("a {} KV cache needs flash attention, which was turned off", kv_name(*.0))]
    QuantizedKvNeedsFlashAttention(KvPrecision),
}

/// The name llama.cpp and the CLI use for a KV precision (`q8_0`).
#[must_use]
pub fn kv_name(kv: KvPrecision) -> &'static str {
    match kv {
        KvPrecision::F16 => "f16",
        KvPrecision::Q8_0 => "q8_0",
        KvPrecision::Q4_0 => "q4_0",
    }
}

/// Bytes as GiB (or MiB below one GiB), for people.
fn gib(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.0} MiB", bytes as f64 / MIB as f64)
    }
}

/// The memory one configuration needs.
struct Estimate {
    ram: MemoryUse,
    vram: MemoryUse,
}

/// `facts` with the per-layer sizes summed once from each layer to the last, so that the
/// weights of any number of offloaded layers cost one lookup: the search over GPU layers stays
/// linear in the layer count.
struct Sized<'a> {
    facts: &'a ModelFacts,
    /// `from_layer[i]`: bytes of layers `i..` (one more entry than layers, the last 0).
    from_layer: Vec<u64>,
}

impl<'a> Sized<'a> {
    fn new(facts: &'a ModelFacts) -> Self {
        let mut from_layer = vec![0u64; facts.layer_bytes.len() + 1];
        for (i, bytes) in facts.layer_bytes.iter().enumerate().rev() {
            from_layer[i] = from_layer[i + 1].saturating_add(*bytes);
        }
        Self { facts, from_layer }
    }

    fn estimate(
        &self,
        n_ctx: u32,
        n_batch: u32,
        gpu_layers: u32,
        kv: KvPrecision,
        flash: bool,
    ) -> Estimate {
        let facts = self.facts;
        let n_layer = facts.n_layer;
        let on_gpu = gpu_layers.min(n_layer.saturating_add(1));
        // llama.cpp offloads the output layer first, then the last repeating layers.
        let gpu_repeating = on_gpu.saturating_sub(1);
        let first_gpu_layer = (n_layer - gpu_repeating) as usize;
        let gpu_layer_weights = self
            .from_layer
            .get(first_gpu_layer)
            .copied()
            .unwrap_or_default();
        let gpu_output = if on_gpu > 0 { facts.output_bytes } else { 0 };
        // Tied embeddings stay on the CPU for the input even when the output copy is offloaded.
        let ram_output_moved = if facts.tied_embeddings { 0 } else { gpu_output };
        let kv_per_layer =
            u64::from(pad_ctx(n_ctx)).saturating_mul(facts.kv_bytes_per_token_layer(kv));
        let compute = facts.compute_bytes(n_ctx, n_batch, flash);
        let ram_weights = facts
            .weights_bytes
            .saturating_sub(gpu_layer_weights.saturating_add(ram_output_moved));
        let mut ram = MemoryUse {
            weights: ram_weights,
            kv_cache: kv_per_layer.saturating_mul(u64::from(n_layer - gpu_repeating)),
            compute: facts.compute_resident_bytes(n_ctx, n_batch, flash),
            overhead: RAM_OVERHEAD + ram_weights / RAM_OVERHEAD_PER_WEIGHT,
        };
        let gpu_weights = gpu_layer_weights.saturating_add(gpu_output);
        let mut vram = MemoryUse::default();
        if on_gpu > 0 {
            vram = MemoryUse {
                weights: gpu_weights,
                kv_cache: kv_per_layer.saturating_mul(u64::from(gpu_repeating)),
                compute,
                overhead: VRAM_OVERHEAD,
            };
            // The CPU keeps a small buffer for the layers it still runs and the inputs.
            if gpu_repeating == n_layer {
                ram.compute /= 8;
            }
        }
        Estimate { ram, vram }
    }
}

/// Chooses GPU layers and KV precision for `request` on `hardware`.
///
/// Preference: as many layers on the GPU as fit (speed), then the most precise KV cache that
/// allows that (f16, then q8_0, whose loss is negligible); q4_0 only when nothing else fits.
/// Person-fixed choices in `request` are kept, and an error names the numbers when they do not
/// fit.
///
/// # Errors
/// [`PlanError::DoesNotFit`] when no configuration fits; [`PlanError::QuantizedKvNeedsFlashAttention`]
/// for a contradictory request; [`PlanError::ImplausibleModel`] for more than [`MAX_LAYERS`]
/// layers.
pub fn plan(
    facts: &ModelFacts,
    hardware: &Hardware,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    let layers = facts
        .n_layer
        .max(u32::try_from(facts.layer_bytes.len()).unwrap_or(u32::MAX));
    if layers > MAX_LAYERS {
        return Err(PlanError::ImplausibleModel {
            model: facts.name.clone(),
            reason: format!("{layers} layers, more than the {MAX_LAYERS} any model has"),
        });
    }
    let sized = Sized::new(facts);
    let n_ctx = request
        .n_ctx
        .unwrap_or_else(|| facts.n_ctx_train.min(8192))
        .max(64);
    let gpu = hardware.gpus.iter().max_by_key(|g| g.free);
    let shared = gpu.is_some_and(|g| g.shared);
    let ram_budget = hardware.ram_available.saturating_sub(RAM_HEADROOM);
    let vram_budget = gpu.map_or(0, |g| g.free.saturating_sub(VRAM_HEADROOM));
    let total_layers = facts.n_layer + 1;

    if let (Some(false), Some(kv @ (KvPrecision::Q8_0 | KvPrecision::Q4_0))) =
        (request.flash_attention, request.kv_cache)
    {
        return Err(PlanError::QuantizedKvNeedsFlashAttention(kv));
    }
    let kv_choices: Vec<KvPrecision> = match request.kv_cache {
        Some(kv) => vec![kv],
        None if request.flash_attention == Some(false) => vec![KvPrecision::F16],
        None => vec![KvPrecision::F16, KvPrecision::Q8_0, KvPrecision::Q4_0],
    };
    // From the most layers on the GPU to the fewest.
    let layer_choices = match (request.gpu_layers, gpu) {
        (Some(n), Some(_)) => n.min(total_layers)..=n.min(total_layers),
        (_, None) => 0..=0,
        (None, Some(_)) => 0..=total_layers,
    };
    let fewest_layers = *layer_choices.start();
    let flash_for = |kv: KvPrecision| match kv {
        KvPrecision::Q8_0 | KvPrecision::Q4_0 => true,
        // Flash attention saves the attention scores' memory and is as fast on CPU and GPU.
        KvPrecision::F16 => request.flash_attention.unwrap_or(true),
    };
    let fits = |e: &Estimate| {
        let vram = e.vram.total();
        let ram = e.ram.total().saturating_add(if shared { vram } else { 0 });
        ram <= ram_budget && (vram == 0 || (gpu.is_some() && vram <= vram_budget))
    };
    let needs = |e: &Estimate| e.ram.total().saturating_add(e.vram.total());

    // For each KV precision, the most GPU layers that fit.
    let mut best: Option<(u32, KvPrecision, Estimate)> = None;
    let mut smallest: Option<(u32, KvPrecision, Estimate)> = None;
    for &kv in &kv_choices {
        let quality_last_resort = kv == KvPrecision::Q4_0 && request.kv_cache.is_none();
        if quality_last_resort && best.is_some() {
            break;
        }
        for layers in layer_choices.clone().rev() {
            let e = sized.estimate(n_ctx, request.n_batch, layers, kv, flash_for(kv));
            let better_than_smallest = smallest
                .as_ref()
                .is_none_or(|(_, _, s)| needs(&e) < needs(s));
            if fits(&e) {
                let improves = best.as_ref().is_none_or(|(l, _, _)| layers > *l);
                if improves {
                    best = Some((layers, kv, e));
                }
                break;
            }
            if better_than_smallest {
                smallest = Some((layers, kv, e));
            }
        }
    }

    let Some((gpu_layers, kv, e)) = best else {
        let (layers, kv, e) = smallest.unwrap_or_else(|| {
            let kv = kv_choices.last().copied().unwrap_or(KvPrecision::F16);
            let e = sized.estimate(n_ctx, request.n_batch, fewest_layers, kv, flash_for(kv));
            (fewest_layers, kv, e)
        });
        return Err(PlanError::DoesNotFit {
            model: facts.name.clone(),
            n_ctx,
            kv_cache: kv,
            gpu_layers: layers,
            ram_needed: e
                .ram
                .total()
                .saturating_add(if shared { e.vram.total() } else { 0 }),
            vram_needed: e.vram.total(),
            ram_budget,
            vram_budget,
            hint: does_not_fit_hint(&sized, hardware, request, n_ctx, ram_budget),
        });
    };

    let flash = flash_for(kv);
    let mut reasons = Vec::new();
    let kv_f16 = facts.kv_bytes(n_ctx, KvPrecision::F16);
    match (request.kv_cache, kv) {
        (Some(_), _) => reasons.push(format!("KV cache {} as requested ({}).", kv_name(kv), gib(facts.kv_bytes(n_ctx, kv)))),
        (None, KvPrecision::F16) => reasons.push(format!(
            "KV cache f16 (full precision, {}) fits.",
            gib(kv_f16)
        )),
        (None, other) => reasons.push(format!(
            "KV cache {} ({} instead of {} at f16) so that the {n_ctx}-token context fits{}; it needs flash attention, which is on.",
            kv_name(other),
            gib(facts.kv_bytes(n_ctx, other)),
            gib(kv_f16),
            if gpu_layers > 0 { " with more layers on the GPU" } else { " in RAM" },
        )),
    }
    match (gpu, request.gpu_layers) {
        (None, Some(n)) if n > 0 => reasons.push(format!(
            "{n} GPU layers were requested, but there is no GPU backend in this build (or no GPU): the model runs on the CPU."
        )),
        (None, _) => reasons.push(
            "No GPU backend in this build (or no GPU found): the model runs on the CPU.".to_owned(),
        ),
        (Some(_), Some(n)) => reasons.push(format!("{n} GPU layers as requested.")),
        (Some(g), None) if gpu_layers >= total_layers => reasons.push(format!(
            "All {total_layers} layers fit in the {} free on {}.",
            gib(vram_budget),
            g.name
        )),
        (Some(g), None) => reasons.push(format!(
            "{gpu_layers} of {total_layers} layers fit in the {} free on {}; the rest run on the CPU.",
            gib(vram_budget),
            g.name
        )),
    }
    // Layers that stay on the CPU are repacked into a copy: mapped file pages would stay
    // resident beside it. Only when everything is offloaded is mapping free.
    let use_mmap = gpu_layers >= total_layers;
    if !use_mmap {
        reasons.push("Weights are read into memory rather than mapped, so the CPU's repacked copy is the only one resident.".to_owned());
    }
    Ok(Plan {
        model: facts.name.clone(),
        n_ctx,
        gpu_layers,
        total_layers,
        kv_cache: kv,
        flash_attention: flash,
        use_mmap,
        ram: e.ram,
        vram: e.vram,
        ram_budget,
        vram_budget,
        gpu: gpu.map(|g| g.name.clone()),
        reasons,
    })
}

/// What would make it fit: the largest context that fits on the CPU with the smallest cache.
fn does_not_fit_hint(
    sized: &Sized<'_>,
    hardware: &Hardware,
    request: &PlanRequest,
    n_ctx: u32,
    ram_budget: u64,
) -> String {
    let kv = request.kv_cache.unwrap_or(KvPrecision::Q4_0);
    let flash = kv != KvPrecision::F16 || request.flash_attention.unwrap_or(true);
    let layers = if hardware.gpus.is_empty() {
        0
    } else {
        request.gpu_layers.unwrap_or(0)
    };
    let mut ctx = n_ctx;
    while ctx > 256 {
        ctx = (ctx / 2).max(256);
        let e = sized.estimate(ctx, request.n_batch, layers, kv, flash);
        if e.ram.total() <= ram_budget && (layers == 0 || e.vram.total() > 0) {
            return format!(
                "A {ctx}-token context would fit; or close other programs, or use a smaller quantization of the model."
            );
        }
    }
    format!(
        "The weights alone need {}: use a smaller quantization or a machine with more memory.",
        gib(sized.facts.weights_bytes)
    )
}

/// Reads the model's header and this machine's memory and plans for `settings`.
///
/// # Errors
/// [`PlanForModelError`] when the header cannot be read or nothing fits.
pub fn plan_for_model(
    path: &Path,
    settings: &LoadSettings,
    kv_fixed: bool,
) -> Result<Plan, PlanForModelError> {
    let facts = ModelFacts::from_gguf(path)?;
    let hardware = Hardware::detect();
    Ok(plan(
        &facts,
        &hardware,
        &PlanRequest::from_settings(settings, kv_fixed),
    )?)
}

/// Why [`plan_for_model`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanForModelError {
    /// The header.
    #[error(transparent)]
    Facts(#[from] FactsError),
    /// The plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
}
