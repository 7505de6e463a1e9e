//! `xgen-desk verify DOCUMENT TEXT`: checks any text (a summary someone else wrote, a reply
//! pasted from another tool) against a document, without a model: each sentence with its
//! sources, and the claims the document does not make. Exit code 0 when every sentence is
//! supported, 3 when some are not.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::output;
use super::sources_out::{self, CheckedJson, Unsupported};
use crate::documents;
use crate::isolate::Isolation;
use crate::sources::{CheckContext, DocumentIndex};

/// Most bytes of TEXT read (a reply or a summary, not a book).
const MAX_TEXT_BYTES: u64 = 4 * 1024 * 1024;

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The document (any format `extract` reads).
    pub document: PathBuf,
    /// The text to check: a file (UTF-8, Markdown or plain), or `-` for standard input.
    pub text: PathBuf,
    /// The question the text answers, if any: sentences that only repeat it are not checked.
    #[arg(long)]
    pub question: Option<String>,
    /// Print one JSON object: answer, sentences (text, sources, supported), not_found.
    #[arg(long)]
    pub json: bool,
}

/// Runs `verify`.
///
/// # Errors
/// An unreadable document or text; [`Unsupported`] (exit code 3) when some sentence is not
/// supported or some claim is not in the document.
pub fn run(args: &VerifyArgs) -> Result<()> {
    if args.document == Path::new("-") {
        bail!("the document must be a file (`-` is for TEXT): save it first, then run `xgen-desk verify FILE TEXT`");
    }
    let text = read_text(&args.text)?;
    let document = documents::extract_isolated(&args.document, &Isolation::current()?)
        .with_context(|| format!("could not read {}", args.document.display()))?;
    for warning in &document.warnings {
        eprintln!("warning: {warning}");
    }
    let index = DocumentIndex::build(&document);
    let check = index.check(
        &text,
        &CheckContext {
            question: args.question.as_deref(),
        },
    );
    if args.json {
        let json = serde_json::to_string(&CheckedJson::new(&text, &check, None))?;
        output::line(&json)?;
    } else {
        output::line(&sources_out::render(&check))?;
    }
    match Unsupported::of(&check) {
        Some(unsupported) => Err(unsupported.into()),
        None => Ok(()),
    }
}

fn read_text(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let described = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_TEXT_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("could not read the text from standard input")?;
        "standard input".to_owned()
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes))
            .with_context(|| format!("could not read {}", path.display()))?;
        path.display().to_string()
    };
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        bail!("{described} is over 4 MiB: verify checks a reply or a summary; check a longer text in parts");
    }
    let text = documents::decode_text(&bytes).with_context(|| {
        format!("{described} is not text (binary data): give the text to check as a file or on standard input")
    })?;
    if text.trim().is_empty() {
        bail!("{described} is empty: give the text to check as a file or on standard input");
    }
    Ok(text)
}
