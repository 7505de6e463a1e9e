//! GGUF F16 -> quantized GGUF through llama.cpp's `llama_model_quantize`, with progress taken
//! from its per-tensor log lines.

#![allow(
    unsafe_code,
    reason = "quantization is llama.cpp's C API (`llama_model_quantize`, the backend's init)"
)]

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{mpsc, Mutex, Once};

use xgen_fsio::{rename_durable, temp_path_beside};

use crate::llama_log::{self, LogLevel};

/// A llama.cpp quantization type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantType {
    /// `Q4_K_M` (llama ftype 15): the default, about 4.2 GB for XGen-7B.
    #[default]
    Q4KM,
    /// `Q4_0` (ftype 2).
    Q4_0,
    /// `Q5_K_M` (ftype 17).
    Q5KM,
    /// `Q8_0` (ftype 7).
    Q8_0,
    /// `F16` (ftype 1): a copy.
    F16,
}

impl QuantType {
    /// All supported types.
    pub const ALL: [Self; 5] = [Self::Q4KM, Self::Q4_0, Self::Q5KM, Self::Q8_0, Self::F16];

    /// The `llama_ftype` value.
    #[must_use]
    pub fn ftype(self) -> u32 {
        match self {
            Self::Q4KM => 15,
            Self::Q4_0 => 2,
            Self::Q5KM => 17,
            Self::Q8_0 => 7,
            Self::F16 => 1,
        }
    }

    /// The lower-case name (`"q4_k_m"`), as parsed by [`FromStr`].
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Q4KM => "q4_k_m",
            Self::Q4_0 => "q4_0",
            Self::Q5KM => "q5_k_m",
            Self::Q8_0 => "q8_0",
            Self::F16 => "f16",
        }
    }
}

impl std::fmt::Display for QuantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`QuantType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantization type {0:?} (expected q4_k_m, q4_0, q5_k_m, q8_0 or f16)")]
pub struct ParseQuantTypeError(pub String);

impl FromStr for QuantType {
    type Err = ParseQuantTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|q| q.as_str() == lower)
            .ok_or_else(|| ParseQuantTypeError(s.to_owned()))
    }
}

/// A progress event of [`quantize_gguf`]: llama.cpp started on a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeProgress {
    /// 1-based index of the tensor, as llama.cpp counts.
    pub tensor_index: usize,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Tensor name.
    pub name: String,
    /// Its type in the input (e.g. `f16`).
    pub input_type: String,
}

/// What [`quantize_gguf`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeSummary {
    /// The quantized GGUF.
    pub path: PathBuf,
    /// Input size in bytes.
    pub input_size: u64,
    /// Output size in bytes.
    pub output_size: u64,
    /// Progress events seen.
    pub tensors_seen: usize,
}

/// Errors of [`quantize_gguf`].
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The input GGUF does not exist.
    #[error("input GGUF {0} does not exist")]
    MissingInput(PathBuf),
    /// A path that cannot be passed to C (contains NUL).
    #[error("path {0} contains a NUL byte")]
    BadPath(PathBuf),
    /// llama.cpp returned non-zero.
    #[error("llama.cpp failed to quantize {input} to {quant} (code {code}){}", message_suffix(.message))]
    Failed {
        /// The input GGUF.
        input: PathBuf,
        /// The requested type.
        quant: QuantType,
        /// llama_model_quantize's return value.
        code: u32,
        /// llama.cpp's error log lines during the call.
        message: String,
    },
    /// The quantizing thread panicked.
    #[error("quantization of {0} panicked")]
    Panicked(PathBuf),
    /// Renaming or inspecting the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Parses llama.cpp's `[   i/   n] name - [shape], type =    f16, ` line.
#[must_use]
pub fn parse_progress_line(text: &str) -> Option<QuantizeProgress> {
    let rest = text.trim_start().strip_prefix('[')?;
    let (counts, rest) = rest.split_once(']')?;
    let (i, n) = counts.split_once('/')?;
    let tensor_index = i.trim().parse().ok()?;
    let tensor_count = n.trim().parse().ok()?;
    let (name, rest) = rest.split_once(" - [")?;
    let (_, rest) = rest.split_once("type =")?;
    let input_type = rest.split(',').next()?.trim().to_owned();
    Some(QuantizeProgress {
        tensor_index,
        tensor_count,
        name: name.trim().to_owned(),
        input_type,
    })
}

/// llama.cpp's quantizer keeps global state (its log callback, quantization tables): one at a
/// time per process.
static QUANTIZE_LOCK: Mutex<()> = Mutex::new(());

fn backend_init() {
    static INIT: Once = Once::new();
    // SAFETY: llama_backend_init only initializes timers, f16 tables and backend registry;
    // repeated calls (e.g. also from llama-cpp-2's LlamaBackend) are harmless.
    INIT.call_once(|| unsafe { llama_cpp_sys_2::llama_backend_init() });
}

enum Msg {
    Progress(QuantizeProgress),
    Done(u32, String),
}

/// Quantizes the GGUF at `input` to `quant` with `nthread` threads (0 = all cores), writing a
/// temporary file beside `output` (unique to this process and call, so two quantizations to
/// the same `output` never share one) and renaming it durably to `output` on success.
///
/// llama.cpp runs on an internal worker thread; `progress` is called on the calling thread as
/// llama.cpp starts each tensor. The calling thread blocks until the end (llama.cpp has no
/// cancel), so call this from a worker thread in a UI.
///
/// # Errors
/// [`QuantizeError::MissingInput`], [`QuantizeError::Failed`] (with llama.cpp's error text),
/// [`QuantizeError::Io`].
pub fn quantize_gguf(
    input: &Path,
    output: &Path,
    quant: QuantType,
    nthread: usize,
    mut progress: impl FnMut(QuantizeProgress),
) -> Result<QuantizeSummary, QuantizeError> {
    let input_size = std::fs::metadata(input)
        .map_err(|_| QuantizeError::MissingInput(input.to_path_buf()))?
        .len();
    let partial = temp_path_beside(output, "partial");
    let c_in = path_cstring(input)?;
    let c_out = path_cstring(&partial)?;
    let _guard = QUANTIZE_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    backend_init();

    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tensors_seen = 0usize;
    let outcome = std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("llama-quantize".to_owned())
            .spawn_scoped(s, move || {
                let errors = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
                let errors_in = std::rc::Rc::clone(&errors);
                let progress_tx = tx.clone();
                let capture = llama_log::capture_thread(move |level, text| match level {
                    LogLevel::Error => errors_in.borrow_mut().push_str(text.trim()),
                    _ => {
                        if let Some(p) = parse_progress_line(text) {
                            progress_tx.send(Msg::Progress(p)).ok();
                        }
                    }
                });
                // SAFETY: default params from llama.cpp, then plain fields set; the C strings
                // outlive the call.
                let code = unsafe {
                    let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
                    params.nthread = i32::try_from(nthread).unwrap_or(0);
                    params.ftype = quant.ftype() as _;
                    llama_cpp_sys_2::llama_model_quantize(
                        c_in.as_ptr(),
                        c_out.as_ptr(),
                        &raw const params,
                    )
                };
                drop(capture);
                let message = errors.borrow().clone();
                tx.send(Msg::Done(code, message)).ok();
            });
        let worker = match worker {
            Ok(w) => w,
            Err(source) => {
                return Err(QuantizeError::Io {
                    path: input.to_path_buf(),
                    source,
                })
            }
        };
        let mut result = None;
        for msg in &rx {
            match msg {
                Msg::Progress(p) => {
                    tensors_seen += 1;
                    progress(p);
                }
                Msg::Done(code, message) => {
                    result = Some((code, message));
                    break;
                }
            }
        }
        let panicked = worker.join().is_err();
        match result {
            Some(r) if !panicked => Ok(r),
            _ => Err(QuantizeError::Panicked(input.to_path_buf())),
        }
    });
    let (code, message) = match outcome {
        Ok(r) => r,
        Err(e) => {
            xgen_fsio::remove_quietly(&partial);
            return Err(e);
        }
    };
    if code != 0 {
        xgen_fsio::remove_quietly(&partial);
        return Err(QuantizeError::Failed {
            input: input.to_path_buf(),
            quant,
            code,
            message,
        });
    }
    // llama.cpp does not fsync what it wrote: the data must be on disk before the rename
    // makes it the output.
    let synced = xgen_fsio::sync_file(&partial);
    if let Err(source) = synced.and_then(|()| rename_durable(&partial, output)) {
        xgen_fsio::remove_quietly(&partial);
        return Err(QuantizeError::Io {
            path: output.to_path_buf(),
            source,
        });
    }
    let output_size = std::fs::metadata(output)
        .map_err(|source| QuantizeError::Io {
            path: output.to_path_buf(),
            source,
        })?
        .len();
    Ok(QuantizeSummary {
        path: output.to_path_buf(),
        input_size,
        output_size,
        tensors_seen,
    })
}

fn path_cstring(path: &Path) -> Result<CString, QuantizeError> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    // llama.cpp takes UTF-8 paths on Windows.
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().as_bytes().to_vec();
    CString::new(bytes).map_err(|_| QuantizeError::BadPath(path.to_path_buf()))
}
