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
//! through [`xgen_quantize::gguf::GgufFile::open_checked`] (bounded memory, tensor data inside
//! the file), every dimension is held to a range real models stay far inside ([`LIMITS`], in
//! `facts.rs`), and the estimates use saturating arithmetic, so an absurd figure can only mean "does not fit", never an overflow.
//! The search over GPU layers is linear in the layer count (per-layer sizes are summed once).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

mod facts;

pub use super::hardware::{GpuMemory, Hardware};
use facts::pad_ctx;
pub use facts::{FactsError, ModelFacts, LIMITS, MAX_LAYERS, VOCAB_LIMIT};

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
