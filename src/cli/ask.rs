//! `xgen-desk ask FILE "QUESTION"`: answers a question about a document, streaming the answer
//! to stdout and its sources to stderr. A document that fits the context is read whole; a
//! longer one reads its passages that bear on the question (`--every-part` asks every part in
//! turn instead). `--json` prints one object: answer, sentences with their sources, the claims
//! not found, and what was read.

use std::time::Instant;

use anyhow::{Context, Result};

use super::args::AskArgs;
use super::sources_out::{self, CheckedJson};
use super::summarize::read_document;
use super::{open_backend, output, print_timings};
use crate::cancel::CancelToken;
use crate::engine::{CachePrefix, GenerateRequest, ReplyEvent};
use crate::prompt::document_len;
use crate::sources::{
    describe_read, read_for_question, search_every_part, suggests_every_part, CheckContext,
    DocumentIndex, PartSearchProgress, ReadOptions,
};
use crate::summarize::EngineModel;

/// Runs `ask`.
///
/// # Errors
/// An unreadable document, a model that does not load, an engine failure.
pub fn run(args: &AskArgs) -> Result<()> {
    let started = Instant::now();
    let question = args.question.trim();
    if question.is_empty() {
        anyhow::bail!("the question is empty: xgen-desk ask FILE \"QUESTION\"");
    }
    let document = read_document(&args.file)?;
    for warning in &document.warnings {
        eprintln!("warning: {warning}");
    }
    let index = DocumentIndex::build(&document);
    let (engine, info) = open_backend(&args.model, &args.server)?;
    let sampling = args.sampling.sampling();
    let quiet = args.sampling.quiet;
    let mut model = EngineModel::new(&*engine, info.n_ctx, sampling.clone());
    let cancel = CancelToken::new();
    let mut write_error = None;
    let streaming = !args.json;
    let mut on_piece = |piece: &str| {
        if streaming && write_error.is_none() {
            if let Err(e) = output::write(piece) {
                write_error = Some(e);
                cancel.cancel();
            }
        }
    };
    let (answer, read) = if args.every_part {
        let search = search_every_part(
            &mut model,
            &document,
            question,
            sampling.max_tokens,
            &cancel,
            &mut |progress| {
                if !quiet {
                    report(progress);
                }
            },
            &mut on_piece,
        )
        .with_context(|| format!("cannot search every part of {}", document.name))?;
        let read = search
            .parts
            .iter()
            .filter(|p| p.relevant)
            .map(|p| index.passage(p.bytes.clone()))
            .collect();
        (search.answer, read)
    } else {
        let reading = read_for_question(
            &mut model,
            &index,
            &[],
            question,
            &[],
            &ReadOptions::new(sampling.max_tokens),
        )
        .with_context(|| format!("cannot ask about {}", document.name))?;
        if !quiet {
            let what = describe_read(
                &reading.read,
                index.page_count(),
                index.document_chars(),
                reading.whole,
            );
            eprintln!(
                "[{}: {what} · {} prompt tokens]",
                document.name, reading.prompt_tokens
            );
            if !reading.whole && suggests_every_part(question) {
                eprintln!("[this question may need the whole document: --every-part asks every part in turn]");
            }
        }
        let mut request = GenerateRequest::chat(reading.messages, sampling.clone());
        if reading.whole {
            // The same prefix as a summary's: a document read before is not read again.
            request = request.with_cache_prefix(CachePrefix::Document {
                message: 0,
                bytes: document_len(&document.text),
            });
        }
        let handle = engine.generate_with_cancel(request, cancel.clone());
        let finished = handle.wait_with(|event| {
            if let ReplyEvent::Text(piece) = event {
                on_piece(piece);
            }
        })?;
        if let (false, true) = (quiet, streaming) {
            print_timings(&finished.timings, false);
        }
        (finished.text, reading.read)
    };
    if let Some(error) = write_error {
        return Err(error);
    }
    let check = index.check(
        &answer,
        &CheckContext {
            question: Some(question),
        },
    );
    if args.json {
        let json = serde_json::to_string(&CheckedJson::new(&answer, &check, Some(&read)))?;
        output::line(&json)?;
    } else {
        output::line("")?;
        eprintln!("{}", sources_out::render(&check));
        if !quiet {
            eprintln!("[{:.1} s]", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// Progress of a search of every part on stderr.
fn report(progress: &PartSearchProgress) {
    match progress {
        PartSearchProgress::Planned { parts } => eprintln!("[asking each of {parts} parts]"),
        PartSearchProgress::Answered {
            part,
            parts,
            relevant,
            coverage,
        } => eprintln!(
            "[part {part}/{parts}: {} · coverage {:.0}%]",
            if *relevant {
                "has an answer"
            } else {
                "nothing on it"
            },
            coverage.percent()
        ),
        PartSearchProgress::Combining { inputs } => {
            eprintln!("[combining the answers of {inputs} parts]");
        }
    }
}
