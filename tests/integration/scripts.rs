//! The scripts CI runs on each OS, run here as macOS and Windows would run them: the OS is
//! switched with `XGEN_DESK_OS` and `XGEN_DESK_DRY_RUN=1` prints the long commands instead of
//! running them (`scripts/lib/os.sh`), so the branches those runners take are exercised on
//! Linux. Unix only: on Windows `bash` may name WSL's rather than Git's.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;

/// Runs `script` (a path under the repository) with `args` as `os` would, in dry-run mode;
/// returns its standard error, where the scripts say what they do.
fn dry_run(os: &str, script: &str, args: &[&str], path: Option<&str>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new("bash");
    command
        .arg(root.join(script))
        .args(args)
        .current_dir(root)
        .env("XGEN_DESK_OS", os)
        .env("XGEN_DESK_DRY_RUN", "1");
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command.output().expect("run bash");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("$ XGEN_DESK_OS={os} {script} {}\n{stderr}", args.join(" "));
    assert!(
        output.status.success(),
        "{script} failed as {os}:\n{stderr}"
    );
    stderr
}

#[test]
fn test_command_runs_the_linux_installers_only_on_linux() {
    for os in ["macos", "windows"] {
        let log = dry_run(os, "scripts/test.sh", &[], None);
        assert!(log.contains(&format!("test: {os}")), "{log}");
        assert!(
            log.contains(&format!("setup-deps: nothing to install on {os}")),
            "{log}"
        );
        assert!(
            log.contains("would run: cargo test --workspace --no-fail-fast"),
            "{log}"
        );
        for lint in [
            "would run: scripts/llama-cpp-tools.sh server",
            "would run: cargo fmt --all --check",
            "would run: cargo clippy --workspace --all-targets -- -D warnings",
        ] {
            assert!(log.contains(lint), "{log}");
        }
        assert!(log.contains("no Linux installer round trip"), "{log}");
        for linux_only in [
            "apt-get",
            "dpkg",
            "package-deb-test",
            "package-appimage-test",
        ] {
            assert!(!log.contains(linux_only), "{os} ran {linux_only}:\n{log}");
        }
    }
    let log = dry_run("linux", "scripts/test.sh", &["--", "--skip", "x"], None);
    assert!(
        log.contains("would run: cargo test --workspace --no-fail-fast -- --skip x"),
        "{log}"
    );
    assert!(
        log.contains("would run: scripts/package-deb-test.sh --profile dev --no-build"),
        "{log}"
    );
    assert!(
        log.contains("would run: scripts/package-appimage-test.sh --profile dev --no-build"),
        "{log}"
    );
}

/// x86-64 only: the levels are x86-64's, and the script refuses them elsewhere.
#[cfg(target_arch = "x86_64")]
#[test]
fn reference_llama_bench_of_a_cpu_level_has_exactly_that_levels_instruction_sets() {
    // llama.cpp's CPU builds xgen-desk ships (cpu/src/lib.rs): sse42, haswell, skylakex and
    // cascadelake; every switch is set, since llama.cpp turns the AVX2 ones on by default.
    let cases: [(&str, &[&str], &[&str]); 3] = [
        ("baseline", &["SSE42"], &["AVX", "AVX2", "FMA", "AVX512"]),
        (
            "v3",
            &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"],
            &["AVX512", "AVX_VNNI", "AMX_TILE"],
        ),
        (
            "avx512-vnni",
            &["AVX2", "AVX512", "AVX512_VNNI"],
            &["AVX512_VBMI", "AVX512_BF16", "AMX_TILE", "AMX_INT8"],
        ),
    ];
    for (level, on, off) in cases {
        let log = dry_run(
            "linux",
            "scripts/llama-cpp-tools.sh",
            &["bench", level],
            None,
        );
        let configure = log
            .lines()
            .find(|line| line.starts_with("would run: cmake -S"))
            .unwrap_or_else(|| panic!("no configure step for {level}:\n{log}"));
        assert!(
            configure.contains(&format!("build-{level} ")),
            "{configure}"
        );
        assert!(configure.contains("-DGGML_NATIVE=OFF"), "{configure}");
        for switch in on {
            assert!(
                configure.contains(&format!("-DGGML_{switch}=ON")),
                "{level}: {configure}"
            );
        }
        for switch in off {
            assert!(
                configure.contains(&format!("-DGGML_{switch}=OFF")),
                "{level}: {configure}"
            );
        }
    }
    let native = dry_run("linux", "scripts/llama-cpp-tools.sh", &["bench"], None);
    assert!(native.contains("-DGGML_NATIVE=ON"), "{native}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unknown = Command::new("bash")
        .arg(root.join("scripts/llama-cpp-tools.sh"))
        .args(["bench", "avx10"])
        .current_dir(root)
        .env("XGEN_DESK_DRY_RUN", "1")
        .output()
        .expect("run bash");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("usage:"),
        "{unknown:?}"
    );
}

#[test]
fn package_script_makes_each_os_installer_from_a_build_without_the_test_kit() {
    let build = "would run: cargo build --workspace --exclude xgen-testkit --release";
    // The configuration is packaging/Packager.toml, or a JSON copy of it that adds llama.cpp's
    // libraries as resources when a release build left their list (x86-64 Linux).
    let packager_line = |log: &str, formats: &str| {
        log.lines().any(|l| {
            l.starts_with("would run: cargo packager -c ")
                && l.ends_with(&format!(" --formats {formats}"))
        })
    };
    for (os, formats) in [("macos", "app,dmg"), ("linux", "deb")] {
        let log = dry_run(os, "scripts/package.sh", &[], None);
        assert!(log.contains(build), "{log}");
        assert!(packager_line(&log, formats), "{log}");
        assert!(!log.contains("package-appimage"), "{log}");
        assert!(!log.contains("package-nsis"), "{log}");
    }
    let log = dry_run("macos", "scripts/package.sh", &[], None);
    assert!(
        log.contains("would run: cargo packager -c packaging/Packager.toml --formats app,dmg\n"),
        "macOS packages carry no libraries: {log}"
    );
    // Windows: the setup .exe comes from the project's NSIS script (the same one
    // scripts/test-windows.sh installs under Wine), not from cargo-packager.
    let log = dry_run("windows", "scripts/package.sh", &[], None);
    assert!(log.contains(build), "{log}");
    assert!(
        log.contains(
            "would run: scripts/package-nsis.sh --binary target/release/xgen-desk.exe \
             --out-dir target/packages\n"
        ),
        "{log}"
    );
    assert!(!log.contains("cargo packager"), "{log}");
    // CI's Linux package job: cargo-packager makes the .deb, the AppImage is assembled
    // offline by its own script from the same binary.
    let log = dry_run(
        "linux",
        "scripts/package.sh",
        &["--formats", "deb,appimage", "--features", "vulkan"],
        None,
    );
    assert!(
        log.contains(&format!("{build} --features xgen-desk/vulkan")),
        "{log}"
    );
    assert!(packager_line(&log, "deb"), "{log}");
    assert!(
        log.contains("would run: scripts/package-appimage.sh --profile release --no-build"),
        "{log}"
    );
}

/// macOS has no `sha256sum` (nor does a minimal Windows shell need one), and neither has apt:
/// the test model, the OCR models and the real PDFs are checked (and the Debian packages
/// unpacked) in Python. Stand-ins that fail and leave a mark take their names on the PATH.
#[test]
fn fetching_models_and_real_pdfs_needs_no_sha256sum_nor_apt() {
    crate::common::smollm2();
    let stubs = crate::common::temp_dir();
    let marker = stubs.path().join("called");
    for tool in ["sha256sum", "shasum", "apt-get", "dpkg-deb", "ar"] {
        let stub = stubs.path().join(tool);
        std::fs::write(
            &stub,
            format!("#!/bin/sh\necho {tool} >> '{}'\nexit 1\n", marker.display()),
        )
        .unwrap();
        let mut permissions = std::fs::metadata(&stub).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&stub, permissions).unwrap();
    }
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for os in ["macos", "windows", "linux"] {
        for script in [
            "scripts/fetch-test-models.sh",
            "scripts/fetch-ocr-models.sh",
            "scripts/fetch-real-pdfs.sh",
        ] {
            dry_run(os, script, &[], Some(&path));
        }
    }
    assert!(!marker.exists(), "a sha256 tool or apt was called");
}
