//! Drafts from the document (prompt-lookup decoding), measured: generation speed with and
//! without drafts for summaries and document questions, acceptance, tokens per verify step and
//! whether the replies came out the same; and what a verify batch of k+1 tokens costs against
//! one token, on llama.cpp directly. Run by `xgen-dev bench-drafts` and `xgen-dev bench-verify`
//! (see `scripts/bench-drafts.sh`); printed figures, not timed tests.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use serde::Serialize;

use xgen_desk::engine::hardware::default_threads;
use xgen_desk::engine::{
    runtime, CachePrefix, DraftMode, Engine, EngineError, GenerateRequest, Sampling, Timings,
};
use xgen_desk::prompt::{document_len, document_turn, summarize_request, Message, SummaryStyle};

/// A document to ask about, and the topics of its questions.
#[derive(Debug, Clone)]
pub struct BenchDocument {
    /// A short name for the table.
    pub name: String,
    /// The text.
    pub text: String,
    /// "What does the document say about TOPIC? Quote it." is asked for each.
    pub topics: Vec<String>,
}

/// One request run twice, without and with drafts.
#[derive(Debug, Clone, Serialize)]
pub struct DraftPair {
    /// The document's name.
    pub document: String,
    /// Tokens of the document.
    pub document_tokens: usize,
    /// `summary` or `question`.
    pub kind: &'static str,
    /// What was asked.
    pub request: String,
    /// Without drafts.
    pub plain: Timings,
    /// With drafts.
    pub drafts: Timings,
    /// CPU seconds of the reply without drafts (prompt tail and generation).
    pub plain_cpu_secs: Option<f64>,
    /// CPU seconds of the reply with drafts.
    pub drafts_cpu_secs: Option<f64>,
    /// The two replies have the same text.
    pub identical: bool,
    /// Characters the two replies share from their start (where a near-tie went the other
    /// way, when they differ).
    pub common_prefix_chars: usize,
    /// Characters of the reply without drafts.
    pub plain_chars: usize,
    /// For the first request about each document, the reply without drafts asked a second
    /// time: whether it came out the same (plain decoding is reproducible, so a difference
    /// with drafts comes from the drafts).
    pub plain_repeat_identical: Option<bool>,
    /// The reply without drafts (its start), to see what the model did.
    pub reply_start: String,
}

/// Sums over pairs of one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DraftTotals {
    /// Requests.
    pub replies: usize,
    /// Replies with the same text with and without drafts.
    pub identical: usize,
    /// Characters the replies with and without drafts share from their start, summed.
    pub common_prefix_chars: usize,
    /// Characters of the replies without drafts, summed.
    pub plain_chars: usize,
    /// Tokens generated without drafts (the first of each reply not counted).
    pub plain_tokens: usize,
    /// Seconds of generation without drafts.
    pub plain_secs: f64,
    /// Tokens generated with drafts (the first of each reply not counted).
    pub draft_tokens: usize,
    /// Seconds of generation with drafts.
    pub draft_secs: f64,
    /// Tokens generated without drafts, in all, and their CPU seconds.
    pub plain_cpu: (usize, f64),
    /// Tokens generated with drafts, in all, and their CPU seconds.
    pub draft_cpu: (usize, f64),
    /// Verify batches.
    pub draft_steps: usize,
    /// Tokens drafted.
    pub drafted: usize,
    /// Drafted tokens kept.
    pub accepted: usize,
    /// Tokens generated with drafts, in all (for the share made in verify steps).
    pub generated_with_drafts: usize,
}

impl DraftTotals {
    fn add(&mut self, pair: &DraftPair) {
        self.replies += 1;
        self.identical += usize::from(pair.identical);
        self.common_prefix_chars += pair.common_prefix_chars;
        self.plain_chars += pair.plain_chars;
        self.plain_tokens += pair.plain.generated_tokens.saturating_sub(1);
        self.plain_secs += pair.plain.generation_secs;
        self.draft_tokens += pair.drafts.generated_tokens.saturating_sub(1);
        self.draft_secs += pair.drafts.generation_secs;
        if let (Some(plain), Some(drafts)) = (pair.plain_cpu_secs, pair.drafts_cpu_secs) {
            self.plain_cpu.0 += pair.plain.generated_tokens;
            self.plain_cpu.1 += plain;
            self.draft_cpu.0 += pair.drafts.generated_tokens;
            self.draft_cpu.1 += drafts;
        }
        self.draft_steps += pair.drafts.draft_steps;
        self.drafted += pair.drafts.drafted;
        self.accepted += pair.drafts.draft_accepted;
        self.generated_with_drafts += pair.drafts.generated_tokens;
    }

    /// Generation tok/s without drafts.
    #[must_use]
    pub fn plain_tok_per_sec(&self) -> f64 {
        ratio(self.plain_tokens as f64, self.plain_secs)
    }

    /// Generation tok/s with drafts.
    #[must_use]
    pub fn draft_tok_per_sec(&self) -> f64 {
        ratio(self.draft_tokens as f64, self.draft_secs)
    }

    /// Generated tokens per CPU second with drafts against without (0 where unknown).
    #[must_use]
    pub fn cpu_speedup(&self) -> f64 {
        let plain = ratio(self.plain_cpu.0 as f64, self.plain_cpu.1);
        ratio(ratio(self.draft_cpu.0 as f64, self.draft_cpu.1), plain)
    }

    /// Drafted tokens kept, of those drafted.
    #[must_use]
    pub fn acceptance(&self) -> f64 {
        ratio(self.accepted as f64, self.drafted as f64)
    }

    /// Tokens a verify batch yields: the drafted ones kept, and the model's own next token.
    #[must_use]
    pub fn tokens_per_step(&self) -> f64 {
        ratio(
            (self.accepted + self.draft_steps) as f64,
            self.draft_steps as f64,
        )
    }

    /// Tokens drafted per verify batch (k of a k+1-token batch).
    #[must_use]
    pub fn drafted_per_step(&self) -> f64 {
        ratio(self.drafted as f64, self.draft_steps as f64)
    }
}

/// CPU seconds this process's live threads have run (Linux: the sum of
/// `/proc/self/task/*/schedstat`, in nanoseconds; `None` elsewhere). On a machine shared with
/// other work, wall time measures the neighbours as much as the model; with one thread, CPU
/// time measures the model's own work.
#[must_use]
pub fn process_cpu_secs() -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut nanos = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        nanos += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "nanoseconds well below 2^52 in any benchmark"
    )]
    Some(nanos as f64 / 1e9)
}

fn cpu_since(start: Option<f64>) -> Option<f64> {
    Some(process_cpu_secs()? - start?)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Figures of the generation benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct DraftFigures {
    /// Every request.
    pub pairs: Vec<DraftPair>,
    /// Summaries.
    pub summaries: DraftTotals,
    /// Document questions.
    pub questions: DraftTotals,
}

/// The question asked about `topic`: it makes the model repeat the document's words.
#[must_use]
pub fn question(topic: &str) -> String {
    format!("What does the document say about {topic}? Quote it.")
}

/// Asks for a summary and each question of every document, greedy, first without then with
/// drafts (the order alternates from one request to the next, so that a machine slowing down
/// does not favour one side); `on_pair` sees each pair as it ends.
///
/// # Errors
/// Engine errors.
pub fn generation(
    engine: &Engine,
    documents: &[BenchDocument],
    summary_tokens: u32,
    answer_tokens: u32,
    mode: DraftMode,
    on_pair: &mut dyn FnMut(&DraftPair),
) -> Result<DraftFigures, EngineError> {
    // One unmeasured reply: the first one pays for page faults and allocations.
    engine
        .generate(GenerateRequest::chat(
            vec![Message::user("Say hello.")],
            Sampling {
                drafts: DraftMode::Off,
                ..Sampling::greedy(8)
            },
        ))
        .wait()?;
    let mut figures = DraftFigures {
        pairs: Vec::new(),
        summaries: DraftTotals::default(),
        questions: DraftTotals::default(),
    };
    let mut order = 0usize;
    for doc in documents {
        let document_tokens = engine.count_tokens(&doc.text)?;
        let mut requests = vec![(
            "summary",
            summarize_request(&doc.text, SummaryStyle::Default),
            summary_tokens,
        )];
        for topic in &doc.topics {
            requests.push((
                "question",
                document_turn(&doc.text, &question(topic)),
                answer_tokens,
            ));
        }
        let mut first_of_document = true;
        for (kind, content, max_tokens) in requests {
            let ask = |drafts: bool| {
                // Both replies start from the same cache: the document, then this request read
                // in one batch (a reply that found all but the last token of its prompt cached
                // would read it alone, with other arithmetic, and could differ for that alone).
                engine
                    .generate(GenerateRequest::chat(
                        vec![Message::user(document_turn(&doc.text, "Z"))],
                        Sampling {
                            drafts: DraftMode::Off,
                            ..Sampling::greedy(1)
                        },
                    ))
                    .wait()?;
                let sampling = Sampling {
                    drafts: if drafts { mode } else { DraftMode::Off },
                    ..Sampling::greedy(max_tokens)
                };
                // The document stays in the live cache from one request to the next.
                let request = GenerateRequest::chat(vec![Message::user(content.clone())], sampling)
                    .with_cache_prefix(CachePrefix::Document {
                        message: 0,
                        bytes: document_len(&doc.text),
                    });
                let cpu = process_cpu_secs();
                let finished = engine.generate(request).wait()?;
                Ok::<_, EngineError>((finished, cpu_since(cpu)))
            };
            let (plain, drafted) = if order.is_multiple_of(2) {
                let plain = ask(false)?;
                (plain, ask(true)?)
            } else {
                let drafted = ask(true)?;
                (ask(false)?, drafted)
            };
            order += 1;
            let ((plain, plain_cpu_secs), (drafted, drafts_cpu_secs)) = (plain, drafted);
            let plain_repeat_identical = if first_of_document {
                first_of_document = false;
                Some(ask(false)?.0.text == plain.text)
            } else {
                None
            };
            let common_prefix_chars = plain
                .text
                .chars()
                .zip(drafted.text.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let pair = DraftPair {
                document: doc.name.clone(),
                document_tokens,
                kind,
                request: content[document_len(&doc.text)..].trim().to_owned(),
                plain_cpu_secs,
                drafts_cpu_secs,
                identical: plain.text == drafted.text,
                common_prefix_chars,
                plain_chars: plain.text.chars().count(),
                plain_repeat_identical,
                reply_start: plain.text.chars().take(100).collect(),
                plain: plain.timings,
                drafts: drafted.timings,
            };
            on_pair(&pair);
            if kind == "summary" {
                figures.summaries.add(&pair);
            } else {
                figures.questions.add(&pair);
            }
            figures.pairs.push(pair);
        }
    }
    Ok(figures)
}

/// Cuts `text` at a paragraph (else line, else anywhere) so that it has at most `max_tokens`
/// tokens, as `count` counts.
///
/// # Errors
/// Whatever `count` returns.
pub fn truncate_to_tokens(
    text: &str,
    max_tokens: usize,
    count: &dyn Fn(&str) -> Result<usize, EngineError>,
) -> Result<String, EngineError> {
    let mut cut = text.trim_end().to_owned();
    loop {
        let tokens = count(&cut)?;
        if tokens <= max_tokens {
            return Ok(cut);
        }
        // Shrink in proportion, a little more than needed, then back to a boundary.
        let keep = cut.len() * max_tokens / tokens * 97 / 100;
        let mut end = keep.min(cut.len());
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        let head = &cut[..end];
        let end = head
            .rfind("\n\n")
            .or_else(|| head.rfind('\n'))
            .filter(|&at| at > end / 2)
            .unwrap_or(end);
        cut.truncate(end);
        let trimmed = cut.trim_end().len();
        cut.truncate(trimmed);
    }
}

/// The cost of one verify batch of k+1 tokens.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyCost {
    /// Tokens drafted (the batch holds k+1).
    pub k: usize,
    /// Median seconds of one batch, logits at every position.
    pub median_secs: f64,
    /// Against one token.
    pub ratio: f64,
    /// Median CPU seconds of one batch (all threads), where known.
    pub median_cpu_secs: Option<f64>,
    /// CPU time against one token's.
    pub cpu_ratio: Option<f64>,
    /// Every repetition's seconds.
    pub secs: Vec<f64>,
}

/// Figures of the verify-cost benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyFigures {
    /// The GGUF.
    pub model: String,
    /// Tokens in the cache before each batch.
    pub depth: usize,
    /// Threads.
    pub threads: usize,
    /// Flash attention on.
    pub flash_attention: bool,
    /// One row per k (k = 0: a single token).
    pub costs: Vec<VerifyCost>,
}

/// What went wrong measuring verify batches.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// llama.cpp could not load the model or make a context.
    #[error("could not load {path}: {reason}")]
    Load {
        /// The GGUF.
        path: String,
        /// llama.cpp's reason.
        reason: String,
    },
    /// A batch failed.
    #[error("a batch failed: {0}")]
    Decode(String),
    /// The engine's setup failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Times, on llama.cpp directly and configured as the engine configures it on the CPU (no
/// memory mapping, f16 KV cache, `threads` or one per physical core), a batch of k+1 tokens
/// with logits at every position (what a verify step evaluates) after `depth` tokens, for each
/// k in `ks` (0 is a lone token), `reps` times each, interleaved; the cache is trimmed back
/// after each batch.
///
/// # Errors
/// Load and decode failures.
pub fn verify_cost(
    path: &Path,
    depth: usize,
    ks: &[usize],
    reps: usize,
    threads: Option<usize>,
    flash_attention: bool,
) -> Result<VerifyFigures, VerifyError> {
    let backend = runtime::backend()?;
    let load_error = |reason: String| VerifyError::Load {
        path: path.display().to_string(),
        reason,
    };
    let model = LlamaModel::load_from_file(
        backend,
        path,
        &LlamaModelParams::default().with_use_mmap(false),
    )
    .map_err(|e| load_error(e.to_string()))?;
    let threads = threads.unwrap_or_else(default_threads);
    let n_threads = i32::try_from(threads).unwrap_or(1);
    let max_k = ks.iter().copied().max().unwrap_or(0);
    let n_ctx = u32::try_from(depth + max_k + 64).unwrap_or(u32::MAX);
    let flash = if flash_attention {
        llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED
    } else {
        llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(n_threads)
        .with_n_threads_batch(n_threads)
        .with_type_k(KvCacheType::F16)
        .with_type_v(KvCacheType::F16)
        .with_flash_attention_policy(flash);
    let mut ctx = model
        .new_context(backend, params)
        .map_err(|e| load_error(e.to_string()))?;
    let n_vocab = usize::try_from(model.n_vocab())
        .unwrap_or(2)
        .clamp(2, 20_000);
    let token = |i: usize| LlamaToken(i32::try_from((i * 7919 + 13) % n_vocab).unwrap_or(1));
    let decode_error = |e: &dyn std::fmt::Display| VerifyError::Decode(e.to_string());
    let mut batch = LlamaBatch::new(512, 1);
    // The context the batches come after.
    let mut pos = 0;
    while pos < depth {
        batch.clear();
        let end = (pos + 512).min(depth);
        for i in pos..end {
            let at = i32::try_from(i).map_err(|e| decode_error(&e))?;
            batch
                .add(token(i), at, &[0], i + 1 == end)
                .map_err(|e| decode_error(&e))?;
        }
        ctx.decode(&mut batch).map_err(|e| decode_error(&e))?;
        pos = end;
    }
    let depth_u32 = u32::try_from(depth).map_err(|e| decode_error(&e))?;
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); ks.len()];
    let mut cpu_secs: Vec<Vec<f64>> = vec![Vec::new(); ks.len()];
    // Round 0 is a warm-up, not counted.
    for round in 0..=reps {
        for (slot, &k) in ks.iter().enumerate() {
            batch.clear();
            for i in 0..=k {
                let at = i32::try_from(depth + i).map_err(|e| decode_error(&e))?;
                batch
                    .add(token(depth + i), at, &[0], true)
                    .map_err(|e| decode_error(&e))?;
            }
            let cpu = process_cpu_secs();
            let started = Instant::now();
            ctx.decode(&mut batch).map_err(|e| decode_error(&e))?;
            let elapsed = started.elapsed().as_secs_f64();
            let cpu = cpu_since(cpu);
            ctx.kv_cache_seq_rm(0, Some(depth_u32), None)
                .map_err(|e| decode_error(&e))?;
            if round > 0 {
                secs[slot].push(elapsed);
                if let Some(cpu) = cpu {
                    cpu_secs[slot].push(cpu);
                }
            }
        }
    }
    let medians: Vec<f64> = secs.iter().map(|s| median(s)).collect();
    let one = ks
        .iter()
        .position(|&k| k == 0)
        .map_or(f64::NAN, |i| medians[i]);
    let cpu_medians: Vec<Option<f64>> = cpu_secs
        .iter()
        .map(|s| (!s.is_empty()).then(|| median(s)))
        .collect();
    let cpu_one = ks.iter().position(|&k| k == 0).and_then(|i| cpu_medians[i]);
    let costs = ks
        .iter()
        .zip(medians)
        .zip(cpu_medians)
        .zip(secs)
        .map(|(((&k, median_secs), median_cpu_secs), secs)| VerifyCost {
            k,
            median_secs,
            ratio: median_secs / one,
            median_cpu_secs,
            cpu_ratio: median_cpu_secs.zip(cpu_one).map(|(c, one)| c / one),
            secs,
        })
        .collect();
    Ok(VerifyFigures {
        model: path.display().to_string(),
        depth,
        threads,
        flash_attention,
        costs,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
