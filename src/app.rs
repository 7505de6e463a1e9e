//! The desktop app (egui). `main.rs` only starts it; tests build [`XgenApp`] directly.

use anyhow::{anyhow, Result};

/// The application state.
#[derive(Debug, Default)]
pub struct XgenApp {
    /// Text shown in the status bar.
    pub status: String,
}

impl XgenApp {
    /// A new app.
    #[must_use]
    pub fn new() -> Self {
        Self {
            status: "No model loaded".to_owned(),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.label(&self.status);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("xgen-desk");
            ui.label("An offline assistant for XGen-7B-8K-Inst.");
        });
    }
}

impl eframe::App for XgenApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        XgenApp::ui(self, ui);
    }
}

/// Opens the window and runs until it is closed.
///
/// # Errors
/// When no window can be opened (no display, no OpenGL).
pub fn run() -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("xgen-desk")
            .with_inner_size([1100.0, 760.0]),
        ..Default::default()
    };
    eframe::run_native(
        "xgen-desk",
        options,
        Box::new(|_cc| Ok(Box::new(XgenApp::new()))),
    )
    .map_err(|e| anyhow!("could not open the window: {e}"))
}
