//! Progress on stderr: an indicatif bar when stderr is a terminal (the terminal is the UI), and
//! one plain line per tenth otherwise (logs, CI and tests read `[stage] 100% ...`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::hub::{format_bytes, Progress, Stage};

/// The progress of one stage (download, convert, quantize, ...), redrawn in place.
pub struct StageProgress {
    label: String,
    bar: Option<ProgressBar>,
    last_decile: Option<u64>,
    /// Without a terminal, a line for every item instead of every tenth.
    every_item: bool,
}

impl StageProgress {
    /// Progress of the stage called `label`.
    #[must_use]
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "[{prefix}] {bar:30.cyan/blue} {percent:>3}% {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(label.to_owned());
            bar
        });
        Self {
            label: label.to_owned(),
            bar,
            last_decile: None,
            every_item: false,
        }
    }

    /// Progress of the stage called `label` in few, slow steps (pages read by OCR, seconds
    /// each): without a terminal, every step is a line.
    #[must_use]
    pub fn per_item(label: &str) -> Self {
        Self {
            every_item: true,
            ..Self::new(label)
        }
    }

    /// `done` of `total` units, working on `item`.
    pub fn show(&mut self, done: u64, total: u64, item: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total.max(1));
                bar.set_position(done.min(total));
                bar.set_message(item.to_owned());
            }
            None => {
                let percent = done.saturating_mul(100).checked_div(total).unwrap_or(0);
                let step = if self.every_item { done } else { percent / 10 };
                if self.last_decile != Some(step) {
                    self.last_decile = Some(step);
                    eprintln!("[{}] {percent:>3}% {item}", self.label);
                }
            }
        }
    }

    /// A report of the setup pipeline; a new stage starts a new bar.
    pub fn pipeline(&mut self, progress: &Progress) {
        if self.label != progress.stage.name() {
            self.finish("");
            *self = Self::new(progress.stage.name());
        }
        let mut item = progress.item.clone().unwrap_or_default();
        if progress.stage == Stage::Download {
            item = format!(
                "{item} {} / {}",
                format_bytes(progress.done),
                format_bytes(progress.total)
            );
            if let Some(rate) = progress.rate {
                item.push_str(&format!(" at {}/s", format_bytes(rate as u64)));
            }
            if let Some(eta) = progress.eta {
                item.push_str(&format!(", {}s left", eta.as_secs()));
            }
        }
        self.show(progress.done, progress.total, &item);
    }

    /// Ends the stage, with a closing line when `message` is not empty.
    pub fn finish(&mut self, message: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !message.is_empty() {
            eprintln!("[{}] done: {message}", self.label);
        }
    }
}
