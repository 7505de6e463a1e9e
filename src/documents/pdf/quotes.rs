//! The `'` and `"` text operators, which pdf-extract does not implement: it drops the text
//! they show. `'` moves to the next line and shows a string; `"` sets the word and character
//! spacing first. A page's content streams that use them are rewritten with the operators
//! they stand for (`T*` and `Tj`; `Tw`, `Tc`, `T*` and `Tj`), which pdf-extract reads.

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Document, Object, ObjectId};

/// Rewrites the `'` and `"` operators of `page`'s content streams. A stream that does not
/// parse on its own (an operation split between two streams) is left as it is.
pub(super) fn spell_out(doc: &mut Document, page: ObjectId) {
    for id in doc.get_page_contents(page) {
        let Ok(Object::Stream(stream)) = doc.get_object_mut(id) else {
            continue;
        };
        if !has_quote_operator(&stream.content) {
            continue;
        }
        let Ok(content) = Content::decode(&stream.content) else {
            continue;
        };
        let mut operations = Vec::with_capacity(content.operations.len() + 8);
        for operation in content.operations {
            match (operation.operator.as_str(), operation.operands.len()) {
                ("'", 1) => {
                    operations.push(Operation::new("T*", Vec::new()));
                    operations.push(Operation::new("Tj", operation.operands));
                }
                ("\"", 3) => {
                    let mut operands = operation.operands.into_iter();
                    let (Some(word), Some(character), Some(text)) =
                        (operands.next(), operands.next(), operands.next())
                    else {
                        continue;
                    };
                    operations.push(Operation::new("Tw", vec![word]));
                    operations.push(Operation::new("Tc", vec![character]));
                    operations.push(Operation::new("T*", Vec::new()));
                    operations.push(Operation::new("Tj", vec![text]));
                }
                _ => operations.push(operation),
            }
        }
        if let Ok(bytes) = (Content { operations }).encode() {
            stream.set_plain_content(bytes);
        }
    }
}

/// Whether a content stream has a `'` or `"` outside its strings and comments: a cheap scan,
/// so that only the streams that need it are parsed and written again (apostrophes in the
/// text itself are inside strings).
fn has_quote_operator(content: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = content.get(i) {
        match c {
            b'(' => {
                // A literal string: balanced parentheses, backslash escapes.
                let mut depth = 0usize;
                while let Some(&c) = content.get(i) {
                    match c {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'%' => {
                while content.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
            }
            b'\'' | b'"' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_quote_operator;

    #[test]
    fn quotes_in_strings_and_comments_are_not_operators() {
        assert!(!has_quote_operator(
            b"BT (don't \\(say\\) \"it\") Tj ET % it's"
        ));
        assert!(!has_quote_operator(b"BT (a (nested 'one') here) Tj ET"));
        assert!(has_quote_operator(b"BT 14 TL (Next line) ' ET"));
        assert!(has_quote_operator(b"BT 1 0.5 (Spaced) \" ET"));
    }
}
