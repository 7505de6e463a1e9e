//! The main-text rules: which region of a page is read, which elements are skipped, and how
//! blocks, headings, list items and table rows become text in a [`TextBuilder`].

use std::collections::HashMap;

use super::super::{Body, SectionKind, Sep, TextBuilder};
use super::tokenizer::{Attributes, Sink};

/// Deeper than this, elements are read as plain text: their tags neither open nor close
/// anything. Browsers stop nesting at about 512; real pages stay far below 256.
pub(crate) const MAX_DEPTH: usize = 256;

/// Never text: code, styling, navigation and embedded media.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "aside", "svg", "math", "iframe", "object",
    "embed", "canvas", "button", "select", "datalist", "dialog", "form", "input", "textarea",
    "video", "audio", "map", "title", "noembed", "noframes",
];

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Blocks separated by a blank line.
const PARAGRAPHS: &[&str] = &[
    "p",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "figure",
    "hr",
    "address",
    "details",
    "fieldset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// Blocks separated by a line break.
const LINES: &[&str] = &[
    "div",
    "section",
    "article",
    "main",
    "li",
    "tr",
    "dt",
    "dd",
    "br",
    "figcaption",
    "summary",
    "caption",
    "center",
    "header",
    "footer",
    "body",
];

/// Start tags that close an open `<p>` that is the innermost element.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
    "li",
    "dd",
    "dt",
    "center",
    "dir",
    "hgroup",
    "listing",
    "menu",
    "search",
    "summary",
];

/// First pass: is there a `<main>` (or `role="main"`), and how many `<article>`s?
#[derive(Default)]
pub(super) struct RegionFinder {
    pub(super) main: bool,
    pub(super) articles: usize,
}

impl Sink for RegionFinder {
    fn start(&mut self, name: &str, attributes: &Attributes, _: bool) {
        if name == "main" || attributes.role_main {
            self.main = true;
        } else if name == "article" {
            self.articles += 1;
        }
    }
    fn end(&mut self, _: &str) {}
    fn text(&mut self, _: &str) {}
    fn done(&self) -> bool {
        self.main
    }
}

/// Which part of the page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Region {
    /// The first `<main>` or `role="main"` element.
    Main,
    /// The only `<article>`.
    Article,
    /// The whole body, without page headers and footers.
    Body,
}

/// How far reading of the region has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Before,
    Inside,
    After,
}

/// An open element.
struct Open {
    name: String,
    /// Its content is left out (it, or an element around it, is skipped).
    skipped: bool,
    /// It is the region read; closing it ends reading.
    region: bool,
}

pub(super) struct PageReader {
    out: TextBuilder,
    region: Region,
    progress: Progress,
    /// Page headers and footers are kept inside `<main>`/`<article>`, dropped around it.
    chrome_allowed: bool,
    stack: Vec<Open>,
    /// Open elements by name, so an end tag finds its element without scanning the stack.
    open_by_name: HashMap<String, usize>,
    /// Open skipped elements.
    skipping: usize,
    /// The block being collected, whitespace already collapsed.
    line: String,
    /// Inside `<pre>`: whitespace is kept.
    pre: usize,
    /// At the start of a table row (no ` | ` before the first cell).
    row_start: bool,
    /// A list item started: its first text gets a `- `.
    bullet: bool,
    /// Characters gathered so far (in `line` and the output).
    chars: usize,
    max_chars: usize,
    /// Self-closing tags open nothing (XHTML).
    pub(super) xhtml: bool,
}

impl PageReader {
    pub(super) fn new(region: Region, max_chars: usize) -> Self {
        Self {
            out: TextBuilder::with_limit(max_chars),
            region,
            progress: if region == Region::Body {
                Progress::Inside
            } else {
                Progress::Before
            },
            chrome_allowed: region != Region::Body,
            stack: Vec::new(),
            open_by_name: HashMap::new(),
            skipping: 0,
            line: String::new(),
            pre: 0,
            row_start: false,
            bullet: false,
            chars: 0,
            max_chars,
            xhtml: false,
        }
    }

    fn reading(&self) -> bool {
        self.progress == Progress::Inside && self.skipping == 0
    }

    pub(super) fn finish(mut self) -> Body {
        while !self.stack.is_empty() {
            self.pop();
        }
        self.flush();
        let mut body = self.out.finish();
        if self.chars > self.max_chars {
            body.overflow = true;
            body.chars = body.chars.max(self.chars);
        }
        body
    }

    /// Ends the block being collected.
    fn flush(&mut self) {
        let line = std::mem::take(&mut self.line);
        if self.pre > 0 {
            self.out.verbatim(&line, Sep::None);
        } else {
            self.out.block(&line, Sep::None);
        }
        // Reuse the allocation.
        self.line = line;
        self.line.clear();
    }

    /// Ends the block being collected and asks for `sep` before the next one.
    fn boundary(&mut self, sep: Sep) {
        self.flush();
        self.out.separate(sep);
    }

    fn push_line(&mut self, text: &str) {
        self.chars = self.chars.saturating_add(text.chars().count());
        self.line.push_str(text);
    }

    fn is_skipped(&self, name: &str, attributes: &Attributes) -> bool {
        SKIPPED.contains(&name)
            || (!self.chrome_allowed && matches!(name, "header" | "footer"))
            || attributes.hidden
            || attributes.aria_hidden
            || attributes.invisible_style
            || (name == "a" && attributes.permalink)
    }

    /// Opens an element.
    fn push(&mut self, name: &str, skipped: bool, region: bool) {
        match self.open_by_name.get_mut(name) {
            Some(count) => *count += 1,
            None => {
                self.open_by_name.insert(name.to_owned(), 1);
            }
        }
        self.stack.push(Open {
            name: name.to_owned(),
            skipped,
            region,
        });
    }

    /// Closes the innermost element, with its end actions.
    fn pop(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        if let Some(count) = self.open_by_name.get_mut(&open.name) {
            *count = count.saturating_sub(1);
        }
        if open.skipped {
            self.skipping = self.skipping.saturating_sub(1);
        } else if self.progress == Progress::Inside && self.skipping == 0 {
            self.end_actions(&open.name);
        }
        if open.region {
            self.flush();
            self.progress = Progress::After;
        }
    }

    fn start_actions(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.boundary(Sep::Paragraph),
            "br" => {
                if self.pre > 0 {
                    self.push_line("\n");
                } else {
                    self.boundary(Sep::Line);
                }
            }
            "pre" => {
                self.boundary(Sep::Paragraph);
                self.pre += 1;
            }
            "li" => {
                self.boundary(Sep::Line);
                self.bullet = true;
            }
            "tr" => {
                self.boundary(Sep::Line);
                self.row_start = true;
            }
            "td" | "th" => {
                if !self.row_start {
                    let trimmed = self.line.trim_end().len();
                    self.line.truncate(trimmed);
                    self.push_line(" | ");
                }
                self.row_start = false;
            }
            _ if PARAGRAPHS.contains(&name) => self.boundary(Sep::Paragraph),
            _ if LINES.contains(&name) => self.boundary(Sep::Line),
            _ => {}
        }
    }

    fn end_actions(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let heading = self.line.trim().to_owned();
                if !heading.is_empty() {
                    self.out.mark(SectionKind::Heading, heading);
                }
                self.boundary(Sep::Paragraph);
            }
            "pre" => {
                self.boundary(Sep::Paragraph);
                self.pre = self.pre.saturating_sub(1);
            }
            "li" => {
                self.bullet = false;
                self.boundary(Sep::Line);
            }
            "tr" => self.boundary(Sep::Line),
            _ if PARAGRAPHS.contains(&name) => self.boundary(Sep::Paragraph),
            _ if LINES.contains(&name) => self.boundary(Sep::Line),
            _ => {}
        }
    }

    /// Closes the innermost element when `name` starting implies its end.
    fn implied_end(&mut self, name: &str) {
        let Some(top) = self.stack.last() else {
            return;
        };
        let closes = match top.name.as_str() {
            "p" => CLOSES_P.contains(&name),
            "li" => name == "li",
            "dt" | "dd" => matches!(name, "dt" | "dd"),
            "td" | "th" => matches!(name, "td" | "th" | "tr"),
            "tr" => name == "tr",
            _ => false,
        };
        if closes {
            self.pop();
            if name == "tr" && self.stack.last().is_some_and(|t| t.name == "tr") {
                self.pop();
            }
        }
    }
}

impl Sink for PageReader {
    fn start(&mut self, name: &str, attributes: &Attributes, self_closing: bool) {
        if self.progress == Progress::After {
            return;
        }
        self.implied_end(name);
        let void = VOID.contains(&name)
            || (self_closing && (self.xhtml || matches!(name, "svg" | "math")));
        if self.progress == Progress::Before {
            let is_region = match self.region {
                Region::Main => name == "main" || attributes.role_main,
                Region::Article => name == "article",
                Region::Body => false,
            };
            if !is_region {
                // Outside the region only the structure is followed.
                if !void && self.stack.len() < MAX_DEPTH {
                    self.push(name, false, false);
                }
                return;
            }
            self.progress = Progress::Inside;
            if void {
                self.progress = Progress::After;
                return;
            }
            self.push(name, false, true);
            return;
        }
        let skipped = self.skipping == 0 && self.is_skipped(name, attributes);
        if self.skipping == 0 && !skipped {
            self.start_actions(name);
        }
        if void || self.stack.len() >= MAX_DEPTH {
            return;
        }
        if skipped {
            self.skipping += 1;
        }
        self.push(name, skipped, false);
    }

    fn end(&mut self, name: &str) {
        if self.open_by_name.get(name).copied().unwrap_or(0) == 0 {
            return;
        }
        while let Some(top) = self.stack.last() {
            let matched = top.name == name;
            self.pop();
            if matched {
                break;
            }
        }
    }

    fn text(&mut self, text: &str) {
        if !self.reading() {
            return;
        }
        if self.bullet && self.line.is_empty() && !text.trim().is_empty() {
            self.push_line("- ");
            self.bullet = false;
        }
        if self.pre > 0 {
            self.push_line(text);
            return;
        }
        let starts_space = text.starts_with(char::is_whitespace);
        let ends_space = text.ends_with(char::is_whitespace);
        let mut words = text.split_whitespace();
        let Some(first) = words.next() else {
            if !text.is_empty() && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
                self.push_line(" ");
            }
            return;
        };
        if starts_space && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
            self.push_line(" ");
        }
        self.push_line(first);
        for word in words {
            self.push_line(" ");
            self.push_line(word);
        }
        if ends_space {
            self.push_line(" ");
        }
    }

    fn done(&self) -> bool {
        self.progress == Progress::After || self.chars > self.max_chars || self.out.is_full()
    }
}
