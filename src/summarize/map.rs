//! The map step of a summary in parts: every part of the document summarized on its own. The
//! calls may run at the same time (a server with several slots, [`SummaryModel::complete_parts`])
//! and end in any order; their notes are reported and kept in document order, and the coverage
//! counts the parts read from the start of the document.

use super::{
    part_messages, Chunk, Completion, PartSummary, Phase, Progress, SummarizeError, Summary,
    SummaryModel,
};
use crate::cancel::CancelToken;
use crate::documents::Document;
use crate::engine::StopReason;
use crate::prompt::{Message, SummaryStyle};

/// A call of [`SummaryModel::complete_parts`] started or ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PartEvent {
    /// The call for prompt `index` (0-based) started.
    Started(usize),
    /// The call for prompt `index` ended (cancelled ones with [`StopReason::Cancelled`]).
    Finished(usize, Completion),
}

/// [`SummaryModel::complete_parts`] one call at a time, in order.
///
/// # Errors
/// The first failed call.
pub fn one_after_another<M: SummaryModel + ?Sized>(
    model: &mut M,
    prompts: &[(Vec<Message>, u32)],
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(PartEvent),
) -> Result<(), SummarizeError> {
    for (index, (messages, max_tokens)) in prompts.iter().enumerate() {
        if cancel.is_cancelled() {
            return Ok(());
        }
        on_event(PartEvent::Started(index));
        let completion = model.complete(messages, *max_tokens, cancel, &mut |_| {})?;
        let stopped = completion.stop == StopReason::Cancelled;
        on_event(PartEvent::Finished(index, completion));
        if stopped {
            return Ok(());
        }
    }
    Ok(())
}

/// The prompt for chunk `index` (0-based) of `parts`, at `location` in the document.
pub(super) fn chunk_messages(
    document: &Document,
    chunk: &Chunk,
    location: Option<&str>,
    index: usize,
    parts: usize,
    style: SummaryStyle,
) -> Vec<Message> {
    part_messages(
        index + 1,
        parts,
        location,
        chunk.text(&document.text),
        style,
    )
}

/// Summarizes every chunk (the model's calls counted in `summary`, its coverage kept up to
/// date); `None` when the summary was stopped before every part was read.
///
/// # Errors
/// The first failed call.
#[allow(
    clippy::too_many_arguments,
    reason = "the summarizer's state for the map step: model, document, chunks, options, callbacks"
)]
pub(super) fn read_parts(
    model: &mut dyn SummaryModel,
    document: &Document,
    chunks: &[Chunk],
    partial_tokens: u32,
    style: SummaryStyle,
    summary: &mut Summary,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Option<Vec<PartSummary>>, SummarizeError> {
    let parts = chunks.len();
    let locations: Vec<Option<String>> = chunks
        .iter()
        .map(|chunk| document.location(chunk.span()))
        .collect();
    let prompts: Vec<(Vec<Message>, u32)> = chunks
        .iter()
        .zip(&locations)
        .enumerate()
        .map(|(i, (chunk, location))| {
            let messages = chunk_messages(document, chunk, location.as_deref(), i, parts, style);
            (messages, partial_tokens)
        })
        .collect();
    let mut finished: Vec<Option<Completion>> = vec![None; parts];
    let mut steps = vec![0usize; parts];
    let mut partials: Vec<PartSummary> = Vec::with_capacity(parts);
    let mut stopped = false;
    model.complete_parts(&prompts, cancel, &mut |event| match event {
        PartEvent::Started(i) => {
            summary.model_calls += 1;
            if let Some(step) = steps.get_mut(i) {
                *step = summary.model_calls;
            }
            on_progress(&Progress::Step {
                step: summary.model_calls,
                phase: Phase::Read { part: i + 1, parts },
                coverage: summary.coverage,
            });
        }
        PartEvent::Finished(i, completion) => {
            if completion.stop == StopReason::Cancelled {
                stopped = true;
                return;
            }
            if let Some(slot) = finished.get_mut(i) {
                *slot = Some(completion);
            }
            // Coverage counts the parts read from the start of the document.
            while let Some(completion) = finished.get_mut(partials.len()).and_then(Option::take) {
                let k = partials.len();
                let location = locations.get(k).cloned().flatten();
                summary.coverage.read = k + 1;
                on_progress(&Progress::Partial {
                    step: steps.get(k).copied().unwrap_or_default(),
                    phase: Phase::Read { part: k + 1, parts },
                    location: location.clone(),
                    text: completion.text.clone(),
                    coverage: summary.coverage,
                });
                partials.push(PartSummary {
                    first: k + 1,
                    last: k + 1,
                    location,
                    text: completion.text.trim().to_owned(),
                });
            }
        }
    })?;
    Ok((!stopped && partials.len() == parts).then_some(partials))
}
