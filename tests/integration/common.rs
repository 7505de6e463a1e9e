//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
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

/// A gate between the engine thread and a test. While it is started, the engine thread waits
/// after each event it sends (the engine's notify hook runs on its thread right after the send)
/// until the test says it handled that event, so what the test does on an event (a cancel)
/// happens before the engine does any more work, however a loaded or a fast machine schedules
/// the two threads.
#[derive(Clone, Default)]
pub struct Lockstep(Arc<(Mutex<Steps>, Condvar)>);

#[derive(Default)]
struct Steps {
    on: bool,
    sent: u64,
    handled: u64,
}

/// A started [`Lockstep`]; dropping it lets the engine run freely again.
pub struct Stepping(Lockstep);

impl Drop for Stepping {
    fn drop(&mut self) {
        let (steps, changed) = &*(self.0).0;
        steps.lock().unwrap_or_else(|e| e.into_inner()).on = false;
        changed.notify_all();
    }
}

impl Lockstep {
    /// An engine whose thread waits at this gate, with `path` loaded as given.
    pub fn engine_with(
        &self,
        path: &std::path::Path,
        settings: LoadSettings,
    ) -> (Engine, Result<ModelInfo, String>) {
        let gate = self.clone();
        let engine = Engine::spawn_with_notify(move |_| gate.after_event()).expect("spawn engine");
        let info = engine
            .load(path, settings, Planning::Off)
            .wait()
            .map_err(|e| e.to_string());
        (engine, info)
    }

    /// From now until the result is dropped, each event of `engine` (which waits at this gate)
    /// waits for [`Lockstep::handled`].
    pub fn start(&self, engine: &Engine) -> Stepping {
        // A handle returns its final event as soon as it is sent, a moment before the engine
        // thread calls its hook for it: a round trip to the engine thread makes sure that the
        // hook of an earlier request's last event is not taken for one of the next request's.
        let _ = engine.count_tokens("");
        let mut steps = self.0 .0.lock().unwrap();
        *steps = Steps {
            on: true,
            ..Steps::default()
        };
        Stepping(self.clone())
    }

    /// The test handled one more event: the engine thread may go on.
    pub fn handled(&self) {
        let (steps, changed) = &*self.0;
        steps.lock().unwrap().handled += 1;
        changed.notify_all();
    }

    /// On the engine thread, after each event: waits while the test has not handled it. A test
    /// that forgets an event makes the engine thread panic after [`TIMEOUT`], which the test
    /// sees as `EngineError::Stopped` with this message, instead of hanging.
    fn after_event(&self) {
        let (steps, changed) = &*self.0;
        let mut steps = steps.lock().unwrap();
        if !steps.on {
            return;
        }
        steps.sent += 1;
        let (_steps, waited) = changed
            .wait_timeout_while(steps, TIMEOUT, |s| s.on && s.handled < s.sent)
            .unwrap();
        assert!(
            !waited.timed_out(),
            "the test did not handle an engine event within {TIMEOUT:?}"
        );
    }
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

/// Starts `work` on a thread named `name` (threads are named, in tests as in the product).
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .expect("start a thread")
}

/// A PDF file of numbered objects (1 is the catalog), with its cross-reference table.
pub fn pdf_file(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A PDF-like document made of `pages`, each marked as the readers mark a page ("page 1", ...)
/// and separated by a blank line.
pub fn paged_document(name: &str, pages: &[impl AsRef<str>]) -> xgen_desk::documents::Document {
    use xgen_desk::documents::{Document, Format, Section, SectionKind};
    let mut text = String::new();
    let mut sections = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            text.push_str("\n\n");
        }
        sections.push(Section {
            offset: text.len(),
            kind: SectionKind::Page,
            label: format!("page {}", i + 1),
        });
        text.push_str(page.as_ref());
    }
    Document {
        name: name.to_owned(),
        format: Format::Pdf,
        text,
        sections,
        warnings: Vec::new(),
        ocr: None,
    }
}
