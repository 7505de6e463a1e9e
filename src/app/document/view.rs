//! The document card above the conversation: the document's name and size, the token meter
//! with the reading ahead, the summary's style and length, and Summarize.

use clap::ValueEnum as _;
use egui::RichText;

use super::Documents;
use crate::app::command::AppCommand;
use crate::app::model::ModelState;
use crate::app::settings::{Settings, SummaryLength};
use crate::app::shared::Shared;
use crate::prompt::SummaryStyle;
use crate::summarize::report::thousands;

impl Documents {
    /// Draws the card of the document of the conversation on screen (nothing without one);
    /// `generating`: a reply is being written, so no summary starts.
    pub(crate) fn card_ui(
        &self,
        ui: &mut egui::Ui,
        shared: &Shared,
        generating: bool,
        out: &mut Vec<AppCommand>,
    ) {
        let conversation = shared.conversations.current();
        let Some(doc) = conversation.document.as_ref() else {
            return;
        };
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label(RichText::new(&doc.name).strong());
            ui.label(format!(
                "{} characters",
                thousands(doc.text.chars().count())
            ));
            if let Some(ocr) = &doc.ocr {
                // Text recognised from page images may misread names and numbers: the card
                // says so, the hover which pages.
                ui.label(
                    RichText::new(format!("read by OCR · {}% confidence", ocr.confidence))
                        .color(ui.visuals().warn_fg_color),
                )
                .on_hover_text(ocr.sentence(doc.page_count()));
            }
            if ui
                .small_button("Remove")
                .on_hover_text("Detach the document from this chat")
                .clicked()
            {
                out.push(AppCommand::DetachDocument);
            }
        });
        match (self.meter(&conversation.id), shared.model.state()) {
            (Some(meter), _) => {
                let used = meter.prompt_tokens + meter.reserved;
                let fraction = used as f32 / meter.n_ctx.max(1) as f32;
                let reading = match self.preread(&conversation.id) {
                    Some((done, total, _)) if done >= total && total > 0 => " · read".to_owned(),
                    Some((done, total, false)) => {
                        format!(" · read {} of {} tokens", thousands(done), thousands(total))
                    }
                    _ => String::new(),
                };
                let text = format!(
                    "{}{} tokens · {} with the request and {} reserved for the summary, of {} — {}{reading}",
                    if meter.estimated { "about " } else { "" },
                    thousands(meter.document_tokens),
                    thousands(meter.prompt_tokens),
                    thousands(meter.reserved),
                    thousands(meter.n_ctx),
                    if meter.fits() {
                        "fits".to_owned()
                    } else {
                        format!("too long for one pass: read in {} parts", meter.parts)
                    }
                );
                let bar = egui::ProgressBar::new(fraction.min(1.0)).text(text);
                let bar = if meter.fits() {
                    bar
                } else {
                    bar.fill(ui.visuals().warn_fg_color)
                };
                ui.add(bar);
            }
            (None, ModelState::Ready(_)) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Counting tokens…");
                });
            }
            (None, _) => {
                ui.label("Load a model to count the document's tokens.");
            }
        }
        ui.horizontal(|ui| {
            let settings = &shared.settings;
            let mut style = settings.summary_style;
            let style_label_id = ui.label("Style").id;
            egui::ComboBox::from_id_salt("summary-style")
                .selected_text(style.label())
                .show_ui(ui, |ui| {
                    for &choice in SummaryStyle::value_variants() {
                        ui.selectable_value(&mut style, choice, choice.label());
                    }
                })
                .response
                .labelled_by(style_label_id);
            let mut length = settings.summary_length;
            let length_label_id = ui.label("Length").id;
            egui::ComboBox::from_id_salt("summary-length")
                .selected_text(length.label())
                .show_ui(ui, |ui| {
                    for &choice in SummaryLength::value_variants() {
                        ui.selectable_value(&mut length, choice, choice.label());
                    }
                })
                .response
                .labelled_by(length_label_id);
            if style != settings.summary_style || length != settings.summary_length {
                out.push(AppCommand::ChangeSettings(Box::new(Settings {
                    summary_style: style,
                    summary_length: length,
                    ..settings.clone()
                })));
            }
            let can_run = !generating && matches!(shared.model.state(), ModelState::Ready(_));
            if ui
                .add_enabled(can_run, egui::Button::new("Summarize"))
                .on_hover_text("Ctrl+Enter")
                .clicked()
            {
                out.push(AppCommand::Summarize);
            }
        });
        ui.add_space(4.0);
    }
}
