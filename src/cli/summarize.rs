//! `xgen-desk summarize FILE|-`: a document of any length, streamed to stdout; and
//! `xgen-desk summarize A.pdf B.docx DIR/ [--out DIR]`: many documents, one after another, into
//! one Markdown report (or a file each).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::args::{ModelArgs, SamplingArgs, ServerArgs};
use super::progress::StageProgress;
use super::sources_out::{self, CheckedJson};
use super::{open_backend, output, print_timings};
use crate::cancel::CancelToken;
use crate::documents::{self, CollectLimits, Document, DocumentError, ReadProgress};
use crate::engine::EngineError;
use crate::isolate::Isolation;
use crate::prompt::{summarize_request, SummaryStyle};
use crate::sources::{CheckContext, DocumentIndex};
use crate::summarize::report::{entry_head, entry_tail, failed_line, REPORT_TITLE};
use crate::summarize::{self, EngineModel, SummarizeError, SummarizeOptions};

/// The exit code of `summarize` when some of several documents were summarized and some were
/// not (1 means none was, or the command itself failed).
pub const SOME_FAILED_EXIT_CODE: u8 = 2;

/// Some of several documents could not be summarized; each was named on stderr with why.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} documents could not be summarized: {}", failed.len(), failed.join(", "))]
pub struct SomeFailed {
    /// The documents that failed.
    pub failed: Vec<String>,
    /// Documents in all.
    pub total: usize,
}

/// What `summarize` adds to a summary: its sources (`--sources`), or one JSON object instead
/// of the streamed text (`--json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Append the sources of each sentence and the claims not found.
    pub sources: bool,
    /// Print one JSON object (answer, sentences, not_found, read).
    pub json: bool,
}

/// `summarize` with what was named: one file (or `-`) without `--out` streams its summary as
/// [`run`] does; several, a folder, or `--out` summarize each document in turn.
///
/// # Errors
/// As [`run`] for one file. For several: nothing to summarize, a model that does not load, an
/// engine failure, a report that cannot be written; [`SomeFailed`] when only some documents
/// could be summarized. `--sources` and `--json` take one document.
pub fn run_all(
    files: &[PathBuf],
    out: Option<&Path>,
    style: SummaryStyle,
    model: &ModelArgs,
    server: &ServerArgs,
    sampling: &SamplingArgs,
    checked: Checked,
) -> Result<()> {
    match files {
        [file] if out.is_none() && !file.is_dir() => {
            run(file, style, model, server, sampling, checked)
        }
        _ if checked.sources || checked.json => bail!(
            "--sources and --json take one document (not several, a folder or --out): run `xgen-desk summarize FILE --json` for each, or `xgen-desk verify FILE SUMMARY.md` on the summaries a report holds"
        ),
        _ => run_many(files, out, style, model, server, sampling),
    }
}

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
    checked: Checked,
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
            if !checked.json && write_error.is_none() {
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
    if checked.sources || checked.json {
        // A map-reduce summary is checked against the document's own text, not its part notes.
        let index = DocumentIndex::build(&document);
        let request = summarize_request("", style);
        let check = index.check(
            &summary.text,
            &CheckContext {
                question: Some(request.trim()),
            },
        );
        if checked.json {
            let read = [index.passage(0..document.text.len())];
            output::line(&serde_json::to_string(&CheckedJson::new(
                &summary.text,
                &check,
                Some(&read),
            ))?)?;
        } else {
            output::line("\n\nSources:")?;
            output::line(&sources_out::render(&check))?;
        }
    } else {
        output::line("")?;
    }
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
pub(super) fn read_document(file: &Path) -> Result<Document> {
    // Pages read by OCR (a scan: seconds a page) show as they are done.
    let bar = std::cell::RefCell::new(None::<StageProgress>);
    let report = |progress: ReadProgress| {
        bar.borrow_mut()
            .get_or_insert_with(|| StageProgress::per_item("ocr"))
            .show(
                progress.done as u64,
                progress.total as u64,
                &super::extract::ocr_item(progress),
            );
    };
    let document = if file == Path::new("-") {
        documents::from_reader_reporting("standard input", std::io::stdin().lock(), &report)
    } else {
        // Read in a child process: a file that crashes or hangs a reader is an error here.
        documents::extract_isolated_reporting(file, &Isolation::current()?, &|| false, &report)
    };
    if let Some(mut bar) = bar.borrow_mut().take() {
        bar.finish("");
    }
    Ok(document?)
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

/// Summarizes each document in turn with one loaded model; the next document is read (in its
/// child process) while the current one is summarized.
fn run_many(
    files: &[PathBuf],
    out: Option<&Path>,
    style: SummaryStyle,
    model: &ModelArgs,
    server: &ServerArgs,
    sampling_args: &SamplingArgs,
) -> Result<()> {
    let started = Instant::now();
    if files.iter().any(|f| f == Path::new("-")) {
        bail!("`-` (standard input) can only be summarized on its own: save the text to a file to summarize it with other documents");
    }
    let collected = documents::collect_documents(files, &CollectLimits::default());
    for note in &collected.notes {
        eprintln!("note: {note}");
    }
    if collected.files.is_empty() {
        bail!(
            "there are no documents to summarize: name {} files, or folders that hold them",
            documents::Format::usual_extensions(", ", " or ")
        );
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the output folder {}", dir.display()))?;
    }
    let total = collected.files.len();
    // The first documents are read while the model loads.
    let reads = ReadAhead::start(collected.files, Isolation::current()?)?;
    let (engine, info) = open_backend(model, server)?;
    let sampling = sampling_args.sampling();
    let mut engine_model = EngineModel::new(&*engine, info.n_ctx, sampling.clone());
    let run = Batch {
        options: SummarizeOptions::new(style, sampling.max_tokens),
        out,
        quiet: sampling_args.quiet,
        total,
    };
    if out.is_none() {
        output::write(&format!("{REPORT_TITLE}\n\n"))?;
    }
    let mut names = OutNames::default();
    let mut failed = Vec::new();
    for (i, (path, read)) in reads.enumerate() {
        let result = match read {
            Ok(document) => run.one(&mut engine_model, &document, &path, i, &mut names)?,
            Err(e) => {
                if out.is_none() {
                    let name = documents_name(&path);
                    output::write(&entry_head(&name, &path, None, None, 2))?;
                    output::write(&failed_line(&e.to_string()))?;
                }
                Err(e.to_string())
            }
        };
        if let Err(reason) = result {
            eprintln!("error: {}: {reason}", path.display());
            failed.push(path.display().to_string());
        }
    }
    if !run.quiet {
        eprintln!(
            "[summarized {} of {} documents · {:.1} s]",
            run.total - failed.len(),
            run.total,
            started.elapsed().as_secs_f64()
        );
    }
    match failed.len() {
        0 => Ok(()),
        n if n == run.total => {
            bail!("none of the {n} documents could be summarized (each is listed above with why)")
        }
        _ => Err(SomeFailed {
            failed,
            total: run.total,
        }
        .into()),
    }
}

/// What every document of a `summarize` of several shares.
struct Batch<'a> {
    options: SummarizeOptions,
    out: Option<&'a Path>,
    quiet: bool,
    total: usize,
}

impl Batch<'_> {
    /// Summarizes one document into the report (or its own file). `Ok(Err(why))` is this
    /// document's failure; `Err` ends the command (the engine stopped, stdout or the output
    /// folder cannot be written).
    fn one(
        &self,
        model: &mut EngineModel<'_>,
        document: &Document,
        path: &Path,
        index: usize,
        names: &mut OutNames,
    ) -> Result<Result<(), String>> {
        let position = format!("[{}/{}]", index + 1, self.total);
        for warning in &document.warnings {
            eprintln!("warning: {}: {warning}", document.name);
        }
        let plan = match summarize::plan(model, document, &self.options) {
            Ok(plan) => plan,
            Err(e) => return per_document(e, document),
        };
        if !self.quiet {
            eprintln!("{position} {}", describe_plan(document, &plan));
        }
        let level = if self.out.is_some() { 1 } else { 2 };
        let head = entry_head(
            &document.name,
            path,
            Some(document.format),
            Some(plan.document_tokens),
            level,
        );
        let streaming = self.out.is_none();
        if streaming {
            output::write(&head)?;
        }
        let cancel = CancelToken::new();
        let mut write_error = None;
        let mut text = String::new();
        let result = summarize::run_plan(
            model,
            document,
            &plan,
            &self.options,
            &cancel,
            &mut |progress| {
                if !self.quiet {
                    report_progress(progress);
                }
            },
            &mut |piece| {
                if !streaming {
                    text.push_str(piece);
                } else if write_error.is_none() {
                    if let Err(e) = output::write(piece) {
                        write_error = Some(e);
                        cancel.cancel();
                    }
                }
            },
        );
        if let Some(error) = write_error {
            return Err(error);
        }
        let summary = match result {
            Ok(summary) => summary,
            Err(e) => {
                if streaming {
                    output::write(&format!("\n\n{}", failed_line(&e.to_string())))?;
                }
                return per_document(e, document);
            }
        };
        let tail = entry_tail(summary.coverage);
        match self.out {
            None => output::write(&tail)?,
            Some(dir) => {
                let file = names.next(dir, &document.name);
                let markdown = format!("{head}{}{tail}", text.trim());
                xgen_fsio::write_atomic(&file, markdown.as_bytes())
                    .with_context(|| format!("could not write {}", file.display()))?;
                output::line(&file.display().to_string())?;
            }
        }
        if !self.quiet {
            eprintln!(
                "{position} [coverage {:.0}% · {} model call{} · {:.1} s]",
                summary.coverage.percent(),
                summary.model_calls,
                if summary.model_calls == 1 { "" } else { "s" },
                summary.total_secs
            );
        }
        Ok(Ok(()))
    }
}

/// A summarizer error as this document's failure, except an engine that stopped (or lost its
/// model), which ends the command: the next documents would fail the same way.
fn per_document(error: SummarizeError, document: &Document) -> Result<Result<(), String>> {
    match error {
        SummarizeError::Engine(e @ (EngineError::Stopped(_) | EngineError::NoModel)) => {
            Err(anyhow::Error::new(e).context(format!("while summarizing {}", document.name)))
        }
        other => Ok(Err(other.to_string())),
    }
}

fn documents_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Documents read one ahead: a thread reads each file in its child process and hands it over
/// when the previous one is taken, so reading the next overlaps summarizing the current one
/// and at most one read document waits in memory. Dropping it stops the reading (the child
/// is killed).
struct ReadAhead {
    rx: mpsc::Receiver<(PathBuf, Result<Document, DocumentError>)>,
    cancel: CancelToken,
}

impl ReadAhead {
    fn start(files: Vec<PathBuf>, isolation: Isolation) -> Result<Self> {
        let (tx, rx) = mpsc::sync_channel(0);
        let cancel = CancelToken::new();
        let stop = cancel.clone();
        std::thread::Builder::new()
            .name("xgen-read-ahead".to_owned())
            .spawn(move || {
                for path in files {
                    let read = documents::extract_isolated_until(&path, &isolation, &|| {
                        stop.is_cancelled()
                    });
                    if stop.is_cancelled() || tx.send((path, read)).is_err() {
                        return;
                    }
                }
            })
            .context("could not start the document reader thread")?;
        Ok(Self { rx, cancel })
    }
}

impl Iterator for ReadAhead {
    type Item = (PathBuf, Result<Document, DocumentError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// File names of `--out`: `<stem>.summary.md` (never a source's own name), made unique within
/// the run (`notes-2.summary.md`), ignoring case for file systems that do.
#[derive(Default)]
struct OutNames(HashSet<String>);

impl OutNames {
    fn next(&mut self, dir: &Path, document: &str) -> PathBuf {
        let stem = Path::new(document)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem: String = stem
            .chars()
            .map(|c| {
                if c.is_control() || "/\\:*?\"<>|".contains(c) {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let stem = match stem.trim().trim_start_matches('.') {
            "" => "document".to_owned(),
            s => s.to_owned(),
        };
        let mut name = format!("{stem}.summary.md");
        let mut n = 2;
        while !self.0.insert(name.to_lowercase()) {
            name = format!("{stem}-{n}.summary.md");
            n += 1;
        }
        dir.join(name)
    }
}
