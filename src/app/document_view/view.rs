//! Drawing the document view: its bar (search, go to page, close), what the last question
//! read, and the rows on screen.

use egui::{Key, RichText, TextStyle, TextWrapMode};

use super::rows::{row_text, RowText};
use super::DocumentView;
use crate::app::chat::LastRead;
use crate::app::command::AppCommand;
use crate::app::shared::Shared;

/// Rows are cut to a multiple of this many columns, so that a resize by a few pixels does
/// not cut the document again.
const COLUMN_STEP: usize = 8;

impl DocumentView {
    /// Draws the view of the document of the conversation on screen; `last_read`: what the
    /// last question about it read, when part of it.
    pub(crate) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        shared: &Shared,
        last_read: Option<&LastRead>,
        out: &mut Vec<AppCommand>,
    ) {
        // The panel keeps its width while the rows are cut (its content is narrow then).
        ui.set_min_width(ui.available_width());
        let conversation = shared.conversations.current();
        let Some(document) = conversation.document.as_ref() else {
            ui.label("No document in this chat.");
            return;
        };
        ui.horizontal(|ui| {
            ui.strong(&document.name);
            if ui
                .small_button("Close")
                .on_hover_text("Hide the document")
                .clicked()
            {
                out.push(AppCommand::ShowDocumentView(false));
            }
        });
        self.bar_ui(ui, &document.text);
        if let Some(read) = last_read {
            ui.label(format!("The last question {}", read.said))
                .on_hover_text("The passages it read are tinted below");
        }

        let font = TextStyle::Monospace.resolve(ui.style());
        let char_width = ui.ctx().fonts_mut(|f| f.glyph_width(&font, '0')).max(1.0);
        let columns = ((ui.available_width() - 24.0) / char_width).max(16.0) as usize;
        let columns = columns / COLUMN_STEP * COLUMN_STEP;
        let waker = shared.waker.clone();
        let Some(built) = self
            .ensure_rows(&conversation.id, document, columns, &waker)
            .then_some(self.built.as_ref())
            .flatten()
        else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Laying out the text…");
            });
            return;
        };
        let rows = &built.rows;
        let row_height = ui.text_style_height(&TextStyle::Monospace);
        let spaced = row_height + ui.spacing().item_spacing.y;

        // Where the view stands: the highlighted passage, the page at the top.
        if let Some(h) = &self.highlight {
            let at = match rows.page_at(rows.row_of(h.start)) {
                Some(page) => format!(" on page {page}"),
                None => String::new(),
            };
            ui.label(
                RichText::new(format!("Highlighted passage{at}"))
                    .background_color(highlight_color(ui)),
            );
        }
        if let (Some(page), Some(last)) = (rows.page_at(self.top_row), rows.last_page()) {
            ui.weak(format!("Page {page} of {last}"));
        }
        ui.separator();

        let mut area = egui::ScrollArea::both()
            .id_salt("document-rows")
            .auto_shrink([false, false]);
        if let Some(at) = self.scroll_to.take() {
            // A few rows of context above the passage.
            let row = rows.row_of(at).saturating_sub(3);
            area = area.vertical_scroll_offset(row as f32 * spaced);
        }
        let highlight = self.highlight.clone();
        let read: &[std::ops::Range<usize>] = last_read.map_or(&[], |r| &r.ranges);
        let text = &document.text;
        let sections = &document.sections;
        let output = area.show_rows(ui, row_height, rows.len(), |ui, shown| {
            for i in shown.clone() {
                let Some(row) = rows.get(i) else {
                    continue;
                };
                let touches = |r: &std::ops::Range<usize>| {
                    row.marker.is_none()
                        && r.start < row.end.max(row.start + 1)
                        && row.start < r.end
                };
                let rich = match row_text(text, sections, row) {
                    RowText::Marker(line) => RichText::new(line).monospace().strong(),
                    RowText::Text(t) => RichText::new(t).monospace(),
                };
                let rich = if highlight.as_ref().is_some_and(touches) {
                    rich.background_color(highlight_color(ui))
                } else if read.iter().any(touches) {
                    rich.background_color(ui.visuals().faint_bg_color)
                } else {
                    rich
                };
                ui.add(egui::Label::new(rich).wrap_mode(TextWrapMode::Extend));
            }
            shown.start
        });
        self.top_row = output.inner;
    }

    /// Search (Ctrl+F focuses it; Enter finds, Enter again the next) in `text`, the
    /// document's, and go to page.
    fn bar_ui(&mut self, ui: &mut egui::Ui, text: &str) {
        ui.horizontal(|ui| {
            let search_id = egui::Id::unique("document-search");
            let response = ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .id(search_id)
                    .hint_text("Search (Ctrl+F)")
                    .desired_width(160.0),
            );
            if std::mem::take(&mut self.focus_search) {
                response.request_focus();
            }
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if response.changed() {
                self.matches.clear();
                self.search_said = None;
            }
            if entered || ui.small_button("Find").clicked() {
                if self.matches.is_empty() {
                    self.run_search(text);
                } else {
                    self.next_match();
                }
                if entered {
                    response.request_focus();
                }
            }
            if let Some(said) = &self.search_said {
                let said = if self.matches.len() > 1 {
                    format!("{} of {said}", self.current_match + 1)
                } else {
                    said.clone()
                };
                ui.weak(said);
            }
        });
        let Some(last_page) = self.built.as_ref().and_then(|b| b.rows.last_page()) else {
            return;
        };
        ui.horizontal(|ui| {
            let label = ui.label("Go to page").id;
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut self.page_input)
                        .hint_text(format!("1-{last_page}"))
                        .desired_width(48.0),
                )
                .labelled_by(label);
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if entered || ui.small_button("Go").clicked() {
                let row = self
                    .page_input
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .and_then(|page| self.built.as_ref()?.rows.page_row(page));
                if let Some(row) = row {
                    let at = self
                        .built
                        .as_ref()
                        .and_then(|b| b.rows.get(row + 1).or(b.rows.get(row)))
                        .map_or(0, |r| r.start);
                    self.scroll_to = Some(at);
                }
            }
        });
    }
}

fn highlight_color(ui: &egui::Ui) -> egui::Color32 {
    if ui.visuals().dark_mode {
        egui::Color32::from_rgb(110, 90, 20)
    } else {
        egui::Color32::from_rgb(255, 236, 150)
    }
}
