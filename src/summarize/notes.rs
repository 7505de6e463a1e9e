//! Notes on each part of a document read in parts, kept for follow-up questions: after a
//! map-reduce summary, the conversation's first message becomes these notes instead of the
//! document, since they fit in the context where the whole document does not.

use super::{Phase, Progress};

/// What ends the head of [`PartNotes::prompt`] (after the document's name), and its end.
const PROMPT_HEAD_END: &str = ", part by part:\n\n";
const PROMPT_END: &str = "\n\nPlease summarize the document from these notes.";

/// The notes on the parts read so far, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartNotes(Vec<String>);

impl PartNotes {
    /// Keeps the note of a part that was read; other progress is ignored.
    pub fn record(&mut self, progress: &Progress) {
        if let Progress::Partial {
            phase: Phase::Read { part, parts },
            location,
            text,
            ..
        } = progress
        {
            let place = location
                .as_ref()
                .map_or_else(String::new, |l| format!(", {l}"));
            self.0
                .push(format!("[Part {part} of {parts}{place}] {}", text.trim()));
        }
    }

    /// No part was read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The notes, in order.
    #[must_use]
    pub fn notes(&self) -> &[String] {
        &self.0
    }

    /// The notes of a request made by [`PartNotes::prompt`] (a conversation about a document
    /// read in parts starts with it); `None` for any other text.
    #[must_use]
    pub fn from_prompt(prompt: &str) -> Option<Self> {
        let body = prompt
            .strip_suffix(PROMPT_END)?
            .split_once(PROMPT_HEAD_END)?
            .1;
        let mut notes: Vec<String> = Vec::new();
        for piece in body.split("\n\n") {
            match notes.last_mut() {
                // A note's own blank lines stay in it: only "[Part " starts the next note.
                Some(last) if !piece.starts_with("[Part ") => {
                    last.push_str("\n\n");
                    last.push_str(piece);
                }
                _ if piece.starts_with("[Part ") => notes.push(piece.to_owned()),
                _ => return None,
            }
        }
        (!notes.is_empty()).then_some(Self(notes))
    }

    /// The request that stands for the document named `document` in a conversation about it:
    /// the notes, part by part, and the request to summarize from them. `None` without notes.
    #[must_use]
    pub fn prompt(&self, document: &str) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            format!(
                "Here are notes on {document}{PROMPT_HEAD_END}{}{PROMPT_END}",
                self.0.join("\n\n")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summarize::Coverage;

    fn partial(phase: Phase, location: Option<&str>, text: &str) -> Progress {
        Progress::Partial {
            step: 1,
            phase,
            location: location.map(str::to_owned),
            text: text.to_owned(),
            coverage: Coverage { read: 1, total: 2 },
        }
    }

    #[test]
    fn the_notes_of_the_parts_read_become_the_follow_up_prompt() {
        let mut notes = PartNotes::default();
        assert_eq!(notes.prompt("a.txt"), None);
        notes.record(&partial(
            Phase::Read { part: 1, parts: 2 },
            Some("page 1 to page 3"),
            " Floors.\n",
        ));
        // A combined note is not a part's.
        notes.record(&partial(
            Phase::Combine {
                round: 1,
                group: 1,
                groups: 1,
            },
            None,
            "All of it.",
        ));
        notes.record(&partial(Phase::Read { part: 2, parts: 2 }, None, "Costs."));
        assert!(!notes.is_empty());
        assert_eq!(
            notes.prompt("a.txt").unwrap(),
            "Here are notes on a.txt, part by part:\n\n\
             [Part 1 of 2, page 1 to page 3] Floors.\n\n[Part 2 of 2] Costs.\n\n\
             Please summarize the document from these notes."
        );
        // Read back from the request (a note with a blank line of its own stays whole).
        notes.record(&partial(
            Phase::Read { part: 3, parts: 3 },
            None,
            "Dates.\n\nMore dates.",
        ));
        let prompt = notes.prompt("a, part by part: b.txt").unwrap();
        assert_eq!(PartNotes::from_prompt(&prompt), Some(notes.clone()));
        assert_eq!(notes.notes().len(), 3);
        assert_eq!(
            PartNotes::from_prompt("Please summarize the article above."),
            None
        );
    }
}
