//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use xgen_desk::engine::{
    Engine, EngineError, Event, GenerateRequest, LoadSettings, ModelInfo, StopReason, Timings,
};

/// SmolLM2-135M-Instruct Q4_1, fetched by `scripts/fetch-test-models.sh`.
pub fn smollm2() -> PathBuf {
    let path = std::env::var_os("XGEN_TEST_MODEL").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "test model {} is missing: run scripts/fetch-test-models.sh (scripts/test.sh does it)",
        path.display()
    );
    path
}

/// Generous: a 2-core machine running tests in parallel.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// Settings for tests: a small context keeps memory and time down.
pub fn small_settings(n_ctx: u32) -> LoadSettings {
    LoadSettings {
        n_ctx: Some(n_ctx),
        threads: Some(2),
        ..LoadSettings::default()
    }
}

/// Starts an engine and loads `path`; returns the load result.
pub fn engine_with(
    path: &std::path::Path,
    settings: LoadSettings,
) -> (Engine, mpsc::Receiver<Event>, Result<ModelInfo, String>) {
    let (engine, events) = Engine::spawn_with_channel().expect("spawn engine");
    engine.load(path, settings);
    loop {
        match events.recv_timeout(TIMEOUT).expect("engine answers a load") {
            Event::Loaded(info) => return (engine, events, Ok(info)),
            Event::LoadFailed(error) => return (engine, events, Err(error.to_string())),
            _ => {}
        }
    }
}

/// Runs a request to the end; returns the text pieces, why it stopped and the timings.
pub fn collect(
    engine: &Engine,
    events: &mpsc::Receiver<Event>,
    request: GenerateRequest,
) -> Result<(Vec<String>, StopReason, Timings), EngineError> {
    let id = request.id;
    engine.generate(request);
    let mut pieces = Vec::new();
    loop {
        match events.recv_timeout(TIMEOUT).expect("engine answers") {
            Event::Token { id: got, text } if got == id => pieces.push(text),
            Event::Done {
                id: got,
                reason,
                timings,
            } if got == id => return Ok((pieces, reason, timings)),
            Event::Failed { id: got, error } if got == id => return Err(error),
            _ => {}
        }
    }
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
