//! The engine thread: owns the llama backend, the model and its context.
//!
//! Without a model it answers commands one by one (`run`); with one, `serve` makes the context
//! and hands the commands to the scheduler (`slots`): one loop over three slots, each owning
//! its work and the sequence it works on. The **reply** (`reply`, `decode`) reads a request's
//! prompt a batch per step and writes its reply a token (or a verified draft) per step; the
//! **read-ahead** (`preread`) reads a document into the main context a batch per step when no
//! reply is written, and yields to every request between batches; the **read-alongside**
//! (`alongside`) reads a document into a second context, after each token of a reply for about
//! as long as the token took, and a full batch per step when nothing else is to be done. The
//! loop reads the command channel between steps: while a reply is written it only takes up
//! requests to read alongside, and every other command waits, in its order, for the reply's end.
//!
//! Shared by every slot: the rule that a context's token list mirrors its KV cache, and the one
//! batch-filling routine (`mirror`); saving document states to the disk cache, in steps while a
//! document is read and whole at the end (`prefix`'s `StepSaver`); the thread counts chosen per
//! batch and learned from each batch's time (`engine::threads`).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::runtime::{backend, gpu_backend};
use super::state_cache::{self, StateCache};
use super::threads::{self, CpuLoad, Threads, Work};
use super::{
    Command, EngineError, KvPrecision, LoadEvent, LoadSettings, ModelInfo, Outbox, Plan, Planning,
    PrereadEvent, PrereadRequest, ReplyEvent, Sampling,
};
use crate::prompt::{self, Message, PromptFormat, PromptPiece};
use mirror::{fill_batch, Mirror};

mod alongside;
mod decode;
mod drafts;
mod mirror;
mod prefix;
mod preread;
mod reply;
mod slots;

/// The engine's commands: the channel, and the commands put off while a reply is written, in
/// their order. Only the loop reads it, between steps.
struct Commands<'a> {
    channel: &'a mpsc::Receiver<Command>,
    deferred: VecDeque<Command>,
}

impl<'a> Commands<'a> {
    fn new(channel: &'a mpsc::Receiver<Command>) -> Self {
        Self {
            channel,
            deferred: VecDeque::new(),
        }
    }

    /// The next command, waiting for one; `None` when the engine's handle is gone.
    fn recv(&mut self) -> Option<Command> {
        self.deferred
            .pop_front()
            .or_else(|| self.channel.recv().ok())
    }

    /// The next command, waiting at most `timeout` for one.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Command, mpsc::RecvTimeoutError> {
        self.deferred
            .pop_front()
            .map_or_else(|| self.channel.recv_timeout(timeout), Ok)
    }

    /// The next command if one is there.
    fn try_recv(&mut self) -> Result<Command, mpsc::TryRecvError> {
        self.deferred
            .pop_front()
            .map_or_else(|| self.channel.try_recv(), Ok)
    }

    /// While a reply is written: the requests to read a document alongside that arrived,
    /// putting off every other command until the reply ends.
    fn take_alongside(&mut self) -> Vec<(PrereadRequest, Outbox<PrereadEvent>)> {
        let mut found = Vec::new();
        while let Ok(command) = self.channel.try_recv() {
            match command {
                Command::PrereadAlongside { request, reply } => found.push((request, reply)),
                other => self.deferred.push_back(other),
            }
        }
        found
    }
}

/// Prompt batches shorter than this are not timed for the thread policy: a batch's cost per
/// token grows as it gets smaller, so short ones (a prompt's last few tokens) would read as a
/// slowdown.
const TIMED_BATCH: usize = 64;

/// While idle, the engine reads the system's idle time this often, so that the first step of
/// the next request knows what other programs use now, not on average since the last request.
const IDLE_LOAD_READING: Duration = Duration::from_secs(1);

pub(super) fn run(channel: &mpsc::Receiver<Command>, live: &Arc<threads::Live>) {
    let mut commands = Commands::new(channel);
    let mut next = commands.recv();
    while let Some(command) = next.take() {
        match command {
            Command::Load {
                path,
                mut settings,
                planning,
                reply,
            } => {
                // The idle time is measured from here, so the first step after the load knows
                // what other programs use.
                let cpu = CpuLoad::start();
                match plan_load(&path, &mut settings, planning).and_then(|plan| {
                    load_model(&path, &settings, &reply).map(|model| (model, plan))
                }) {
                    Ok((model, plan)) => {
                        let serving = Serving {
                            model: &model,
                            path: &path,
                            settings: &settings,
                            plan,
                            cpu,
                            live,
                        };
                        next = serve(serving, &mut commands, &reply);
                        live.clear();
                        continue;
                    }
                    Err(error) => reply.send(LoadEvent::Failed(error)),
                }
            }
            Command::Generate { reply, .. } => reply.send(ReplyEvent::Failed(EngineError::NoModel)),
            Command::Preread { reply, .. } | Command::PrereadAlongside { reply, .. } => {
                reply.send(PrereadEvent::Failed(EngineError::NoModel));
            }
            Command::Tokenize { reply, .. } => {
                reply.send(Err(EngineError::NoModel)).ok();
            }
            Command::ClearCache | Command::Unload => {}
            Command::Shutdown => return,
            #[cfg(feature = "fault-injection")]
            Command::Panic => panic!("fault injected by a test"),
        }
        next = commands.recv();
    }
}

/// Plans memory for the load when asked to, writing the plan's choices into `settings`. A
/// header the planner cannot read is not an error here: the load says what is wrong with it.
fn plan_load(
    path: &Path,
    settings: &mut LoadSettings,
    planning: Planning,
) -> Result<Option<Plan>, EngineError> {
    let Planning::Fit { kv_fixed } = planning else {
        return Ok(None);
    };
    match super::plan_for_model(path, settings, kv_fixed) {
        Ok(plan) => {
            plan.apply(settings);
            Ok(Some(plan))
        }
        Err(super::plan::PlanForModelError::Plan(error)) => Err(EngineError::DoesNotFit(error)),
        Err(super::plan::PlanForModelError::Facts(error)) => {
            tracing::debug!("no memory plan for {}: {error}", path.display());
            Ok(None)
        }
    }
}

/// Checks what llama.cpp would otherwise trip over (a missing, empty, truncated or foreign
/// file, a damaged header or tensor table), with the one GGUF check the converter uses too.
fn validate_gguf(path: &Path) -> Result<(), EngineError> {
    match xgen_quantize::gguf::check_file(path) {
        Ok(_) => Ok(()),
        Err(xgen_quantize::GgufError::NotFound(_)) => {
            Err(EngineError::MissingFile(path.to_path_buf()))
        }
        Err(error) => Err(EngineError::BadModelFile {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }),
    }
}

fn load_model(
    path: &Path,
    settings: &LoadSettings,
    reply: &Outbox<LoadEvent>,
) -> Result<LlamaModel, EngineError> {
    validate_gguf(path)?;
    let backend = backend()?;
    // llama.cpp calls this on this thread while it loads; `false` stops the load.
    let progress = reply.clone();
    let mut params = LlamaModelParams::default().with_progress_callback(move |fraction| {
        progress.send(LoadEvent::Progress(fraction));
        !progress.cancelled()
    });
    if let Some(layers) = settings.gpu_layers {
        params = params.with_n_gpu_layers(layers);
    }
    params = params.with_use_mmap(use_mmap(settings, path));
    let model = LlamaModel::load_from_file(backend, path, &params).map_err(|_| {
        if reply.cancelled() {
            EngineError::LoadCancelled
        } else {
            EngineError::LoadRejected(path.to_path_buf())
        }
    });
    drop(params);
    model
}

/// Whether to map the weights: see [`LoadSettings::use_mmap`]. By default only when every
/// layer goes to a GPU (`gpu_layers` above the model's block count, or `None`).
fn use_mmap(settings: &LoadSettings, path: &Path) -> bool {
    settings.use_mmap.unwrap_or_else(|| {
        gpu_backend().is_some()
            && settings.gpu_layers.is_none_or(|layers| {
                super::ModelFacts::from_gguf(path).map_or(true, |f| layers > f.n_layer)
            })
    })
}

/// What besides the model shapes a saved KV state.
fn state_settings(settings: &LoadSettings) -> String {
    format!(
        "kv={:?} flash={:?} backend={:?}",
        settings.kv_cache,
        settings.flash_attention,
        gpu_backend()
    )
}

fn context_params(settings: &LoadSettings, n_ctx: u32) -> LlamaContextParams {
    let threads = settings.resolved_threads();
    let threads_batch = settings.threads_batch.unwrap_or(threads).max(1);
    let mut params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(settings.n_batch)
        .with_n_ubatch(settings.n_batch)
        .with_n_threads(i32::try_from(threads).unwrap_or(i32::MAX))
        .with_n_threads_batch(i32::try_from(threads_batch).unwrap_or(i32::MAX));
    let kv = match settings.kv_cache {
        KvPrecision::F16 => KvCacheType::F16,
        KvPrecision::Q8_0 => KvCacheType::Q8_0,
        KvPrecision::Q4_0 => KvCacheType::Q4_0,
    };
    params = params.with_type_k(kv).with_type_v(kv);
    let flash = match (settings.flash_attention, settings.kv_cache) {
        (_, KvPrecision::Q8_0 | KvPrecision::Q4_0) | (Some(true), _) => {
            Some(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED)
        }
        (Some(false), _) => Some(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED),
        (None, KvPrecision::F16) => None,
    };
    if let Some(flash) = flash {
        params = params.with_flash_attention_policy(flash);
    }
    params
}

/// A loaded model and what serving it needs.
struct Serving<'a> {
    model: &'a LlamaModel,
    path: &'a Path,
    settings: &'a LoadSettings,
    plan: Option<Plan>,
    /// The idle-time measurement, started with the load.
    cpu: CpuLoad,
    /// Where the thread counts in use are published.
    live: &'a Arc<threads::Live>,
}

/// Serves requests against one loaded model until another model is loaded, it is unloaded, or
/// the engine shuts down. Returns the command that ended it.
fn serve(
    serving: Serving<'_>,
    commands: &mut Commands<'_>,
    load: &Outbox<LoadEvent>,
) -> Option<Command> {
    let Serving {
        model,
        path,
        settings,
        plan,
        cpu,
        live,
    } = serving;
    let fail = |error: EngineError| load.send(LoadEvent::Failed(error));
    let n_ctx_train = model.n_ctx_train();
    let n_ctx = settings
        .n_ctx
        .unwrap_or_else(|| n_ctx_train.min(8192))
        .max(64);
    let backend = match backend() {
        Ok(backend) => backend,
        Err(error) => {
            fail(error);
            return commands.recv();
        }
    };
    let ctx = match model.new_context(backend, context_params(settings, n_ctx)) {
        Ok(ctx) => ctx,
        Err(e) => {
            fail(EngineError::Context {
                n_ctx,
                reason: e.to_string(),
            });
            return commands.recv();
        }
    };
    let format = match prompt_format(model) {
        Ok(format) => format,
        Err(error) => {
            fail(error);
            return commands.recv();
        }
    };
    let threads = Threads::new(settings, cpu, Arc::clone(live));
    let info = ModelInfo {
        path: path.to_path_buf(),
        name: model.meta_val_str("general.name").unwrap_or_else(|_| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        n_ctx_train,
        n_ctx,
        n_vocab: model.n_vocab(),
        n_params: model.n_params(),
        size_bytes: model.size(),
        xgen: format == PromptFormat::Xgen,
        threads: threads.max(),
        adaptive_threads: threads.adaptive(),
        gpu_layers: if gpu_backend().is_some() {
            settings.gpu_layers.unwrap_or(model.n_layer())
        } else {
            0
        },
        gpu_backend: gpu_backend().map(str::to_owned),
        plan,
        server: None,
    };
    let offloaded = info.gpu_layers > 0;
    load.send(LoadEvent::Loaded(info));

    let state_cache = settings.state_cache.as_ref().and_then(|config| {
        match state_cache::model_identity(path, &state_settings(settings)) {
            Ok(identity) => Some(StateCache::new(config.clone(), identity)),
            Err(e) => {
                tracing::warn!("state cache off: cannot identify {}: {e}", path.display());
                None
            }
        }
    });
    let applied = settings.resolved_threads();
    let session = Session {
        model,
        ctx,
        applied,
        threads,
        format,
        state_cache,
        cached: Mirror::default(),
        n_batch: settings.n_batch.max(1) as usize,
        batch: LlamaBatch::new(settings.n_batch.max(1) as usize, 1),
        drafts: drafts::DraftStates::default(),
        side: alongside::SideSettings::new(path, settings, offloaded),
    };
    session.run_slots(commands)
}

/// XGen's vocabulary (51200 tokens with `<fim_prefix>` at 50295) means XGen's prompt format;
/// anything else must carry a chat template.
fn prompt_format(model: &LlamaModel) -> Result<PromptFormat, EngineError> {
    let vocab = model.vocab();
    let is_xgen = model.n_vocab() == 51200
        && vocab
            .text(LlamaToken(50295))
            .is_some_and(|t| t.to_bytes() == b"<fim_prefix>")
        && vocab
            .text(LlamaToken(prompt::XGEN_EOS))
            .is_some_and(|t| t.to_bytes() == b"<|endoftext|>");
    if is_xgen {
        return Ok(PromptFormat::Xgen);
    }
    let template = model
        .chat_template(None)
        .map_err(|_| EngineError::NoChatTemplate)?;
    let text = template
        .to_string()
        .map_err(|e| EngineError::Template(e.to_string()))?;
    Ok(PromptFormat::Template(text))
}

struct Session<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// The thread count `ctx` runs with now.
    applied: usize,
    /// The thread counts: chosen before each step, learned from each step's time.
    threads: Threads,
    format: PromptFormat,
    /// The disk cache of document states, when configured.
    state_cache: Option<StateCache>,
    /// The tokens whose keys and values are in the cache, in order (sequence 0).
    cached: Mirror,
    n_batch: usize,
    /// Reused for every decode: no allocation per generated token.
    batch: LlamaBatch<'static>,
    /// What drafts cost and whether they are exact here, learned while generating (per thread
    /// count: both change with it).
    drafts: drafts::DraftStates,
    /// What a second context needs.
    side: alongside::SideSettings,
}

impl Session<'_> {
    fn tokenize(&self, text: &str, parse_special: bool) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, parse_special)
    }

    fn clear_cache(&mut self) {
        self.cached.clear(&mut self.ctx);
    }

    /// The prompt a conversation becomes, as tokens. Special tokens are parsed only in text the
    /// template adds.
    fn prompt_tokens(&self, messages: &[Message]) -> Result<Vec<LlamaToken>, EngineError> {
        let pieces = match &self.format {
            PromptFormat::Xgen => vec![PromptPiece {
                text: prompt::xgen_prompt(messages),
                parse_special: false,
            }],
            PromptFormat::Template(template) => self.template_pieces(template, messages)?,
        };
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        if vocab.should_add_bos() && !matches!(self.format, PromptFormat::Xgen) {
            tokens.push(vocab.bos());
        }
        for piece in &pieces {
            tokens.extend(self.tokenize(&piece.text, piece.parse_special));
        }
        // A template that writes the BOS text itself must not end up with two.
        if tokens.len() > 1 && tokens[0] == vocab.bos() && tokens[1] == vocab.bos() {
            tokens.remove(0);
        }
        Ok(tokens)
    }

    fn template_pieces(
        &self,
        template: &str,
        messages: &[Message],
    ) -> Result<Vec<PromptPiece>, EngineError> {
        let template_err = |e: &dyn std::fmt::Display| EngineError::Template(e.to_string());
        let template =
            llama_cpp_2::model::LlamaChatTemplate::new(template).map_err(|e| template_err(&e))?;
        let sentinels = prompt::sentinel_messages(messages);
        let chat = sentinels
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| template_err(&e))?;
        let rendered = self
            .model
            .apply_chat_template(&template, &chat, true)
            .map_err(|e| template_err(&e))?;
        prompt::split_rendered(&rendered, messages)
            .ok_or_else(|| EngineError::Template("the template rewrites message text, so special tokens in it cannot be kept as plain text".into()))
    }

    fn build_sampler(&self, sampling: &Sampling) -> LlamaSampler {
        if sampling.temperature <= 0.0 {
            return LlamaSampler::greedy();
        }
        let mut chain = Vec::new();
        if (sampling.repeat_penalty - 1.0).abs() > f32::EPSILON {
            chain.push(LlamaSampler::penalties(
                self.model.n_vocab(),
                sampling.repeat_last_n.max(0),
                sampling.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if sampling.top_k > 0 {
            chain.push(LlamaSampler::top_k(sampling.top_k));
        }
        if sampling.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(sampling.top_p, 1));
        }
        chain.push(LlamaSampler::temp(sampling.temperature));
        chain.push(LlamaSampler::dist(sampling.seed));
        LlamaSampler::chain_simple(chain)
    }

    /// Evaluates `chunk` (at most `n_batch` tokens) after what is cached, with logits for its
    /// last token when `logits` says so. The batch runs with the thread count of prompt batches
    /// (a lone token with generation's), and is timed for the thread policy when it is long
    /// enough to say something.
    fn evaluate_chunk(&mut self, chunk: &[LlamaToken], logits: bool) -> Result<(), EngineError> {
        fill_batch(&mut self.batch, self.cached.len(), chunk, |i| {
            logits && i + 1 == chunk.len()
        })?;
        let work = if chunk.len() > 1 {
            Work::Batches
        } else {
            Work::Tokens
        };
        let chosen = self.threads.choose(work);
        let (threads, secs) = self.decode_batch(chosen)?;
        if work == Work::Batches {
            self.threads.note_prompt(threads);
        }
        if work == Work::Tokens || chunk.len() >= TIMED_BATCH.min(self.n_batch) {
            self.threads.record(work, threads, chunk.len(), secs);
        }
        self.cached.decoded(chunk);
        Ok(())
    }

    /// Decodes what `self.batch` holds with `threads` threads (fewer only where llama.cpp's
    /// count cannot be changed); returns the threads it ran with and the seconds to the end of
    /// the computation.
    fn decode_batch(&mut self, threads: usize) -> Result<(usize, f64), EngineError> {
        let threads = threads::apply(&mut self.ctx, &mut self.applied, threads);
        let started = Instant::now();
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| EngineError::Decode(e.to_string()))?;
        // A GPU may still be computing when `decode` returns.
        self.ctx.synchronize();
        Ok((threads, started.elapsed().as_secs_f64()))
    }
}

fn token_ids(tokens: &[LlamaToken]) -> Vec<i32> {
    tokens.iter().map(|t| t.0).collect()
}

/// The token with the largest logit (the first one on ties, as llama.cpp's greedy sampler).
fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0usize;
    for (i, &logit) in logits.iter().enumerate() {
        if logit > logits[best] {
            best = i;
        }
    }
    LlamaToken(i32::try_from(best).unwrap_or(0))
}
