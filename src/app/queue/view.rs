//! The queue panel: per file its name, format, tokens, status, progress and coverage, with
//! Pause, Resume, Cancel, Retry, Open and Remove; for the whole queue Pause, Export all and
//! Clear finished.

use egui::RichText;

use super::{Queue, QueueItem, QueueStatus};
use crate::app::command::{AppCommand, QueueAction, QueueCommand};
use crate::app::model::ModelState;
use crate::app::shared::Shared;
use crate::summarize::report::thousands;

impl Queue {
    /// Draws the queue panel.
    pub(crate) fn ui(&self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        let queue = AppCommand::Queue;
        let items = &self.items;
        let done = items
            .iter()
            .filter(|i| i.status == QueueStatus::Done)
            .count();
        let failed = items
            .iter()
            .filter(|i| i.status == QueueStatus::Failed)
            .count();
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.strong("Queue");
            ui.label(format!("{done} of {} summarized", items.len()));
            if failed > 0 {
                ui.colored_label(ui.visuals().error_fg_color, format!("{failed} failed"));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button("Hide").clicked() {
                    out.push(queue(QueueCommand::Show(false)));
                }
            });
        });
        ui.horizontal_wrapped(|ui| {
            let paused = self.paused;
            if ui
                .button(if paused {
                    "Resume queue"
                } else {
                    "Pause queue"
                })
                .clicked()
            {
                out.push(queue(QueueCommand::SetPaused(!paused)));
            }
            if ui
                .add_enabled(done + failed > 0, egui::Button::new("Export all…"))
                .on_hover_text("One Markdown report: each file's summary, source and coverage")
                .clicked()
            {
                out.push(queue(QueueCommand::Export { to: None }));
            }
            if ui.button("Clear finished").clicked() {
                out.push(queue(QueueCommand::ClearFinished));
            }
        });
        if self.paused {
            ui.label("Paused: nothing new starts until you resume.");
        }
        if !matches!(shared.model.state(), ModelState::Ready(_))
            && items.iter().any(|i| i.status.is_pending())
        {
            ui.label("The queue is summarized once a model is loaded.");
        }
        ui.separator();
        let conversations: Vec<&str> = shared
            .conversations
            .all()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for item in items {
                    let has_conversation = item
                        .conversation
                        .as_deref()
                        .is_some_and(|id| conversations.contains(&id));
                    if let Some(command) = item_ui(ui, item, has_conversation) {
                        out.push(command);
                    }
                    ui.add_space(4.0);
                }
            });
    }
}

/// One file: what is known of it, where it stands, and its buttons.
fn item_ui(ui: &mut egui::Ui, item: &QueueItem, has_conversation: bool) -> Option<AppCommand> {
    let mut click = None;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(RichText::new(&item.name).strong())
            .on_hover_text(item.path.display().to_string());
        let mut about = Vec::new();
        if let Some(format) = item.format {
            about.push(format.name().to_owned());
        }
        if let Some(tokens) = item.tokens {
            about.push(format!("{} tokens", thousands(tokens)));
        }
        if let Some(c) = item.coverage.filter(|c| c.total > 0) {
            about.push(format!(
                "coverage {:.0}% ({} of {} part{})",
                c.percent(),
                c.read,
                c.total,
                if c.total == 1 { "" } else { "s" }
            ));
        }
        if !about.is_empty() {
            ui.label(about.join(" · "));
        }
        let status = if item.detail.is_empty() || item.detail == item.status.label() {
            item.status.label().to_owned()
        } else {
            format!("{}: {}", item.status.label(), item.detail)
        };
        match item.status {
            QueueStatus::Failed => {
                ui.add(
                    egui::Label::new(RichText::new(status).color(ui.visuals().error_fg_color))
                        .wrap(),
                );
            }
            QueueStatus::Reading => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(status);
                });
            }
            _ => {
                ui.add(egui::Label::new(status).wrap());
            }
        }
        if let Some(progress) = item.progress {
            ui.add(egui::ProgressBar::new(progress).show_percentage());
        }
        if item.status == QueueStatus::Summarizing && !item.summary.is_empty() {
            let tail: String = item.summary.chars().rev().take(160).collect();
            let tail: String = tail.chars().rev().collect();
            ui.label(RichText::new(format!("…{}", tail.trim())).italics().weak());
        }
        ui.horizontal_wrapped(|ui| {
            let button = |ui: &mut egui::Ui, label: &str, action: QueueAction| {
                ui.small_button(label)
                    .clicked()
                    .then_some(AppCommand::Queue(QueueCommand::File {
                        id: item.id,
                        action,
                    }))
            };
            let clicked =
                match item.status {
                    QueueStatus::Waiting
                    | QueueStatus::Reading
                    | QueueStatus::Read
                    | QueueStatus::Summarizing => button(ui, "Pause", QueueAction::Pause)
                        .or(button(ui, "Cancel", QueueAction::Cancel)),
                    QueueStatus::Paused => button(ui, "Resume", QueueAction::Resume).or(button(
                        ui,
                        "Cancel",
                        QueueAction::Cancel,
                    )),
                    QueueStatus::Failed | QueueStatus::Cancelled => button(
                        ui,
                        "Retry",
                        QueueAction::Retry,
                    )
                    .or(button(ui, "Remove", QueueAction::Remove)),
                    QueueStatus::Done => {
                        let open = match &item.conversation {
                            Some(id) if has_conversation => ui
                                .small_button("Open")
                                .on_hover_text("The summary as a conversation, for questions")
                                .clicked()
                                .then(|| AppCommand::SelectConversation(id.clone())),
                            _ => None,
                        };
                        open.or(button(ui, "Remove", QueueAction::Remove))
                    }
                };
            if clicked.is_some() {
                click = clicked;
            }
        });
    });
    click
}
