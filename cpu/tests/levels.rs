//! Every build of llama.cpp's CPU code this processor runs picks the same top token as the best
//! one at every step of a greedy reply, except at near-ties.
//!
//! One process loads one CPU build, so this test runs itself again per level (`harness = false`:
//! the child mode is chosen by an environment variable, not a test of its own). The best level
//! writes a greedy reply of the test model (SmolLM2-135M Q4_1) to a fixed prompt; then every
//! level reads that prompt and reply in one batch (teacher forcing, so that every level sees the
//! same context) and reports its top tokens at each position.
//!
//! Why top-1 and not the same text: the builds round differently (SSE4.2 has no FMA, AVX2 fuses
//! multiply and add, AVX-512 sums in other orders), so logits differ in the third decimal, and
//! a greedy reply follows another path after the first near-tie. Measured here: baseline and v3
//! wrote the same first 33 tokens of a summary, then "for" against "by". Equal top tokens with
//! the same context is what "the same model" means across builds.

#![allow(
    clippy::expect_used,
    reason = "a failed expectation is a failed test (`harness = false` leaves `cfg(test)` off)"
)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use xgen_cpu::{CpuFeatures, Level};

/// Child mode: `greedy:N` or `follow:T1,T2,...`; unset in the parent.
const CHILD_VAR: &str = "XGEN_CPU_LEVELS_CHILD";
/// Tokens of the greedy reply compared.
const REPLY_TOKENS: usize = 48;
/// Logit gap below which two top tokens count as a near-tie: the builds' top logits differ by up
/// to 0.68 on this model and prompt (baseline against v3, measured), so a closer call may go
/// either way.
const NEAR_TIE: f32 = 1.0;
const PROMPT: &str = "<|im_start|>user\nSummarize in two sentences: The town council met on \
    Monday night. It approved a new bicycle lane on Main Street and delayed the library budget \
    until March, because the state grant has not arrived. Residents spoke for and against the \
    lane for two hours; shop owners feared losing parking, parents wanted a safer way to \
    school. The mayor promised a review after six months.<|im_end|>\n<|im_start|>assistant\n";

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn main() -> ExitCode {
    match std::env::var(CHILD_VAR) {
        Ok(mode) => child(&mode),
        Err(_) => parent(),
    }
}

/// Top tokens at one position: (token, logit), best first.
type Top = Vec<(i32, f32)>;

fn parent() -> ExitCode {
    if !xgen_cpu::uses_modules() {
        println!("one CPU build inside the binary on this platform: nothing to compare");
        return ExitCode::SUCCESS;
    }
    let model = model_path();
    assert!(
        model.is_file(),
        "{} is missing: scripts/fetch-test-models.sh fetches it",
        model.display()
    );
    let features = CpuFeatures::detect();
    let levels: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|l| l.runs_on(&features))
        .collect();
    // Every x86-64 machine this project builds on runs the baseline and v3.
    assert!(levels.len() >= 2, "{levels:?}");
    let best = *levels.last().expect("a level");
    let reply = run_child(best, &format!("greedy:{REPLY_TOKENS}"));
    let tokens: Vec<i32> = reply.lines().map(|l| l.parse().expect("a token")).collect();
    assert_eq!(tokens.len(), REPLY_TOKENS, "{reply}");
    let follow = format!(
        "follow:{}",
        tokens
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let tops = |level: Level| -> Vec<Top> {
        run_child(level, &follow)
            .lines()
            .map(|line| {
                line.split(' ')
                    .map(|pair| {
                        let (t, l) = pair.split_once(':').expect("token:logit");
                        (t.parse().expect("token"), l.parse().expect("logit"))
                    })
                    .collect()
            })
            .collect()
    };
    let reference = tops(best);
    assert_eq!(reference.len(), REPLY_TOKENS);
    // The best level, reading its own reply in one batch, picks that reply (batched and
    // one-at-a-time products may differ at a near-tie too).
    for (i, (top, &token)) in reference.iter().zip(&tokens).enumerate() {
        assert!(
            top[0].0 == token || near_tie(top, token),
            "{best} at position {i}: {top:?}, its reply had {token}"
        );
    }
    for &level in &levels[..levels.len() - 1] {
        let other = tops(level);
        assert_eq!(other.len(), REPLY_TOKENS);
        let mut ties = Vec::new();
        for (i, (theirs, ours)) in other.iter().zip(&reference).enumerate() {
            if theirs[0].0 != ours[0].0 {
                assert!(
                    near_tie(theirs, ours[0].0) && near_tie(ours, theirs[0].0),
                    "{level} and {best} pick different tokens at position {i}, not a near-tie: \
                     {level} {theirs:?}, {best} {ours:?}"
                );
                ties.push(i);
            }
        }
        let gap = other
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a[0].1 - b[0].1).abs())
            .fold(0.0_f32, f32::max);
        println!(
            "{level} vs {best}: the same top token at {} of {REPLY_TOKENS} positions, near-ties \
             at {ties:?}; largest difference of the top logit {gap:.4}",
            REPLY_TOKENS - ties.len()
        );
    }
    ExitCode::SUCCESS
}

/// Whether `token` is among `top` within [`NEAR_TIE`] of its best logit.
fn near_tie(top: &Top, token: i32) -> bool {
    top.iter()
        .any(|&(t, logit)| t == token && top[0].1 - logit < NEAR_TIE)
}

/// This test binary again, with `XGEN_DESK_CPU=level` and the child mode; its stdout.
fn run_child(level: Level, mode: &str) -> String {
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .env(CHILD_VAR, mode)
        .env(xgen_cpu::OVERRIDE_VAR, level.name())
        .output()
        .expect("run the child");
    assert!(
        output.status.success(),
        "{level} {}: {}",
        &mode[..mode.len().min(20)],
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Loads the level `XGEN_DESK_CPU` names and the test model, then `greedy:N` prints N greedy
/// tokens, one per line, and `follow:T1,...` prints, for each given token, the five top tokens
/// (`token:logit`) at its position with the prompt and the tokens before it as context.
fn child(mode: &str) -> ExitCode {
    let code = xgen_cpu::load().expect("llama.cpp's CPU code");
    let wanted = std::env::var(xgen_cpu::OVERRIDE_VAR).expect("a level");
    assert_eq!(code.variant(), wanted, "{}", code.summary());
    let backend = LlamaBackend::init().expect("llama backend");
    let model = LlamaModel::load_from_file(&backend, model_path(), &LlamaModelParams::default())
        .expect("load the test model");
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(512))
        .with_n_batch(512)
        .with_n_threads(2)
        .with_n_threads_batch(2);
    let mut ctx = model.new_context(&backend, params).expect("context");
    let prompt = model.vocab().tokenize(PROMPT.as_bytes(), true, true);
    let mut batch = LlamaBatch::new(512, 1);
    let position = |i: usize| i32::try_from(i).expect("position");
    if let Some(n) = mode.strip_prefix("greedy:") {
        let n: usize = n.parse().expect("a count");
        for (i, &t) in prompt.iter().enumerate() {
            batch
                .add(t, position(i), &[0], i + 1 == prompt.len())
                .expect("batch");
        }
        ctx.decode(&mut batch).expect("decode");
        for i in 0..n {
            let token = top(ctx.get_logits_ith(batch.n_tokens() - 1), 1)[0].0;
            println!("{token}");
            batch.clear();
            batch
                .add(LlamaToken(token), position(prompt.len() + i), &[0], true)
                .expect("batch");
            ctx.decode(&mut batch).expect("decode");
        }
    } else {
        let given: Vec<LlamaToken> = mode
            .strip_prefix("follow:")
            .expect("greedy: or follow:")
            .split(',')
            .map(|t| LlamaToken(t.parse().expect("a token")))
            .collect();
        let all: Vec<LlamaToken> = prompt.iter().chain(&given).copied().collect();
        // Logits from the prompt's last token on: each predicts the next given token.
        for (i, &t) in all[..all.len() - 1].iter().enumerate() {
            batch
                .add(t, position(i), &[0], i + 1 >= prompt.len())
                .expect("batch");
        }
        ctx.decode(&mut batch).expect("decode");
        for i in 0..given.len() {
            let logits = ctx.get_logits_ith(position(prompt.len() - 1 + i));
            let line: Vec<String> = top(logits, 5)
                .iter()
                .map(|(t, l)| format!("{t}:{l}"))
                .collect();
            println!("{}", line.join(" "));
        }
    }
    ExitCode::SUCCESS
}

/// The `k` largest logits, best first, as (token, logit).
fn top(logits: &[f32], k: usize) -> Vec<(i32, f32)> {
    let mut indexed: Vec<(i32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i32::try_from(i).expect("token id"), l))
        .collect();
    indexed.sort_by(|a, b| b.1.total_cmp(&a.1));
    indexed.truncate(k);
    indexed
}
