//! The native window: opening it, its icon and size, and the theme.

use std::path::PathBuf;

use anyhow::{anyhow, Result};

use super::command::AppCommand;
use super::options::AppOptions;
use super::settings::ThemeChoice;
use super::XgenApp;

pub(crate) fn apply_theme(ctx: &egui::Context, theme: ThemeChoice) {
    let preference = match theme {
        ThemeChoice::System => egui::ThemePreference::System,
        ThemeChoice::Light => egui::ThemePreference::Light,
        ThemeChoice::Dark => egui::ThemePreference::Dark,
    };
    ctx.options_mut(|o| o.theme_preference = preference);
}

/// Opens the window and runs until it is closed.
///
/// # Errors
/// When no window can be opened (no display, no OpenGL).
pub fn run() -> Result<()> {
    run_with_documents(Vec::new())
}

/// [`run`], opening `documents` (what a file manager passes with "Open with"): one as the
/// conversation's document, several (or a folder) as the queue.
///
/// # Errors
/// When no window can be opened (no display, no OpenGL).
pub fn run_with_documents(documents: Vec<PathBuf>) -> Result<()> {
    let opts = AppOptions::from_env()?;
    let mut viewport = egui::ViewportBuilder::default();
    // The installers' icon (assets/); a PNG that does not decode only costs the window icon.
    if let Ok(icon) = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport: viewport
            .with_title("xgen-desk")
            .with_app_id("xgen-desk")
            .with_inner_size([1100.0, 760.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "xgen-desk",
        options,
        Box::new(move |cc| {
            let mut app = XgenApp::new(&cc.egui_ctx, opts)?;
            if !documents.is_empty() {
                app.run(AppCommand::OpenFiles(documents));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow!("could not open the window: {e}"))
}
