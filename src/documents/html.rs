//! HTML: the main text of a page, parsed with `scraper` (html5ever). The `<main>` (or the only
//! `<article>`) is read when there is one, else the body; scripts, styles, navigation, hidden
//! elements and page chrome are left out. Headings become markers, list items lines, table
//! rows lines of cells separated by ` | `.

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node};

use super::{text, Body, DocumentError, SectionKind, Sep, TextBuilder};

/// Never text: code, styling, navigation and embedded media.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "aside", "svg", "math", "iframe", "object",
    "embed", "canvas", "head", "button", "select", "datalist", "dialog", "form", "input",
    "textarea", "video", "audio", "map",
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

/// Deeper than this, nesting is read as flat text (no stack overflow on hostile pages).
const MAX_DEPTH: usize = 256;

/// An HTML document.
pub(crate) fn read(name: &str, bytes: &[u8]) -> Result<Body, DocumentError> {
    let source = text::decode(name, bytes)?;
    let html = Html::parse_document(&source);
    let root = main_element(&html).unwrap_or_else(|| html.root_element());
    let chrome_allowed = matches!(root.value().name(), "main" | "article");
    let mut walker = Walker {
        out: TextBuilder::new(),
        line: String::new(),
        pre: 0,
        row_start: false,
        bullet: false,
        chrome_allowed,
    };
    walker.children(*root, 0);
    walker.flush();
    Ok(walker.out.finish())
}

/// `<main>` or `role="main"`, else the only `<article>`.
fn main_element(html: &Html) -> Option<ElementRef<'_>> {
    let elements = || {
        html.root_element()
            .descendants()
            .filter_map(ElementRef::wrap)
    };
    if let Some(main) =
        elements().find(|e| e.value().name() == "main" || e.value().attr("role") == Some("main"))
    {
        return Some(main);
    }
    let mut articles = elements().filter(|e| e.value().name() == "article");
    match (articles.next(), articles.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

struct Walker {
    out: TextBuilder,
    /// The block being collected, whitespace already collapsed.
    line: String,
    /// Inside `<pre>`: whitespace is kept.
    pre: usize,
    /// At the start of a table row (no ` | ` before the first cell).
    row_start: bool,
    /// A list item started: its first text gets a `- `.
    bullet: bool,
    /// Page headers and footers are kept inside `<main>`/`<article>`, dropped around it.
    chrome_allowed: bool,
}

impl Walker {
    /// Ends the block being collected.
    fn flush(&mut self) {
        let line = std::mem::take(&mut self.line);
        if self.pre > 0 {
            self.out.verbatim(&line, Sep::None);
        } else {
            self.out.block(&line, Sep::None);
        }
    }

    /// Ends the block being collected and asks for `sep` before the next one.
    fn boundary(&mut self, sep: Sep) {
        self.flush();
        self.out.separate(sep);
    }

    fn children(&mut self, node: NodeRef<'_, Node>, depth: usize) {
        for child in node.children() {
            self.node(child, depth + 1);
        }
    }

    fn text(&mut self, text: &str) {
        if self.bullet && self.line.is_empty() && !text.trim().is_empty() {
            self.line.push_str("- ");
            self.bullet = false;
        }
        if self.pre > 0 {
            self.line.push_str(text);
            return;
        }
        let starts_space = text.starts_with(char::is_whitespace);
        let ends_space = text.ends_with(char::is_whitespace);
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            if !text.is_empty() && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
                self.line.push(' ');
            }
            return;
        }
        if starts_space && !self.line.is_empty() && !self.line.ends_with([' ', '\n']) {
            self.line.push(' ');
        }
        self.line.push_str(&words.join(" "));
        if ends_space {
            self.line.push(' ');
        }
    }

    fn node(&mut self, node: NodeRef<'_, Node>, depth: usize) {
        match node.value() {
            Node::Text(run) => self.text(run),
            Node::Element(element) => {
                let name = element.name();
                if SKIPPED.contains(&name)
                    || (!self.chrome_allowed && matches!(name, "header" | "footer"))
                    || element.attr("hidden").is_some()
                    || element.attr("aria-hidden") == Some("true")
                    || element.attr("style").is_some_and(|s| {
                        let s = s.replace(' ', "").to_ascii_lowercase();
                        s.contains("display:none") || s.contains("visibility:hidden")
                    })
                {
                    return;
                }
                if depth > MAX_DEPTH {
                    if let Some(element) = ElementRef::wrap(node) {
                        for text in element.text() {
                            self.text(text);
                        }
                    }
                    return;
                }
                self.element(node, name, depth);
            }
            _ => {}
        }
    }

    fn element(&mut self, node: NodeRef<'_, Node>, name: &str, depth: usize) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.boundary(Sep::Paragraph);
                self.children(node, depth);
                let heading = self.line.trim().to_owned();
                if !heading.is_empty() {
                    self.out.mark(SectionKind::Heading, heading);
                }
                self.boundary(Sep::Paragraph);
            }
            "br" => {
                if self.pre > 0 {
                    self.line.push('\n');
                } else {
                    self.boundary(Sep::Line);
                }
            }
            "pre" => {
                self.boundary(Sep::Paragraph);
                self.pre += 1;
                self.children(node, depth);
                self.boundary(Sep::Paragraph);
                self.pre -= 1;
            }
            "li" => {
                self.boundary(Sep::Line);
                self.bullet = true;
                self.children(node, depth);
                self.bullet = false;
                self.boundary(Sep::Line);
            }
            "tr" => {
                self.boundary(Sep::Line);
                self.row_start = true;
                self.children(node, depth);
                self.boundary(Sep::Line);
            }
            "td" | "th" => {
                if !self.row_start {
                    let trimmed = self.line.trim_end().len();
                    self.line.truncate(trimmed);
                    self.line.push_str(" | ");
                }
                self.row_start = false;
                self.children(node, depth);
            }
            _ if PARAGRAPHS.contains(&name) => {
                self.boundary(Sep::Paragraph);
                self.children(node, depth);
                self.boundary(Sep::Paragraph);
            }
            _ if LINES.contains(&name) => {
                self.boundary(Sep::Line);
                self.children(node, depth);
                self.boundary(Sep::Line);
            }
            _ => self.children(node, depth),
        }
    }
}
