//! llama.cpp's process-wide setup, in one place: its log goes to `tracing` (filtered with
//! everything else, instead of straight to stderr), the CPU code for this processor is chosen
//! and loaded (`xgen_cpu`), and its backend is initialised once.
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

/// The process-wide llama backend: llama.cpp may be initialised once per process. Its CPU code
/// ([`cpu_code`]) is loaded first.
///
/// # Errors
/// [`EngineError::CpuCode`] when no CPU code runs here (a processor older than the baseline,
/// an `XGEN_DESK_CPU` it cannot run, a damaged installation); [`EngineError::Stopped`] when
/// llama.cpp cannot initialise (nothing can run then).
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    cpu_code()?;
    BACKEND
        .get_or_init(|| LlamaBackend::init().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| EngineError::Stopped(format!("llama.cpp could not start: {reason}")))
}

/// The build of llama.cpp's CPU code this process runs, chosen for the processor (or forced by
/// `XGEN_DESK_CPU`) and loaded once, before llama.cpp loads a model; the choice goes to the log.
/// Where llama.cpp's backends are loadable modules (x86-64 Linux), a GPU build's GPU
/// backend is loaded with it.
///
/// # Errors
/// [`EngineError::CpuCode`]: see [`xgen_cpu::load`].
pub fn cpu_code() -> Result<&'static xgen_cpu::CpuCode, EngineError> {
    static LOGGED: Once = Once::new();
    route_logs();
    let code = xgen_cpu::load();
    load_gpu_backend();
    LOGGED.call_once(|| match &code {
        Ok(code) => tracing::info!("llama.cpp CPU code: {}", code.summary()),
        // The caller reports the error (the CLI prints it, the hardware panel shows it).
        Err(error) => tracing::debug!("llama.cpp CPU code: {error}"),
    });
    Ok(code?)
}

/// In a GPU build whose llama.cpp loads its backends as modules, loads the GPU backend's module
/// (once); elsewhere the GPU backend is linked in and this does nothing.
pub fn load_gpu_backend() {
    static LOADED: Once = Once::new();
    LOADED.call_once(|| {
        let module = if cfg!(feature = "cuda") {
            "cuda"
        } else if cfg!(feature = "vulkan") {
            "vulkan"
        } else {
            return;
        };
        route_logs();
        match xgen_cpu::load_backend(module) {
            Ok(Some(path)) => tracing::info!("llama.cpp GPU backend: {}", path.display()),
            Ok(None) if xgen_cpu::uses_modules() => {
                tracing::warn!("no ggml-{module} module next to the program: running on the CPU");
            }
            Ok(None) => {}
            Err(error) => tracing::warn!("{error}: running on the CPU"),
        }
    });
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
/// them (`AVX2 FMA F16C …`), and its other switches that are on (`OPENMP`, `REPACK`, …). Where
/// the CPU code is a module, it is loaded first ([`cpu_code`]); none are listed when it cannot be.
#[must_use]
pub fn cpu_features() -> Vec<String> {
    if cpu_code().is_err() {
        return Vec::new();
    }
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
