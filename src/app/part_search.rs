//! "Search every part" in the app: a question that needs the whole of a long document ("list
//! every deadline") asked of each part in turn on a thread of its own, through the same
//! [`crate::summarize::SummaryModel`] a summary in parts uses (the local engine, or a server
//! with several parts at once), then the answers combined; what it reports, kept for the screen
//! (what it does in words, the parts read, the parts with an answer).

use super::job::{Job, Waker};
use crate::backend::Backend;
use crate::documents::Document;
use crate::engine::Sampling;
use crate::sources::{search_every_part, PartSearch, PartSearchProgress};
use crate::summarize::{Coverage, EngineModel};

/// The words that start the line under an answer from every part (how a saved answer is known
/// as one).
pub(crate) const SEARCHED_EVERY_PART: &str = "Searched every part";

/// What the run's thread reports.
enum Msg {
    Progress(PartSearchProgress),
    Piece(String),
    Done(Result<PartSearch, String>),
}

/// What arrived since the last poll.
#[derive(Default)]
pub(crate) struct SearchUpdate {
    /// Text of the combined answer written since.
    pub(crate) text: String,
    /// The run ended, with this result.
    pub(crate) done: Option<Result<PartSearch, String>>,
}

/// A search of every part under way.
pub(crate) struct PartSearchRun {
    job: Job<Msg>,
    status: String,
    coverage: Option<Coverage>,
    /// Parts that had something on the question.
    relevant: usize,
}

impl PartSearchRun {
    /// Starts asking `question` of every part of `document` on `engine`, whose context holds
    /// `n_ctx` tokens; the combined answer is at most `sampling.max_tokens` long.
    ///
    /// # Errors
    /// When no thread can be started.
    pub(crate) fn start(
        document: Document,
        question: String,
        engine: Backend,
        n_ctx: u32,
        sampling: Sampling,
        waker: &Waker,
    ) -> std::io::Result<Self> {
        let job = Job::spawn("xgen-search-every-part", waker, move |r| {
            let max_tokens = sampling.max_tokens;
            let mut model = EngineModel::new(&*engine, n_ctx, sampling);
            let result = search_every_part(
                &mut model,
                &document,
                &question,
                max_tokens,
                r.cancel_token(),
                &mut |p| r.send(Msg::Progress(p.clone()), true),
                &mut |piece| r.send(Msg::Piece(piece.to_owned()), true),
            )
            .map_err(|e| crate::error_text::chain(&e));
            r.send(Msg::Done(result), false);
        })?;
        Ok(Self {
            job,
            status: "Cutting the document into parts…".to_owned(),
            coverage: None,
            relevant: 0,
        })
    }

    /// Asks the run to stop (its answer ends marked as stopped).
    pub(crate) fn cancel(&self) {
        self.job.cancel();
    }

    /// What arrived since the last call; once the run ended, its result.
    pub(crate) fn poll(&mut self) -> SearchUpdate {
        let mut update = SearchUpdate::default();
        for message in self.job.drain() {
            match message {
                Msg::Progress(progress) => self.on_progress(&progress),
                Msg::Piece(text) => update.text.push_str(&text),
                Msg::Done(result) => {
                    update.done = Some(result);
                    return update;
                }
            }
        }
        if self.job.is_finished() {
            update.done = Some(Err("the search stopped unexpectedly".to_owned()));
        }
        update
    }

    fn on_progress(&mut self, progress: &PartSearchProgress) {
        match progress {
            PartSearchProgress::Planned { parts } => {
                self.coverage = Some(Coverage {
                    read: 0,
                    total: *parts,
                });
                self.status = format!("Asking each of {parts} parts");
            }
            PartSearchProgress::Answered {
                relevant, coverage, ..
            } => {
                self.coverage = Some(*coverage);
                if *relevant {
                    self.relevant += 1;
                }
                self.status = match self.relevant {
                    0 => "Asking each part: no answer yet".to_owned(),
                    1 => "Asking each part: 1 has an answer".to_owned(),
                    n => format!("Asking each part: {n} have an answer"),
                };
            }
            PartSearchProgress::Combining { inputs } => {
                self.status = format!(
                    "Combining the answers of {inputs} part{}",
                    if *inputs == 1 { "" } else { "s" }
                );
            }
        }
    }

    /// What it is doing, in words.
    pub(crate) fn status(&self) -> &str {
        &self.status
    }

    /// Parts read of all parts, once the document is cut.
    pub(crate) fn coverage(&self) -> Option<Coverage> {
        self.coverage
    }
}

/// The line under an answer from every part: the coverage, the parts with an answer, the model
/// calls and the time.
pub(crate) fn coverage_line(search: &PartSearch) -> String {
    let relevant = search.parts.iter().filter(|p| p.relevant).count();
    format!(
        "*{SEARCHED_EVERY_PART}: {} of {} parts read ({:.0}% of the document), {} with an answer, {} model call{}, {:.0} s.*",
        search.coverage.read,
        search.coverage.total,
        search.coverage.percent(),
        relevant,
        search.model_calls,
        if search.model_calls == 1 { "" } else { "s" },
        search.total_secs
    )
}
