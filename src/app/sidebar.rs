//! The list of conversations: select, rename, delete, export, copy.

use super::XgenApp;

/// Draws the conversation list.
pub(super) fn sidebar_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    ui.add_space(4.0);
    ui.strong("Conversations");
    ui.separator();
    let current = app.conversation().id.clone();
    let items: Vec<(String, String)> = app
        .conversations()
        .iter()
        .map(|c| (c.id.clone(), c.title.clone()))
        .collect();
    let mut select = None;
    let mut delete = None;
    let mut export = None;
    let mut copy = None;
    let mut rename_done = None;
    let mut rename_start = None;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (id, title) in &items {
                if let Some((renaming, buffer)) = app.conversations.renaming.as_mut() {
                    if renaming == id {
                        let response = ui.add(
                            egui::TextEdit::singleline(buffer)
                                .id(egui::Id::unique(("rename", id.as_str())))
                                .desired_width(f32::INFINITY),
                        );
                        response.request_focus();
                        if response.lost_focus() || ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                            rename_done = Some((id.clone(), buffer.clone()));
                        }
                        continue;
                    }
                }
                let response = ui.selectable_label(*id == current, title);
                if response.clicked() {
                    select = Some(id.clone());
                }
                if response.double_clicked() {
                    rename_start = Some((id.clone(), title.clone()));
                }
                response.context_menu(|ui| {
                    if ui.button("Rename").clicked() {
                        rename_start = Some((id.clone(), title.clone()));
                        ui.close();
                    }
                    if ui.button("Copy as Markdown").clicked() {
                        copy = Some(id.clone());
                        ui.close();
                    }
                    if ui.button("Export to Markdown…").clicked() {
                        export = Some(id.clone());
                        ui.close();
                    }
                    if ui.button("Delete").clicked() {
                        delete = Some(id.clone());
                        ui.close();
                    }
                });
            }
        });
    if let Some(id) = select {
        app.select_conversation(&id);
    }
    if let Some((id, title)) = rename_done {
        app.rename_conversation(&id, &title);
        app.conversations.renaming = None;
    }
    if let Some(start) = rename_start {
        app.conversations.renaming = Some(start);
    }
    if let Some(id) = copy {
        if let Some(c) = app.conversations().iter().find(|c| c.id == id) {
            ui.ctx().copy_text(c.to_markdown());
        }
    }
    if let Some(id) = export {
        app.conversations.export(&id, &app.waker, &mut app.notices);
    }
    if let Some(id) = delete {
        app.delete_conversation(&id);
    }
}
