//! The engine thread: owns the llama backend, the model and its context.

use std::cell::RefCell;
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
    Command, EngineError, GenerateRequest, KvPrecision, LoadEvent, LoadSettings, ModelInfo, Outbox,
    Plan, Planning, PrereadEvent, PrereadRequest, PromptInput, ReplyEvent, Sampling, StopReason,
    Timings, TokenizeInput,
};
use crate::prompt::{self, Message, PromptFormat, PromptPiece};

mod alongside;
mod decode;
mod drafts;
mod prefix;
mod preread;

/// The engine's commands: the channel, and the commands taken out of it early, in their order
/// (while a reply is written, the worker looks for documents to read alongside it).
pub(super) struct Inbox<'a> {
    channel: &'a mpsc::Receiver<Command>,
    early: RefCell<VecDeque<Command>>,
}

impl<'a> Inbox<'a> {
    fn new(channel: &'a mpsc::Receiver<Command>) -> Self {
        Self {
            channel,
            early: RefCell::new(VecDeque::new()),
        }
    }

    /// The next command, waiting for one; `None` when the engine's handle is gone.
    fn recv(&self) -> Option<Command> {
        let early = self.early.borrow_mut().pop_front();
        early.or_else(|| self.channel.recv().ok())
    }

    /// The next command, waiting at most `timeout` for one.
    fn recv_timeout(&self, timeout: Duration) -> Result<Command, mpsc::RecvTimeoutError> {
        let early = self.early.borrow_mut().pop_front();
        early.map_or_else(|| self.channel.recv_timeout(timeout), Ok)
    }

    /// The next command if one is there.
    fn try_recv(&self) -> Result<Command, mpsc::TryRecvError> {
        let early = self.early.borrow_mut().pop_front();
        early.map_or_else(|| self.channel.try_recv(), Ok)
    }

    /// The requests to read a document alongside that arrived, keeping every other command
    /// for its turn.
    fn take_alongside(&self) -> Vec<(PrereadRequest, Outbox<PrereadEvent>)> {
        let mut found = Vec::new();
        while let Ok(command) = self.channel.try_recv() {
            match command {
                Command::PrereadAlongside { request, reply } => found.push((request, reply)),
                other => self.early.borrow_mut().push_back(other),
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
    let inbox = Inbox::new(channel);
    let inbox = &inbox;
    let mut next = inbox.recv();
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
                        next = serve(serving, inbox, &reply);
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
        next = inbox.recv();
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
fn serve<'m>(
    serving: Serving<'m>,
    inbox: &'m Inbox<'m>,
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
            return inbox.recv();
        }
    };
    let ctx = match model.new_context(backend, context_params(settings, n_ctx)) {
        Ok(ctx) => ctx,
        Err(e) => {
            fail(EngineError::Context {
                n_ctx,
                reason: e.to_string(),
            });
            return inbox.recv();
        }
    };
    let format = match prompt_format(model) {
        Ok(format) => format,
        Err(error) => {
            fail(error);
            return inbox.recv();
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
    let mut session = Session {
        model,
        ctx,
        applied,
        threads,
        format,
        state_cache,
        cached: Vec::new(),
        n_batch: settings.n_batch.max(1) as usize,
        batch: LlamaBatch::new(settings.n_batch.max(1) as usize, 1),
        drafts: drafts::DraftStates::default(),
        inbox,
        alongside: None,
        side: alongside::SideSettings::new(path, settings, offloaded),
    };
    // A document read ahead advances one batch at a time while no command waits, so any
    // request takes the engine within one batch and reading goes on after it.
    // A document read alongside (in a context of its own) advances the same way when nothing
    // else is to be done, and between the steps of a reply.
    let mut reading: Option<preread::Preread> = None;
    loop {
        let command = if reading.is_some() || session.alongside.is_some() {
            match inbox.try_recv() {
                Ok(command) => command,
                Err(mpsc::TryRecvError::Empty) => {
                    if let Some(job) = reading.as_mut() {
                        if session.preread_step(job) {
                            reading = None;
                        }
                    } else {
                        session.alongside_step();
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => return None,
            }
        } else {
            match inbox.recv_timeout(IDLE_LOAD_READING) {
                Ok(command) => command,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    session.threads.sample_load();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        };
        match command {
            Command::Preread { request, reply } => {
                if let Some(previous) = reading.take() {
                    session.preread_end(previous);
                }
                reading = session.preread_start(&request, reply);
            }
            Command::PrereadAlongside { request, reply } => {
                session.alongside_start(&request, reply);
            }
            Command::Generate { request, reply } => {
                session.alongside_handoff(&request);
                if let Err(error) = session.generate(&request, &reply) {
                    reply.send(ReplyEvent::Failed(error));
                }
            }
            Command::Tokenize { input, reply } => {
                let tokens = match input {
                    TokenizeInput::Text(text) => Ok(session.tokenize(&text, false)),
                    TokenizeInput::Chat(messages) => session.prompt_tokens(&messages),
                };
                reply
                    .send(tokens.map(|t| t.into_iter().map(|t| t.0).collect()))
                    .ok();
            }
            Command::ClearCache => session.clear_cache(),
            Command::Unload => {
                end_reading(&mut session, reading.take());
                return inbox.recv();
            }
            other @ (Command::Load { .. } | Command::Shutdown) => {
                end_reading(&mut session, reading.take());
                return Some(other);
            }
            #[cfg(feature = "fault-injection")]
            Command::Panic => panic!("fault injected by a test"),
        }
    }
}

fn end_reading(session: &mut Session<'_>, reading: Option<preread::Preread>) {
    if let Some(job) = reading {
        session.preread_end(job);
    }
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
    cached: Vec<LlamaToken>,
    n_batch: usize,
    /// Reused for every decode: no allocation per generated token.
    batch: LlamaBatch<'static>,
    /// What drafts cost and whether they are exact here, learned while generating (per thread
    /// count: both change with it).
    drafts: drafts::DraftStates,
    /// The engine's commands (read between the steps of a reply for reading alongside).
    inbox: &'m Inbox<'m>,
    /// A document read in a second context alongside the requests (`alongside`).
    alongside: Option<alongside::Alongside<'m>>,
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
        self.ctx.clear_kv_cache();
        self.cached.clear();
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

    /// Evaluates `tokens` after what is cached, `n_batch` at a time, reporting progress. Each
    /// batch runs with the thread count of prompt batches (a lone token with generation's).
    fn evaluate(
        &mut self,
        tokens: &[LlamaToken],
        on_batch: &mut dyn FnMut(usize) -> bool,
    ) -> Result<bool, EngineError> {
        let total = tokens.len();
        for (chunk_index, chunk) in tokens.chunks(self.n_batch).enumerate() {
            let last_chunk = (chunk_index + 1) * self.n_batch >= total;
            let start = self.cached.len();
            fill_batch(&mut self.batch, start, chunk, |i| {
                last_chunk && i + 1 == chunk.len()
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
            self.cached.extend_from_slice(chunk);
            if !on_batch(chunk.len()) {
                return Ok(false);
            }
        }
        Ok(true)
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

    fn generate(
        &mut self,
        request: &GenerateRequest,
        reply: &Outbox<ReplyEvent>,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        self.threads.begin_reply();
        let prompt = match &request.prompt {
            PromptInput::Chat(messages) => self.prompt_tokens(messages)?,
            PromptInput::Tokens(ids) => ids.iter().copied().map(LlamaToken).collect(),
        };
        let n_ctx = self.ctx.n_ctx() as usize;
        let reserved = request.sampling.max_tokens as usize;
        if prompt.is_empty() || prompt.len() + reserved > n_ctx {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: prompt.len(),
                reserved,
                n_ctx,
            });
        }

        // The document prefix to keep on disk, and its state from disk when the live cache
        // lacks it.
        let prefix_len = self.cache_prefix_len(request, &prompt);
        let restore_start = Instant::now();
        let restored = self.restore_prefix(&prompt[..prefix_len]);
        let restore_secs = restore_start.elapsed().as_secs_f64();

        // Reuse the cached prefix; at least one token is evaluated to get fresh logits.
        let mut keep = self
            .cached
            .iter()
            .zip(&prompt)
            .take_while(|(a, b)| a == b)
            .count();
        keep = keep.min(prompt.len() - 1);
        let removed = self
            .ctx
            .kv_cache_seq_rm(0, Some(u32::try_from(keep).unwrap_or(u32::MAX)), None)
            .is_ok();
        if removed {
            self.cached.truncate(keep);
        } else {
            self.clear_cache();
            keep = 0;
        }
        let to_evaluate = prompt.len() - keep;
        let mut timings = Timings {
            prompt_tokens: prompt.len(),
            prompt_evaluated: to_evaluate,
            prompt_restored: restored,
            restore_secs,
            ..Timings::default()
        };
        let mut done = 0usize;
        let prefill_start = Instant::now();
        let mut progress = |n: usize| {
            done += n;
            reply.send(ReplyEvent::Prompt {
                done,
                total: to_evaluate,
            });
            !reply.cancelled()
        };
        // A prefix to save that is not on disk yet: read up to its end, save, read the rest.
        let save_at = (prefix_len >= keep
            && prefix_len > 0
            && self
                .state_cache
                .as_ref()
                .is_some_and(|cache| !cache.contains(&token_ids(&prompt[..prefix_len]))))
        .then_some(prefix_len);
        let finished = match save_at {
            Some(at) => self
                .evaluate(&prompt[keep..at], &mut progress)
                .and_then(|finished| {
                    if finished {
                        self.save_prefix();
                        self.evaluate(&prompt[at..], &mut progress)
                    } else {
                        Ok(false)
                    }
                }),
            None => self.evaluate(&prompt[keep..], &mut progress),
        };
        let finished = match finished {
            Ok(finished) => finished,
            Err(error) => {
                // The cache may hold half a batch: start clean next time.
                self.clear_cache();
                return Err(error);
            }
        };
        timings.prefill_secs = prefill_start.elapsed().as_secs_f64();
        if !finished {
            timings.ttft_secs = started.elapsed().as_secs_f64();
            timings.threads = self.threads.reply_use();
            reply.send(ReplyEvent::Done {
                reason: StopReason::Cancelled,
                timings,
            });
            return Ok(());
        }

        let reason = self.decode(request, reply, &mut timings, started)?;
        timings.threads = self.threads.reply_use();
        reply.send(ReplyEvent::Done { reason, timings });
        Ok(())
    }
}

/// Fills `batch` with `tokens` at the positions from `start`, with logits where `logits` says.
fn fill_batch(
    batch: &mut LlamaBatch<'_>,
    start: usize,
    tokens: &[LlamaToken],
    logits: impl Fn(usize) -> bool,
) -> Result<(), EngineError> {
    batch.clear();
    for (i, token) in tokens.iter().enumerate() {
        let pos = i32::try_from(start + i).map_err(|e| EngineError::Decode(e.to_string()))?;
        batch
            .add(*token, pos, &[0], logits(i))
            .map_err(|e| EngineError::Decode(e.to_string()))?;
    }
    Ok(())
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
