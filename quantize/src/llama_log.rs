//! A process-wide dispatcher for llama.cpp's log callback.
//!
//! llama.cpp has one global log callback. The dispatcher installs itself there once, remembers
//! the callback it replaced and forwards every message to it, so whatever logging the app set
//! up (stderr by default, or llama-cpp-2's tracing bridge) keeps working. On top of that a
//! thread can *capture* the messages logged on that thread only: llama.cpp logs quantization
//! progress on the thread that called `llama_model_quantize`, so a capture on that thread sees
//! exactly its own quantization, however many other threads log at the same time.

#![allow(
    unsafe_code,
    reason = "llama.cpp's log callback is a C function, installed and called through its C API"
)]

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

use llama_cpp_sys_2::{ggml_log_callback, ggml_log_level};

/// Severity of a llama.cpp log message (`ggml_log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `GGML_LOG_LEVEL_NONE`
    None,
    /// `GGML_LOG_LEVEL_DEBUG`
    Debug,
    /// `GGML_LOG_LEVEL_INFO`
    Info,
    /// `GGML_LOG_LEVEL_WARN`
    Warn,
    /// `GGML_LOG_LEVEL_ERROR`
    Error,
    /// `GGML_LOG_LEVEL_CONT`: continues the previous message.
    Cont,
}

impl LogLevel {
    #[allow(
        clippy::unnecessary_cast,
        reason = "`ggml_log_level` is `c_uint` here but `c_int` with MSVC"
    )]
    fn from_raw(level: ggml_log_level) -> Self {
        match level as u32 {
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Cont,
            _ => Self::None,
        }
    }
}

/// The callback the dispatcher replaced, as (function, user data address).
#[derive(Clone, Copy)]
struct Forward {
    callback: ggml_log_callback,
    user_data: usize,
}

/// `None` until the dispatcher is installed.
static FORWARD: Mutex<Option<Forward>> = Mutex::new(None);

type Capture = Box<dyn FnMut(LogLevel, &str)>;

thread_local! {
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

unsafe extern "C" fn dispatch(level: ggml_log_level, text: *const c_char, _user_data: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of the call.
    let c_text = unsafe { CStr::from_ptr(text) };
    let lvl = LogLevel::from_raw(level);
    // A panic must not unwind into C; a panicking capture is dropped.
    let captured = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        CAPTURE.with(|c| {
            if let Ok(mut slot) = c.try_borrow_mut() {
                if let Some(f) = slot.as_mut() {
                    f(lvl, &c_text.to_string_lossy());
                }
            }
        });
    }));
    if captured.is_err() {
        // Nothing can be reported from inside llama.cpp's logger; the line is lost.
    }
    let forward = FORWARD.lock().map_or(None, |g| *g);
    if let Some(Forward {
        callback: Some(cb),
        user_data,
    }) = forward
    {
        // SAFETY: forwarding to the callback (and user data) llama.cpp had before us, exactly
        // as llama.cpp would have called it.
        unsafe { cb(level, text, user_data as *mut c_void) };
    }
}

/// Installs the dispatcher as llama.cpp's log callback, unless it already is.
///
/// If someone replaced it since (e.g. llama-cpp-2's `send_logs_to_tracing`), the dispatcher is
/// installed again and forwards to that newer callback from then on.
pub fn install() {
    let Ok(mut forward) = FORWARD.lock() else {
        return;
    };
    let mut current: ggml_log_callback = None;
    let mut user_data: *mut c_void = std::ptr::null_mut();
    // SAFETY: both out-pointers are valid for writes.
    unsafe { llama_cpp_sys_2::llama_log_get(&raw mut current, &raw mut user_data) };
    let ours: unsafe extern "C" fn(ggml_log_level, *const c_char, *mut c_void) = dispatch;
    if current.is_some_and(|cb| std::ptr::fn_addr_eq(cb, ours)) {
        return;
    }
    *forward = Some(Forward {
        callback: current,
        user_data: user_data as usize,
    });
    // SAFETY: `dispatch` is a valid callback for the life of the process and ignores user data.
    unsafe { llama_cpp_sys_2::llama_log_set(Some(dispatch), std::ptr::null_mut()) };
}

/// While alive, llama.cpp messages logged on the thread that created it go to its closure
/// (as well as to the forwarded callback). Dropping it ends the capture.
pub struct ThreadCapture {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for ThreadCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadCapture")
    }
}

/// Installs the dispatcher and captures this thread's llama.cpp messages into `f`.
///
/// A capture already active on this thread is replaced.
pub fn capture_thread(f: impl FnMut(LogLevel, &str) + 'static) -> ThreadCapture {
    install();
    CAPTURE.with(|c| {
        if let Ok(mut slot) = c.try_borrow_mut() {
            *slot = Some(Box::new(f));
        }
    });
    ThreadCapture {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for ThreadCapture {
    fn drop(&mut self) {
        CAPTURE.with(|c| {
            if let Ok(mut slot) = c.try_borrow_mut() {
                *slot = None;
            }
        });
    }
}
