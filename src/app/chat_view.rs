//! The conversation: document card, messages with streaming Markdown, prefill progress and the
//! composer.

use egui::{Key, Modifiers, RichText};
use egui_commonmark::CommonMarkViewer;

use super::settings::{style_label, SummaryLength};
use super::{ModelState, View, XgenApp};
use crate::prompt::{Role, SummaryStyle};

/// Draws the chat screen.
pub(super) fn chat_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    egui::Panel::bottom("composer")
        .resizable(false)
        .show(ui, |ui| composer_ui(app, ui));
    if app.conversation().document.is_some() {
        egui::Panel::top("document")
            .resizable(false)
            .show(ui, |ui| document_ui(app, ui));
    }
    messages_ui(app, ui);
}

fn document_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    // The name and the size only: the document itself can be megabytes, and this runs every
    // frame (many a second while a reply streams).
    let Some((name, chars)) = app
        .conversation()
        .document
        .as_ref()
        .map(|doc| (doc.name.clone(), doc.text.chars().count()))
    else {
        return;
    };
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new(name).strong());
        ui.label(format!("{} characters", thousands(chars)));
        if ui
            .small_button("Remove")
            .on_hover_text("Detach the document from this chat")
            .clicked()
        {
            app.documents
                .detach(&mut app.conversations, &mut app.notices);
        }
    });
    match (app.document_meter(), app.model()) {
        (Some(meter), _) => {
            let used = meter.prompt_tokens + meter.reserved;
            let fraction = used as f32 / meter.n_ctx.max(1) as f32;
            let reading = match app.preread_progress() {
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
        let style_label_id = ui.label("Style").id;
        egui::ComboBox::from_id_salt("summary-style")
            .selected_text(style_label(app.settings.summary_style))
            .show_ui(ui, |ui| {
                for style in [
                    SummaryStyle::Default,
                    SummaryStyle::Bullets,
                    SummaryStyle::Paragraph,
                    SummaryStyle::KeyPoints,
                ] {
                    ui.selectable_value(&mut app.settings.summary_style, style, style_label(style));
                }
            })
            .response
            .labelled_by(style_label_id);
        let length_label_id = ui.label("Length").id;
        egui::ComboBox::from_id_salt("summary-length")
            .selected_text(app.settings.summary_length.label())
            .show_ui(ui, |ui| {
                for length in SummaryLength::ALL {
                    ui.selectable_value(&mut app.settings.summary_length, length, length.label());
                }
            })
            .response
            .labelled_by(length_label_id);
        let can_run = !app.is_generating() && matches!(app.model(), ModelState::Ready(_));
        if ui
            .add_enabled(can_run, egui::Button::new("Summarize"))
            .on_hover_text("Ctrl+Enter")
            .clicked()
        {
            app.summarize();
        }
    });
    ui.add_space(4.0);
}

fn messages_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    let generating = app.is_generating();
    let count = app.conversation().messages.len();
    if count == 0 {
        empty_state_ui(app, ui);
        return;
    }
    let mut action = None;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for i in 0..count {
                let message = app.conversation().messages[i].clone();
                let last = i + 1 == count;
                let streaming = last && generating;
                ui.add_space(6.0);
                let (who, fill) = match message.role {
                    Role::User => ("You", ui.visuals().faint_bg_color),
                    _ => ("XGen", ui.visuals().extreme_bg_color),
                };
                egui::Frame::group(ui.style()).fill(fill).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.label(RichText::new(who).strong());
                    if streaming {
                        job_ui(app, ui);
                    }
                    if streaming && message.content.is_empty() {
                        prefill_ui(app, ui);
                    } else {
                        CommonMarkViewer::new().show_with_id(
                            egui::Id::unique(("message", i)),
                            ui,
                            &mut app.markdown,
                            message.shown(),
                        );
                    }
                    ui.horizontal(|ui| {
                        if let Some(stats) = &message.stats {
                            ui.weak(format!(
                                "{:.2} s to first token · {:.1} tok/s · {} tokens{}{}{}",
                                stats.ttft_secs,
                                stats.tok_per_sec,
                                stats.tokens,
                                if stats.drafted_kept > 0 {
                                    format!(" ({} from drafts)", thousands(stats.drafted_kept))
                                } else {
                                    String::new()
                                },
                                stats
                                    .threads
                                    .describe()
                                    .map(|t| format!(" · {t}"))
                                    .unwrap_or_default(),
                                if stats.prompt_evaluated < stats.prompt_tokens {
                                    format!(
                                        " · {} of {} prompt tokens from cache",
                                        thousands(stats.prompt_tokens - stats.prompt_evaluated),
                                        thousands(stats.prompt_tokens)
                                    )
                                } else {
                                    String::new()
                                }
                            ));
                        }
                        if message.cut_off {
                            ui.colored_label(ui.visuals().warn_fg_color, "(cut off)")
                                .on_hover_text("The reply broke off here; Regenerate asks again");
                        } else if message.stopped {
                            ui.weak("(stopped)");
                        }
                        if streaming {
                            return;
                        }
                        if ui
                            .small_button("Copy")
                            .on_hover_text("Copy this message")
                            .clicked()
                        {
                            ui.ctx().copy_text(message.shown().to_owned());
                        }
                        if last
                            && message.role == Role::Assistant
                            && !generating
                            && ui.small_button("Regenerate").clicked()
                        {
                            action = Some(Action::Regenerate);
                        }
                        let editable = message.role == Role::User && message.label.is_none();
                        let last_user = app
                            .conversation()
                            .messages
                            .iter()
                            .rposition(|m| m.role == Role::User);
                        if editable
                            && last_user == Some(i)
                            && !generating
                            && ui.small_button("Edit").clicked()
                        {
                            action = Some(Action::Edit);
                        }
                    });
                });
            }
        });
    match action {
        Some(Action::Regenerate) => app.chat.regenerate(
            &mut app.conversations,
            &app.model,
            &app.settings,
            &mut app.notices,
        ),
        Some(Action::Edit) => app.chat.edit_last(&mut app.conversations, &mut app.notices),
        None => {}
    }
}

enum Action {
    Regenerate,
    Edit,
}

fn job_ui(app: &XgenApp, ui: &mut egui::Ui) {
    let Some((status, coverage)) = app.summary_job() else {
        return;
    };
    match coverage {
        Some((read, total)) if total > 0 => {
            let fraction = read as f32 / total as f32;
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(format!("{status} · {read} of {total} parts read")),
            );
        }
        _ => {
            ui.label(status);
        }
    }
}

fn prefill_ui(app: &XgenApp, ui: &mut egui::Ui) {
    match app.chat.prefill() {
        Some((done, total)) if total > 0 && done < total => {
            let fraction = done as f32 / total as f32;
            let eta = app
                .chat
                .prefill_eta()
                .map_or_else(String::new, |secs| format!(" · about {secs:.0} s left"));
            ui.add(egui::ProgressBar::new(fraction).text(format!(
                "Reading the prompt: {} of {} tokens{eta}",
                thousands(done),
                thousands(total)
            )));
        }
        _ if app.summary_job().is_some() => {
            ui.spinner();
        }
        _ => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Thinking…");
            });
        }
    }
}

fn empty_state_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.2);
        ui.heading("Ask XGen anything, or give it a document");
        ui.add_space(8.0);
        ui.label("Drop a file on the window, paste a long text, or open one (Ctrl+O).");
        ui.label(".txt .md .pdf .docx .odt .epub .html — everything stays on this computer.");
        ui.add_space(8.0);
        if matches!(app.model(), ModelState::Empty) && ui.button("Get the model").clicked() {
            app.show_view(View::Models);
        }
    });
}

fn composer_ui(app: &mut XgenApp, ui: &mut egui::Ui) {
    ui.add_space(6.0);
    let id = egui::Id::unique("composer");
    let focused = ui.memory(|m| m.has_focus(id));
    // Enter sends; Shift+Enter inserts a newline (the text edit handles that itself).
    let send_now = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter));
    let generating = app.is_generating();
    ui.horizontal(|ui| {
        let button_width = 90.0;
        let edit = egui::TextEdit::multiline(&mut app.chat.composer)
            .id(id)
            .hint_text("Message XGen — Enter sends, Shift+Enter for a new line")
            .desired_rows(2)
            .desired_width(ui.available_width() - button_width);
        let response = ui.add(edit);
        if !generating && !focused && app.chat.composer.is_empty() && !response.has_focus() {
            // Keep typing flowing into the composer when nothing else has focus.
            if ui.memory(|m| m.focused().is_none()) {
                response.request_focus();
            }
        }
        if generating {
            if ui
                .add_sized([button_width - 8.0, 32.0], egui::Button::new("Stop"))
                .on_hover_text("Esc")
                .clicked()
            {
                app.stop();
            }
        } else if ui
            .add_sized([button_width - 8.0, 32.0], egui::Button::new("Send"))
            .clicked()
        {
            app.send();
        }
    });
    if send_now && !generating {
        app.send();
    }
    ui.add_space(4.0);
}

/// 12345 -> "12,345".
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
