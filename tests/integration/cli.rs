//! The built `xgen-desk` binary, run as a person would: `setup` downloads a tiny XGen-shaped
//! checkpoint published under the default model's name from the loopback Hub, converts,
//! quantizes and installs it; `models` lists it; `summarize` runs with it.

use std::path::Path;
use std::process::{Command, Output};

use xgen_desk::catalog;

use crate::mock_hub::{MockHub, MockRepo};

const COMMIT: &str = "feedfacefeedfacefeedfacefeedfacefeedface";

/// Runs the binary with its data under `home` and the Hub at `mock`; nothing of this machine's
/// own Hugging Face setup leaks in.
fn xgen_desk(home: &Path, mock: &MockHub, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(args)
        .env("XGEN_DESK_HOME", home)
        .env("HF_ENDPOINT", mock.endpoint())
        .env("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("XGEN_DESK_MODEL")
        .output()
        .expect("run xgen-desk");
    println!(
        "$ xgen-desk {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `stderr` has a progress line of `stage` at 100 %.
fn stage_finished(stderr: &str, stage: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.starts_with(&format!("[{stage}]")) && l.contains("100%"))
}

#[test]
fn setup_binary_installs_from_the_hub_then_summarize_uses_it() {
    let model = catalog::default_model();
    let mock = MockHub::start(vec![MockRepo::tiny_xgen(model, COMMIT, 3)]);
    let home = crate::common::temp_dir();

    // The real free-disk check runs: the estimate comes from the files the Hub serves.
    let setup = xgen_desk(home.path(), &mock, &["setup"]);
    let stderr = text(&setup.stderr);
    assert!(setup.status.success(), "setup failed:\n{stderr}");
    for stage in ["download", "convert", "quantize", "verify"] {
        assert!(stage_finished(&stderr, stage), "no finished {stage} line");
    }
    assert!(
        stderr.contains("installed XGen-7B-8K-Inst Q4_K_M"),
        "{stderr}"
    );
    let installed = text(&setup.stdout).trim().to_owned();
    assert_eq!(
        Path::new(&installed),
        home.path().join("models/xgen-7b-8k-inst-q4_k_m.gguf")
    );
    assert!(Path::new(&installed).is_file());
    assert!(
        !home.path().join("work").join(model.id).exists(),
        "intermediate files removed"
    );

    let models = xgen_desk(home.path(), &mock, &["models"]);
    assert!(models.status.success());
    let listed = text(&models.stdout);
    let line = listed
        .lines()
        .find(|l| l.contains("xgen-7b-8k-inst-q4_k_m"))
        .unwrap_or_else(|| panic!("not listed:\n{listed}"));
    assert!(
        line.contains("Q4_K_M") && line.contains(&installed),
        "{line}"
    );

    // With no --model, summarize uses the installed XGen.
    let document = home.path().join("notes.txt");
    std::fs::write(
        &document,
        "The committee met on Tuesday. It approved the budget and postponed the vote on the \
         new library until spring.\n",
    )
    .unwrap();
    let document = document.to_string_lossy().into_owned();
    let summary = xgen_desk(
        home.path(),
        &mock,
        &[
            "summarize",
            &document,
            "--greedy",
            "--max-tokens",
            "8",
            "--ctx",
            "1024",
            "--threads",
            "2",
        ],
    );
    assert!(
        summary.status.success(),
        "summarize failed:\n{}",
        text(&summary.stderr)
    );

    // A second run finds it installed and fetches nothing.
    mock.clear_requests();
    let again = xgen_desk(home.path(), &mock, &["setup"]);
    let stderr = text(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("already installed"), "{stderr}");
    assert!(!stderr.contains("[convert]"), "{stderr}");
    assert_eq!(text(&again.stdout).trim(), installed);
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.method != "GET" || r.path.starts_with("/api/")),
        "nothing downloaded again"
    );
}

#[test]
fn setup_binary_names_a_missing_shard_and_installs_nothing() {
    let model = catalog::default_model();
    let missing = "model-00002-of-00003.safetensors";
    let mut repo = MockRepo::tiny_xgen(model, COMMIT, 3);
    repo.files.retain(|f| f.name != missing);
    let mock = MockHub::start(vec![repo]);
    let home = crate::common::temp_dir();

    let setup = xgen_desk(home.path(), &mock, &["setup"]);
    let stderr = text(&setup.stderr);
    assert_eq!(setup.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: setting up xgen-7b-8k-inst failed"),
        "{stderr}"
    );
    assert!(stderr.contains(missing), "the shard is named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(setup.stdout.is_empty());

    let models = xgen_desk(home.path(), &mock, &["models"]);
    assert!(text(&models.stdout).contains("none yet"));
}

/// File managers start the app as `xgen-desk FILE` ("Open with", the installers' file types).
#[test]
fn a_document_argument_opens_the_app_and_subcommands_still_parse() {
    use clap::Parser;
    use xgen_desk::cli::args::{Cli, Commands};

    let cli = Cli::try_parse_from(["xgen-desk", "/home/me/notes.pdf"]).expect("a document");
    assert!(cli.command.is_none(), "the app opens");
    assert_eq!(cli.documents, [Path::new("/home/me/notes.pdf")]);
    let cli = Cli::try_parse_from(["xgen-desk", "models"]).expect("a subcommand");
    assert!(matches!(cli.command, Some(Commands::Models)));
    assert!(cli.documents.is_empty());
    let cli = Cli::try_parse_from(["xgen-desk"]).expect("nothing");
    assert!(cli.command.is_none() && cli.documents.is_empty());
}

/// The code's lists of summary styles and document formats are the one source: the README and
/// the installers' file associations name every entry, so a new style or format fails here
/// until the docs and the installers say so.
#[test]
fn the_readme_and_the_installers_name_every_style_and_format() {
    use clap::ValueEnum as _;
    use xgen_desk::documents::Format;
    use xgen_desk::prompt::SummaryStyle;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let styles: Vec<String> = SummaryStyle::value_variants()
        .iter()
        .filter_map(|s| s.to_possible_value())
        .map(|v| v.get_name().to_owned())
        .collect();
    let style_flag = format!("`--style {}`", styles.join("\\|"));
    assert!(readme.contains(&style_flag), "README lacks {style_flag}");
    for list in [
        Format::usual_extensions(", ", ", "),
        Format::usual_extensions(", ", " and "),
    ] {
        assert!(readme.contains(&list), "README lacks {list}");
    }
    let associations = std::fs::read_to_string(root.join("packaging/Packager.toml")).unwrap();
    for format in Format::all() {
        let usual = format.extensions()[0];
        let quoted = format!("`.{usual}`");
        assert!(
            readme.contains(&quoted),
            "README's installers lack {quoted}"
        );
        // Images are read when opened in the app or named on the command line, but the
        // installers do not register xgen-desk for every PNG and JPEG (it would join the
        // system's image viewers, and on Windows could become their default).
        if *format == Format::Image {
            continue;
        }
        let entry = format!("extensions = [\"{usual}\"");
        assert!(
            associations.contains(&entry),
            "packaging/Packager.toml has no file association for {format:?}: {entry}"
        );
    }
}
