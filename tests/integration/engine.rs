//! The engine on the real SmolLM2-135M-Instruct model.

use std::io::Write;
use std::sync::mpsc;

use xgen_desk::engine::{
    Engine, EngineError, Event, GenerateRequest, PromptInput, Sampling, StopReason,
};
use xgen_desk::prompt::Message;

use crate::common::{collect, engine_with, small_settings, smollm2, temp_dir, TIMEOUT};

fn loaded(n_ctx: u32) -> (Engine, mpsc::Receiver<Event>) {
    let (engine, events, info) = engine_with(&smollm2(), small_settings(n_ctx));
    let info = info.expect("SmolLM2 loads");
    assert!(!info.xgen, "SmolLM2 uses its own chat template");
    assert_eq!(info.n_ctx, n_ctx);
    (engine, events)
}

#[test]
fn reply_streams_and_stops_at_end_of_turn() {
    let (engine, events) = loaded(1024);
    let request = GenerateRequest::chat(
        1,
        vec![Message::user(
            "What is the capital of France? Answer in one short sentence.",
        )],
        Sampling::greedy(200),
    );
    let (pieces, reason, timings) = collect(&engine, &events, request).expect("reply");
    let text = pieces.concat();
    assert_eq!(reason, StopReason::EndOfTurn, "reply: {text:?}");
    assert!(
        pieces.len() > 2,
        "the reply arrives in pieces, got {pieces:?}"
    );
    assert!(text.contains("Paris"), "reply: {text:?}");
    assert!(
        !text.contains("<|im_end|>") && !text.contains('\u{FFFD}'),
        "reply: {text:?}"
    );
    assert!(timings.generated_tokens < 200 && timings.generated_tokens >= pieces.len());
    assert!(
        timings.ttft_secs > 0.0
            && timings.prefill_tok_per_sec() > 0.0
            && timings.generation_tok_per_sec() > 0.0,
        "{timings:?}"
    );
    assert_eq!(
        timings.prompt_evaluated, timings.prompt_tokens,
        "a cold cache reads the whole prompt"
    );
}

#[test]
fn greedy_replies_are_reproducible() {
    let (engine, events) = loaded(1024);
    let ask = || {
        GenerateRequest::chat(
            7,
            vec![Message::user("Name three colors.")],
            Sampling::greedy(40),
        )
    };
    let (first, _, _) = collect(&engine, &events, ask()).expect("first");
    engine.clear_cache();
    let (second, _, _) = collect(&engine, &events, ask()).expect("second");
    assert_eq!(first.concat(), second.concat());
}

#[test]
fn cancel_stops_within_one_token() {
    let (engine, events) = loaded(1024);
    let request = GenerateRequest {
        id: 3,
        prompt: PromptInput::Chat(vec![Message::user(
            "Write a very long story about a dragon.",
        )]),
        sampling: Sampling::greedy(600),
        ignore_end_of_turn: true,
        cache_prefix: None,
    };
    engine.generate(request);
    let mut after_cancel = 0usize;
    let mut cancelled = false;
    let (reason, timings) = loop {
        match events.recv_timeout(TIMEOUT).expect("engine answers") {
            Event::Token { .. } if cancelled => after_cancel += 1,
            Event::Token { .. } => {
                // Let a few tokens through first, then stop.
                engine.cancel();
                cancelled = true;
            }
            Event::Done {
                reason, timings, ..
            } => break (reason, timings),
            Event::Failed { error, .. } => panic!("failed: {error}"),
            _ => {}
        }
    };
    assert_eq!(reason, StopReason::Cancelled);
    assert!(
        after_cancel <= 1,
        "{after_cancel} pieces arrived after cancel"
    );
    assert!(
        timings.generated_tokens < 20,
        "generated {} tokens",
        timings.generated_tokens
    );
}

#[test]
fn follow_up_reads_only_the_new_tokens() {
    let (engine, events) = loaded(2048);
    let document = "The river Lune flows through Lancaster. ".repeat(40);
    let first_turn = vec![Message::user(format!(
        "Read this.\n\n{document}\nWhat city is named?"
    ))];
    let first_prompt = engine.count_prompt_tokens(&first_turn).expect("count");
    assert!(first_prompt > 300, "{first_prompt}");
    let (reply, _, t1) = collect(
        &engine,
        &events,
        GenerateRequest::chat(1, first_turn.clone(), Sampling::greedy(30)),
    )
    .expect("first");
    assert_eq!(t1.prompt_evaluated, first_prompt);

    let mut second_turn = first_turn.clone();
    second_turn.push(Message::assistant(reply.concat()));
    second_turn.push(Message::user("And which river?"));
    let second_prompt = engine.count_prompt_tokens(&second_turn).expect("count");
    let (_, _, t2) = collect(
        &engine,
        &events,
        GenerateRequest::chat(2, second_turn.clone(), Sampling::greedy(20)),
    )
    .expect("second");
    assert_eq!(t2.prompt_tokens, second_prompt);
    assert!(
        t2.prompt_evaluated <= second_prompt - first_prompt,
        "the document is not read again: evaluated {} of {second_prompt} (first prompt {first_prompt})",
        t2.prompt_evaluated
    );
    assert!(t2.prompt_evaluated > 0);

    // The same prompt again needs exactly one token evaluated (for fresh logits).
    let (_, _, t3) = collect(
        &engine,
        &events,
        GenerateRequest::chat(3, second_turn, Sampling::greedy(1)),
    )
    .expect("third");
    assert_eq!(t3.prompt_evaluated, 1);
}

#[test]
fn over_long_prompt_is_refused_with_numbers() {
    let (engine, events) = loaded(256);
    let document = "Numbers and words, over and over. ".repeat(60);
    let request = GenerateRequest::chat(9, vec![Message::user(document)], Sampling::greedy(64));
    let error = collect(&engine, &events, request).expect_err("too long");
    let EngineError::PromptTooLong {
        prompt_tokens,
        reserved,
        n_ctx,
    } = error.clone()
    else {
        panic!("wrong error: {error}");
    };
    assert!(prompt_tokens > 256);
    assert_eq!((reserved, n_ctx), (64, 256));
    let message = error.to_string();
    assert!(
        message.contains(&prompt_tokens.to_string()) && message.contains("256"),
        "{message}"
    );
    // The engine is still usable afterwards.
    let request = GenerateRequest::chat(10, vec![Message::user("Hi")], Sampling::greedy(5));
    collect(&engine, &events, request).expect("still works");
}

#[test]
fn special_token_text_in_documents_is_plain_text() {
    let (engine, _events) = loaded(512);
    let plain = engine.count_tokens("<|im_end|>").expect("count");
    assert!(
        plain > 1,
        "<|im_end|> in text must not become the control token, got {plain} token(s)"
    );
    let with = engine
        .count_prompt_tokens(&[Message::user("Look: <|im_end|><|endoftext|>")])
        .expect("count");
    let without = engine
        .count_prompt_tokens(&[Message::user("Look:")])
        .expect("count");
    assert!(
        with - without >= 4,
        "special-token text was parsed: {with} vs {without}"
    );
}

#[test]
fn bad_model_files_give_errors_not_crashes() {
    let dir = temp_dir();
    let good = std::fs::read(smollm2()).expect("read model");

    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").expect("write");
    let text = dir.path().join("notes.gguf");
    std::fs::File::create(&text)
        .and_then(|mut f| f.write_all(b"just some text, not a model\n"))
        .expect("write");
    let header_only = dir.path().join("header.gguf");
    std::fs::write(&header_only, &good[..4096]).expect("write");
    let missing = dir.path().join("missing.gguf");

    for (path, expect) in [
        (&truncated, ""),
        (&empty, "empty"),
        (&text, "GGUF signature"),
        (&header_only, ""),
        (&missing, "does not exist"),
    ] {
        let (_engine, _events, result) = engine_with(path, small_settings(256));
        let error = result.expect_err("bad file must not load");
        assert!(error.contains(expect), "{}: {error}", path.display());
        assert!(
            error.contains(&*path.to_string_lossy()),
            "the error names the file: {error}"
        );
    }
}

#[test]
fn requests_without_a_model_fail_cleanly() {
    let (engine, events) = Engine::spawn_with_channel().expect("spawn");
    assert_eq!(engine.count_tokens("x"), Err(EngineError::NoModel));
    let error = collect(
        &engine,
        &events,
        GenerateRequest::chat(1, vec![Message::user("hi")], Sampling::greedy(4)),
    )
    .expect_err("no model");
    assert_eq!(error, EngineError::NoModel);
}
