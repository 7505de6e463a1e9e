//! A reply drawn with its check, through the same Markdown viewer as any reply (headings, bold,
//! lists, code blocks and tables look the same): each checked sentence is followed by chips
//! naming its sources ("p. 4", "§ Termination"), which open the document view at the passage;
//! with marking on, a sentence no passage supports is marked "not found in the document" and
//! the claims the document makes nowhere are underlined.
//!
//! The viewer places no widgets of ours inside its text, except for inline math, which it
//! hands to a function of ours where it stands. So the Markdown drawn is a copy of the reply
//! with a math span at the end of each checked sentence (`$c3$`: the chips and mark of
//! sentence 3) and in place of each claim not found (`$u2$`: claim 2, underlined); the
//! reply's own dollar signs are escaped in the copy, so that only ours read as math. The
//! reply's text is never changed.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use egui::{Color32, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::app::command::AppCommand;
use crate::sources::{Found, ReplyCheck, Source};

/// Chips shown after a sentence at most.
const MAX_CHIPS: usize = 3;

/// Draws `content` (then `after`, a line under it such as a summary's coverage) with its
/// `check` through the Markdown viewer, as widget `id`; `marks`: whether what the document
/// does not say is marked. Returns false (drawing nothing) when the check does not fit the
/// text.
pub(super) fn checked_reply_ui(
    ui: &mut egui::Ui,
    cache: &mut CommonMarkCache,
    id: egui::Id,
    (content, after): (&str, &str),
    check: &ReplyCheck,
    marks: bool,
    out: &mut Vec<AppCommand>,
) -> bool {
    let fits = check
        .sentences
        .iter()
        .all(|s| s.span.start <= s.span.end && content.get(s.span.clone()).is_some())
        && check
            .claims
            .iter()
            .all(|c| c.span.start <= c.span.end && content.get(c.span.clone()).is_some());
    if !fits || check.sentences.is_empty() {
        return false;
    }
    let mut shown = marked_markdown(content, check, marks);
    if !after.trim().is_empty() {
        shown.push_str("\n\n");
        shown.push_str(after.trim());
    }
    // The viewer wants a function that owns what it draws: the chips and claims, copied.
    let inline = Inline {
        sentences: check
            .sentences
            .iter()
            .map(|sentence| SentenceMarks {
                chips: chips(&sentence.sources)
                    .into_iter()
                    .map(|(label, source)| Chip {
                        label,
                        hover: hover_text(&source.text),
                        bytes: source.bytes.clone(),
                    })
                    .collect(),
                unsupported: marks && sentence.checked && !sentence.supported,
            })
            .collect(),
        claims: check
            .claims
            .iter()
            .map(|c| content[c.span.clone()].to_owned())
            .collect(),
        clicked: RefCell::default(),
    };
    let inline = Rc::new(inline);
    let drawn = Rc::clone(&inline);
    let draw = move |ui: &mut egui::Ui, tex: &str, _inline: bool| drawn.ui(ui, tex);
    CommonMarkViewer::new()
        .render_math_fn(Some(&draw))
        .show_with_id(id, ui, cache, &shown);
    out.append(&mut inline.clicked.borrow_mut());
    true
}

/// What our math spans draw, owned.
struct Inline {
    /// By sentence of the check.
    sentences: Vec<SentenceMarks>,
    /// The text of each claim of the check.
    claims: Vec<String>,
    /// Chips clicked while drawing.
    clicked: RefCell<Vec<AppCommand>>,
}

/// What follows a sentence.
struct SentenceMarks {
    chips: Vec<Chip>,
    /// Marked "not found in the document".
    unsupported: bool,
}

struct Chip {
    label: String,
    hover: String,
    /// The passage, bytes of the document's text.
    bytes: Range<usize>,
}

impl Inline {
    /// Draws one of our math spans: `c3`, the chips and mark after sentence 3; `u2`, claim 2
    /// underlined.
    fn ui(&self, ui: &mut egui::Ui, tex: &str) {
        let index = |prefix: char| {
            tex.strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
        };
        if let Some(claim) = index('u').and_then(|i| self.claims.get(i)) {
            let warn = ui.visuals().warn_fg_color;
            ui.label(RichText::new(claim).color(warn).underline())
                .on_hover_text("The document never says this");
        } else if let Some(marks) = index('c').and_then(|i| self.sentences.get(i)) {
            for chip in &marks.chips {
                let button = egui::Button::new(RichText::new(&chip.label).small()).small();
                if ui.add(button).on_hover_text(&chip.hover).clicked() {
                    self.clicked
                        .borrow_mut()
                        .push(AppCommand::OpenSource(chip.bytes.clone()));
                }
            }
            if marks.unsupported {
                ui.label(
                    RichText::new("⚠ not found in the document")
                        .small()
                        .color(ui.visuals().warn_fg_color)
                        .background_color(Color32::TRANSPARENT),
                )
                .on_hover_text(
                    "No passage of the document says this; check it before you rely on it.",
                );
            }
        } else {
            // Not ours (the reply's own dollar signs are escaped): shown as written.
            ui.label(format!("${tex}$"));
        }
    }
}

/// The chips of a sentence: one per label, at most [`MAX_CHIPS`], best first.
fn chips(sources: &[Source]) -> Vec<(String, &Source)> {
    let mut chips: Vec<(String, &Source)> = Vec::new();
    for source in sources {
        let label = chip_label(source);
        if chips.len() < MAX_CHIPS && !chips.iter().any(|(l, _)| *l == label) {
            chips.push((label, source));
        }
    }
    chips
}

/// An edit of the reply's Markdown for the copy drawn.
#[derive(Debug)]
struct Edit {
    /// Bytes of the reply replaced (empty: an insertion).
    range: Range<usize>,
    text: String,
}

/// The reply's Markdown with our math spans: after each sentence that has chips or a mark,
/// and in place of each claim not found (with `marks`). Dollar signs of the reply's text are
/// escaped; code is left alone (a sentence that ends inside inline code gets its chips after
/// the code; one inside a code block or HTML, none).
fn marked_markdown(content: &str, check: &ReplyCheck, marks: bool) -> String {
    // Text outside code: where dollar signs are escaped; `exact`, text whose source reads as
    // it is shown (no escapes, no entities): where a claim may be replaced.
    let mut texts: Vec<Range<usize>> = Vec::new();
    let mut exact: Vec<Range<usize>> = Vec::new();
    let mut inline_code: Vec<Range<usize>> = Vec::new();
    let mut blocks: Vec<Range<usize>> = Vec::new();
    let mut in_code_block = false;
    for (event, range) in Parser::new_ext(content, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_) | Tag::HtmlBlock) => {
                in_code_block = true;
                blocks.push(range);
            }
            Event::End(TagEnd::CodeBlock | TagEnd::HtmlBlock) => in_code_block = false,
            Event::Text(_) if in_code_block => {}
            Event::Text(text) => {
                if content.get(range.clone()) == Some(&*text) {
                    exact.push(range.clone());
                }
                texts.push(range);
            }
            Event::Code(_) | Event::InlineHtml(_) | Event::InlineMath(_) => {
                inline_code.push(range);
            }
            Event::Html(_) => blocks.push(range),
            _ => {}
        }
    }
    let inside = |ranges: &[Range<usize>], at: usize| {
        ranges.iter().find(|r| r.start < at && at < r.end).cloned()
    };
    let mut edits: Vec<Edit> = Vec::new();
    if marks {
        for (i, claim) in check.claims.iter().enumerate() {
            let within_text = exact
                .iter()
                .any(|t| t.start <= claim.span.start && claim.span.end <= t.end);
            if claim.found != Found::InSources && within_text && !claim.span.is_empty() {
                edits.push(Edit {
                    range: claim.span.clone(),
                    text: format!("$u{i}$"),
                });
            }
        }
    }
    for (i, sentence) in check.sentences.iter().enumerate() {
        let marked = marks && sentence.checked && !sentence.supported;
        if sentence.sources.is_empty() && !marked {
            continue;
        }
        // At the end of its last word, never at the start of the next line (which would
        // break a list item or a table row).
        // In a table, inside the row's last cell: a span after its last pipe would be a cell
        // of its own and break the table.
        let mut at = sentence.span.end;
        while at > sentence.span.start
            && matches!(
                content.as_bytes()[at - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'|'
            )
        {
            at -= 1;
        }
        if inside(&blocks, at).is_some() || blocks.iter().any(|b| b.start == at) {
            continue;
        }
        if let Some(code) = inside(&inline_code, at) {
            at = code.end;
        }
        if let Some(claim) = edits
            .iter()
            .find(|e| e.range.start < at && at < e.range.end)
        {
            at = claim.range.end;
        }
        edits.push(Edit {
            range: at..at,
            text: format!(" $c{i}$"),
        });
    }
    for t in &texts {
        for (at, _) in content[t.clone()].match_indices('$') {
            let at = t.start + at;
            let escaped = at > 0 && content.as_bytes()[at - 1] == b'\\';
            if !escaped
                && !edits
                    .iter()
                    .any(|e| e.range.start <= at && at < e.range.end)
            {
                edits.push(Edit {
                    range: at..at + 1,
                    text: "\\$".to_owned(),
                });
            }
        }
    }
    // In order; at one place the insertions (the end of a sentence before it) first.
    edits.sort_by_key(|e| (e.range.start, !e.range.is_empty()));
    let mut shown = String::with_capacity(content.len() + edits.len() * 8);
    let mut cursor = 0;
    for edit in edits {
        if edit.range.start < cursor {
            continue;
        }
        shown.push_str(&content[cursor..edit.range.start]);
        shown.push_str(&edit.text);
        cursor = edit.range.end;
    }
    shown.push_str(&content[cursor..]);
    shown
}

/// The Markdown options of the viewer (without math: the reply is read as written).
fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_DEFINITION_LIST
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
    use crate::documents::{Document, Format, Section, SectionKind};
    use crate::sources::{CheckContext, DocumentIndex};

    #[test]
    fn chip_labels() {
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

    /// The copy drawn keeps the reply's Markdown (heading, bold, list, table, code) and adds
    /// our spans at the ends of the sentences and over the claims not found; the reply's own
    /// dollar signs are escaped, code is left alone.
    #[test]
    fn the_markdown_drawn_is_the_reply_with_chips_after_its_sentences() {
        let pages = [
            "The library on Harbour Street will have three floors and a reading garden.",
            "The budget is twelve million euros, paid by the city and a regional grant.",
        ];
        let mut text = String::new();
        let mut sections = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            sections.push(Section {
                offset: text.len(),
                kind: SectionKind::Page,
                label: format!("page {}", i + 1),
            });
            text.push_str(page);
        }
        let document = Document {
            name: "report.pdf".to_owned(),
            format: Format::Pdf,
            text,
            sections,
            warnings: Vec::new(),
            ocr: None,
        };
        let index = DocumentIndex::build(&document);
        let reply = "## The library\n\n\
            - The library on Harbour Street will have **three floors** and a reading garden.\n\
            - The budget is fifteen million euros, paid by the city and a regional grant.\n\n\
            | item | note |\n|---|---|\n| roof | paid in $ or € |\n\n\
            ```\nlet cost = \"$5\";\n```\n";
        let check = index.check(reply, &CheckContext::default());
        let shown = marked_markdown(reply, &check, true);
        assert!(shown.starts_with("## The library"), "{shown}");
        assert!(
            shown.contains("- The library on Harbour Street will have **three floors** and a reading garden. $c"),
            "{shown}"
        );
        let unfound = check
            .claims
            .iter()
            .position(|c| c.found != Found::InSources && reply[c.span.clone()].contains("fifteen"))
            .unwrap_or_else(|| panic!("{check:#?}"));
        assert!(shown.contains(&format!("$u{unfound}$")), "{shown}");
        assert!(shown.contains("| roof | paid in \\$ or €"), "{shown}");
        assert!(
            shown.contains("let cost = \"$5\";"),
            "code is left alone: {shown}"
        );
        // The viewer (math on) reads our spans, and only ours, as math; the rest as text.
        let mut math = Vec::new();
        let mut shown_text = String::new();
        let mut cells = 0;
        for event in Parser::new_ext(&shown, markdown_options() | Options::ENABLE_MATH) {
            match event {
                Event::InlineMath(tex) => math.push(tex.to_string()),
                Event::DisplayMath(tex) => panic!("display math {tex}"),
                Event::Text(t) | Event::Code(t) => shown_text.push_str(&t),
                Event::Start(Tag::TableCell) => cells += 1,
                _ => {}
            }
        }
        let sentences_marked = check
            .sentences
            .iter()
            .filter(|s| !s.sources.is_empty() || (s.checked && !s.supported))
            .count();
        assert_eq!(
            math.iter().filter(|m| m.starts_with('c')).count(),
            sentences_marked,
            "{math:?} {shown}"
        );
        assert!(math.contains(&format!("u{unfound}")), "{math:?}");
        assert!(shown_text.contains("paid in $ or €"), "{shown_text}");
        assert!(!shown_text.contains("$c"), "{shown_text}");
        assert_eq!(cells, 4, "the table stays a table of two columns: {shown}");
        // Marking off: no claims replaced; chips stay.
        let plain = marked_markdown(reply, &check, false);
        assert!(!plain.contains("$u"), "{plain}");
        assert!(plain.contains("reading garden. $c"), "{plain}");
    }
}
