//! Markdown: the text as written; its headings (read by pulldown-cmark, as CommonMark defines
//! them) become markers.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{text, Body, DocumentError, Limits, Section, SectionKind};

/// A Markdown document.
pub(crate) fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Body, DocumentError> {
    let text = text::decode(name, bytes)?;
    // A text that will be refused as too long gets no markers built first.
    let sections = if text::over_limit(&text, limits) {
        Vec::new()
    } else {
        headings(&text)
    };
    Ok(Body {
        text,
        sections,
        ..Body::default()
    })
}

/// The headings of a Markdown text (ATX `# Title` and setext `Title\n===`), at the offsets
/// where they start, as CommonMark reads them: nothing inside code blocks or HTML counts.
fn headings(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    // The heading being read: where it starts and its text so far.
    let mut open: Option<(usize, String)> = None;
    for (event, range) in Parser::new_ext(text, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => open = Some((range.start, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((offset, label)) = open.take() {
                    let label = label.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !label.is_empty() {
                        sections.push(Section {
                            offset,
                            kind: SectionKind::Heading,
                            label,
                        });
                    }
                }
            }
            Event::Text(t) | Event::Code(t) if open.is_some() => {
                if let Some((_, label)) = open.as_mut() {
                    label.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak if open.is_some() => {
                if let Some((_, label)) = open.as_mut() {
                    label.push(' ');
                }
            }
            _ => {}
        }
    }
    sections
}
