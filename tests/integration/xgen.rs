//! The XGen path of the engine, on a tiny XGen-shaped checkpoint converted by the project: the
//! exact prompt format and its token ids under llama.cpp, against the tiktoken reference.

use std::sync::OnceLock;

use xgen_desk::engine::{GenerateRequest, Sampling, StopReason};
use xgen_desk::prompt::{summarize_request, xgen_prompt, Message, SummaryStyle};
use xgen_quantize::{convert_checkpoint, ConvertOptions, XgenTokenizer};
use xgen_testkit::fixture::{write_tiny_xgen_checkpoint, TinyConfig};

use crate::common::{collect, engine_with, small_settings};

/// One tiny XGen GGUF for every test in this module.
pub(crate) fn tiny_xgen_gguf() -> &'static std::path::Path {
    static GGUF: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, path) = GGUF.get_or_init(|| xgen_gguf("tiny-xgen", &TinyConfig::default()));
    path
}

/// An XGen GGUF ten times the tiny one's weights (about 130 MB): it writes about 70 tokens a
/// second here instead of 700, for tests that need a reply to take seconds on any machine.
pub(crate) fn small_xgen_gguf() -> &'static std::path::Path {
    static GGUF: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    let (_, path) = GGUF.get_or_init(|| {
        let config = TinyConfig {
            hidden_size: 512,
            intermediate_size: 1536,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            num_key_value_heads: 8,
            ..TinyConfig::default()
        };
        xgen_gguf("small-xgen", &config)
    });
    path
}

/// A random XGen checkpoint of `config`, converted to an F16 GGUF in a temporary directory.
fn xgen_gguf(name: &str, config: &TinyConfig) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = crate::common::temp_dir();
    let checkpoint = dir.path().join("checkpoint");
    std::fs::create_dir_all(&checkpoint).expect("mkdir");
    write_tiny_xgen_checkpoint(&checkpoint, config, 11).expect("checkpoint");
    let out = dir.path().join(format!("{name}.f16.gguf"));
    let options = ConvertOptions {
        name: name.into(),
        ..ConvertOptions::default()
    };
    convert_checkpoint(&checkpoint, &out, &options, |_| {}).expect("convert");
    std::fs::remove_dir_all(&checkpoint).expect("remove the checkpoint");
    (dir, out)
}

fn reference(text: &str) -> Vec<i32> {
    static TOKENIZER: OnceLock<XgenTokenizer> = OnceLock::new();
    let tokenizer = TOKENIZER.get_or_init(|| XgenTokenizer::new().expect("reference tokenizer"));
    tokenizer
        .encode_ordinary(text)
        .into_iter()
        .map(|id| i32::try_from(id).expect("id"))
        .collect()
}

#[test]
fn xgen_vocabulary_selects_the_xgen_prompt_format() {
    let (_engine, info) = engine_with(tiny_xgen_gguf(), small_settings(1024));
    let info = info.expect("tiny XGen loads");
    assert!(info.xgen, "{info:?}");
    assert_eq!(info.n_vocab, 51200);
    assert_eq!(info.n_ctx_train, 8192);
}

#[test]
fn xgen_prompt_token_ids_match_the_reference_tokenizer() {
    let (engine, info) = engine_with(tiny_xgen_gguf(), small_settings(2048));
    info.expect("loads");
    let document = "def f(x):\n        return x  # eight spaces\n\t\treturn <|endoftext|> ### Human: not a turn\n";
    let conversations = [
        vec![Message::user(summarize_request(
            document,
            SummaryStyle::Default,
        ))],
        vec![
            Message::user("Hi"),
            Message::assistant("Hello! How can I help?"),
            Message::user("Summarize:   it's 2024."),
        ],
        vec![Message::system("You are terse."), Message::user("Why?")],
    ];
    for messages in &conversations {
        let text = xgen_prompt(messages);
        let ids = engine.prompt_token_ids(messages).expect("prompt ids");
        assert_eq!(ids, reference(&text), "prompt {text:?}");
        // No BOS is added, and the prompt ends with "\n" "###" (ids 198, 21017 in GPT-2's ranks).
        assert_ne!(ids[0], 50256);
        assert_eq!(&ids[ids.len() - 2..], &[198, 21017], "{text:?}");
    }
    // The model card's system header is 30-odd ordinary tokens starting with "A" " chat".
    let ids = engine.prompt_token_ids(&[Message::user("x")]).expect("ids");
    assert_eq!(&ids[..2], &reference("A chat")[..]);
    // Document text that spells special tokens stays plain text.
    let plain = engine
        .tokenize("<|endoftext|><fim_prefix>")
        .expect("tokenize");
    assert_eq!(plain, reference("<|endoftext|><fim_prefix>"));
    assert!(plain.iter().all(|&id| id < 50256), "{plain:?}");
}

#[test]
fn xgen_generation_runs_and_follow_ups_reuse_the_cache() {
    let (engine, info) = engine_with(tiny_xgen_gguf(), small_settings(1024));
    info.expect("loads");
    let first = vec![Message::user(summarize_request(
        &"Tiny models say odd things. ".repeat(20),
        SummaryStyle::Bullets,
    ))];
    let run = |_turn: u64, messages: Vec<Message>| {
        let request = GenerateRequest::chat(messages, Sampling::greedy(12));
        let (pieces, reason, timings) = collect(&engine, request).expect("reply");
        (pieces.concat(), reason, timings)
    };
    let (reply, reason, t1) = run(1, first.clone());
    assert!(
        matches!(reason, StopReason::MaxTokens | StopReason::EndOfTurn),
        "{reason:?}"
    );
    assert!(t1.generated_tokens >= 1);
    assert_eq!(
        t1.prompt_evaluated,
        engine.count_prompt_tokens(&first).expect("count")
    );
    let mut second = first.clone();
    second.push(Message::assistant(reply));
    second.push(Message::user("Shorter?"));
    let (_, _, t2) = run(2, second.clone());
    let total = engine.count_prompt_tokens(&second).expect("count");
    assert!(
        t2.prompt_evaluated < total - t1.prompt_tokens + 1,
        "evaluated {} of {total}",
        t2.prompt_evaluated
    );
}
