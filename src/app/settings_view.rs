//! The settings screen: system prompt, sampling presets and values, context size, theme. It
//! edits a copy of the settings in effect; a change is one [`AppCommand::ChangeSettings`],
//! which puts it in effect and saves it.

use super::command::AppCommand;
use super::settings::{Preset, ThemeChoice};
use super::shared::Shared;
use crate::engine::DraftMode;

const CONTEXT_CHOICES: [Option<u32>; 5] = [None, Some(2048), Some(4096), Some(8192), Some(16384)];

/// Draws the settings screen; changes are saved as they are made.
pub(crate) fn settings_ui(ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
    let mut settings = shared.settings.clone();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.heading("Settings");
            ui.add_space(6.0);
            ui.strong("System prompt");
            ui.weak("Instructions placed before every conversation. Empty uses the model's own.");
            ui.add(
                egui::TextEdit::multiline(&mut settings.system_prompt)
                    .desired_rows(3)
                    .desired_width(f32::INFINITY)
                    .hint_text(crate::prompt::XGEN_SYSTEM),
            );
            ui.add_space(10.0);

            ui.strong("Sampling");
            ui.horizontal(|ui| {
                ui.label("Preset:");
                for preset in Preset::ALL {
                    let active = preset.apply(&settings.sampling) == settings.sampling;
                    if ui.selectable_label(active, preset.label()).clicked() {
                        settings.sampling = preset.apply(&settings.sampling);
                    }
                }
            });
            let s = &mut settings.sampling;
            egui::Grid::new("sampling").num_columns(2).show(ui, |ui| {
                ui.label("Temperature");
                ui.add(egui::Slider::new(&mut s.temperature, 0.0..=2.0).step_by(0.05));
                ui.end_row();
                ui.label("Top-k");
                ui.add(egui::Slider::new(&mut s.top_k, 0..=500));
                ui.end_row();
                ui.label("Top-p");
                ui.add(egui::Slider::new(&mut s.top_p, 0.0..=1.0).step_by(0.01));
                ui.end_row();
                ui.label("Repeat penalty");
                ui.add(egui::Slider::new(&mut s.repeat_penalty, 1.0..=2.0).step_by(0.01));
                ui.end_row();
                ui.label("Max reply tokens");
                ui.add(egui::Slider::new(&mut s.max_tokens, 16..=4096).logarithmic(true));
                ui.end_row();
            });
            ui.horizontal(|ui| {
                let label_id = ui.label("Drafts from the document").id;
                let drafts = &mut settings.sampling.drafts;
                egui::ComboBox::from_id_salt("drafts")
                    .selected_text(draft_label(*drafts))
                    .show_ui(ui, |ui| {
                        for mode in DraftMode::ALL {
                            ui.selectable_value(drafts, mode, draft_label(mode));
                        }
                    })
                    .response
                    .labelled_by(label_id)
                    .on_hover_text(
                        "Replies that quote the document check several of its tokens at once. \
                         Auto does so only where it saves time and this computer computes the \
                         same reply either way; On also where the wording can then differ slightly.",
                    );
            });
            ui.add_space(10.0);

            let context_label_id = ui.strong("Context size").id;
            egui::ComboBox::from_id_salt("context")
                .selected_text(context_label(settings.n_ctx))
                .show_ui(ui, |ui| {
                    for choice in CONTEXT_CHOICES {
                        ui.selectable_value(&mut settings.n_ctx, choice, context_label(choice));
                    }
                })
                .response
                .labelled_by(context_label_id);
            ui.weak("Larger contexts hold longer documents and use more memory; changing it reloads the model.");
            ui.add_space(10.0);

            ui.strong("Sources");
            ui.checkbox(
                &mut settings.mark_unsupported,
                "Mark what the document does not say",
            )
            .on_hover_text(
                "Sentences of a reply that no passage of the document supports, and figures, \
                 dates and names it never mentions, are marked and counted under the reply.",
            );
            ui.add_space(10.0);

            ui.strong("Theme");
            ui.horizontal(|ui| {
                ui.radio_value(&mut settings.theme, ThemeChoice::System, "Follow the system");
                ui.radio_value(&mut settings.theme, ThemeChoice::Light, "Light");
                ui.radio_value(&mut settings.theme, ThemeChoice::Dark, "Dark");
            });
            ui.add_space(10.0);
            ui.strong("Files");
            let opts = &shared.opts;
            ui.label(format!("Data: {}", opts.paths.data_dir().display()));
            ui.label(format!("Models: {}", opts.paths.models_dir().display()));
            ui.label(format!("Downloads: {}", opts.hub.cache_dir.display()));
        });
    if settings != shared.settings {
        out.push(AppCommand::ChangeSettings(Box::new(settings)));
    }
}

fn context_label(n: Option<u32>) -> String {
    n.map_or_else(
        || "Model default (up to 8K)".to_owned(),
        |n| format!("{} tokens", n),
    )
}

/// How the drafts setting reads in its menu.
fn draft_label(mode: DraftMode) -> &'static str {
    match mode {
        DraftMode::Auto => "Auto: when it pays, same replies",
        DraftMode::On => "On: when it pays, wording may differ slightly",
        DraftMode::Off => "Off",
        DraftMode::Always => "Always (for measurements)",
    }
}
