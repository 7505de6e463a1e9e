//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::time::Duration;

use xgen_desk::engine::{
    Engine, EngineError, GenerateRequest, LoadSettings, ModelInfo, Planning, ReplyEvent,
    StopReason, Timings,
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

/// Starts an engine and loads `path` as given (no planning); returns the load result.
pub fn engine_with(
    path: &std::path::Path,
    settings: LoadSettings,
) -> (Engine, Result<ModelInfo, String>) {
    let engine = Engine::spawn().expect("spawn engine");
    let info = engine
        .load(path, settings, Planning::Off)
        .wait()
        .map_err(|e| e.to_string());
    (engine, info)
}

/// Runs a request to the end; returns the text pieces, why it stopped and the timings.
pub fn collect(
    engine: &Engine,
    request: GenerateRequest,
) -> Result<(Vec<String>, StopReason, Timings), EngineError> {
    let mut pieces = Vec::new();
    let finished = engine.generate(request).wait_with(|event| {
        if let ReplyEvent::Text(text) = event {
            pieces.push(text.clone());
        }
    })?;
    Ok((pieces, finished.reason, finished.timings))
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A copy of the test model that passes every header check but makes llama.cpp abort the
/// whole process when it loads: two tokens of its vocabulary are the same string, and
/// llama.cpp's vocabulary loader asserts (`GGML_ASSERT(id_to_token.size() ==
/// token_to_id.size())`) instead of returning an error.
pub fn aborting_gguf(dir: &std::path::Path) -> PathBuf {
    let mut bytes = std::fs::read(smollm2()).expect("read the test model");
    // Token strings are a u64 length and the bytes: "!" and then "\"" in the vocabulary.
    let mut pattern = 1u64.to_le_bytes().to_vec();
    pattern.push(b'!');
    pattern.extend(1u64.to_le_bytes());
    pattern.push(b'"');
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the test model's vocabulary has \"!\" then '\"'");
    bytes[at + pattern.len() - 1] = b'!';
    let path = dir.join("duplicate-token.gguf");
    std::fs::write(&path, bytes).expect("write the aborting model");
    path
}
