//! `xgen-desk summarize FILE|-`: a document of any length, streamed to stdout.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::args::{ModelArgs, SamplingArgs, ServerArgs};
use super::{open_backend, output, print_timings};
use crate::cancel::CancelToken;
use crate::documents::{self, Document};
use crate::prompt::SummaryStyle;
use crate::summarize::{self, EngineModel, SummarizeOptions};

/// Reads `file`, plans one pass or map-reduce, streams the summary.
///
/// # Errors
/// An unreadable document, a model that does not load, an engine failure.
pub fn run(
    file: &Path,
    style: SummaryStyle,
    model: &ModelArgs,
    server: &ServerArgs,
    sampling_args: &SamplingArgs,
) -> Result<()> {
    let started = Instant::now();
    let document = read_document(file)?;
    for warning in &document.warnings {
        eprintln!("warning: {warning}");
    }
    let (engine, info) = open_backend(model, server)?;
    let sampling = sampling_args.sampling();
    let quiet = sampling_args.quiet;
    let mut engine_model = EngineModel::new(&*engine, info.n_ctx, sampling.clone());
    let options = SummarizeOptions::new(style, sampling.max_tokens);
    let plan = summarize::plan(&mut engine_model, &document, &options)
        .with_context(|| format!("cannot summarize {}", document.name))?;
    if !quiet {
        eprintln!("{}", describe_plan(&document, &plan));
    }
    // The reader of stdout may go away mid-summary: stop the model then.
    let cancel = CancelToken::new();
    let mut write_error = None;
    let summary = summarize::run_plan(
        &mut engine_model,
        &document,
        &plan,
        &options,
        &cancel,
        &mut |progress| {
            if !quiet {
                report_progress(progress);
            }
        },
        &mut |text| {
            if write_error.is_none() {
                if let Err(e) = output::write(text) {
                    write_error = Some(e);
                    cancel.cancel();
                }
            }
        },
    )?;
    if let Some(error) = write_error {
        return Err(error);
    }
    output::line("")?;
    if !quiet {
        if let (true, Some(timings)) = (summary.single_pass, &summary.final_timings) {
            print_timings(timings, false);
        }
        eprintln!(
            "[coverage {:.0}% ({}/{} part{}) · {} model call{} · {:.1} s]",
            summary.coverage.percent(),
            summary.coverage.read,
            summary.coverage.total,
            if summary.coverage.total == 1 { "" } else { "s" },
            summary.model_calls,
            if summary.model_calls == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Reads a document of any supported format, or standard input for `-`.
fn read_document(file: &Path) -> Result<Document> {
    let document = if file == Path::new("-") {
        documents::from_reader("standard input", std::io::stdin().lock())?
    } else {
        // Read in a child process: a file that crashes or hangs a reader is an error here.
        documents::extract_isolated(file, &crate::isolate::Isolation::current()?)?
    };
    Ok(document)
}

/// One line about the document and how it will be read.
fn describe_plan(document: &Document, plan: &summarize::Plan) -> String {
    let pages = match document.page_count() {
        0 => String::new(),
        1 => ", 1 page".to_owned(),
        n => format!(", {n} pages"),
    };
    let how = match &plan.strategy {
        summarize::Strategy::SinglePass => format!(
            "fits: one pass ({} prompt + {} reply tokens)",
            plan.single_pass_tokens, plan.reserved
        ),
        summarize::Strategy::MapReduce {
            chunks,
            chunk_budget,
            ..
        } => format!(
            "does not fit ({} prompt + {} reply tokens): map-reduce over {} parts of up to {chunk_budget} tokens",
            plan.single_pass_tokens,
            plan.reserved,
            chunks.len()
        ),
    };
    format!(
        "[{} ({}{pages}): {} tokens; context {}: {how}]",
        document.name,
        document.format.name(),
        plan.document_tokens,
        plan.n_ctx
    )
}

/// Progress of a summary on stderr: parts read (coverage), combining, the final pass.
fn report_progress(progress: &summarize::Progress) {
    match progress {
        summarize::Progress::Partial {
            phase: summarize::Phase::Read { part, parts },
            location,
            coverage,
            ..
        } => {
            let location = location
                .as_ref()
                .map_or_else(String::new, |l| format!(" ({l})"));
            eprintln!(
                "[read part {part}/{parts}{location} · coverage {:.0}%]",
                coverage.percent()
            );
        }
        summarize::Progress::Step {
            phase:
                summarize::Phase::Combine {
                    round,
                    group,
                    groups,
                },
            ..
        } => eprintln!("[combining partial summaries: round {round}, group {group}/{groups}]"),
        summarize::Progress::Step {
            phase: summarize::Phase::Final { inputs },
            ..
        } => eprintln!("[writing the summary from {inputs} partial summaries]"),
        _ => {}
    }
}
