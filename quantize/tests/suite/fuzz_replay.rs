//! The fuzz targets' entries (`fuzz/models/entries/*.rs`, shared with `fuzz/models/fuzz_targets/`) run on the
//! saved corpus and on every crash input found (`fuzz/models/artifacts/<target>/`), on stable, as
//! part of the ordinary tests: each input ends without a panic, within seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../../fuzz/models/entries/checkpoint_config.rs"]
mod checkpoint_config;
#[path = "../../../fuzz/models/entries/gguf_reader.rs"]
mod gguf_reader;
#[path = "../../../fuzz/models/entries/torch_checkpoint.rs"]
mod torch_checkpoint;
#[path = "../../../fuzz/models/entries/torch_pickle.rs"]
mod torch_pickle;

/// The saved inputs of `target`: its corpus and its crash artifacts.
pub fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/models");
    let mut found = Vec::new();
    for kind in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        found.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    found.sort();
    found
}

/// Runs every saved input of `target` through `run`, naming the input that panics or is slow.
pub fn replay(target: &str, run: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        !inputs.is_empty(),
        "no saved inputs for fuzz target {target}"
    );
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{} took {took:?}",
            path.display()
        );
    }
}

#[test]
fn gguf_reader_corpus_and_crashes_replay_cleanly() {
    replay("gguf_reader", gguf_reader::run);
}

#[test]
fn torch_pickle_corpus_and_crashes_replay_cleanly() {
    replay("torch_pickle", torch_pickle::run);
}

#[test]
fn torch_checkpoint_corpus_and_crashes_replay_cleanly() {
    replay("torch_checkpoint", torch_checkpoint::run);
}

#[test]
fn checkpoint_config_corpus_and_crashes_replay_cleanly() {
    replay("checkpoint_config", checkpoint_config::run);
}

/// The hand-made seeds are valid inputs, so fuzzing starts from the structures that matter.
#[test]
fn the_seeds_are_valid_inputs() {
    use xgen_quantize::convert::safetensors_tensors;
    use xgen_quantize::gguf::{GgufFile, ReadOptions};
    use xgen_quantize::pytorch::unpickle_state_dict;
    use xgen_quantize::{read_torch_checkpoint, LlamaConfig};

    let seed = |target: &str, name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/models/corpus")
            .join(target)
            .join(name);
        std::fs::read(path).unwrap()
    };
    let gguf = seed("gguf_reader", "small");
    let file = GgufFile::from_bytes(&gguf, gguf.len() as u64, ReadOptions::ALL).unwrap();
    file.check_tensors().unwrap();
    assert_eq!((file.metadata.len(), file.tensors.len()), (10, 2));
    let names: Vec<String> = unpickle_state_dict(&seed("torch_pickle", "state_dict"))
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["w", "b", "h"]);
    assert_eq!(
        read_torch_checkpoint(&seed("torch_checkpoint", "state_dict_zip"))
            .unwrap()
            .len(),
        3
    );
    let text = String::from_utf8(seed("checkpoint_config", "config.json")).unwrap();
    LlamaConfig::from_json(Path::new("config.json"), &text).unwrap();
    assert_eq!(
        safetensors_tensors(&seed("checkpoint_config", "tiny.safetensors"))
            .unwrap()
            .len(),
        2
    );
}
