//! `xgen-desk check FILE [--json]`: loads a GGUF and runs a token through it. It is also the
//! child process the app and `setup` use to check a file nobody vetted (`engine::check`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::output;
use crate::engine::check::{check_isolated, CheckReport};
use crate::isolate::Isolation;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The GGUF file.
    pub file: PathBuf,
    /// Print one JSON object (the model's facts, or the error).
    #[arg(long)]
    pub json: bool,
}

/// Runs `check`.
///
/// # Errors
/// A file that does not load (after printing it as JSON with `--json`).
pub fn run(args: &CheckArgs) -> Result<()> {
    if args.json {
        // The child's side: load here and answer in JSON (a crash ends only this process).
        let report = CheckReport::run(&args.file);
        output::line(&serde_json::to_string(&report)?)?;
        return match report.error {
            Some(error) => bail!("{} does not load: {error}", args.file.display()),
            None => Ok(()),
        };
    }
    // A person's check runs the JSON check in a child, so that a file that makes llama.cpp
    // abort is reported in words too.
    let isolation = Isolation::current()?;
    // The error names the file and what happened to the child.
    let info = check_isolated(&args.file, &isolation, &|| false)?;
    output::line(&format!(
        "{}: {} ({:.0}M parameters, {} tokens of context{}) loads and answers",
        args.file.display(),
        info.name,
        info.n_params as f64 / 1e6,
        info.n_ctx_train,
        if info.xgen {
            ", XGen prompt format"
        } else {
            ""
        }
    ))?;
    Ok(())
}
