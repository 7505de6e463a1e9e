//! The document state cache on the real SmolLM2: a document's KV state saved to disk is loaded
//! by a fresh engine instead of reading the document again; misses, LRU eviction by size,
//! another model's state and corrupt files.

use std::path::Path;
use std::time::Duration;

use xgen_desk::engine::state_cache::list_entries;
use xgen_desk::engine::{
    CachePrefix, Engine, GenerateRequest, LoadSettings, Sampling, StateCacheConfig, Timings,
};
use xgen_desk::prompt::Message;

use crate::common::{engine_with, small_settings, smollm2, temp_dir};

fn settings(dir: &Path, max_bytes: u64) -> LoadSettings {
    LoadSettings {
        state_cache: Some(StateCacheConfig {
            dir: dir.to_path_buf(),
            max_bytes,
        }),
        ..small_settings(1024)
    }
}

fn open(model: &Path, settings: LoadSettings) -> Engine {
    let (engine, info) = engine_with(model, settings);
    info.expect("model loads");
    engine
}

fn ask(engine: &Engine, messages: Vec<Message>) -> (String, Timings) {
    let finished = engine
        .generate(
            GenerateRequest::chat(messages, Sampling::greedy(6))
                .with_cache_prefix(CachePrefix::Messages(1)),
        )
        .wait()
        .expect("request succeeds");
    (finished.text, finished.timings)
}

/// A document of about 170 tokens; `seed` varies its content.
fn document(seed: usize) -> String {
    (0..6)
        .map(|i| {
            format!(
                "Report {seed}-{i}: the ferry from Harbour {} carried {} passengers and {} crates of apples on day {}. ",
                (seed * 7 + i) % 13,
                100 + (seed * 31 + i * 17) % 400,
                (seed + i * 3) % 50,
                i + 1
            )
        })
        .collect()
}

fn first_turn(doc: &str) -> Vec<Message> {
    vec![Message::user(format!(
        "{doc}\nWhich harbour is mentioned first?"
    ))]
}

fn follow_up(doc: &str, answer: &str) -> Vec<Message> {
    let mut messages = first_turn(doc);
    messages.push(Message::assistant(answer));
    messages.push(Message::user("How many passengers were on day 2?"));
    messages
}

/// Reads `doc` cold in a fresh engine (saving its state); returns the first answer.
fn read_cold(model: &Path, settings: LoadSettings, doc: &str) -> String {
    let engine = open(model, settings);
    let (answer, timings) = ask(&engine, first_turn(doc));
    assert_eq!(timings.prompt_restored, 0);
    assert_eq!(timings.prompt_evaluated, timings.prompt_tokens);
    answer
}

#[test]
fn fresh_engine_loads_the_document_state_and_reads_only_the_new_tokens() {
    let dir = temp_dir();
    let model = smollm2();
    let doc = document(1);
    let answer = read_cold(&model, settings(dir.path(), u64::MAX), &doc);
    let entries = list_entries(dir.path());
    assert_eq!(entries.len(), 1, "one state saved: {entries:?}");
    assert!(entries[0].n_tokens > 100 && entries[0].bytes > 0);

    // A new engine (as after a restart) answers the follow-up from the disk state.
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (from_disk, timings) = ask(&engine, follow_up(&doc, &answer));
    assert_eq!(timings.prompt_restored, entries[0].n_tokens);
    assert_eq!(
        timings.prompt_evaluated,
        timings.prompt_tokens - timings.prompt_restored,
        "only the tokens after the document are evaluated: {timings:?}"
    );
    assert!(timings.prompt_evaluated < 60, "{timings:?}");
    assert!(
        timings.restore_secs > 0.0 && timings.restore_secs < timings.ttft_secs,
        "{timings:?}"
    );

    // The restored state is the real one: an engine that reads everything (in the same batches:
    // the document, then the rest) answers exactly the same.
    let other_dir = temp_dir();
    let cold_engine = open(&model, settings(other_dir.path(), u64::MAX));
    let (cold, cold_timings) = ask(&cold_engine, follow_up(&doc, &answer));
    assert_eq!(cold_timings.prompt_evaluated, cold_timings.prompt_tokens);
    assert_eq!(
        from_disk, cold,
        "greedy replies from disk state and cold read differ"
    );
    assert!(!cold.is_empty());
}

#[test]
fn another_document_misses_and_is_saved_beside() {
    let dir = temp_dir();
    let model = smollm2();
    read_cold(&model, settings(dir.path(), u64::MAX), &document(2));
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&document(3), "Harbour 1."));
    assert_eq!(timings.prompt_restored, 0, "a different document is a miss");
    assert_eq!(timings.prompt_evaluated, timings.prompt_tokens);
    assert_eq!(list_entries(dir.path()).len(), 2);
    // Without a cache prefix nothing is saved or loaded.
    engine
        .generate(GenerateRequest::chat(
            first_turn(&document(4)),
            Sampling::greedy(2),
        ))
        .wait()
        .expect("answer");
    assert_eq!(list_entries(dir.path()).len(), 2);
}

#[test]
fn least_recently_used_states_are_evicted_beyond_the_bound() {
    let dir = temp_dir();
    let model = smollm2();
    let docs = [document(10), document(11), document(12)];
    let answer_a = read_cold(&model, settings(dir.path(), u64::MAX), &docs[0]);
    let one = list_entries(dir.path())[0].bytes;
    // Room for two entries (the documents have about the same length), not three.
    let bound = one * 5 / 2;
    std::thread::sleep(Duration::from_millis(30));
    read_cold(&model, settings(dir.path(), bound), &docs[1]);
    assert_eq!(list_entries(dir.path()).len(), 2);
    std::thread::sleep(Duration::from_millis(30));
    // Using A makes B the least recently used.
    let engine = open(&model, settings(dir.path(), bound));
    let (_, hit) = ask(&engine, follow_up(&docs[0], &answer_a));
    assert!(hit.prompt_restored > 0, "A is a hit: {hit:?}");
    drop(engine);
    std::thread::sleep(Duration::from_millis(30));
    read_cold(&model, settings(dir.path(), bound), &docs[2]);

    let entries = list_entries(dir.path());
    assert_eq!(entries.len(), 2, "{entries:?}");
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    assert!(total <= bound, "{total} > {bound}");
    // A (used) and C (newest) stay; B went: a fresh engine misses B and hits A.
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (_, b) = ask(&engine, follow_up(&docs[1], "x"));
    assert_eq!(b.prompt_restored, 0, "B was evicted");
    engine.clear_cache();
    let (_, a) = ask(&engine, follow_up(&docs[0], &answer_a));
    assert!(a.prompt_restored > 0, "A was kept");
}

#[test]
fn a_state_from_another_model_is_never_loaded() {
    let dir = temp_dir();
    let models = temp_dir();
    let path = models.path().join("model.gguf");
    let original = std::fs::read(smollm2()).expect("read model");
    std::fs::write(&path, &original).expect("copy model");
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let doc = document(20);
    let answer = read_cold(&path, settings(dir.path(), u64::MAX), &doc);
    assert_eq!(list_entries(dir.path()).len(), 1);

    // Another model at the same path, same size, same modification time: one metadata byte
    // differs (its name).
    let mut other = original.clone();
    let key = b"general.name";
    let at = other
        .windows(key.len())
        .position(|w| w == key)
        .expect("general.name in header");
    // Key, then the value's type (u32) and length (u64), then its first character.
    let first_char = at + key.len() + 4 + 8;
    other[first_char] ^= 0x20;
    std::fs::write(&path, &other).expect("write other model");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    let engine = open(&path, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert_eq!(
        timings.prompt_restored, 0,
        "the other model's state was loaded"
    );
    assert_eq!(timings.prompt_evaluated, timings.prompt_tokens);
    drop(engine);

    // A different KV precision shapes the state differently: not loaded either.
    std::fs::write(&path, &original).expect("restore model");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    let q8 = LoadSettings {
        kv_cache: xgen_desk::engine::KvPrecision::Q8_0,
        ..settings(dir.path(), u64::MAX)
    };
    let engine = open(&path, q8);
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert_eq!(timings.prompt_restored, 0);
    drop(engine);
    // The original model at the original settings still hits.
    let engine = open(&path, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert!(timings.prompt_restored > 0, "{timings:?}");
}

#[test]
fn corrupt_state_files_are_ignored_and_replaced() {
    let dir = temp_dir();
    let model = smollm2();
    let doc = document(30);
    let answer = read_cold(&model, settings(dir.path(), u64::MAX), &doc);
    let entry = list_entries(dir.path()).remove(0);
    let mut bytes = std::fs::read(&entry.state_path).expect("state");
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5A;
    }
    std::fs::write(&entry.state_path, &bytes).expect("corrupt");

    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert_eq!(timings.prompt_restored, 0, "a corrupt state was loaded");
    assert_eq!(timings.prompt_evaluated, timings.prompt_tokens);
    // The corrupt file was deleted and the document's state saved again, intact.
    let rewritten = std::fs::read(&entry.state_path).expect("state saved again");
    assert_ne!(rewritten, bytes);
    drop(engine);
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert!(timings.prompt_restored > 0, "{timings:?}");

    // A garbage sidecar is not trusted either.
    std::fs::write(dir.path().join(format!("{}.json", entry.key)), b"{not json").expect("write");
    drop(engine);
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let (_, timings) = ask(&engine, follow_up(&doc, &answer));
    assert_eq!(timings.prompt_restored, 0);
}

#[test]
fn a_token_count_prefix_is_saved_and_restored() {
    let dir = temp_dir();
    let model = smollm2();
    let messages = first_turn(&document(40));
    let run = |engine: &Engine, prefix| {
        engine
            .generate(
                GenerateRequest::chat(messages.clone(), Sampling::greedy(2))
                    .with_cache_prefix(prefix),
            )
            .wait()
            .expect("request succeeds")
            .timings
    };
    let engine = open(&model, settings(dir.path(), u64::MAX));
    // No messages: nothing to keep.
    run(&engine, CachePrefix::Messages(0));
    assert!(list_entries(dir.path()).is_empty());
    engine.clear_cache();
    run(&engine, CachePrefix::Tokens(100));
    let entries = list_entries(dir.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].n_tokens, 100);
    drop(engine);
    let engine = open(&model, settings(dir.path(), u64::MAX));
    let timings = run(&engine, CachePrefix::Tokens(100));
    assert_eq!(timings.prompt_restored, 100);
    assert_eq!(timings.prompt_evaluated, timings.prompt_tokens - 100);
}
