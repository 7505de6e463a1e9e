//! One frame of the window, and the one place where its parts are listed: what each frame polls,
//! the keyboard shortcuts, drops and pastes, and the layout of the panels (the toolbar with a tab
//! per [`View`], the status bar, the conversations at the left, the queue at the right, the
//! notices and the screen on view in the middle). Every panel is drawn by its feature, which
//! pushes what is clicked as [`AppCommand`]s; they run once the frame is drawn.

use std::path::PathBuf;
use std::time::Duration;

use super::chat::Chat;
use super::command::{AppCommand, QueueCommand, View};
use super::document::Documents;
use super::document_view::DocumentView;
use super::queue::Queue;
use super::settings_view::settings_ui;
use super::shared::Shared;
use super::{XgenApp, PASTE_AS_DOCUMENT_CHARS};
use crate::documents::Format;

impl XgenApp {
    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll();
        // Shortcuts, drops and pastes act before drawing, so this frame shows what they did.
        for command in self.input(&ctx) {
            self.run(command);
        }
        let mut commands = Vec::new();
        self.panels_ui(ui, &mut commands);
        if !commands.is_empty() {
            for command in commands {
                self.run(command);
            }
            // This frame showed the state before the commands.
            ctx.request_repaint();
        }
        if self.is_busy() {
            // Keeps ETAs and spinners moving between events.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    /// Applies what every feature's background work reported since the last frame.
    fn poll(&mut self) {
        for change in self.shared.model.poll() {
            self.on_model_change(change);
        }
        self.chat.poll(&mut self.shared);
        let shared = &mut self.shared;
        let queue_checks = shared
            .checks
            .poll(&mut shared.conversations, &mut shared.notices);
        self.queue.take_checks(queue_checks, &mut self.shared);
        // Replies about the document on screen get their check (a reply written before
        // checks existed, or one whose check was dropped).
        let writing = self.chat.writing(&self.shared);
        let shared = &mut self.shared;
        shared
            .checks
            .follow(shared.conversations.current(), writing, &shared.waker);
        if self.documents.poll(&mut self.shared) {
            self.view = View::Chat;
        }
        self.shared.conversations.poll(&mut self.shared.notices);
        // A reply the person asked for goes first: the queue's next summary waits for it.
        let chat_busy = self.chat.is_generating();
        self.queue.poll(&mut self.shared, chat_busy);
        for command in self.manager.poll(&mut self.shared) {
            self.run(command);
        }
        // The meter follows the conversation on screen and the model.
        self.documents.follow(&mut self.shared);
    }

    /// Something runs whose progress is on screen (spinners, ETAs).
    fn is_busy(&self) -> bool {
        self.chat.is_generating()
            || self.shared.checks.is_busy()
            || self.manager.setup().running
            || self.shared.model.is_loading()
            || self.queue.is_busy()
    }

    /// The keyboard shortcuts, files dropped on the window and long pastes, as commands.
    fn input(&self, ctx: &egui::Context) -> Vec<AppCommand> {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let mut commands = Vec::new();
        let shortcut = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::O))) {
            commands.push(AppCommand::PickDocument);
        }
        if self.conversation().document.is_some()
            && ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::F)))
        {
            commands.push(AppCommand::FindInDocument);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::N))) {
            commands.push(AppCommand::NewConversation);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::Comma))) {
            commands.push(AppCommand::ShowView(if self.view == View::Settings {
                View::Chat
            } else {
                View::Settings
            }));
        }
        let generating = self.chat.is_generating();
        if self.conversation().document.is_some()
            && !generating
            && ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::Enter)))
        {
            commands.push(AppCommand::Summarize);
        }
        if generating && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            commands.push(AppCommand::Stop);
        }
        // One file dropped on the window becomes the document; several, or a folder, the queue.
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            commands.push(AppCommand::OpenFiles(dropped));
        }
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
            commands.push(AppCommand::AttachText {
                name: "Pasted text".to_owned(),
                text,
            });
        }
        commands
    }

    /// Lays out the panels; each feature draws its own.
    fn panels_ui(&mut self, ui: &mut egui::Ui, out: &mut Vec<AppCommand>) {
        let Self {
            shared,
            chat,
            documents,
            document_view,
            queue,
            manager,
            sidebar,
            view,
            ..
        } = self;
        let shared = &*shared;
        let view = *view;
        egui::Panel::top("toolbar").show(ui, |ui| toolbar_ui(ui, view, queue, out));
        egui::Panel::bottom("status").show(ui, |ui| status_ui(ui, shared, documents));
        egui::Panel::left("conversations")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| sidebar.ui(ui, shared, out));
        if queue.is_visible() {
            egui::Panel::right("queue")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| queue.ui(ui, shared, out));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            shared.notices.ui(ui, out);
            match view {
                View::Chat => chat_screen_ui(ui, shared, chat, documents, document_view, out),
                View::Models => manager.ui(ui, shared, out),
                View::Settings => settings_ui(ui, shared, out),
            }
        });
    }
}

/// The toolbar: new chat, open, the queue's toggle and a tab per screen.
fn toolbar_ui(ui: &mut egui::Ui, view: View, queue: &Queue, out: &mut Vec<AppCommand>) {
    ui.horizontal(|ui| {
        ui.heading("xgen-desk");
        ui.separator();
        if ui.button("New chat").on_hover_text("Ctrl+N").clicked() {
            out.push(AppCommand::NewConversation);
        }
        if ui
            .button("Open document…")
            .on_hover_text(format!("Ctrl+O — {}", Format::usual_extensions(" ", " ")))
            .clicked()
        {
            out.push(AppCommand::PickDocument);
        }
        if !queue.items().is_empty() {
            let mut visible = queue.is_visible();
            if ui.toggle_value(&mut visible, "Queue").clicked() {
                out.push(AppCommand::Queue(QueueCommand::Show(visible)));
            }
        }
        ui.separator();
        for tab in View::ALL {
            let mut response = ui.selectable_label(view == tab, tab.label());
            if let Some(shortcut) = tab.shortcut() {
                response = response.on_hover_text(shortcut);
            }
            if response.clicked() && view != tab {
                out.push(AppCommand::ShowView(tab));
            }
        }
    });
}

/// The status bar: the model, and a file being read.
fn status_ui(ui: &mut egui::Ui, shared: &Shared, documents: &Documents) {
    ui.horizontal(|ui| {
        ui.label(shared.model.status_text());
        if documents.is_reading() {
            ui.spinner();
            match documents.reading_progress() {
                // A scan: its pages are read by OCR, seconds each.
                Some(progress) if progress.total > 0 => {
                    ui.label(format!("Reading the document… {}", progress.describe()));
                }
                _ => {
                    ui.label("Reading the document…");
                }
            }
        }
    });
}

/// The chat screen: the composer at the bottom, the document's card at the top (with what the
/// last question read), the document view at the right when open, the messages between.
fn chat_screen_ui(
    ui: &mut egui::Ui,
    shared: &Shared,
    chat: &mut Chat,
    documents: &Documents,
    document_view: &mut DocumentView,
    out: &mut Vec<AppCommand>,
) {
    let conversation = shared.conversations.current();
    let long_document = documents.meter(&conversation.id).is_some_and(|m| !m.fits());
    egui::Panel::bottom("composer")
        .resizable(false)
        .show(ui, |ui| chat.composer_ui(ui, long_document, out));
    let has_document = conversation.document.is_some();
    let last_read = chat.last_read(shared);
    if has_document {
        let generating = chat.is_generating();
        egui::Panel::top("document")
            .resizable(false)
            .show(ui, |ui| {
                documents.card_ui(ui, shared, generating, out);
                ui.horizontal(|ui| {
                    if !document_view.is_visible()
                        && ui
                            .small_button("View the text")
                            .on_hover_text("The document as the model reads it (Ctrl+F searches)")
                            .clicked()
                    {
                        out.push(AppCommand::ShowDocumentView(true));
                    }
                    if let Some(read) = &last_read {
                        ui.label(format!("Last question: {}", read.said));
                    }
                });
            });
    }
    if has_document && document_view.is_visible() {
        egui::Panel::right("document-view")
            .resizable(true)
            .min_size(320.0)
            .default_size(ui.available_width() * 0.45)
            .show(ui, |ui| {
                document_view.ui(ui, shared, last_read.as_ref(), out)
            });
    }
    chat.messages_ui(ui, shared, long_document, out);
}

impl eframe::App for XgenApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        Self::ui(self, ui);
    }
}
