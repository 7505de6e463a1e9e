//! Checking a GGUF nobody vetted in a child process (`xgen-desk check --json FILE`): llama.cpp
//! aborts the whole process on some malformed files (`GGML_ASSERT`), so the first load of a
//! file happens where an abort ends only the child. A file that passed is recorded in the
//! installed-models registry and loads in-process afterwards.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{validate_model, EngineError, ModelInfo};
use crate::isolate::{Isolation, IsolationError};

/// Version of the JSON the child prints; the parent refuses any other.
pub const CHECK_PROTOCOL: u32 = 1;

/// What `xgen-desk check --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// [`CHECK_PROTOCOL`].
    pub version: u32,
    /// The model, when it loaded and produced a token.
    pub info: Option<ModelInfo>,
    /// Why it did not, in words.
    pub error: Option<String>,
}

impl CheckReport {
    /// Checks `path` in this process (the child's side).
    #[must_use]
    pub fn run(path: &Path) -> Self {
        match validate_model(path) {
            Ok(info) => Self {
                version: CHECK_PROTOCOL,
                info: Some(info),
                error: None,
            },
            Err(error) => Self {
                version: CHECK_PROTOCOL,
                info: None,
                error: Some(error.to_string()),
            },
        }
    }
}

/// The limits of a model check: the file loads into memory (no mapping on the CPU), so the
/// memory limit grows with it; loading a large model from a slow disk takes minutes.
#[must_use]
pub fn check_limits(isolation: &Isolation, path: &Path) -> Isolation {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    Isolation {
        wall: Duration::from_secs(15 * 60),
        memory_bytes: isolation
            .memory_bytes
            .max(size.saturating_mul(2).saturating_add(4 << 30)),
        ..isolation.clone()
    }
}

/// Loads `path` and runs a token through it in a child process of this program.
///
/// # Errors
/// [`EngineError::BadModelFile`] naming what happened to the child (llama.cpp aborted, ran out
/// of memory or time), or the load's own error.
pub fn check_isolated(
    path: &Path,
    isolation: &Isolation,
    cancelled: &dyn Fn() -> bool,
) -> Result<ModelInfo, EngineError> {
    let bad = |reason: String| EngineError::BadModelFile {
        path: path.to_path_buf(),
        reason,
    };
    let limits = check_limits(isolation, path);
    let args: [&OsStr; 3] = ["check".as_ref(), "--json".as_ref(), path.as_os_str()];
    let stdout = match limits.run(&args, cancelled) {
        Ok(stdout) => stdout,
        Err(IsolationError::Exited { stdout, .. }) if !stdout.is_empty() => stdout,
        Err(IsolationError::Cancelled) => return Err(EngineError::LoadCancelled),
        Err(error) => {
            return Err(bad(format!(
                "llama.cpp could not check it in a separate process: {error}"
            )))
        }
    };
    let report: CheckReport = serde_json::from_slice(&stdout)
        .map_err(|e| bad(format!("the check's answer could not be read: {e}")))?;
    if report.version != CHECK_PROTOCOL {
        return Err(bad(format!(
            "the check answered in version {} (expected {CHECK_PROTOCOL})",
            report.version
        )));
    }
    match (report.info, report.error) {
        (Some(info), _) => Ok(info),
        (None, Some(error)) => Err(bad(error)),
        (None, None) => Err(bad("the check said nothing".into())),
    }
}
