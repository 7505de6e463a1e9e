//! Replays the fuzz targets' saved corpus (`fuzz/corpus/<target>/`) and every crash input
//! found (`fuzz/artifacts/<target>/`) through the same entry points as the fuzz targets
//! (`fuzz/harness.rs`): no panic, and each input within a time bound. Runs with the regular
//! tests, no nightly toolchain needed.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../../fuzz/harness.rs"]
mod harness;

/// What the harness calls: here, the library itself.
mod xgen_desk {
    pub use ::xgen_desk::{documents, summarize};
}

/// Longer than this for one input is a hang (the fuzzer's own limit is 10 s).
const PER_INPUT: Duration = Duration::from_secs(10);

#[test]
fn fuzz_corpus_and_crash_inputs_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for &(target, run) in harness::TARGETS {
        let mut inputs = Vec::new();
        for kind in ["corpus", "artifacts"] {
            let dir = root.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                assert!(kind == "artifacts", "{} is missing", dir.display());
                continue;
            };
            for entry in entries {
                let path = entry.expect("directory entry").path();
                if path.is_file() {
                    inputs.push(path);
                }
            }
        }
        assert!(!inputs.is_empty(), "no saved inputs for {target}");
        inputs.sort();
        let count = inputs.len();
        let (tx, rx) = mpsc::channel();
        crate::common::spawn("fuzz-replay", move || {
            for path in inputs {
                let data = std::fs::read(&path).expect("read input");
                let started = Instant::now();
                let ran = std::panic::catch_unwind(|| run(&data)).is_ok();
                let _ = tx.send((path, started.elapsed(), ran));
            }
        });
        for _ in 0..count {
            match rx.recv_timeout(PER_INPUT) {
                Ok((path, took, ran)) => {
                    assert!(ran, "{target}: {} panicked", path.display());
                    assert!(
                        took < PER_INPUT,
                        "{target}: {} took {took:?}",
                        path.display()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{target}: an input ran more than {PER_INPUT:?}: a hang")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{target}: the replay thread stopped")
                }
            }
        }
        eprintln!("{target}: {count} inputs replayed");
        replayed += count;
    }
    assert!(replayed > 0);
}
