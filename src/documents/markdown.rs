//! Markdown: the text as written; ATX headings (`# Title`) outside code fences become markers.

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

/// The ATX headings of a Markdown text, at the offsets of their lines.
fn headings(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut fence: Option<&str> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        let trimmed = trimmed.trim_end();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if trimmed.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let rest = &trimmed[hashes..];
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        let label = rest.trim().trim_end_matches('#').trim();
        if !label.is_empty() {
            sections.push(Section {
                offset: start,
                kind: SectionKind::Heading,
                label: label.to_owned(),
            });
        }
    }
    sections
}
