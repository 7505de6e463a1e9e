//! The queue panel: per file its name, format, tokens, status, progress and coverage, with
//! Pause, Resume, Cancel, Retry, Open and Remove; for the whole queue Pause, Export all and
//! Clear finished.

use egui::RichText;

use super::queue::{QueueAction, QueueItem, QueueStatus};
use super::XgenApp;
use crate::summarize::report::thousands;

/// What a click asked for, applied after drawing.
enum Click {
    Item(u64, QueueAction),
    Open(String),
    Pause(bool),
    Export,
    ClearFinished,
    Hide,
}

/// Draws the queue.
pub(super) fn queue_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    let mut click = None;
    let items = app.queue.items();
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
                click = Some(Click::Hide);
            }
        });
    });
    ui.horizontal_wrapped(|ui| {
        let paused = app.queue.is_paused();
        if ui
            .button(if paused {
                "Resume queue"
            } else {
                "Pause queue"
            })
            .clicked()
        {
            click = Some(Click::Pause(!paused));
        }
        if ui
            .add_enabled(done + failed > 0, egui::Button::new("Export all…"))
            .on_hover_text("One Markdown report: each file's summary, source and coverage")
            .clicked()
        {
            click = Some(Click::Export);
        }
        if ui.button("Clear finished").clicked() {
            click = Some(Click::ClearFinished);
        }
    });
    if app.queue.is_paused() {
        ui.label("Paused: nothing new starts until you resume.");
    }
    if !matches!(app.model(), super::ModelState::Ready(_))
        && items.iter().any(|i| i.status.is_pending())
    {
        ui.label("The queue is summarized once a model is loaded.");
    }
    ui.separator();
    let conversations: Vec<&str> = app.conversations().iter().map(|c| c.id.as_str()).collect();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for item in items {
                let has_conversation = item
                    .conversation
                    .as_deref()
                    .is_some_and(|id| conversations.contains(&id));
                if let Some(c) = item_ui(ui, item, has_conversation) {
                    click = Some(c);
                }
                ui.add_space(4.0);
            }
        });
    match click {
        Some(Click::Item(id, action)) => app.queue.act(id, action),
        Some(Click::Open(id)) => app.select_conversation(&id),
        Some(Click::Pause(paused)) => app.queue.set_paused(paused),
        Some(Click::Export) => app.queue.export(&app.waker, &mut app.notices),
        Some(Click::ClearFinished) => app.queue.clear_finished(),
        Some(Click::Hide) => app.queue.visible = false,
        None => {}
    }
}

fn item_ui(ui: &mut egui::Ui, item: &QueueItem, has_conversation: bool) -> Option<Click> {
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
                    .then_some(Click::Item(item.id, action))
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
                                .then(|| Click::Open(id.clone())),
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
