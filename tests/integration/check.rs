//! The first load of a GGUF nobody vetted happens in a child process (`xgen-desk check`):
//! a file that makes llama.cpp abort ends only the child, and the error says why.

use std::process::Command;

use xgen_desk::engine::check::{check_isolated, CheckReport, CHECK_PROTOCOL};
use xgen_desk::engine::EngineError;
use xgen_desk::isolate::Isolation;

use crate::common::{aborting_gguf, smollm2, temp_dir};

fn isolation() -> Isolation {
    Isolation::with_exe(env!("CARGO_BIN_EXE_xgen-desk"))
}

#[test]
fn check_json_reports_a_good_model() {
    let out = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(["check", "--json"])
        .arg(smollm2())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: CheckReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.version, CHECK_PROTOCOL);
    let info = report.info.expect("the model checks");
    assert!(info.n_vocab > 40_000, "{info:?}");
    assert!(report.error.is_none());
}

#[test]
fn a_model_that_aborts_llama_cpp_ends_only_the_child_and_says_why() {
    let dir = temp_dir();
    let bad = aborting_gguf(dir.path());
    let error = check_isolated(&bad, &isolation(), &|| false).expect_err("the file is refused");
    let EngineError::BadModelFile { path, reason } = &error else {
        panic!("expected BadModelFile, got {error:?}");
    };
    assert_eq!(path, &bad);
    // The signal and llama.cpp's own last words, not a debugger's.
    assert!(reason.contains("abort"), "{reason}");
    assert!(reason.contains("id_to_token"), "{reason}");
    // The good model still checks after it (nothing of the crash is left behind).
    let info = check_isolated(&smollm2(), &isolation(), &|| false).expect("good model");
    assert!(info.n_ctx_train >= 2048, "{info:?}");
}

#[test]
fn the_human_check_names_the_file_and_exits_non_zero() {
    let dir = temp_dir();
    let missing = dir.path().join("nothing-here.gguf");
    let out = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("check")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing-here.gguf"), "{stderr}");
}
