//! Prompt formats: the exact XGen-7B-8K-Inst format, and the chat template a GGUF carries.
//!
//! A prompt is built as [`PromptPiece`]s so that special tokens are parsed only in the text the
//! template adds, never in what a person typed or a document contains: a document that
//! contains `<|endoftext|>` is plain text.

use serde::{Deserialize, Serialize};

/// The system header of the XGen-7B-8K-Inst model card.
pub const XGEN_SYSTEM: &str = "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

/// The turn marker XGen uses; a new one in the output ends the reply.
pub const XGEN_TURN_MARKER: &str = "###";

/// The id of `<|endoftext|>` in the XGen vocabulary (BOS and EOS).
pub const XGEN_EOS: i32 = 50256;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role name chat templates expect.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A message from the person.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// A message from the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
}

/// A run of prompt text and whether special-token text in it is parsed as special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPiece {
    /// The text.
    pub text: String,
    /// True only for text the template itself adds.
    pub parse_special: bool,
}

/// How a model wants its conversation written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptFormat {
    /// XGen-7B-8K-Inst: `### Human:` / `### Assistant:` turns after a system header.
    Xgen,
    /// A chat template carried in the GGUF (`tokenizer.chat_template`), applied by llama.cpp.
    Template(String),
}

/// The text XGen's template produces for a conversation, ready for the assistant's turn.
///
/// XGen's format has no special tokens, so the whole prompt is one piece with special-token
/// parsing off.
#[must_use]
pub fn xgen_prompt(messages: &[Message]) -> String {
    let system = messages
        .iter()
        .find(|m| m.role == Role::System)
        .map_or(XGEN_SYSTEM, |m| m.content.as_str());
    let mut out = String::with_capacity(
        system.len() + messages.iter().map(|m| m.content.len() + 16).sum::<usize>(),
    );
    out.push_str(system);
    out.push_str("\n\n");
    for message in messages {
        match message.role {
            Role::System => {}
            Role::User => {
                out.push_str("### Human: ");
                out.push_str(&message.content);
                out.push('\n');
            }
            Role::Assistant => {
                out.push_str("### Assistant: ");
                out.push_str(message.content.trim());
                out.push('\n');
            }
        }
    }
    // The model continues with " Assistant: ...".
    out.push_str(XGEN_TURN_MARKER);
    out
}

/// The user message that asks for a summary of `document`: the document first, then the
/// request (the model card's words, pointing up: "the article above").
///
/// The document comes first so that its tokens are the same whatever is asked after it — a
/// summary in any style, a question, a regenerate — and it is read once: ahead, as soon as it
/// arrives, and from the cache (or the disk) for everything asked about it afterwards.
#[must_use]
pub fn summarize_request(document: &str, style: SummaryStyle) -> String {
    let ask = match style {
        SummaryStyle::Default => "Please summarize the article above.",
        SummaryStyle::Bullets => "Please summarize the article above as a list of bullet points.",
        SummaryStyle::Paragraph => "Please summarize the article above in one paragraph.",
        SummaryStyle::KeyPoints => "Please list the key points of the article above.",
    };
    document_turn(document, ask)
}

/// A user message about a document: the document, a blank line, then what is asked.
#[must_use]
pub fn document_turn(document: &str, request: &str) -> String {
    format!("{}\n\n{request}", document.trim_end())
}

/// Bytes at the start of a [`document_turn`] that are the document.
#[must_use]
pub fn document_len(document: &str) -> usize {
    document.trim_end().len()
}

/// How a summary should read. The variants are the one list of styles: the app's menu and the
/// command line's `--style` (through [`clap::ValueEnum`]) take them from here, and
/// [`summarize_request`] and [`SummaryStyle::label`] give each its words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum SummaryStyle {
    /// The model card's plain request.
    #[default]
    Default,
    /// A bulleted list.
    Bullets,
    /// One paragraph.
    Paragraph,
    /// The key points.
    KeyPoints,
}

impl SummaryStyle {
    /// The name shown in the app (its menu, and "Bullet points of **report.pdf**").
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Default => "Summary",
            Self::Bullets => "Bullet points",
            Self::Paragraph => "One paragraph",
            Self::KeyPoints => "Key points",
        }
    }
}

/// How long a summary may be. The variants are the one list of lengths (the app's menu takes
/// them through [`clap::ValueEnum`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum SummaryLength {
    /// About 150 tokens.
    Short,
    /// About 400 tokens.
    #[default]
    Medium,
    /// About 800 tokens.
    Long,
}

impl SummaryLength {
    /// Tokens reserved for the summary.
    #[must_use]
    pub fn max_tokens(self) -> u32 {
        match self {
            Self::Short => 160,
            Self::Medium => 400,
            Self::Long => 800,
        }
    }

    /// The name shown in the app's menu.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Short => "Short",
            Self::Medium => "Medium",
            Self::Long => "Long",
        }
    }
}

/// Private-use sentinels that mark where message text goes in a rendered chat template.
const SENTINEL_OPEN: char = '\u{F8F0}';
const SENTINEL_CLOSE: char = '\u{F8F1}';

/// Messages whose contents are replaced by numbered sentinels, for rendering a template.
#[must_use]
pub fn sentinel_messages(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| Message {
            role: m.role,
            content: format!("{SENTINEL_OPEN}{i}{SENTINEL_CLOSE}"),
        })
        .collect()
}

/// Splits a template rendered over [`sentinel_messages`] back into pieces: template text
/// (special tokens parsed) and the original message text (special tokens not parsed).
///
/// Returns `None` when the template did not keep a sentinel intact, which means it rewrites
/// message text and the split cannot be trusted.
#[must_use]
pub fn split_rendered(rendered: &str, messages: &[Message]) -> Option<Vec<PromptPiece>> {
    let mut pieces = Vec::new();
    let mut rest = rendered;
    let mut seen = 0usize;
    while let Some(open) = rest.find(SENTINEL_OPEN) {
        let after = &rest[open + SENTINEL_OPEN.len_utf8()..];
        let close = after.find(SENTINEL_CLOSE)?;
        let index: usize = after[..close].parse().ok()?;
        if index != seen {
            return None;
        }
        let message = messages.get(index)?;
        if open > 0 {
            pieces.push(PromptPiece {
                text: rest[..open].to_owned(),
                parse_special: true,
            });
        }
        if !message.content.is_empty() {
            pieces.push(PromptPiece {
                text: message.content.clone(),
                parse_special: false,
            });
        }
        seen += 1;
        rest = &after[close + SENTINEL_CLOSE.len_utf8()..];
    }
    if seen != messages.len() || rest.contains(SENTINEL_CLOSE) {
        return None;
    }
    if !rest.is_empty() {
        pieces.push(PromptPiece {
            text: rest.to_owned(),
            parse_special: true,
        });
    }
    Some(pieces)
}

/// Cleans XGen's raw reply text: drops the leading `Assistant:` the model writes.
///
/// Returns `None` while the text could still be the start of that label, so that a stream
/// never shows it.
#[must_use]
pub fn strip_assistant_label(raw: &str) -> Option<&str> {
    const LABEL: &str = "Assistant:";
    let trimmed = raw.trim_start();
    if trimmed.len() < LABEL.len() {
        if LABEL.starts_with(trimmed) {
            return None;
        }
        return Some(trimmed);
    }
    Some(trimmed.strip_prefix(LABEL).map_or(trimmed, str::trim_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xgen_single_turn_is_the_model_card_format() {
        let prompt = xgen_prompt(&[Message::user(summarize_request(
            "The cat sat.",
            SummaryStyle::Default,
        ))]);
        assert_eq!(
            prompt,
            "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.\n\n### Human: The cat sat.\n\nPlease summarize the article above.\n###"
        );
    }

    #[test]
    fn xgen_multi_turn_repeats_blocks() {
        let prompt = xgen_prompt(&[
            Message::system("Be brief."),
            Message::user("Hi"),
            Message::assistant(" Hello! "),
            Message::user("Bye"),
        ]);
        assert_eq!(
            prompt,
            "Be brief.\n\n### Human: Hi\n### Assistant: Hello!\n### Human: Bye\n###"
        );
    }

    #[test]
    fn xgen_follow_up_extends_the_first_prompt_up_to_the_marker() {
        let first = xgen_prompt(&[Message::user("Q1")]);
        let second = xgen_prompt(&[
            Message::user("Q1"),
            Message::assistant("A1"),
            Message::user("Q2"),
        ]);
        assert!(
            second.starts_with(&first),
            "{second:?} should extend {first:?}"
        );
    }

    #[test]
    fn split_keeps_message_text_unparsed() {
        let messages = vec![Message::user("a <|im_end|> b"), Message::assistant("")];
        let sentinels = sentinel_messages(&messages);
        let rendered = format!(
            "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n{}<|im_end|>\n",
            sentinels[0].content, sentinels[1].content
        );
        let pieces = split_rendered(&rendered, &messages).expect("split");
        assert_eq!(
            pieces,
            vec![
                PromptPiece {
                    text: "<|im_start|>user\n".into(),
                    parse_special: true
                },
                PromptPiece {
                    text: "a <|im_end|> b".into(),
                    parse_special: false
                },
                PromptPiece {
                    text: "<|im_end|>\n<|im_start|>assistant\n".into(),
                    parse_special: true
                },
                PromptPiece {
                    text: "<|im_end|>\n".into(),
                    parse_special: true
                },
            ]
        );
    }

    #[test]
    fn split_rejects_templates_that_rewrite_text() {
        let messages = vec![Message::user("x")];
        assert_eq!(split_rendered("<s>user: X</s>", &messages), None);
    }

    #[test]
    fn assistant_label_is_held_back_then_stripped() {
        assert_eq!(strip_assistant_label(" Assis"), None);
        assert_eq!(strip_assistant_label(" Assistant: Hello"), Some("Hello"));
        assert_eq!(strip_assistant_label(" Assistant:"), Some(""));
        assert_eq!(strip_assistant_label("Sure, here"), Some("Sure, here"));
        assert_eq!(strip_assistant_label(" A"), None);
        assert_eq!(strip_assistant_label(" B"), Some("B"));
    }
}
