//! The list of conversations at the left: select, rename, delete, export, copy.

use super::command::AppCommand;
use super::shared::Shared;

/// The conversation list's own state: the title being edited.
#[derive(Default)]
pub(crate) struct Sidebar {
    /// The conversation being renamed, and the text typed so far.
    renaming: Option<(String, String)>,
}

impl Sidebar {
    /// Draws the conversation list.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        ui.add_space(4.0);
        ui.strong("Conversations");
        ui.separator();
        let current = &shared.conversations.current().id;
        let mut rename_done = false;
        let mut rename_start = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for c in shared.conversations.all() {
                    let id = &c.id;
                    if let Some((renaming, buffer)) = self.renaming.as_mut() {
                        if renaming == id {
                            let response = ui.add(
                                egui::TextEdit::singleline(buffer)
                                    .id(egui::Id::unique(("rename", id.as_str())))
                                    .desired_width(f32::INFINITY),
                            );
                            response.request_focus();
                            if response.lost_focus()
                                || ui.input(|i| i.key_pressed(egui::Key::Enter))
                            {
                                out.push(AppCommand::RenameConversation {
                                    id: id.clone(),
                                    title: buffer.clone(),
                                });
                                rename_done = true;
                            }
                            continue;
                        }
                    }
                    let response = ui.selectable_label(id == current, &c.title);
                    if response.clicked() {
                        out.push(AppCommand::SelectConversation(id.clone()));
                    }
                    if response.double_clicked() {
                        rename_start = Some((id.clone(), c.title.clone()));
                    }
                    response.context_menu(|ui| {
                        if ui.button("Rename").clicked() {
                            rename_start = Some((id.clone(), c.title.clone()));
                            ui.close();
                        }
                        if ui.button("Copy as Markdown").clicked() {
                            ui.ctx().copy_text(c.to_markdown());
                            ui.close();
                        }
                        if ui.button("Export to Markdown…").clicked() {
                            out.push(AppCommand::ExportConversation {
                                id: id.clone(),
                                to: None,
                            });
                            ui.close();
                        }
                        if ui.button("Delete").clicked() {
                            out.push(AppCommand::DeleteConversation(id.clone()));
                            ui.close();
                        }
                    });
                }
            });
        if rename_done {
            self.renaming = None;
        }
        if let Some(start) = rename_start {
            self.renaming = Some(start);
        }
    }
}
