//! A damaged cross-reference table rebuilt by scanning the file for its objects, as viewers
//! do. Files whose offsets no longer match their bytes are common: a PDF whose line ends were
//! converted after it was written (Graphviz's guides in Debian), one cut and patched by hand,
//! one a tool rewrote without updating `startxref`. lopdf trusts the table and refuses them.
//!
//! [`rebuild`] appends a fresh table to a copy of the file: every `N G obj` found outside
//! stream data, the last definition of a number winning (as incremental updates do), and the
//! file's last trailer dictionary with its links to the old tables taken out. lopdf then
//! reads the copy like any other file, under the same limits.

/// Largest object number a rebuilt table lists: a number larger than this is a damaged
/// header (each object takes at least a dozen bytes, so real files stay far below). A file of
/// `n` bytes may number its objects up to `n / 4` (numbering leaves gaps), at least 4,096.
const MAX_OBJECT_NUMBER: u64 = 8_000_000;

/// The file with a rebuilt cross-reference table appended, or `None` when no object or no
/// document catalog is found.
pub(super) fn rebuild(bytes: &[u8]) -> Option<Vec<u8>> {
    let objects = scan_objects(bytes);
    if objects.is_empty() {
        return None;
    }
    let trailer = last_trailer(bytes)
        .map(neutralize_links)
        .or_else(|| catalog(bytes, &objects).map(|(n, g)| format!("<< /Root {n} {g} R >>")))?;
    let mut out = Vec::with_capacity(bytes.len() + 64 + 24 * objects.len() + trailer.len());
    out.extend_from_slice(bytes);
    out.push(b'\n');
    let start = out.len();
    // A subsection per run of consecutive numbers, so that the table grows with the objects
    // found, not with the largest number.
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    let found: Vec<(u64, u64, usize)> = objects
        .iter()
        .filter(|(&number, _)| number > 0)
        .map(|(&number, &(generation, offset))| (number, generation, offset))
        .collect();
    for run in found.chunk_by(|a, b| b.0 == a.0 + 1) {
        out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
        for &(_, generation, offset) in run {
            let entry = format!("{offset:010} {:05} n \n", generation.min(65_535));
            out.extend_from_slice(entry.as_bytes());
        }
    }
    out.extend_from_slice(format!("trailer\n{trailer}\nstartxref\n{start}\n%%EOF\n").as_bytes());
    Some(out)
}

/// Object number -> (generation, offset of its header), for every `N G obj` at the start of a
/// token, stream data skipped.
fn scan_objects(bytes: &[u8]) -> std::collections::BTreeMap<u64, (u64, usize)> {
    let mut objects = std::collections::BTreeMap::new();
    let limit = (bytes.len() as u64 / 4).clamp(4096, MAX_OBJECT_NUMBER);
    let mut keywords = Keywords::default();
    let mut i = 0;
    while i < bytes.len() {
        let starts_token = i == 0 || is_space_or_delimiter(bytes[i - 1]);
        if !(starts_token && bytes[i].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let Some((number, generation, end)) = object_header(bytes, i) else {
            i += 1;
            continue;
        };
        if number <= limit {
            objects.insert(number, (generation, i));
        }
        // A stream's data can hold anything, `1 0 obj` included: skip to its end.
        i = match keywords.next(bytes, end) {
            Some((at, Keyword::Stream)) => {
                let data = at + b"stream".len();
                find(&bytes[data..], b"endstream").map_or(bytes.len(), |e| data + e)
            }
            _ => end,
        };
    }
    objects
}

#[derive(Clone, Copy)]
enum Keyword {
    Stream,
    EndObj,
}

/// The first `stream` or `endobj` at or after a position that only grows, remembered, so that
/// a file of object headers without either is scanned once, not once per header.
#[derive(Default)]
struct Keywords {
    /// Searched from this position on: the first keyword found there, if any.
    last: Option<(usize, Option<(usize, Keyword)>)>,
}

impl Keywords {
    fn next(&mut self, bytes: &[u8], from: usize) -> Option<(usize, Keyword)> {
        if let Some((searched, found)) = self.last {
            if searched <= from && found.is_none_or(|(at, _)| at >= from) {
                return found;
            }
        }
        let found = bytes.get(from..).and_then(|rest| {
            rest.windows(6).enumerate().find_map(|(i, w)| match w {
                b"stream" => Some((from + i, Keyword::Stream)),
                b"endobj" => Some((from + i, Keyword::EndObj)),
                _ => None,
            })
        });
        self.last = Some((from, found));
        found
    }
}

/// `N G obj` starting at `at`: the numbers and where the header ends.
fn object_header(bytes: &[u8], at: usize) -> Option<(u64, u64, usize)> {
    let (number, rest) = integer(bytes, at)?;
    let rest = spaces(bytes, rest)?;
    let (generation, rest) = integer(bytes, rest)?;
    let rest = spaces(bytes, rest)?;
    let end = rest + 3;
    if bytes.get(rest..end) != Some(b"obj") {
        return None;
    }
    if bytes.get(end).is_some_and(|&c| !is_space_or_delimiter(c)) {
        return None;
    }
    Some((number, generation, end))
}

/// A run of at most ten digits at `at`, and where it ends.
fn integer(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let digits = bytes
        .get(at..)?
        .iter()
        .take(11)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || digits > 10 {
        return None;
    }
    let text = std::str::from_utf8(&bytes[at..at + digits]).ok()?;
    Some((text.parse().ok()?, at + digits))
}

/// Past one or more white-space bytes at `at` (none is no match).
fn spaces(bytes: &[u8], at: usize) -> Option<usize> {
    let count = bytes
        .get(at..)?
        .iter()
        .take_while(|&&c| is_space(c))
        .count();
    (count > 0).then_some(at + count)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_space_or_delimiter(c: u8) -> bool {
    is_space(c) || b"()<>[]{}/%".contains(&c)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The text of the file's last trailer dictionary, `<<` to its matching `>>`.
fn last_trailer(bytes: &[u8]) -> Option<&str> {
    let at = bytes.windows(7).rposition(|w| w == b"trailer")?;
    let open = at + find(&bytes[at..], b"<<")?;
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match &bytes[i..i + 2] {
            b"<<" => {
                depth += 1;
                i += 2;
            }
            b">>" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return std::str::from_utf8(&bytes[open..i]).ok();
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The trailer without its links to the old tables (`/Prev`, `/XRefStm`): renamed, so that
/// lopdf does not follow them back into the damage. `/Size` stays; lopdf corrects it.
fn neutralize_links(trailer: &str) -> String {
    let mut out = trailer.to_owned();
    for key in ["/Prev", "/XRefStm"] {
        let mut from = 0;
        while let Some(found) = out[from..].find(key) {
            let at = from + found;
            let after = at + key.len();
            let whole = out
                .as_bytes()
                .get(after)
                .is_none_or(|&c| is_space_or_delimiter(c));
            from = after;
            if whole {
                out.replace_range(at..at + 1, "/Damaged");
                from += "Damaged".len();
            }
        }
    }
    out
}

/// The document catalog (`/Type /Catalog`) among the objects found, for a file that has no
/// trailer dictionary (one whose table was a cross-reference stream).
fn catalog(
    bytes: &[u8],
    objects: &std::collections::BTreeMap<u64, (u64, usize)>,
) -> Option<(u64, u64)> {
    objects
        .iter()
        .rev()
        .find_map(|(&number, &(generation, at))| {
            let body = &bytes[at..];
            let head = &body[..body.len().min(4096)];
            let end = find(head, b"endobj").unwrap_or(head.len());
            let text = String::from_utf8_lossy(&head[..end]);
            let compact: String = text.split_whitespace().collect();
            compact
                .contains("/Type/Catalog")
                .then_some((number, generation))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_outside_stream_data_and_later_definitions_win() {
        let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n2 0 obj\n<< /Length 9 >>\nstream\n3 0 obj\nendstream\nendobj\n1 0 obj\n<< /Type /Catalog /V 2 >>\nendobj\n";
        let objects = scan_objects(pdf);
        assert_eq!(objects.keys().copied().collect::<Vec<_>>(), [1, 2]);
        let second = pdf.windows(7).rposition(|w| w == b"1 0 obj").unwrap();
        assert_eq!(objects[&1], (0, second));
    }

    #[test]
    fn the_trailer_loses_its_links_to_the_old_tables_only() {
        let trailer = "<< /Size 9 /Root 1 0 R /Prev 123 /XRefStm 456 /Previous 7 >>";
        assert_eq!(
            neutralize_links(trailer),
            "<< /Size 9 /Root 1 0 R /DamagedPrev 123 /DamagedXRefStm 456 /Previous 7 >>"
        );
    }

    #[test]
    fn a_file_without_objects_or_catalog_is_not_rebuilt() {
        assert!(rebuild(b"%PDF-1.4\nnothing here\n%%EOF\n").is_none());
        assert!(rebuild(b"%PDF-1.4\n1 0 obj\n<< /A 1 >>\nendobj\n%%EOF\n").is_none());
    }
}
