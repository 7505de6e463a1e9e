//! A reply cut into sentences: its Markdown read by pulldown-cmark (headings, list items, table
//! rows, code), its text cut at UAX #29 sentence boundaries, each sentence kept as a byte range
//! of the reply as written, so marking it never changes the reply.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use unicode_segmentation::UnicodeSegmentation;

/// What a block of the reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// A paragraph, a list item, a table row, a quote.
    Text,
    /// A heading.
    Heading,
    /// Code: not checked.
    Code,
}

/// A sentence of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplySentence {
    /// Bytes of the reply as written (Markdown marks inside it included).
    pub span: Range<usize>,
    /// The sentence as read: its text without Markdown, line breaks as spaces.
    pub plain: String,
    /// Where each byte of `plain` comes from in the reply (same length as `plain`).
    pub origin: Vec<usize>,
    /// The block it is in.
    pub kind: BlockKind,
}

/// One block's text as read, with the reply byte each byte of it comes from.
#[derive(Default)]
struct Block {
    plain: String,
    origin: Vec<usize>,
    kind: Option<BlockKind>,
}

impl Block {
    fn push(&mut self, text: &str, source: Range<usize>) {
        // Text taken straight from the reply maps byte for byte; text the parser rewrote
        // (entities, escapes) maps to the start of its source.
        let straight = text.len() == source.len();
        for (i, _) in text.bytes().enumerate() {
            self.origin.push(if straight {
                source.start + i
            } else {
                source.start
            });
        }
        self.plain.push_str(text);
    }
}

/// Cuts a reply into sentences, in order.
pub(crate) fn sentences(reply: &str) -> Vec<ReplySentence> {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = Vec::new();
    let mut block = Block::default();
    let mut code = false;
    let mut heading = false;
    for (event, range) in Parser::new_ext(reply, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                flush(&mut block, &mut out);
                heading = true;
            }
            Event::End(TagEnd::Heading(_)) => {
                block.kind = Some(BlockKind::Heading);
                flush(&mut block, &mut out);
                heading = false;
            }
            Event::Start(Tag::CodeBlock(_)) => {
                flush(&mut block, &mut out);
                code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                block.kind = Some(BlockKind::Code);
                flush(&mut block, &mut out);
                code = false;
            }
            Event::Start(
                Tag::Paragraph
                | Tag::Item
                | Tag::List(_)
                | Tag::TableRow
                | Tag::TableHead
                | Tag::BlockQuote(_),
            )
            | Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::List(_)
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::BlockQuote(_),
            ) => flush(&mut block, &mut out),
            Event::End(TagEnd::TableCell) => block.push(" | ", range.end..range.end),
            Event::Text(text) | Event::Code(text) => {
                if block.kind.is_none() {
                    block.kind = Some(if code {
                        BlockKind::Code
                    } else if heading {
                        BlockKind::Heading
                    } else {
                        BlockKind::Text
                    });
                }
                block.push(&text, range);
            }
            Event::SoftBreak | Event::HardBreak => block.push(" ", range),
            _ => {}
        }
    }
    flush(&mut block, &mut out);
    out
}

fn flush(block: &mut Block, out: &mut Vec<ReplySentence>) {
    let taken = std::mem::take(block);
    let Some(kind) = taken.kind else {
        return;
    };
    let plain = taken.plain.replace('\n', " ");
    if kind != BlockKind::Text {
        push(out, &plain, &taken.origin, 0..plain.len(), kind);
        return;
    }
    for (at, sentence) in plain.split_sentence_bound_indices() {
        push(out, &plain, &taken.origin, at..at + sentence.len(), kind);
    }
}

fn push(
    out: &mut Vec<ReplySentence>,
    plain: &str,
    origin: &[usize],
    range: Range<usize>,
    kind: BlockKind,
) {
    let slice = &plain[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.start + slice.trim_end().len();
    if end <= start || !plain[start..end].chars().any(char::is_alphanumeric) {
        return;
    }
    let (Some(&first), Some(&last)) = (origin.get(start), origin.get(end - 1)) else {
        return;
    };
    // The span ends after the last byte's character.
    let last_len = plain[..end].chars().next_back().map_or(1, char::len_utf8);
    let straight_end = origin
        .get(end - last_len)
        .map_or(last + 1, |&b| b + last_len);
    out.push(ReplySentence {
        span: first..straight_end.max(first + 1),
        plain: plain[start..end].to_owned(),
        origin: origin[start..end].to_vec(),
        kind,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(reply: &str) -> Vec<(&str, String, BlockKind)> {
        sentences(reply)
            .into_iter()
            .map(|s| (&reply[s.span.clone()], s.plain, s.kind))
            .collect()
    }

    #[test]
    fn markdown_marks_are_not_read_but_spans_cover_the_reply() {
        let reply = "## Summary\n\nThe **council** met on 3 May. It agreed.\n\n- First point, with `code`.\n- Second\n  point.\n";
        let got = cut(reply);
        assert_eq!(
            got[0],
            ("Summary", "Summary".to_owned(), BlockKind::Heading)
        );
        assert_eq!(got[1].0, "The **council** met on 3 May.");
        assert_eq!(got[1].1, "The council met on 3 May.");
        assert_eq!(got[2].1, "It agreed.");
        assert_eq!(got[3].1, "First point, with code.");
        assert_eq!(got[4].0, "Second\n  point.");
        assert_eq!(got[4].1, "Second point.");
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn plain_text_and_other_scripts() {
        let got = cut("Первое предложение. Второе!\n\n最初の文。二番目の文。");
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].0, "二番目の文。");
    }

    #[test]
    fn code_blocks_and_tables() {
        let got = cut("```\nlet x = 1;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert_eq!(got[0].2, BlockKind::Code);
        assert!(got[1..].iter().all(|g| g.2 == BlockKind::Text));
    }
}
