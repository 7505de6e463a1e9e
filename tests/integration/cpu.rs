//! The builds of llama.cpp's CPU code (`xgen_cpu`), run through the real binary: every level this
//! processor runs writes a summary, `--version` and the log say which level runs, and a level the
//! processor lacks is refused before anything runs.

use std::path::Path;
use std::process::{Command, Output};

use xgen_cpu::{CpuFeatures, Level};

/// `xgen-desk ARGS` with `XGEN_DESK_CPU` set to `level` (unset for `None`) and info logs.
fn xgen_desk(level: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xgen-desk"));
    command
        .args(args)
        .env("XGEN_DESK_LOG", "info,llama_cpp_2=error,llama-cpp-2=error");
    match level {
        Some(level) => command.env(xgen_cpu::OVERRIDE_VAR, level),
        None => command.env_remove(xgen_cpu::OVERRIDE_VAR),
    };
    let output = command.output().expect("run xgen-desk");
    println!(
        "$ XGEN_DESK_CPU={} xgen-desk {}\n{}{}",
        level.unwrap_or(""),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A greedy summary of a short report with the test model, at `level`.
fn summary_at(level: &str, notes: &Path) -> (String, String) {
    let model = crate::common::smollm2();
    let output = xgen_desk(
        Some(level),
        &[
            "summarize",
            &notes.to_string_lossy(),
            "--model",
            &model.to_string_lossy(),
            "--ctx",
            "1024",
            "--max-tokens",
            "16",
            "--greedy",
            "--threads",
            "2",
        ],
    );
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "summary at {level} failed:\n{stderr}"
    );
    (text(&output.stdout), stderr)
}

/// The levels this processor runs, lowest first.
fn runnable() -> Vec<Level> {
    let features = CpuFeatures::detect();
    Level::ALL
        .into_iter()
        .filter(|l| l.runs_on(&features))
        .collect()
}

/// Each build this processor runs writes a summary through the real binary, forced with
/// `XGEN_DESK_CPU`, and the log names it. The texts may differ after a near-tie (the builds round
/// differently); that they pick the same top token at every step is `xgen-cpu`'s `levels` test.
#[test]
fn every_level_this_processor_runs_summarizes_through_the_binary() {
    if !xgen_cpu::uses_modules() {
        // Apple silicon, ARM: one build inside the binary, nothing to choose.
        let output = xgen_desk(None, &["--version"]);
        assert!(output.status.success());
        assert!(text(&output.stdout).contains("CPU code: built in"));
        return;
    }
    let levels = runnable();
    // Every x86-64 machine this project builds on runs the baseline and v3.
    assert!(levels.len() >= 2, "{levels:?}");
    let dir = crate::common::temp_dir();
    let notes = dir.path().join("notes.txt");
    std::fs::write(
        &notes,
        "The town council met on Monday night. It approved a new bicycle lane on Main Street \
         and delayed the library budget until March, because the state grant has not arrived. \
         Residents spoke for and against the lane for two hours; shop owners feared losing \
         parking, parents wanted a safer way to school. The mayor promised a review after six \
         months.\n",
    )
    .unwrap();
    for level in &levels {
        let (summary, log) = summary_at(level.name(), &notes);
        assert!(!summary.trim().is_empty());
        // The log says which build ran, and that it was forced.
        assert!(
            log.contains(&format!("llama.cpp CPU code: {} (", level.name()))
                && log.contains("forced by XGEN_DESK_CPU"),
            "{log}"
        );
    }
}

/// `--version` names the level chosen for this processor; a forced level the processor lacks
/// is refused with the extensions it lacks, by `--version` and by a command that would run the
/// model, before anything runs.
#[test]
fn version_names_the_level_and_a_level_the_processor_lacks_is_refused() {
    let output = xgen_desk(None, &["--version"]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("xgen-desk {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let cpu_line = lines.next().unwrap_or_default();
    if !xgen_cpu::uses_modules() {
        assert!(cpu_line.starts_with("CPU code: built in"), "{cpu_line}");
        return;
    }
    let features = CpuFeatures::detect();
    let best = Level::best_for(&features).unwrap();
    assert!(
        cpu_line.starts_with(&format!(
            "CPU code: {} ({}), chosen for this processor; ",
            best.name(),
            best.label()
        )),
        "{cpu_line}"
    );
    assert!(cpu_line.contains("AMX"), "{cpu_line}");

    let model = crate::common::smollm2();
    let dir = crate::common::temp_dir();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "A short note.\n").unwrap();
    match Level::ALL.into_iter().find(|l| !l.runs_on(&features)) {
        Some(lacking) => {
            let missing = lacking.missing(&features).join(", ");
            let refusal =
                format!("XGEN_DESK_CPU={lacking} is refused: this processor lacks {missing}");
            let version = xgen_desk(Some(lacking.name()), &["--version"]);
            assert!(!version.status.success());
            assert!(text(&version.stderr).contains(&refusal));
            let summary = xgen_desk(
                Some(lacking.name()),
                &[
                    "summarize",
                    &notes.to_string_lossy(),
                    "--model",
                    &model.to_string_lossy(),
                    "--max-tokens",
                    "8",
                ],
            );
            assert!(!summary.status.success());
            assert!(text(&summary.stdout).is_empty());
            assert!(
                text(&summary.stderr).contains(&refusal),
                "{}",
                text(&summary.stderr)
            );
        }
        None => println!(
            "this processor runs every level; the refusal is pinned by xgen-cpu's unit tests"
        ),
    }
    // A name that is no level is refused the same way, on every processor.
    let unknown = xgen_desk(Some("native"), &["--version"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("XGEN_DESK_CPU=\"native\" is not a CPU level"));
}

/// The program, llama.cpp's libraries and the CPU modules copied into a folder whose name is not
/// ASCII (a per-user install under a user name like "Zoë" on Windows) still load the chosen
/// module: on Windows llama.cpp would read a `char` path in the wrong code page, so xgen-cpu
/// loads the module by its wide path first. Where the CPU code is built in (macOS, ARM), the
/// program alone runs from there and says so.
#[test]
fn the_modules_load_from_a_folder_whose_name_is_not_ascii() {
    let binary = Path::new(env!("CARGO_BIN_EXE_xgen-desk"));
    let built = binary.parent().unwrap();
    let dir = crate::common::temp_dir();
    let install = dir.path().join("Zoë Ångström 文档");
    std::fs::create_dir(&install).unwrap();
    let name = binary.file_name().unwrap().to_str().unwrap();
    let mut files = vec![name.to_owned()];
    if xgen_cpu::uses_modules() {
        // What an installer carries beside the binary (cpu/build.rs writes the list).
        let list = std::fs::read_to_string(built.join("xgen-desk-libs.txt")).unwrap();
        files.extend(list.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        assert!(files.len() > 4, "the libraries and the modules: {files:?}");
    }
    for file in &files {
        std::fs::copy(built.join(file), install.join(file)).unwrap();
    }
    let output = Command::new(install.join(name))
        .arg("--version")
        .env_remove(xgen_cpu::OVERRIDE_VAR)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let expected = if xgen_cpu::uses_modules() {
        let best = Level::best_for(&CpuFeatures::detect()).unwrap();
        format!(
            "CPU code: {} ({}), chosen for this processor",
            best.name(),
            best.label()
        )
    } else {
        "CPU code: built in".to_owned()
    };
    assert!(stdout.contains(&expected), "{stdout}{stderr}");
}
