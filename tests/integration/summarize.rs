//! The summarizer: chunker invariants, the map-reduce structure with a fake model (a real
//! implementation of the model trait that counts words), and a real run on SmolLM2.

use std::collections::VecDeque;
use std::time::Instant;

use xgen_desk::cancel::CancelToken;
use xgen_desk::documents::Document;
use xgen_desk::engine::{Sampling, StopReason, Timings};
use xgen_desk::prompt::{summarize_request, Message, SummaryStyle};
use xgen_desk::summarize::{
    chunk_text, plan, summarize, Chunk, Completion, EngineModel, Phase, Progress, Strategy,
    SummarizeError, SummarizeOptions, SummaryModel,
};

use crate::common::{small_settings, smollm2, Lockstep};

/// Words count as tokens.
fn words(text: &str) -> Result<usize, SummarizeError> {
    Ok(text.split_whitespace().count())
}

/// Characters count as tokens (every cut is tight).
fn chars(text: &str) -> Result<usize, SummarizeError> {
    Ok(text.chars().count())
}

/// A deterministic pseudo-random source for varied texts.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "river",
    "mountain",
    "the",
    "a",
    "Danube",
    "flows",
    "through",
    "ten",
    "countries",
    "and",
    "naïve",
    "café",
    "漢字",
    "🙂",
    "Überraschung",
    "x",
    "supercalifragilisticexpialidocious",
    "42",
    "3.14",
    "(note)",
    "\"quoted\"",
];

fn varied_text(rng: &mut Lcg) -> String {
    let mut text = String::new();
    let paragraphs = 1 + rng.next(12);
    for p in 0..paragraphs {
        let sentences = 1 + rng.next(6);
        for _ in 0..sentences {
            let words = 1 + rng.next(25);
            for w in 0..words {
                if w > 0 {
                    text.push(if rng.next(15) == 0 { '\n' } else { ' ' });
                }
                text.push_str(WORDS[rng.next(WORDS.len())]);
            }
            text.push_str([". ", "! ", "? ", "。", ".\" "][rng.next(5)]);
        }
        match rng.next(6) {
            0 => text.push_str(&"z".repeat(1 + rng.next(120))),
            1 => text.push_str("\r\n\r\n"),
            _ => {}
        }
        if p + 1 < paragraphs {
            text.push_str(["\n\n", "\n \n\n", "\n"][rng.next(3)]);
        }
    }
    if rng.next(4) == 0 {
        text.insert_str(0, "  \n");
    }
    text
}

/// Every invariant the summarizer relies on.
fn check_chunks(
    text: &str,
    chunks: &[Chunk],
    budget: usize,
    count: fn(&str) -> Result<usize, SummarizeError>,
) {
    assert!(!chunks.is_empty());
    let mut expected_start = 0;
    let mut joined = String::new();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(
            chunk.range.start, expected_start,
            "chunk {i} follows the previous one"
        );
        assert!(
            chunk.range.start < chunk.range.end || text.is_empty(),
            "chunk {i} adds text"
        );
        assert!(chunk.overlap_start <= chunk.range.start);
        if i == 0 {
            assert_eq!(chunk.overlap_start, 0);
        } else {
            assert!(
                chunk.overlap_start >= chunks[i - 1].range.start,
                "the overlap comes from the previous chunk only"
            );
        }
        let tokens = count(chunk.text(text)).expect("count");
        assert_eq!(tokens, chunk.tokens, "chunk {i} reports its exact count");
        assert!(
            tokens <= budget,
            "chunk {i}: {tokens} tokens > budget {budget}"
        );
        joined.push_str(&text[chunk.range.clone()]);
        expected_start = chunk.range.end;
    }
    assert_eq!(expected_start, text.len(), "the chunks reach the end");
    assert_eq!(joined, text, "no text lost, order kept");
}

#[test]
fn chunker_invariants_over_varied_texts() {
    let mut rng = Lcg(7);
    let mut cases = 0;
    for _ in 0..300 {
        let text = varied_text(&mut rng);
        let budget = 3 + rng.next(60);
        let overlap = rng.next(12);
        for count in [words as fn(&str) -> Result<usize, SummarizeError>, chars] {
            let chunks = chunk_text(&text, budget, overlap, &mut |t| count(t))
                .unwrap_or_else(|e| panic!("{e} for budget {budget} on {text:?}"));
            check_chunks(&text, &chunks, budget, count);
            cases += 1;
        }
    }
    assert_eq!(cases, 600);
}

#[test]
fn chunker_cuts_at_paragraphs_then_sentences_with_overlap() {
    let paragraph = |i: usize| format!("Paragraph {i} has exactly seven words here.");
    let text: String = (0..20).map(paragraph).collect::<Vec<_>>().join("\n\n");
    let chunks = chunk_text(&text, 30, 0, &mut words).expect("chunks");
    check_chunks(&text, &chunks, 30, words);
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(
            text[..chunk.range.end].ends_with("\n\n"),
            "cut at a paragraph end: {:?}",
            &text[chunk.range.clone()]
        );
    }
    assert_eq!(
        chunks.len(),
        5,
        "four seven-word paragraphs per 30-token chunk"
    );

    let with_overlap = chunk_text(&text, 30, 5, &mut words).expect("chunks");
    check_chunks(&text, &with_overlap, 30, words);
    for pair in with_overlap.windows(2) {
        let overlap = &text[pair[1].overlap_start..pair[1].range.start];
        let repeated = words(overlap).expect("count");
        assert!(
            (1..=7).contains(&repeated),
            "about 5 tokens repeated, got {overlap:?}"
        );
        assert!(text[..pair[0].range.end].ends_with(overlap));
    }

    // One long paragraph: cut at sentence ends.
    let long: String = (0..12)
        .map(|i| format!("Sentence {i} has six words. "))
        .collect();
    let chunks = chunk_text(long.trim_end(), 20, 0, &mut words).expect("chunks");
    check_chunks(long.trim_end(), &chunks, 20, words);
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(long[..chunk.range.end].ends_with("words. "), "{chunks:?}");
    }

    // A word longer than the budget is cut inside, within budget.
    let blob = "x".repeat(50);
    let chunks = chunk_text(&blob, 16, 0, &mut chars).expect("chunks");
    check_chunks(&blob, &chunks, 16, chars);
    assert_eq!(chunks.len(), 4);
}

/// A model that counts words as tokens, answers with a fixed number of words, records every
/// prompt, and checks that each one fits its context.
struct FakeModel {
    n_ctx: usize,
    reply_words: usize,
    prompts: Vec<String>,
    max_tokens: Vec<u32>,
    /// Cancel this token when the call with this (0-based) index starts.
    cancel_at_call: Option<(usize, CancelToken)>,
}

impl FakeModel {
    fn new(n_ctx: usize, reply_words: usize) -> Self {
        Self {
            n_ctx,
            reply_words,
            prompts: Vec::new(),
            max_tokens: Vec::new(),
            cancel_at_call: None,
        }
    }
}

/// Tokens a chat template adds around the messages.
const TEMPLATE_TOKENS: usize = 5;

impl SummaryModel for FakeModel {
    fn context(&self) -> usize {
        self.n_ctx
    }

    fn count_tokens(&mut self, text: &str) -> Result<usize, SummarizeError> {
        words(text)
    }

    fn prompt_tokens(&mut self, messages: &[Message]) -> Result<usize, SummarizeError> {
        Ok(TEMPLATE_TOKENS
            + messages
                .iter()
                .map(|m| words(&m.content).unwrap_or(0))
                .sum::<usize>())
    }

    fn complete(
        &mut self,
        messages: &[Message],
        max_tokens: u32,
        cancel: &CancelToken,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Completion, SummarizeError> {
        let call = self.prompts.len();
        let prompt_tokens = self.prompt_tokens(messages)?;
        assert!(
            prompt_tokens + max_tokens as usize <= self.n_ctx,
            "call {call}: {prompt_tokens} prompt tokens + {max_tokens} reserved > {}",
            self.n_ctx
        );
        self.prompts.push(messages[0].content.clone());
        self.max_tokens.push(max_tokens);
        if let Some((at, token)) = &self.cancel_at_call {
            if *at == call {
                token.cancel();
            }
        }
        let mut text = String::new();
        let mut stop = StopReason::EndOfTurn;
        for i in 0..self.reply_words.min(max_tokens as usize) {
            // Within a step, the flag is checked before every token, as the engine does.
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            let piece = if i == 0 {
                format!("summary{call}")
            } else {
                " w".to_owned()
            };
            on_piece(&piece);
            text.push_str(&piece);
        }
        Ok(Completion {
            text,
            stop,
            timings: Timings::default(),
        })
    }
}

fn numbered_document(paragraphs: usize, words_each: usize) -> Document {
    let text: Vec<String> = (0..paragraphs)
        .map(|p| {
            let mut words: Vec<String> = (0..words_each).map(|w| format!("p{p}w{w}")).collect();
            words.push("end.".into());
            words.join(" ")
        })
        .collect();
    Document::from_text("numbered", text.join("\n\n")).expect("document")
}

fn run(
    model: &mut FakeModel,
    document: &Document,
    options: &SummarizeOptions,
    cancel: &CancelToken,
) -> (
    Result<xgen_desk::summarize::Summary, SummarizeError>,
    Vec<Progress>,
    String,
) {
    let mut events = Vec::new();
    let mut streamed = String::new();
    let result = summarize(
        model,
        document,
        options,
        cancel,
        &mut |p| events.push(p.clone()),
        &mut |piece| streamed.push_str(piece),
    );
    (result, events, streamed)
}

#[test]
fn a_document_that_fits_is_read_in_one_pass_with_todays_prompt() {
    let document = numbered_document(5, 20);
    let mut model = FakeModel::new(512, 10);
    let options = SummarizeOptions::new(SummaryStyle::Bullets, 100);
    let (summary, events, streamed) = run(&mut model, &document, &options, &CancelToken::new());
    let summary = summary.expect("summary");
    assert!(summary.single_pass);
    assert_eq!(summary.model_calls, 1);
    assert_eq!((summary.coverage.read, summary.coverage.total), (1, 1));
    assert_eq!(
        model.prompts,
        [summarize_request(&document.text, SummaryStyle::Bullets)]
    );
    assert_eq!(model.max_tokens, [100]);
    assert_eq!(streamed, summary.text);
    assert!(matches!(events[0], Progress::Planned { parts: 1, .. }));
}

#[test]
fn a_long_document_is_map_reduced_in_order_with_full_coverage() {
    // 40 paragraphs of 31 words: 1240 tokens against a 400-token context.
    let document = numbered_document(40, 30);
    let mut model = FakeModel::new(400, 12);
    let options = SummarizeOptions {
        partial_tokens: Some(40),
        overlap_tokens: 8,
        ..SummarizeOptions::new(SummaryStyle::Default, 60)
    };
    let planned = plan(&mut model, &document, &options).expect("plan");
    let Strategy::MapReduce { chunks, .. } = &planned.strategy else {
        panic!("expected map-reduce, got {planned:?}");
    };
    let parts = chunks.len();
    assert!(parts >= 4, "{parts} parts");
    assert_eq!(planned.document_tokens, 40 * 31);

    let (summary, events, streamed) = run(&mut model, &document, &options, &CancelToken::new());
    let summary = summary.expect("summary");
    assert!(!summary.single_pass && !summary.cancelled);
    assert!(summary.coverage.complete(), "{:?}", summary.coverage);
    assert_eq!(summary.coverage.total, parts);
    assert_eq!(
        summary.combine_rounds, 0,
        "12-word partials fit one final pass"
    );
    assert_eq!(summary.model_calls, parts + 1);
    // Parts in order, each saying which it is, and together holding every word.
    for (k, prompt) in model.prompts[..parts].iter().enumerate() {
        assert!(
            prompt.starts_with(&format!(
                "This is part {} of {parts} of a long article.",
                k + 1
            )),
            "{prompt}"
        );
    }
    let mut next_word = 0;
    for p in 0..40 {
        for w in 0..30 {
            let word = format!("p{p}w{w} ");
            let found = model.prompts[..parts]
                .iter()
                .position(|prompt| prompt.contains(&word))
                .unwrap_or_else(|| panic!("{word} was never read"));
            assert!(found >= next_word, "{word} read out of order");
            next_word = found;
        }
    }
    // The final pass combines every partial, in order, and is the only one streamed.
    let last = model.prompts.last().expect("final prompt");
    assert!(last.contains("Please combine them into one summary of the whole article."));
    let mut at = 0;
    for k in 0..parts {
        let label = format!("Part {}:\nsummary{k} w", k + 1);
        let found = last[at..]
            .find(&label)
            .unwrap_or_else(|| panic!("{label} in {last}"));
        at += found;
    }
    assert_eq!(streamed, summary.text);
    assert!(summary.text.starts_with(&format!("summary{parts}")));
    assert_eq!(*model.max_tokens.last().expect("final"), 60);
    assert!(model.max_tokens[..parts].iter().all(|&m| m == 40));
    // Progress: a step per call, coverage growing part by part, partials reported.
    let steps = events
        .iter()
        .filter(|e| matches!(e, Progress::Step { .. }))
        .count();
    assert_eq!(steps, parts + 1);
    let coverage: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Partial { coverage, .. } => Some(coverage.read),
            _ => None,
        })
        .collect();
    assert_eq!(coverage, (1..=parts).collect::<Vec<_>>());
    assert!(matches!(
        events.last(),
        Some(Progress::Step { phase: Phase::Final { inputs }, .. }) if *inputs == parts
    ));
}

#[test]
fn partial_summaries_that_do_not_fit_are_combined_recursively() {
    let document = numbered_document(150, 30);
    // Long partial summaries and a small context: the final pass cannot take them all, and
    // neither can the first round's combined summaries.
    let mut model = FakeModel::new(300, 40);
    let options = SummarizeOptions {
        partial_tokens: Some(40),
        overlap_tokens: 0,
        ..SummarizeOptions::new(SummaryStyle::KeyPoints, 100)
    };
    let (summary, events, _) = run(&mut model, &document, &options, &CancelToken::new());
    let summary = summary.expect("summary");
    assert!(summary.coverage.complete());
    assert!(
        summary.combine_rounds >= 2,
        "rounds: {}",
        summary.combine_rounds
    );
    let parts = summary.coverage.total;
    let combines = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Progress::Step {
                    phase: Phase::Combine { .. },
                    ..
                }
            )
        })
        .count();
    assert!(combines >= 2);
    assert_eq!(summary.model_calls, parts + combines + 1);
    assert_eq!(model.prompts.len(), summary.model_calls);
    let last = model.prompts.last().expect("final");
    assert!(
        last.contains("Please list the key points of the whole article."),
        "{last}"
    );
    assert!(
        last.contains("Parts 1 to "),
        "combined groups name their parts: {last}"
    );
    // Every prompt fitted its context: FakeModel::complete asserts it.
}

#[test]
fn cancel_between_and_within_steps_stops_the_work() {
    let document = numbered_document(40, 30);
    let options = SummarizeOptions {
        partial_tokens: Some(40),
        ..SummarizeOptions::new(SummaryStyle::Default, 60)
    };

    // Between steps: cancelled when part 2's summary arrives; no further call is made.
    let cancel = CancelToken::new();
    let mut model = FakeModel::new(400, 12);
    let mut calls_seen = 0;
    let result = summarize(
        &mut model,
        &document,
        &options,
        &cancel,
        &mut |p| {
            if let Progress::Partial { coverage, .. } = p {
                calls_seen += 1;
                if coverage.read == 2 {
                    cancel.cancel();
                }
            }
        },
        &mut |_| {},
    );
    let summary = result.expect("a cancelled summary is not an error");
    assert!(summary.cancelled);
    assert_eq!(summary.coverage.read, 2);
    assert!(summary.coverage.total > 2 && !summary.coverage.complete());
    assert_eq!(model.prompts.len(), 2);
    assert_eq!(calls_seen, 2);
    assert!(summary.text.is_empty());

    // Within a step: cancelled while part 3 is being answered.
    let cancel = CancelToken::new();
    let mut model = FakeModel::new(400, 12);
    model.cancel_at_call = Some((2, cancel.clone()));
    let (summary, _, _) = run(&mut model, &document, &options, &cancel);
    let summary = summary.expect("cancelled");
    assert!(summary.cancelled);
    assert_eq!(summary.coverage.read, 2, "part 3 was not completed");
    assert_eq!(model.prompts.len(), 3);

    // Before anything.
    let cancel = CancelToken::new();
    cancel.cancel();
    let mut model = FakeModel::new(400, 12);
    let (summary, _, _) = run(&mut model, &document, &options, &cancel);
    assert!(summary.expect("cancelled").cancelled);
    assert!(model.prompts.is_empty());
}

#[test]
fn part_prompts_name_their_pages() {
    let pages: Vec<String> = (1..=6)
        .map(|p| {
            (0..40)
                .map(|w| format!("page{p}word{w}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let document = crate::common::paged_document("paged.pdf", &pages);
    let mut model = FakeModel::new(150, 10);
    let options = SummarizeOptions {
        partial_tokens: Some(20),
        overlap_tokens: 0,
        ..SummarizeOptions::new(SummaryStyle::Default, 40)
    };
    let (summary, _, _) = run(&mut model, &document, &options, &CancelToken::new());
    let summary = summary.expect("summary");
    let parts = summary.coverage.total;
    assert!(parts >= 3);
    assert!(
        model.prompts[0].contains("It covers page 1"),
        "{}",
        model.prompts[0]
    );
    let last_part = &model.prompts[parts - 1];
    assert!(last_part.contains("page 6."), "{last_part}");
    let last = model.prompts.last().expect("final");
    assert!(last.contains("Part 1 (page 1"), "{last}");
}

#[test]
fn a_context_too_small_is_a_clear_error() {
    let document = numbered_document(10, 30);
    let mut model = FakeModel::new(60, 5);
    let options = SummarizeOptions::new(SummaryStyle::Default, 50);
    let (result, _, _) = run(&mut model, &document, &options, &CancelToken::new());
    let error = result.expect_err("too small");
    assert!(
        matches!(error, SummarizeError::ContextTooSmall { n_ctx: 60, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("--ctx"), "{error}");
    assert!(model.prompts.is_empty());
}

/// English prose, paragraph by paragraph (about 70 tokens each), each about something.
fn prose(paragraphs: usize) -> String {
    let topics = [
        ("Lisbon", "trams", "the Tagus river"),
        ("Kyoto", "temples", "the Kamo river"),
        ("Oslo", "ferries", "the fjord"),
        ("Lima", "markets", "the Pacific coast"),
        ("Nairobi", "parks", "the highlands"),
    ];
    (0..paragraphs)
        .map(|i| {
            let (city, thing, place) = topics[i % topics.len()];
            format!(
                "Report {i}. In {city}, the council counted {} new {thing} this year, most of them near {place}. \
                 Residents said the change made daily travel easier, although costs rose by {} percent. \
                 The council plans to publish a longer review next spring.",
                10 + i * 3,
                2 + i % 7
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn smollm2_map_reduces_a_long_document_within_its_context() {
    // A small context keeps this fast: about 1K tokens read in three parts.
    let n_ctx = 512;
    let gate = Lockstep::default();
    let (engine, info) = gate.engine_with(&smollm2(), small_settings(n_ctx));
    let info = info.expect("SmolLM2 loads");
    let document = Document::from_text("reports", prose(18)).expect("document");
    let sampling = Sampling::greedy(32);
    let mut model = EngineModel::new(&engine, info.n_ctx, sampling);
    let document_tokens = model.count_tokens(&document.text).expect("count");
    assert!(
        (850..1300).contains(&document_tokens),
        "about 1K tokens: {document_tokens}"
    );
    let options = SummarizeOptions {
        partial_tokens: Some(24),
        overlap_tokens: 32,
        ..SummarizeOptions::new(SummaryStyle::Default, 32)
    };
    let planned = plan(&mut model, &document, &options).expect("plan");
    let Strategy::MapReduce {
        chunks,
        chunk_budget,
        ..
    } = &planned.strategy
    else {
        panic!("1K tokens do not fit 512: {planned:?}");
    };
    assert!(chunks.len() >= 3, "{} parts", chunks.len());
    for chunk in chunks {
        let tokens = engine
            .count_tokens(chunk.text(&document.text))
            .expect("count");
        assert_eq!(tokens, chunk.tokens);
        assert!(tokens <= *chunk_budget);
    }
    let joined: String = chunks
        .iter()
        .map(|c| &document.text[c.range.clone()])
        .collect();
    assert_eq!(joined, document.text);

    let started = Instant::now();
    let mut streamed = String::new();
    let mut steps = VecDeque::new();
    let summary = summarize(
        &mut model,
        &document,
        &options,
        &CancelToken::new(),
        &mut |p| {
            if let Progress::Step { phase, .. } = p {
                steps.push_back(phase.clone());
            }
        },
        &mut |piece| streamed.push_str(piece),
    )
    .expect("every call fits the context (the engine refuses one that does not)");
    assert!(summary.coverage.complete(), "{:?}", summary.coverage);
    assert_eq!(summary.coverage.total, chunks.len());
    assert!(!summary.single_pass && !summary.cancelled);
    assert_eq!(summary.model_calls, steps.len());
    assert!(summary.model_calls > chunks.len());
    assert!(matches!(steps.back(), Some(Phase::Final { .. })));
    assert!(
        !summary.text.trim().is_empty(),
        "a final summary was written"
    );
    assert_eq!(streamed, summary.text, "only the final pass is streamed");
    let timings = summary.final_timings.expect("final timings");
    assert!(timings.prompt_tokens + 32 <= n_ctx as usize);
    eprintln!(
        "SmolLM2 map-reduce: {document_tokens} tokens, {} parts, {} calls, {:.1} s",
        chunks.len(),
        summary.model_calls,
        started.elapsed().as_secs_f64()
    );

    // Cancel within the streamed final pass: the engine stops within a token. The lockstep
    // holds the engine thread until the test has acted on each event (prompt progress, text),
    // so the count starts at the cancel on any machine.
    let cancel = CancelToken::new();
    let short = Document::from_text("short", prose(2)).expect("short");
    let mut model = EngineModel::new(&engine, info.n_ctx, Sampling::greedy(200));
    model.on_prefill = Some(Box::new(|_, _| gate.handled()));
    let mut pieces = 0;
    let stepping = gate.start(&engine);
    let summary = summarize(
        &mut model,
        &short,
        &SummarizeOptions::new(SummaryStyle::Default, 200),
        &cancel,
        &mut |_| {},
        &mut |_| {
            pieces += 1;
            cancel.cancel();
            gate.handled();
        },
    )
    .expect("cancelled summary");
    drop(stepping);
    assert!(summary.single_pass && summary.cancelled);
    assert!(
        pieces <= 4,
        "stopped within a few tokens, got {pieces} pieces"
    );
    assert_eq!(summary.coverage.read, 0);
}

#[test]
fn cli_summarizes_an_html_file_of_any_length() {
    let dir = crate::common::temp_dir();
    let paragraphs: String = prose(12)
        .split("\n\n")
        .map(|p| format!("<p>{p}</p>\n"))
        .collect();
    let page = format!(
        "<!doctype html><html><head><style>p {{ margin: 0 }}</style></head><body>\
         <nav>MENU ITEMS</nav><main><h1>City reports</h1>{paragraphs}</main>\
         <script>trackVisitor()</script></body></html>"
    );
    let path = dir.path().join("reports.html");
    std::fs::write(&path, page).expect("write page");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("summarize")
        .arg(&path)
        .arg("--model")
        .arg(smollm2())
        .args([
            "--ctx",
            "512",
            "--threads",
            "2",
            "--max-tokens",
            "16",
            "--greedy",
        ])
        .output()
        .expect("run xgen-desk");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(
        !stdout.trim().is_empty(),
        "a summary on stdout; stderr: {stderr}"
    );
    assert!(
        stderr.contains("reports.html (HTML)") && stderr.contains("map-reduce over"),
        "the plan is shown: {stderr}"
    );
    assert!(
        stderr.contains("[read part 1/"),
        "progress is shown: {stderr}"
    );
    assert!(
        stderr.contains("[coverage 100% ("),
        "coverage is shown: {stderr}"
    );

    // A broken document fails before any model is loaded, with the reason.
    let broken = dir.path().join("broken.pdf");
    std::fs::write(&broken, b"%PDF-1.4 not really").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("summarize")
        .arg(&broken)
        .args(["--model", "/nonexistent.gguf"])
        .output()
        .expect("run xgen-desk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("broken.pdf is not a readable PDF"),
        "{stderr}"
    );
}

#[test]
fn a_document_just_over_the_one_pass_limit_is_still_read_in_parts() {
    // 155 tokens fit a part but not one pass with a 300-token reply reserved.
    let document = numbered_document(5, 30);
    let mut model = FakeModel::new(400, 10);
    let options = SummarizeOptions::new(SummaryStyle::Default, 300);
    let planned = plan(&mut model, &document, &options).expect("plan");
    assert!(planned.single_pass_tokens + 300 > 400);
    let Strategy::MapReduce {
        chunks,
        chunk_budget,
        ..
    } = &planned.strategy
    else {
        panic!("{planned:?}");
    };
    assert!((2..=3).contains(&chunks.len()), "{chunks:?}");
    check_chunks(&document.text, chunks, *chunk_budget, words);
    let parts = chunks.len();
    let (summary, _, _) = run(&mut model, &document, &options, &CancelToken::new());
    let summary = summary.expect("summary");
    assert_eq!(
        (summary.coverage.read, summary.model_calls),
        (parts, parts + 1)
    );
}
