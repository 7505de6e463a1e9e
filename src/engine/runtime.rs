//! llama.cpp's process-wide setup, in one place: its log goes to `tracing` (filtered with
//! everything else, instead of straight to stderr), and its backend is initialised once.
//!
//! The quantizer (`xgen_quantize::llama_log`) puts its thread-capturing dispatcher in front of
//! whatever callback is installed, and reinstalls itself when someone replaces it, so routing
//! the log here first and quantizing later (or the other way round) both keep working.

use std::sync::{Once, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;

use super::EngineError;

/// Sends llama.cpp's log to `tracing` (once per process).
pub fn route_logs() {
    static ROUTED: Once = Once::new();
    ROUTED.call_once(|| llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default()));
}

/// The process-wide llama backend: llama.cpp may be initialised once per process.
///
/// # Errors
/// [`EngineError::Stopped`] when llama.cpp cannot initialise (nothing can run then).
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            route_logs();
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| EngineError::Stopped(format!("llama.cpp could not start: {reason}")))
}

/// The GPU backend compiled into this build.
#[must_use]
pub fn gpu_backend() -> Option<&'static str> {
    if cfg!(feature = "cuda") {
        Some("CUDA")
    } else if cfg!(feature = "metal") {
        Some("Metal")
    } else if cfg!(feature = "vulkan") {
        Some("Vulkan")
    } else {
        None
    }
}
