//! A reply drawn with its check: each sentence or bullet followed by chips naming its sources
//! ("p. 4", "§ Termination"), which open the document view at the passage; with marking on, a
//! sentence no passage supports is marked "not found in the document" and the claims the
//! document makes nowhere are underlined. The reply's text is never changed: the sentences
//! are drawn from the reply's own bytes (Markdown's emphasis marks left out), in its own
//! paragraphs and bullets.

use egui::text::LayoutJob;
use egui::{Color32, RichText, TextFormat};

use crate::app::command::AppCommand;
use crate::sources::{Found, ReplyCheck, SentenceKind, Source};

/// Chips shown after a sentence at most.
const MAX_CHIPS: usize = 3;

/// A line of the reply on screen: a paragraph, a bullet or a heading, with its sentences.
struct Line {
    /// "• " or "3. " before a list item.
    bullet: Option<String>,
    heading: bool,
    /// Indexes into the check's sentences.
    sentences: Vec<usize>,
}

/// Draws `content` with its `check`; `marks`: whether what the document does not say is
/// marked. Returns false (drawing nothing) when the check does not fit the text.
pub(super) fn checked_reply_ui(
    ui: &mut egui::Ui,
    content: &str,
    check: &ReplyCheck,
    marks: bool,
    out: &mut Vec<AppCommand>,
) -> bool {
    let fits = check
        .sentences
        .iter()
        .all(|s| s.span.start <= s.span.end && content.get(s.span.clone()).is_some());
    if !fits || check.sentences.is_empty() {
        return false;
    }
    for (n, line) in lines(content, check).iter().enumerate() {
        if n > 0 {
            ui.add_space(2.0);
        }
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            if let Some(bullet) = &line.bullet {
                ui.label(bullet.as_str());
            }
            for &i in &line.sentences {
                sentence_ui(ui, content, check, i, line.heading, marks, out);
            }
        });
    }
    true
}

/// The reply's sentences grouped into the lines they stand on: a sentence that starts after a
/// line break starts a new line.
fn lines(content: &str, check: &ReplyCheck) -> Vec<Line> {
    let mut order: Vec<usize> = (0..check.sentences.len()).collect();
    order.sort_by_key(|&i| check.sentences[i].span.start);
    let mut out: Vec<Line> = Vec::new();
    let mut cursor = 0;
    for i in order {
        let sentence = &check.sentences[i];
        let gap = content.get(cursor..sentence.span.start).unwrap_or_default();
        let starts_line = out.is_empty() || gap.contains('\n');
        if starts_line {
            let marker = gap.rsplit('\n').next().unwrap_or_default().trim();
            out.push(Line {
                bullet: list_marker(marker),
                heading: sentence.kind == SentenceKind::Heading,
                sentences: Vec::new(),
            });
        }
        if let Some(line) = out.last_mut() {
            line.sentences.push(i);
        }
        cursor = cursor.max(sentence.span.end);
    }
    out
}

/// The bullet to draw for a list marker left before a sentence ("-", "*", "3.").
fn list_marker(marker: &str) -> Option<String> {
    match marker {
        "-" | "*" | "+" => Some("•".to_owned()),
        m if m.ends_with(['.', ')']) && m[..m.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
            Some(m.to_owned())
        }
        _ => None,
    }
}

/// One sentence: its text (claims not found underlined), its chips and its mark.
fn sentence_ui(
    ui: &mut egui::Ui,
    content: &str,
    check: &ReplyCheck,
    i: usize,
    heading: bool,
    marks: bool,
    out: &mut Vec<AppCommand>,
) {
    let sentence = &check.sentences[i];
    let warn = ui.visuals().warn_fg_color;
    let normal = TextFormat {
        font_id: if heading {
            egui::TextStyle::Heading.resolve(ui.style())
        } else {
            egui::TextStyle::Body.resolve(ui.style())
        },
        color: if heading {
            ui.visuals().strong_text_color()
        } else {
            ui.visuals().text_color()
        },
        ..TextFormat::default()
    };
    let marked = TextFormat {
        color: warn,
        underline: egui::Stroke::new(1.5, warn),
        ..normal.clone()
    };
    let mut job = LayoutJob::default();
    let mut at = sentence.span.start;
    let claims = check
        .claims
        .iter()
        .filter(|c| marks && c.sentence == i && c.found != Found::InSources)
        .filter(|c| c.span.start >= sentence.span.start && c.span.end <= sentence.span.end);
    for claim in claims {
        if claim.span.start < at {
            continue;
        }
        push_shown(&mut job, &content[at..claim.span.start], &normal);
        push_shown(&mut job, &content[claim.span.clone()], &marked);
        at = claim.span.end;
    }
    push_shown(&mut job, &content[at..sentence.span.end], &normal);
    ui.label(job);

    let mut chips: Vec<(String, &Source)> = Vec::new();
    for source in &sentence.sources {
        let label = chip_label(source);
        if chips.len() < MAX_CHIPS && !chips.iter().any(|(l, _)| *l == label) {
            chips.push((label, source));
        }
    }
    for (label, source) in chips {
        let chip = egui::Button::new(RichText::new(label).small()).small();
        if ui
            .add(chip)
            .on_hover_text(hover_text(&source.text))
            .clicked()
        {
            out.push(AppCommand::OpenSource(source.bytes.clone()));
        }
    }
    if marks && sentence.checked && !sentence.supported {
        ui.label(
            RichText::new("⚠ not found in the document")
                .small()
                .color(warn)
                .background_color(Color32::TRANSPARENT),
        )
        .on_hover_text("No passage of the document says this; check it before you rely on it.");
    }
}

/// The text of a sentence as shown: the reply's bytes without Markdown's emphasis and code
/// marks, and a heading without its `#`s.
fn push_shown(job: &mut LayoutJob, text: &str, format: &TextFormat) {
    let shown: String = text
        .trim_start_matches('#')
        .chars()
        .filter(|c| !matches!(c, '*' | '`'))
        .collect();
    if !shown.is_empty() {
        job.append(&shown, 0.0, format.clone());
    }
}

/// "p. 4", "§ Termination", or "source" for a document without pages and headings.
fn chip_label(source: &Source) -> String {
    match (&source.page, &source.heading) {
        (Some(page), _) => format!("p. {page}"),
        (None, Some(heading)) => format!("§ {}", shorten(heading, 28)),
        (None, None) => "source".to_owned(),
    }
}

/// The passage on hover, shortened.
fn hover_text(text: &str) -> String {
    format!(
        "“{}” — click to see it in the document",
        shorten(text.trim(), 240)
    )
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_markers_and_chip_labels() {
        assert_eq!(list_marker("-").as_deref(), Some("•"));
        assert_eq!(list_marker("12.").as_deref(), Some("12."));
        assert_eq!(list_marker("word."), None);
        assert_eq!(list_marker(""), None);
        let mut source = Source {
            page: Some(4),
            heading: Some("Termination".to_owned()),
            start: 0,
            end: 1,
            text: "x".to_owned(),
            score: 1.0,
            bytes: 0..1,
        };
        assert_eq!(chip_label(&source), "p. 4");
        source.page = None;
        assert_eq!(chip_label(&source), "§ Termination");
        source.heading = None;
        assert_eq!(chip_label(&source), "source");
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
