//! How the CPU level is chosen, on the extension sets of real processors and on this one: the
//! best level, a forced level, refusals, the summary line, and the AMX question to the kernel.
//! (An integration test rather than unit tests, so that it builds with the workspace's feature
//! set: `cargo test -p xgen-cpu -p xgen-desk --test choice` reuses the llama.cpp build.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test, with its message"
)]

use xgen_cpu::{amx, choose, Amx, CpuError, CpuFeatures, Level, KNOWN};

/// Extensions of real processors (the subset of `xgen_cpu::KNOWN` they have).
const CORE2: &[&str] = &[]; // SSSE3 and SSE4.1 at most
const NEHALEM: &[&str] = &["sse4.2", "popcnt"];
const ZEN3: &[&str] = &["sse4.2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi2"];
const ALDER_LAKE: &[&str] = &[
    "sse4.2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi2", "avxvnni",
];
const SKYLAKE_X: &[&str] = &[
    "sse4.2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512cd", "avx512vl",
    "avx512dq", "avx512bw",
];
const ZEN4: &[&str] = &[
    "sse4.2",
    "popcnt",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512cd",
    "avx512vl",
    "avx512dq",
    "avx512bw",
    "avx512vnni",
    "avx512vbmi",
    "avx512bf16",
    "avxvnni",
];
const SAPPHIRE_RAPIDS: &[&str] = &[
    "sse4.2",
    "popcnt",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512cd",
    "avx512vl",
    "avx512dq",
    "avx512bw",
    "avx512vnni",
    "avx512vbmi",
    "avx512bf16",
    "avxvnni",
    "amx-tile",
    "amx-int8",
    "amx-bf16",
];

fn cpu(names: &[&str]) -> CpuFeatures {
    CpuFeatures::from_names(names)
}

#[test]
fn each_processor_gets_the_best_level_it_runs() {
    assert_eq!(Level::best_for(&cpu(CORE2)), None);
    assert_eq!(Level::best_for(&cpu(NEHALEM)), Some(Level::Baseline));
    assert_eq!(Level::best_for(&cpu(ZEN3)), Some(Level::V3));
    assert_eq!(Level::best_for(&cpu(ALDER_LAKE)), Some(Level::V3));
    assert_eq!(Level::best_for(&cpu(SKYLAKE_X)), Some(Level::Avx512));
    assert_eq!(Level::best_for(&cpu(ZEN4)), Some(Level::Avx512Vnni));
    assert_eq!(
        Level::best_for(&cpu(SAPPHIRE_RAPIDS)),
        Some(Level::Avx512Vnni)
    );
    // A processor with AVX-512 whose operating system does not save the ZMM registers
    // reports no avx512f to `is_x86_feature_detected!`: it gets v3, never AVX-512 code.
    let no_zmm_state: Vec<&str> = ZEN4
        .iter()
        .copied()
        .filter(|f| !f.starts_with("avx512"))
        .collect();
    assert_eq!(Level::best_for(&cpu(&no_zmm_state)), Some(Level::V3));
}

#[test]
fn every_level_needs_more_than_the_one_below_and_only_extensions_the_probe_knows() {
    let mut below: Vec<&str> = Vec::new();
    for level in Level::ALL {
        let needs: Vec<&str> = level.requires().collect();
        assert!(
            needs.iter().all(|f| KNOWN.contains(f)),
            "{level:?} needs {needs:?}, not all in {KNOWN:?}"
        );
        assert!(
            needs.len() > below.len() && needs.starts_with(&below),
            "{level:?}: {needs:?} after {below:?}"
        );
        // A processor with exactly these extensions runs this level and none above it.
        assert_eq!(Level::best_for(&cpu(&needs)), Some(level));
        below = needs;
    }
}

#[test]
fn without_an_override_the_best_level_is_chosen() {
    let choice = choose(&cpu(ZEN4), None).unwrap();
    assert_eq!(
        (choice.level, choice.best, choice.forced),
        (Level::Avx512Vnni, Level::Avx512Vnni, false)
    );
    assert_eq!(choose(&cpu(ZEN3), Some("  ")).unwrap().level, Level::V3);
}

#[test]
fn a_forced_level_the_processor_runs_is_used() {
    for (name, level) in [
        ("baseline", Level::Baseline),
        ("V3", Level::V3),
        ("avx512", Level::Avx512),
    ] {
        let choice = choose(&cpu(ZEN4), Some(name)).unwrap();
        assert_eq!(
            (choice.level, choice.best, choice.forced),
            (level, Level::Avx512Vnni, true)
        );
        assert!(
            choice
                .summary()
                .contains("forced by XGEN_DESK_CPU (this processor runs avx512-vnni)"),
            "{}",
            choice.summary()
        );
    }
}

#[test]
fn a_forced_level_the_processor_lacks_is_refused() {
    let error = choose(&cpu(ZEN3), Some("avx512")).unwrap_err();
    assert_eq!(
        error,
        CpuError::Unsupported {
            level: Level::Avx512,
            missing: vec!["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
            runnable: vec![Level::Baseline, Level::V3],
        }
    );
    assert_eq!(
        error.to_string(),
        "XGEN_DESK_CPU=avx512 is refused: this processor lacks avx512f, avx512cd, avx512vl, \
         avx512dq, avx512bw (it runs baseline, v3); unset XGEN_DESK_CPU or choose one it runs"
    );
    let error = choose(&cpu(SKYLAKE_X), Some("avx512-vnni")).unwrap_err();
    assert!(
        matches!(&error, CpuError::Unsupported { missing, .. } if missing == &["avx512vnni"]),
        "{error}"
    );
}

#[test]
fn an_unknown_level_is_refused() {
    let error = choose(&cpu(ZEN4), Some("native")).unwrap_err();
    assert_eq!(error, CpuError::UnknownLevel("native".to_owned()));
    assert!(error
        .to_string()
        .contains("use baseline, v3, avx512 or avx512-vnni"));
}

#[test]
fn a_processor_older_than_the_baseline_is_told_so() {
    let error = choose(&cpu(CORE2), None).unwrap_err();
    assert_eq!(
        error,
        CpuError::TooOld {
            missing: vec!["sse4.2"]
        }
    );
    assert!(error
        .to_string()
        .starts_with("this processor is too old for the local engine: it lacks sse4.2"));
    // Forcing changes nothing there.
    assert!(matches!(
        choose(&cpu(CORE2), Some("baseline")),
        Err(CpuError::TooOld { .. })
    ));
}

#[test]
fn the_summary_names_the_level_unused_extensions_and_amx() {
    let mut choice = choose(&cpu(SAPPHIRE_RAPIDS), None).unwrap();
    choice.amx = Amx::Refused("Operation not supported (os error 95)".to_owned());
    assert_eq!(
        choice.summary(),
        "avx512-vnni (AVX-512 with VNNI), chosen for this processor; BF16 in the processor, \
         unused; AMX not granted by the kernel (Operation not supported (os error 95))"
    );
    let choice = choose(&cpu(ALDER_LAKE), None).unwrap();
    assert_eq!(
        choice.summary(),
        "v3 (x86-64-v3: AVX2, FMA, F16C), chosen for this processor; AVX-VNNI in the \
         processor, unused; AMX not in this processor"
    );
}

#[test]
fn this_processor_gets_a_level_it_runs() {
    let features = CpuFeatures::detect();
    if cfg!(target_arch = "x86_64") {
        // Every x86-64 machine this project builds on has SSE4.2.
        let choice = choose(&features, None).unwrap();
        assert!(choice.level.runs_on(&features));
        assert_eq!(Some(choice.level), Level::best_for(&features));
        for level in Level::ALL {
            let forced = choose(&features, Some(level.name()));
            assert_eq!(forced.is_ok(), level <= choice.best, "{level}: {forced:?}");
        }
    } else {
        assert_eq!(features, CpuFeatures::default());
    }
}

/// The AMX question to the kernel: on a processor without AMX the kernel refuses (this is
/// the path the development machines take), and the probe does not ask; with AMX it asks and
/// reports either answer.
#[test]
fn the_amx_probe_asks_the_kernel_only_where_the_processor_has_amx() {
    let features = CpuFeatures::detect();
    let has_amx = features.has("amx-tile") && features.has("amx-int8");
    let probe = Amx::probe(&features);
    if !has_amx {
        assert_eq!(probe, Amx::NotInProcessor);
    } else {
        assert_ne!(probe, Amx::NotInProcessor);
    }
    match amx::request_tile_state() {
        Some(answer) if !has_amx => {
            let error =
                answer.expect_err("a kernel grants AMX tile data to a processor without AMX");
            // EOPNOTSUPP (Linux 5.16 and later: no such state on this processor) or EINVAL
            // (older kernels: no such request).
            let code = error.raw_os_error().unwrap();
            assert!(code == libc_eopnotsupp() || code == 22, "{error}");
            assert_eq!(
                Amx::Refused(error.to_string()).describe(),
                format!("AMX not granted by the kernel ({error})")
            );
        }
        Some(answer) => println!("AMX tile data: {answer:?}"),
        None => assert!(
            !uses_linux_x86_64(),
            "the AMX request is made on x86-64 Linux"
        ),
    }
}

/// Whether this is x86-64 Linux, where the AMX request exists (a function, not a constant
/// assertion).
fn uses_linux_x86_64() -> bool {
    std::env::consts::OS == "linux" && std::env::consts::ARCH == "x86_64"
}

fn libc_eopnotsupp() -> i32 {
    95
}
