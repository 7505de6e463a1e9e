//! The engine on the real SmolLM2-135M-Instruct model.

use std::io::Write;

use xgen_desk::engine::{
    DraftMode, Engine, EngineError, GenerateRequest, KvPrecision, LoadSettings, PromptInput,
    ReplyEvent, Sampling, StopReason,
};
use xgen_desk::prompt::Message;

use crate::common::{collect, engine_with, small_settings, smollm2, temp_dir, Lockstep};

fn loaded(n_ctx: u32) -> Engine {
    let (engine, info) = engine_with(&smollm2(), small_settings(n_ctx));
    let info = info.expect("SmolLM2 loads");
    assert!(!info.xgen, "SmolLM2 uses its own chat template");
    assert_eq!(info.n_ctx, n_ctx);
    engine
}

#[test]
fn reply_streams_and_stops_at_end_of_turn() {
    let engine = loaded(1024);
    let request = GenerateRequest::chat(
        vec![Message::user(
            "What is the capital of France? Answer in one short sentence.",
        )],
        Sampling::greedy(200),
    );
    let (pieces, reason, timings) = collect(&engine, request).expect("reply");
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
    let engine = loaded(1024);
    let ask = || {
        GenerateRequest::chat(
            vec![Message::user("Name three colors.")],
            Sampling::greedy(40),
        )
    };
    let (first, _, _) = collect(&engine, ask()).expect("first");
    engine.clear_cache();
    let (second, _, _) = collect(&engine, ask()).expect("second");
    assert_eq!(first.concat(), second.concat());
}

/// The test cancels when the first text arrives; the lockstep holds the engine thread until
/// the test has acted on each event, so "within one token" is measured from the cancel, not
/// from however late a loaded machine wakes the test's thread.
#[test]
fn cancel_stops_within_one_token() {
    let gate = Lockstep::default();
    let (engine, info) = gate.engine_with(&smollm2(), small_settings(1024));
    info.expect("SmolLM2 loads");
    let _stepping = gate.start(&engine);
    let request = GenerateRequest {
        prompt: PromptInput::Chat(vec![Message::user(
            "Write a very long story about a dragon.",
        )]),
        sampling: Sampling::greedy(600),
        ignore_end_of_turn: true,
        cache_prefix: None,
    };
    let mut reply = engine.generate(request);
    let mut after_cancel = 0usize;
    let mut cancelled = false;
    let (reason, timings) = loop {
        match reply
            .recv()
            .expect("engine answers")
            .expect("a final event")
        {
            ReplyEvent::Text(_) if cancelled => after_cancel += 1,
            ReplyEvent::Text(_) => {
                // Let a few tokens through first, then stop.
                reply.cancel();
                cancelled = true;
            }
            ReplyEvent::Done { reason, timings } => break (reason, timings),
            ReplyEvent::Failed(error) => panic!("failed: {error}"),
            ReplyEvent::Prompt { .. } => {}
        }
        gate.handled();
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
    let engine = loaded(2048);
    let document = "The river Lune flows through Lancaster. ".repeat(40);
    let first_turn = vec![Message::user(format!(
        "Read this.\n\n{document}\nWhat city is named?"
    ))];
    let first_prompt = engine.count_prompt_tokens(&first_turn).expect("count");
    assert!(first_prompt > 300, "{first_prompt}");
    let (reply, _, t1) = collect(
        &engine,
        GenerateRequest::chat(first_turn.clone(), Sampling::greedy(30)),
    )
    .expect("first");
    assert_eq!(t1.prompt_evaluated, first_prompt);

    let mut second_turn = first_turn.clone();
    second_turn.push(Message::assistant(reply.concat()));
    second_turn.push(Message::user("And which river?"));
    let second_prompt = engine.count_prompt_tokens(&second_turn).expect("count");
    let (_, _, t2) = collect(
        &engine,
        GenerateRequest::chat(second_turn.clone(), Sampling::greedy(20)),
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
        GenerateRequest::chat(second_turn, Sampling::greedy(1)),
    )
    .expect("third");
    assert_eq!(t3.prompt_evaluated, 1);
}

#[test]
fn over_long_prompt_is_refused_with_numbers() {
    let engine = loaded(256);
    let document = "Numbers and words, over and over. ".repeat(60);
    let request = GenerateRequest::chat(vec![Message::user(document)], Sampling::greedy(64));
    let error = collect(&engine, request).expect_err("too long");
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
    let request = GenerateRequest::chat(vec![Message::user("Hi")], Sampling::greedy(5));
    collect(&engine, request).expect("still works");
}

#[test]
fn special_token_text_in_documents_is_plain_text() {
    let engine = loaded(512);
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
        (&text, "not a GGUF file"),
        (&header_only, ""),
        (&missing, "does not exist"),
    ] {
        let (_engine, result) = engine_with(path, small_settings(256));
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
    let engine = Engine::spawn().expect("spawn");
    assert_eq!(engine.count_tokens("x"), Err(EngineError::NoModel));
    let error = collect(
        &engine,
        GenerateRequest::chat(vec![Message::user("hi")], Sampling::greedy(4)),
    )
    .expect_err("no model");
    assert_eq!(error, EngineError::NoModel);
}

/// Each request has its own handle: two in a row keep their own events, and cancelling the
/// first does not touch the second.
#[test]
fn cancel_of_one_request_does_not_cancel_the_next() {
    let engine = loaded(1024);
    let first = engine.generate(GenerateRequest::chat(
        vec![Message::user("Write a very long story about a dragon.")],
        Sampling::greedy(300),
    ));
    let second = engine.generate(GenerateRequest::chat(
        vec![Message::user("What is the capital of France?")],
        Sampling::greedy(24),
    ));
    assert_ne!(first.id(), second.id());
    first.cancel();
    let first = first.wait().expect("the first request ends");
    assert_eq!(first.reason, StopReason::Cancelled);
    let second = second.wait().expect("the second request ends");
    assert_ne!(second.reason, StopReason::Cancelled, "{second:?}");
    assert!(second.text.contains("Paris"), "{second:?}");
}

/// When the engine thread dies, every waiting request ends with `Stopped` and the reason, the
/// engine says so, and later requests fail the same way instead of waiting forever.
#[test]
fn a_request_whose_engine_died_ends_with_an_error() {
    let engine = loaded(512);
    let before = engine.generate(GenerateRequest::chat(
        vec![Message::user("Hi")],
        Sampling::greedy(4),
    ));
    engine.inject_panic();
    let queued = engine.generate(GenerateRequest::chat(
        vec![Message::user("Hi again")],
        Sampling::greedy(4),
    ));
    before
        .wait()
        .expect("a request made before the failure still ends normally");
    let error = queued.wait().expect_err("the engine died before answering");
    let EngineError::Stopped(reason) = &error else {
        panic!("wrong error: {error}");
    };
    assert!(reason.contains("fault injected"), "{reason}");
    assert!(engine.stopped().is_some_and(|r| r.contains("panicked")));
    assert!(matches!(
        engine.count_tokens("x"),
        Err(EngineError::Stopped(_))
    ));
    let later = engine
        .generate(GenerateRequest::chat(
            vec![Message::user("?")],
            Sampling::greedy(2),
        ))
        .wait();
    assert!(matches!(later, Err(EngineError::Stopped(_))), "{later:?}");
}

fn report(name: &str) -> String {
    let facts = [
        "The Harbour Board approved a new ferry terminal for the north quay.",
        "Construction will cost 48 million euros and take three years.",
        "The terminal will have six berths, a waiting hall and a bicycle park.",
        "Fishermen asked for a separate landing area, which the board promised.",
        "The old customs house will become a museum of the harbour's history.",
    ];
    let mut text = format!("{name}\n\n");
    for round in 0..4 {
        for (i, fact) in facts.iter().enumerate() {
            text.push_str(&format!("Item {}. {fact} ", round * 5 + i + 1));
        }
        text.push_str("\n\n");
    }
    text
}

/// Drafts from the prompt never change a reply in auto mode: it drafts only once it has seen a
/// token in a batch computed bit for bit like the same token alone. With an f16 cache and two
/// threads llama.cpp splits a lone token's attention across the threads and a batch's rows not,
/// so auto finds a difference and drafts nothing more; with a q8_0 cache there is no split, the
/// two agree, and every draft (also when drafting always) leaves the reply as plain decoding
/// gives it, greedy or seeded.
#[test]
fn auto_drafts_give_plain_decodings_reply_token_for_token() {
    let f16 = loaded(2048);
    let (q8, info) = engine_with(
        &smollm2(),
        LoadSettings {
            kv_cache: KvPrecision::Q8_0,
            flash_attention: Some(true),
            ..small_settings(2048)
        },
    );
    info.expect("SmolLM2 loads with a q8_0 cache");
    let mut kept = 0;
    for (cache, engine, exact) in [("f16", &f16, false), ("q8_0", &q8, true)] {
        for (doc, request) in [
            (
                report("Harbour report"),
                "Summarize the report in a few sentences.",
            ),
            (
                report("Board minutes"),
                "Which items mention the museum? Quote them.",
            ),
            (
                "The river Lune flows through Lancaster. ".repeat(30),
                "Repeat the first sentence of the text exactly.",
            ),
        ] {
            let messages = vec![Message::user(format!("{doc}\n\n{request}"))];
            for sampling in [
                Sampling::greedy(96),
                Sampling {
                    temperature: 0.8,
                    seed: 7,
                    max_tokens: 96,
                    ..Sampling::default()
                },
            ] {
                let run = |drafts: DraftMode| {
                    engine.clear_cache();
                    let sampling = Sampling {
                        drafts,
                        ..sampling.clone()
                    };
                    engine
                        .generate(GenerateRequest::chat(messages.clone(), sampling))
                        .wait()
                        .expect("reply")
                };
                let plain = run(DraftMode::Off);
                assert_eq!(plain.timings.drafted, 0);
                let auto = run(DraftMode::Auto);
                assert_eq!(
                    auto.text, plain.text,
                    "{cache}, {request}: auto drafts changed the reply"
                );
                assert_eq!(auto.timings.batch_exact, Some(exact), "{cache}");
                let always = run(DraftMode::Always);
                assert!(always.timings.drafted > 0, "{cache}, {request}");
                if exact {
                    assert_eq!(
                        always.text, plain.text,
                        "{cache}, {request}: exact batches, yet drafts changed the reply"
                    );
                    kept += always.timings.draft_accepted;
                } else {
                    assert_eq!(
                        auto.timings.draft_steps, 0,
                        "{cache}: auto kept drafting after the check found a difference"
                    );
                }
            }
        }
    }
    assert!(kept > 50, "drafts were rarely kept: {kept}");
}
