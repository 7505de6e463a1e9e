//! The conversation on screen: its messages with streaming Markdown, each with its footer (the
//! reply's figures, Copy, Regenerate, Edit), the progress of the reply being written, and the
//! composer.

use egui::{Key, Modifiers, RichText};
use egui_commonmark::CommonMarkViewer;

use super::checked::checked_reply_ui;
use super::Chat;
use crate::app::command::{AppCommand, View};
use crate::app::model::ModelState;
use crate::app::part_search::SEARCHED_EVERY_PART;
use crate::app::reply::Reply;
use crate::app::shared::Shared;
use crate::app::store::ChatMessage;
use crate::documents::Format;
use crate::prompt::Role;
use crate::sources::suggests_every_part;
use crate::summarize::report::thousands;

/// Where a message stands on screen.
struct Place {
    /// Its index in the conversation.
    index: usize,
    /// The reply being written is this message.
    streaming: bool,
    /// The last message.
    last: bool,
    /// The person's last message.
    last_user: bool,
    /// A reply is being written (to any conversation).
    generating: bool,
    /// What the document does not say is marked (the setting).
    marks: bool,
    /// Its check is under way.
    checking: bool,
    /// The reply answers a question that needs the whole of a long document, and was not
    /// written by asking every part: "Search every part" is offered under it.
    offer_every_part: bool,
}

impl Chat {
    /// Draws the messages of the conversation on screen (or, without any, what to do first);
    /// `long_document`: its document does not fit the context.
    pub(crate) fn messages_ui(
        &mut self,
        ui: &mut egui::Ui,
        shared: &Shared,
        long_document: bool,
        out: &mut Vec<AppCommand>,
    ) {
        let generating = self.is_generating();
        let conversation = shared.conversations.current();
        let messages = &conversation.messages;
        if messages.is_empty() {
            empty_state_ui(ui, shared, out);
            return;
        }
        let last_user = messages.iter().rposition(|m| m.role == Role::User);
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .stick_to_bottom(true)
            .show(ui, |ui| {
                for (index, message) in messages.iter().enumerate() {
                    let last = index + 1 == messages.len();
                    let offer_every_part = last
                        && long_document
                        && !generating
                        && message.role == Role::Assistant
                        && !message.shown().contains(SEARCHED_EVERY_PART)
                        && index
                            .checked_sub(1)
                            .and_then(|q| messages.get(q))
                            .is_some_and(|q| {
                                q.role == Role::User
                                    && q.label.is_none()
                                    && suggests_every_part(&q.content)
                            });
                    let place = Place {
                        index,
                        streaming: last && generating,
                        last,
                        last_user: last_user == Some(index),
                        generating,
                        marks: shared.settings.mark_unsupported,
                        checking: shared.checks.is_checking(&conversation.id, index),
                        offer_every_part,
                    };
                    ui.add_space(6.0);
                    self.message_ui(ui, message, &place, out);
                }
            });
    }

    fn message_ui(
        &mut self,
        ui: &mut egui::Ui,
        message: &ChatMessage,
        place: &Place,
        out: &mut Vec<AppCommand>,
    ) {
        let (who, fill) = match message.role {
            Role::User => ("You", ui.visuals().faint_bg_color),
            _ => ("XGen", ui.visuals().extreme_bg_color),
        };
        egui::Frame::group(ui.style()).fill(fill).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(who).strong());
            if place.streaming {
                self.summary_run_ui(ui);
            }
            // A line under the text (how a summary in parts read the document) stays.
            let after = message
                .label
                .as_deref()
                .and_then(|l| l.strip_prefix(message.content.trim_end()))
                .unwrap_or_default();
            let checked = !place.streaming
                && message.role == Role::Assistant
                && message.check.as_ref().is_some_and(|check| {
                    checked_reply_ui(
                        ui,
                        &mut self.markdown,
                        egui::Id::unique(("message", place.index)),
                        (&message.content, after),
                        check,
                        place.marks,
                        out,
                    )
                });
            if place.streaming && message.content.is_empty() {
                self.prefill_ui(ui);
            } else if !checked {
                CommonMarkViewer::new().show_with_id(
                    egui::Id::unique(("message", place.index)),
                    ui,
                    &mut self.markdown,
                    message.shown(),
                );
            }
            // Wrapped: the figures and the count of claims not found may be wider than the reply.
            ui.horizontal_wrapped(|ui| footer_ui(ui, message, place, out));
        });
    }

    /// What the summary run (or the search of every part) writing the reply is doing: the
    /// parts read.
    fn summary_run_ui(&self, ui: &mut egui::Ui) {
        let reply = self.reply.as_ref();
        let (status, coverage) = match (
            reply.and_then(|r| r.summary_run()),
            reply.and_then(|r| r.part_search()),
        ) {
            (Some(run), _) => (run.status(), run.coverage()),
            (None, Some(run)) => (run.status(), run.coverage()),
            (None, None) => return,
        };
        match coverage {
            Some(c) if c.total > 0 => {
                let fraction = c.read as f32 / c.total as f32;
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .text(format!("{status} · {} of {} parts read", c.read, c.total)),
                );
            }
            _ => {
                ui.label(status);
            }
        }
    }

    /// Before the first word of the reply: how far the prompt is read.
    fn prefill_ui(&self, ui: &mut egui::Ui) {
        let reply = self.reply.as_ref();
        match reply.and_then(Reply::prefill) {
            Some((done, total)) if total > 0 && done < total => {
                let fraction = done as f32 / total as f32;
                let eta = reply
                    .and_then(Reply::prefill_eta)
                    .map_or_else(String::new, |secs| format!(" · about {secs:.0} s left"));
                ui.add(egui::ProgressBar::new(fraction).text(format!(
                    "Reading the prompt: {} of {} tokens{eta}",
                    thousands(done),
                    thousands(total)
                )));
            }
            _ if reply.is_some_and(|r| r.summary_run().is_some()) => {
                ui.spinner();
            }
            _ => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Thinking…");
                });
            }
        }
    }

    /// The composer: Enter sends, Shift+Enter starts a new line; Stop while a reply is written.
    /// About a `long_document`, a question that needs all of it ("list every deadline") is
    /// offered "Search every part".
    pub(crate) fn composer_ui(
        &mut self,
        ui: &mut egui::Ui,
        long_document: bool,
        out: &mut Vec<AppCommand>,
    ) {
        ui.add_space(6.0);
        if long_document && !self.is_generating() && suggests_every_part(&self.composer) {
            ui.horizontal(|ui| {
                ui.weak("This question may need the whole document:");
                if ui
                    .small_button("Search every part")
                    .on_hover_text(
                        "Ask it of every part in turn and combine the answers (slower than Send, which reads the most relevant passages)",
                    )
                    .clicked()
                {
                    out.push(AppCommand::SearchEveryPart { again: false });
                }
            });
        }
        let id = egui::Id::unique("composer");
        let focused = ui.memory(|m| m.has_focus(id));
        // Enter sends; Shift+Enter inserts a newline (the text edit handles that itself).
        let send_now = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter));
        let generating = self.is_generating();
        ui.horizontal(|ui| {
            let button_width = 90.0;
            let edit = egui::TextEdit::multiline(&mut self.composer)
                .id(id)
                .hint_text("Message XGen — Enter sends, Shift+Enter for a new line")
                .desired_rows(2)
                .desired_width(ui.available_width() - button_width);
            let response = ui.add(edit);
            if !generating && !focused && self.composer.is_empty() && !response.has_focus() {
                // Keep typing flowing into the composer when nothing else has focus.
                if ui.memory(|m| m.focused().is_none()) {
                    response.request_focus();
                }
            }
            if generating {
                if ui
                    .add_sized([button_width - 8.0, 32.0], egui::Button::new("Stop"))
                    .on_hover_text("Esc")
                    .clicked()
                {
                    out.push(AppCommand::Stop);
                }
            } else if ui
                .add_sized([button_width - 8.0, 32.0], egui::Button::new("Send"))
                .clicked()
            {
                out.push(AppCommand::Send);
            }
        });
        if send_now && !generating {
            out.push(AppCommand::Send);
        }
        ui.add_space(4.0);
    }
}

/// Under a message: the reply's figures and marks, and what can be done with it.
fn footer_ui(ui: &mut egui::Ui, message: &ChatMessage, place: &Place, out: &mut Vec<AppCommand>) {
    if let Some(stats) = &message.stats {
        ui.weak(format!(
            "{:.2} s to first token · {:.1} tok/s · {} tokens{}{}{}",
            stats.ttft_secs,
            stats.tok_per_sec,
            stats.tokens,
            if stats.drafted_kept > 0 {
                format!(" ({} from drafts)", thousands(stats.drafted_kept))
            } else {
                String::new()
            },
            stats
                .threads
                .describe()
                .map(|t| format!(" · {t}"))
                .unwrap_or_default(),
            if stats.prompt_evaluated < stats.prompt_tokens {
                format!(
                    " · {} of {} prompt tokens from cache",
                    thousands(stats.prompt_tokens - stats.prompt_evaluated),
                    thousands(stats.prompt_tokens)
                )
            } else {
                String::new()
            }
        ));
    }
    if let Some(check) = message.check.as_ref().filter(|_| place.marks) {
        let n = check.not_found().count();
        if n > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{n} claim{} not found in the document",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .on_hover_text("Figures, dates or names the document never mentions are underlined");
        }
    } else if place.checking {
        ui.weak("checking sources…");
    }
    if message.cut_off {
        ui.colored_label(ui.visuals().warn_fg_color, "(cut off)")
            .on_hover_text("The reply broke off here; Regenerate asks again");
    } else if message.stopped {
        ui.weak("(stopped)");
    }
    if place.streaming {
        return;
    }
    if ui
        .small_button("Copy")
        .on_hover_text("Copy this message")
        .clicked()
    {
        ui.ctx().copy_text(message.shown().to_owned());
    }
    if place.last
        && message.role == Role::Assistant
        && !place.generating
        && ui.small_button("Regenerate").clicked()
    {
        out.push(AppCommand::Regenerate);
    }
    if place.offer_every_part
        && ui
            .small_button("Search every part")
            .on_hover_text(
                "This question may need the whole document: ask it of every part in turn and combine the answers",
            )
            .clicked()
    {
        out.push(AppCommand::SearchEveryPart { again: true });
    }
    let editable = message.role == Role::User && message.label.is_none();
    if editable && place.last_user && !place.generating && ui.small_button("Edit").clicked() {
        out.push(AppCommand::EditLast);
    }
}

/// A conversation without messages: what the app does, and the way to a model.
fn empty_state_ui(ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.2);
        ui.heading("Ask XGen anything, or give it a document");
        ui.add_space(8.0);
        ui.label("Drop a file on the window, paste a long text, or open one (Ctrl+O).");
        ui.label(format!(
            "{} — everything stays on this computer.",
            Format::usual_extensions(" ", " ")
        ));
        ui.add_space(8.0);
        if matches!(shared.model.state(), ModelState::Empty) && ui.button("Get the model").clicked()
        {
            out.push(AppCommand::ShowView(View::Models));
        }
    });
}
