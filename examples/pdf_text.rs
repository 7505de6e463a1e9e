//! The PDF study's driver (`scripts/pdf-study.sh`): reads one document with xgen-desk's own
//! reader and writes the text the model would see.
//!
//!   cargo run --example pdf_text -- FILE OUT.txt
//!
//! Prints pages, characters and warnings as JSON on standard output; a document error goes to
//! standard error with exit status 3, so the study can tell it from a crash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: pdf_text FILE OUT.txt");
    };
    let (input, output) = (PathBuf::from(input), PathBuf::from(output));
    let document = match xgen_desk::documents::extract(&input) {
        Ok(document) => document,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::from(3));
        }
    };
    std::fs::write(&output, &document.text)
        .with_context(|| format!("writing {}", output.display()))?;
    let summary = serde_json::json!({
        "pages": document.page_count(),
        "chars": document.text.chars().count(),
        "warnings": document.warnings,
    });
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
