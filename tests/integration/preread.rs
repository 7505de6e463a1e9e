//! Reading a document ahead on the real SmolLM2: whatever is asked first finds it read; a
//! request takes the engine within one batch while it reads; what was read is kept on disk in
//! steps, so reading resumes after a restart.

use std::path::Path;

use xgen_desk::engine::{
    CachePrefix, Engine, GenerateRequest, LoadSettings, PrereadEvent, PrereadRequest, Sampling,
    StateCacheConfig, Timings,
};
use xgen_desk::prompt::{document_len, document_turn, summarize_request, Message, SummaryStyle};

use crate::common::{engine_with, small_settings, smollm2, temp_dir, Lockstep};

fn settings(cache: &Path, n_ctx: u32, n_batch: u32) -> LoadSettings {
    LoadSettings {
        n_batch,
        state_cache: Some(StateCacheConfig::new(cache)),
        ..small_settings(n_ctx)
    }
}

fn open(settings: LoadSettings) -> Engine {
    let (engine, info) = engine_with(&smollm2(), settings);
    info.expect("SmolLM2 loads");
    engine
}

/// Paragraphs of varied prose, about `paragraphs` × 60 tokens.
fn document(paragraphs: usize) -> String {
    let towns = [
        "Lancaster",
        "Kendal",
        "Carlisle",
        "Penrith",
        "Keswick",
        "Ulverston",
    ];
    (0..paragraphs)
        .map(|i| {
            format!(
                "In {}, the market of {} sold {} carts of wool and {} of slate; the council met \
                 on the {}th day and agreed to repair the bridge over the river before winter.",
                1700 + i,
                towns[i % towns.len()],
                20 + i * 7 % 90,
                3 + i * 11 % 40,
                1 + i % 28
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn read_ahead(engine: &Engine, doc: &str) -> (usize, usize, usize) {
    let request = PrereadRequest {
        messages: vec![Message::user(summarize_request(doc, SummaryStyle::Default))],
        prefix: CachePrefix::Document {
            message: 0,
            bytes: document_len(doc),
        },
    };
    let mut handle = engine.preread(request);
    loop {
        match handle
            .recv()
            .expect("engine answers")
            .expect("a final event")
        {
            PrereadEvent::Done {
                done,
                total,
                restored,
            } => return (done, total, restored),
            PrereadEvent::Failed(error) => panic!("reading ahead failed: {error}"),
            PrereadEvent::Progress { .. } => {}
        }
    }
}

fn ask(engine: &Engine, doc: &str, request: &str) -> Timings {
    engine
        .generate(
            GenerateRequest::chat(
                vec![Message::user(document_turn(doc, request))],
                Sampling::greedy(8),
            )
            .with_cache_prefix(CachePrefix::Document {
                message: 0,
                bytes: document_len(doc),
            }),
        )
        .wait()
        .expect("reply")
        .timings
}

/// A document read ahead is not read again by a summary in any style, or a question: each
/// reads only its own request.
#[test]
fn what_is_asked_first_finds_the_document_read() {
    let cache = temp_dir();
    let engine = open(settings(cache.path(), 2048, 128));
    let doc = document(12);
    let (done, total, restored) = read_ahead(&engine, &doc);
    assert!(total > 500, "{total}");
    assert_eq!((done, restored), (total, 0));
    for request in [
        "Please summarize the article above as a list of bullet points.",
        "Which town sold the most wool?",
        "Please summarize the article above.",
    ] {
        let timings = ask(&engine, &doc, request);
        assert!(
            timings.prompt_evaluated < 40 && timings.prompt_tokens > total,
            "{request}: the document was read again: {timings:?}"
        );
    }
}

/// While a document is read ahead, a request is answered within one batch; reading goes on
/// after it and ends with the whole document read.
#[test]
fn a_request_takes_the_engine_while_a_document_is_read_ahead() {
    let cache = temp_dir();
    let engine = open(settings(cache.path(), 4096, 32));
    let doc = document(40);
    let mut reading = engine.preread(PrereadRequest {
        messages: vec![Message::user(summarize_request(
            &doc,
            SummaryStyle::Default,
        ))],
        prefix: CachePrefix::Document {
            message: 0,
            bytes: document_len(&doc),
        },
    });
    // Wait for the first batch, then ask something else.
    let total = match reading.recv().unwrap().unwrap() {
        PrereadEvent::Progress { total, .. } => total,
        other => panic!("reading ended at once: {other:?}"),
    };
    let answer = engine
        .generate(GenerateRequest::chat(
            vec![Message::user("What is two plus two?")],
            Sampling::greedy(4),
        ))
        .wait()
        .expect("answered while reading");
    assert!(answer.timings.generated_tokens > 0);
    let mut progress_after = 0;
    let done = loop {
        match reading.recv().unwrap().unwrap() {
            PrereadEvent::Progress { .. } => progress_after += 1,
            PrereadEvent::Done { done, .. } => break done,
            PrereadEvent::Failed(error) => panic!("{error}"),
        }
    };
    assert!(
        progress_after > 0,
        "reading was not under way when the question came"
    );
    assert_eq!(done, total, "reading went on after the question");
    let timings = ask(&engine, &doc, "Which town sold the most wool?");
    assert!(timings.prompt_evaluated < 40, "{timings:?}");
}

/// Reading stopped half-way keeps what was read on disk (a step of 2048 tokens): a new engine
/// reading the same document starts from there, and when it finishes the partial state is
/// replaced by the whole.
#[test]
fn reading_ahead_resumes_from_the_last_step_after_a_restart() {
    let cache = temp_dir();
    let doc = document(60);
    // The lockstep holds the engine after each step until the test has looked at it, so the
    // cancel lands right after the step past 2048 tokens however late a loaded machine wakes
    // the test (else the rest of the document could be read first, and saved whole).
    let gate = Lockstep::default();
    let (engine, info) = gate.engine_with(&smollm2(), settings(cache.path(), 4096, 256));
    info.expect("SmolLM2 loads");
    let stepping = gate.start(&engine);
    let mut reading = engine.preread(PrereadRequest {
        messages: vec![Message::user(summarize_request(
            &doc,
            SummaryStyle::Default,
        ))],
        prefix: CachePrefix::Document {
            message: 0,
            bytes: document_len(&doc),
        },
    });
    let total = loop {
        match reading.recv().unwrap().unwrap() {
            PrereadEvent::Progress { done, total } if done > 2048 => {
                reading.cancel();
                break total;
            }
            PrereadEvent::Progress { .. } => gate.handled(),
            other => panic!("reading ended early: {other:?}"),
        }
    };
    drop(stepping);
    assert!(total > 2300, "a document over one step: {total}");
    while !matches!(
        reading.recv().unwrap(),
        None | Some(PrereadEvent::Done { .. })
    ) {}
    drop(engine);
    let engine = open(settings(cache.path(), 4096, 256));
    let (done, total_again, restored) = read_ahead(&engine, &doc);
    assert_eq!((done, total_again), (total, total));
    assert_eq!(restored, 2048, "resumed from the step saved");
    let entries = xgen_desk::engine::state_cache::list_entries(cache.path());
    assert_eq!(
        entries.iter().map(|e| e.n_tokens).collect::<Vec<_>>(),
        [total],
        "the partial state was replaced by the whole"
    );
}
