//! Notices: problems shown in the window in words a person can act on, with the whole error
//! chain one click away and, where one helps, a button (Reload, Open Models).

use super::command::{AppCommand, View};

/// Something a notice offers to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeAction {
    /// Start a new engine and load the model again (after the engine stopped).
    Reload,
    /// Show the model manager.
    OpenModels,
}

/// A problem shown in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// One sentence a person can act on.
    pub message: String,
    /// The whole error chain, shown on demand.
    pub details: Option<String>,
    /// A button beside it.
    pub action: Option<NoticeAction>,
}

impl Notice {
    pub(crate) fn text(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            details: None,
            action: None,
        }
    }
}

/// The notices on screen.
#[derive(Debug, Default)]
pub(crate) struct Notices(Vec<Notice>);

impl Notices {
    /// Shows `notice`, unless the same one is on screen already (a problem met again, such as
    /// a save that keeps failing, is said once).
    pub(crate) fn push(&mut self, notice: Notice) {
        if !self.0.contains(&notice) {
            self.0.push(notice);
        }
    }

    /// A message written for people, shown whole.
    pub(crate) fn message(&mut self, message: &str) {
        self.push(Notice::text(message));
    }

    /// `message`, with the error's whole chain as the details.
    pub(crate) fn error(&mut self, message: &str, error: &(dyn std::error::Error + 'static)) {
        self.push(Notice {
            message: message.to_owned(),
            details: Some(crate::error_text::chain(error)),
            action: None,
        });
    }
}

pub(crate) fn first_sentence(text: &str) -> String {
    let mut s = text.split(": ").next().unwrap_or(text).trim().to_owned();
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

impl Notices {
    /// The notices on screen, oldest first.
    pub(crate) fn all(&self) -> &[Notice] {
        &self.0
    }

    /// Removes notice `index`.
    pub(crate) fn dismiss(&mut self, index: usize) {
        if index < self.0.len() {
            self.0.remove(index);
        }
    }

    /// Draws the notices above the central panel.
    pub(crate) fn ui(&self, ui: &mut egui::Ui, out: &mut Vec<AppCommand>) {
        for (i, n) in self.0.iter().enumerate() {
            // Each notice's widgets (its Details, its buttons) get ids of their own.
            ui.push_id(i, |ui| {
                egui::Frame::group(ui.style())
                    .fill(ui.visuals().error_fg_color.gamma_multiply(0.12))
                    .show(ui, |ui| {
                        // The buttons first, on the right, so a long message wraps beside them
                        // instead of pushing them out of the window.
                        ui.horizontal(|ui| {
                            ui.colored_label(ui.visuals().error_fg_color, "!");
                            ui.with_layout(egui::Layout::right_to_left(egui::Align::TOP), |ui| {
                                if ui.small_button("Dismiss").clicked() {
                                    out.push(AppCommand::DismissNotice(i));
                                }
                                let action = n.action.map(|action| match action {
                                    NoticeAction::Reload => ("Reload", AppCommand::ReloadEngine),
                                    NoticeAction::OpenModels => {
                                        ("Open Models", AppCommand::ShowView(View::Models))
                                    }
                                });
                                if let Some((label, command)) = action {
                                    if ui.button(label).clicked() {
                                        out.push(AppCommand::DismissNotice(i));
                                        out.push(command);
                                    }
                                }
                                ui.with_layout(
                                    egui::Layout::left_to_right(egui::Align::TOP)
                                        .with_main_wrap(true),
                                    |ui| ui.add(egui::Label::new(&n.message).wrap()),
                                );
                            });
                        });
                        if let Some(details) = &n.details {
                            ui.collapsing("Details", |ui| {
                                ui.label(egui::RichText::new(details).monospace());
                            });
                        }
                    });
            });
        }
    }
}
