//! llama.cpp's process-wide setup, in one place: its log goes to `tracing` (filtered with
//! everything else, instead of straight to stderr), and its backend is initialised once.
//!
//! The quantizer (`xgen_quantize::llama_log`) puts its thread-capturing dispatcher in front of
//! whatever callback is installed, and reinstalls itself when someone replaces it, so routing
//! the log here first and quantizing later (or the other way round) both keep working.

#![allow(
    unsafe_code,
    reason = "llama.cpp's system information comes from its C API (llama_print_system_info)"
)]

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

/// The CPU features the linked llama.cpp was built to use, as its system information lists
/// them (`AVX2 FMA F16C …`), and its other switches that are on (`OPENMP`, `REPACK`, …).
#[must_use]
pub fn cpu_features() -> Vec<String> {
    // llama.cpp builds the text in one static string: one caller at a time.
    static CALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: llama_print_system_info takes nothing and returns a pointer to a static,
    // NUL-terminated string that stays valid until the next call, which the lock holds off
    // until the text is copied.
    let text = unsafe {
        let raw = llama_cpp_sys_2::llama_print_system_info();
        if raw.is_null() {
            return Vec::new();
        }
        std::ffi::CStr::from_ptr(raw).to_string_lossy().into_owned()
    };
    enabled_features(&text)
}

/// The `NAME = 1` entries of llama.cpp's system information text.
fn enabled_features(text: &str) -> Vec<String> {
    text.split('|')
        .filter_map(|entry| {
            let (name, value) = entry.split_once('=')?;
            let name = name.rsplit(':').next()?.trim();
            (value.trim() == "1" && !name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn features_are_read_from_the_system_information() {
        let text =
            "CPU : SSE3 = 1 | AVX = 1 | AVX_VNNI = 0 | AVX2 = 1 | OPENMP = 1 | REPACK = 1 | ";
        assert_eq!(
            super::enabled_features(text),
            ["SSE3", "AVX", "AVX2", "OPENMP", "REPACK"]
        );
        assert!(super::cpu_features().iter().any(|f| f == "OPENMP"));
    }
}
