//! One frame of the window: events from the jobs, keyboard shortcuts and drops, the toolbar,
//! the status bar and the screen on view.

use std::path::PathBuf;
use std::time::Duration;

use super::PASTE_AS_DOCUMENT_CHARS;
use super::{chat_view, models, queue_view, settings_view, sidebar, ModelState, View, XgenApp};

impl XgenApp {
    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let shortcut = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::O))) {
            self.documents.pick(&self.waker, &mut self.notices);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::N))) {
            self.new_conversation();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::Comma))) {
            self.view = if self.view == View::Settings {
                View::Chat
            } else {
                View::Settings
            };
        }
        if self.conversation().document.is_some()
            && !self.chat.is_generating()
            && ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::Enter)))
        {
            self.summarize();
        }
        if self.chat.is_generating()
            && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape))
        {
            self.stop();
        }
        // One file dropped on the window becomes the document; several, or a folder, the queue.
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        self.open_documents(&dropped);
        // A long paste becomes a document instead of chat text.
        let pasted = ctx.input_mut(|i| {
            let mut long = None;
            i.events.retain(|e| match e {
                egui::Event::Paste(text) if text.chars().count() >= PASTE_AS_DOCUMENT_CHARS => {
                    long = Some(text.clone());
                    false
                }
                _ => true,
            });
            long
        });
        if let Some(text) = pasted {
            self.attach_text("Pasted text", &text);
        }
    }

    fn status_text(&self) -> String {
        match self.model.state() {
            ModelState::Empty => "No model loaded".to_owned(),
            ModelState::Loading {
                path,
                checking: true,
                ..
            } => format!(
                "Checking {} in a separate process before its first use …",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            ),
            ModelState::Loading { path, progress, .. } => format!(
                "Loading {} … {:.0}%",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                progress * 100.0
            ),
            ModelState::Connecting { url } => format!("Connecting to {url} …"),
            ModelState::Ready(info) if info.server.is_some() => format!(
                "{} on {} · {} ctx per request · {} at a time",
                info.name,
                info.server.as_deref().unwrap_or_default(),
                info.n_ctx,
                self.server().map_or(1, |s| s.parallel)
            ),
            ModelState::Ready(info) => format!(
                "{} · {} ctx · {} threads · {}",
                info.name,
                info.n_ctx,
                if info.adaptive_threads {
                    format!("up to {}", info.threads.0)
                } else {
                    info.threads.0.to_string()
                },
                info.gpu_backend.as_deref().map_or_else(
                    || "CPU".to_owned(),
                    |b| format!("{b}, {} layers on GPU", info.gpu_layers)
                )
            ),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll();
        self.shortcuts(&ctx);
        let status = self.status_text();

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(&status);
                if self.documents.is_reading() {
                    ui.spinner();
                    ui.label("Reading the document…");
                }
            });
        });
        egui::Panel::left("conversations")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| sidebar::sidebar_ui(self, ui));
        if self.queue.visible {
            egui::Panel::right("queue")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| queue_view::queue_ui(self, ui));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.notices_ui(ui);
            match self.view {
                View::Chat => chat_view::chat_ui(self, ui),
                View::Models => models::models_ui(self, ui),
                View::Settings => settings_view::settings_ui(self, ui),
            }
        });
        self.save_settings_if_changed(&ctx);
        if self.chat.is_generating()
            || self.manager.setup.running
            || self.model.is_loading()
            || self.queue.is_busy()
        {
            // Keeps ETAs and spinners moving between events.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("xgen-desk");
            ui.separator();
            if ui.button("New chat").on_hover_text("Ctrl+N").clicked() {
                self.new_conversation();
            }
            if ui
                .button("Open document…")
                .on_hover_text("Ctrl+O — .txt .md .pdf .docx .odt .epub .html")
                .clicked()
            {
                self.documents.pick(&self.waker, &mut self.notices);
            }
            if !self.queue.items().is_empty() {
                ui.toggle_value(&mut self.queue.visible, "Queue");
            }
            ui.separator();
            ui.selectable_value(&mut self.view, View::Chat, "Chat");
            ui.selectable_value(&mut self.view, View::Models, "Models");
            ui.selectable_value(&mut self.view, View::Settings, "Settings")
                .on_hover_text("Ctrl+,");
        });
    }
}

impl eframe::App for XgenApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        Self::ui(self, ui);
    }
}
