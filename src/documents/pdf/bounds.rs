//! What a PDF may make the reader do, bounded before pdf-extract sees it.
//!
//! pdf-extract and lopdf under it trust the file: a stream is inflated as far as it goes, every
//! time it is used; `/Parent` chains and form XObjects are followed by recursion, which a file
//! that points at itself turns into a stack overflow (the process dies: `catch_unwind` cannot
//! catch that); the page tree is taken as it comes, so a page listed 40,000 times is read
//! 40,000 times. None of that can be limited from outside while pdf-extract runs, so the
//! document is rewritten first into a shape whose cost is known:
//!
//! - every stream is decoded once, at load, by our own decoders with a size limit, and stored
//!   plain (images are emptied: text extraction never needs their pixels, and pdf-extract
//!   would otherwise decode them for every `Do`);
//! - the page tree is walked here, without recursion, each page once, and flattened: each page
//!   gets its inherited `/Resources` and `/MediaBox` written in and a `/Parent` that ends the
//!   chain, so pdf-extract's own walk up the tree is one step;
//! - before a page is read, the forms it draws are followed the way pdf-extract will follow
//!   them, counting depth and the bytes of content it will parse; a form that draws itself, or
//!   a page whose drawing costs more than the limit, is refused before pdf-extract starts.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::rc::Rc;

use pdf_extract::content::Content;
use pdf_extract::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};

/// Most bytes one stream may decode to. Content streams of real pages are kilobytes to a few
/// megabytes; embedded fonts stay under a few tens.
pub(super) const MAX_STREAM_BYTES: usize = 64 << 20;
/// Most bytes all the streams of a document may decode to together.
pub(super) const MAX_DECODED_BYTES: usize = 512 << 20;
/// Most pages read: four million characters (the text limit) over this many pages is 200 a
/// page, so a longer document is over the text limit or mostly blank.
pub(super) const MAX_PAGES: usize = 20_000;
/// Deepest nesting of form XObjects followed. Real documents nest a few levels; pdf-extract
/// spends a recursion (and stack) per level.
pub(super) const MAX_FORM_DEPTH: usize = 32;
/// Most bytes of content pdf-extract may parse for one page, counting a form each time it is
/// drawn.
pub(super) const MAX_PAGE_WORK: u64 = 256 << 20;
/// Most bytes of content parsed for the whole document (pages share content streams and
/// forms, so this is not bounded by the decoded size).
pub(super) const MAX_DOCUMENT_WORK: u64 = 1 << 30;
/// Most `Do` operators followed for one page, counting a form's each time it is drawn.
const MAX_PAGE_DRAWS: u64 = 1_000_000;
/// Deepest page tree walked (lopdf stops at 256 too).
const MAX_TREE_DEPTH: usize = 256;
/// Most bytes a cross-reference stream may decode to (an entry is a few bytes per object).
const MAX_XREF_BYTES: usize = 64 << 20;
/// US Letter, the page size viewers assume when a page says none.
const DEFAULT_MEDIA_BOX: [i64; 4] = [0, 0, 612, 792];

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

// ---------------------------------------------------------------------------------------------
// Loading with bounded stream decoding

/// Bytes decoded so far while lopdf loads a document, and the first limit crossed. lopdf calls
/// the load filter as a plain `fn` on the loading thread (it is built without rayon), so the
/// running total lives in a thread-local that [`load`] resets before and reads after.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    decoded: usize,
    over: Option<Overrun>,
}

#[derive(Debug, Clone, Copy)]
enum Overrun {
    Stream(ObjectId),
    Document,
}

thread_local! {
    static BUDGET: Cell<Budget> = Cell::new(Budget::default());
}

/// Loads a document with every stream decoded under the limits (see the module comment).
///
/// # Errors
/// The reason, in words, when the file is not a PDF lopdf can parse or a stream is over a
/// limit.
pub(super) fn load(bytes: &[u8]) -> Result<Document, String> {
    check_xref_streams(bytes)?;
    BUDGET.with(|b| b.set(Budget::default()));
    let options = LoadOptions {
        filter: Some(load_filter),
        ..LoadOptions::default()
    };
    let loaded = Document::load_mem_with_options(bytes, options);
    let budget = BUDGET.with(Cell::take);
    overrun_reason(budget.over)?;
    let mut doc = loaded.map_err(|e| e.to_string())?;
    // An encrypted document is loaded without the filter (lopdf decrypts first), and an
    // object can reach the document by other paths: decode whatever is still encoded.
    let mut budget = budget;
    for (&id, object) in &mut doc.objects {
        if let Object::Stream(stream) = object {
            tame(id, stream, &mut budget);
            overrun_reason(budget.over)?;
        }
    }
    Ok(doc)
}

fn overrun_reason(over: Option<Overrun>) -> Result<(), String> {
    match over {
        None => Ok(()),
        Some(Overrun::Stream((number, generation))) => Err(format!(
            "a stream (object {number} {generation}) decompresses to more than {} MiB",
            mib(MAX_STREAM_BYTES as u64)
        )),
        Some(Overrun::Document) => Err(format!(
            "its streams decompress to more than {} MiB together",
            mib(MAX_DECODED_BYTES as u64)
        )),
    }
}

/// lopdf's load filter: every object passes through here before lopdf unpacks object streams,
/// so their decoding is bounded too. lopdf keeps the object mutated in place for objects read
/// from the file, and the returned one for objects read from object streams, which are never
/// streams: a stream's copy would be thrown away, so none is made.
fn load_filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object {
        let mut budget = BUDGET.with(Cell::get);
        if budget.over.is_none() {
            tame(id, stream, &mut budget);
            BUDGET.with(|b| b.set(budget));
        }
        return Some((id, Object::Null));
    }
    Some((id, object.clone()))
}

/// Stores a stream decoded (or emptied, for an image), counting its size against the budget.
/// A stream over a limit is emptied and the overrun recorded.
fn tame(id: ObjectId, stream: &mut Stream, budget: &mut Budget) {
    if is_image(&stream.dict) {
        stream.set_plain_content(Vec::new());
        return;
    }
    if stream.dict.get(b"Filter").is_err() {
        return;
    }
    let room = MAX_STREAM_BYTES.min(MAX_DECODED_BYTES.saturating_sub(budget.decoded));
    match decode(stream, room) {
        Ok(Some(plain)) => {
            budget.decoded += plain.len();
            stream.set_plain_content(plain);
        }
        // A codec we leave alone (DCT, JPX, CCITT, JBIG2): lopdf cannot decode these either,
        // so nothing downstream expands them.
        Ok(None) => {}
        Err(TooLarge) => {
            stream.set_plain_content(Vec::new());
            budget.over.get_or_insert(if room < MAX_STREAM_BYTES {
                Overrun::Document
            } else {
                Overrun::Stream(id)
            });
        }
    }
}

fn is_image(dict: &Dictionary) -> bool {
    dict.get(b"Subtype")
        .and_then(Object::as_name)
        .is_ok_and(|s| s == b"Image")
}

/// A decoded stream would be larger than the room left.
#[derive(Debug)]
struct TooLarge;

/// The stream's content with its filters undone, `None` when one of them is an image codec
/// we do not decode.
fn decode(stream: &Stream, limit: usize) -> Result<Option<Vec<u8>>, TooLarge> {
    let Ok(filters) = stream.filters() else {
        return Ok(None);
    };
    let params = stream.dict.get(b"DecodeParms").ok();
    let mut data = stream.content.clone();
    for (i, filter) in filters.iter().enumerate() {
        let params = match params {
            Some(Object::Array(list)) => list.get(i).and_then(|p| p.as_dict().ok()),
            Some(Object::Dictionary(dict)) => Some(dict),
            _ => None,
        };
        data = match *filter {
            b"FlateDecode" | b"Fl" => predict(inflate(&data, limit)?, params),
            b"LZWDecode" | b"LZW" => predict(lzw(&data, params, limit)?, params),
            b"ASCII85Decode" | b"A85" => ascii85(&data, limit)?,
            b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data, limit)?,
            b"RunLengthDecode" | b"RL" => run_length(&data, limit)?,
            _ => return Ok(None),
        };
    }
    Ok(Some(data))
}

/// A writer that refuses to grow past a limit.
struct Capped {
    out: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Capped {
    fn new(limit: usize) -> Self {
        Self {
            out: Vec::new(),
            limit,
            over: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        if self.out.len() + bytes.len() > self.limit {
            self.over = true;
            return Err(TooLarge);
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf)
            .map_err(|TooLarge| std::io::Error::other("decoded stream over the limit"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// zlib, or raw deflate when the zlib header is damaged (as lopdf retries). A stream cut short
/// or with a bad checksum keeps what decoded, as every viewer does.
fn inflate(input: &[u8], limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Vec::new();
    let cap = limit as u64 + 1;
    let zlib = flate2::read::ZlibDecoder::new(input)
        .take(cap)
        .read_to_end(&mut out);
    if zlib.is_err() && out.is_empty() && input.len() > 2 {
        // Best effort, like the zlib attempt: whatever decoded is kept.
        let _partial = flate2::read::DeflateDecoder::new(&input[2..])
            .take(cap)
            .read_to_end(&mut out);
    }
    if out.len() > limit {
        return Err(TooLarge);
    }
    Ok(out)
}

fn lzw(input: &[u8], params: Option<&Dictionary>, limit: usize) -> Result<Vec<u8>, TooLarge> {
    use weezl::{decode::Decoder, BitOrder};
    let early_change = params
        .and_then(|p| p.get(b"EarlyChange").ok())
        .and_then(|v| v.as_i64().ok())
        .is_none_or(|v| v != 0);
    let mut decoder = if early_change {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Decoder::new(BitOrder::Msb, 8)
    };
    let mut out = Capped::new(limit);
    // A damaged stream keeps what decoded before the damage.
    let _status = decoder.into_stream(&mut out).decode_all(input).status;
    if out.over {
        return Err(TooLarge);
    }
    Ok(out.out)
}

/// PNG predictors (what lopdf applies); other predictors are left as they are, as lopdf does.
fn predict(data: Vec<u8>, params: Option<&Dictionary>) -> Vec<u8> {
    let Some(params) = params else { return data };
    let int = |key: &[u8], default: i64| {
        params
            .get(key)
            .and_then(Object::as_i64)
            .unwrap_or(default)
            .clamp(1, 1 << 20)
    };
    if !(10..=15).contains(&int(b"Predictor", 1)) {
        return data;
    }
    let (columns, colors, bits) = (
        int(b"Columns", 1),
        int(b"Colors", 1),
        int(b"BitsPerComponent", 8),
    );
    let bytes_per_pixel = (colors * bits.max(8) / 8) as usize;
    let columns = columns as usize;
    if bytes_per_pixel.saturating_mul(columns) > data.len() {
        return data;
    }
    pdf_extract::filters::png::decode_frame(&data, bytes_per_pixel, columns).unwrap_or(data)
}

fn ascii_hex(input: &[u8], limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Capped::new(limit);
    let mut high = None;
    for &c in input {
        if c == b'>' {
            break;
        }
        let Some(v) = (c as char).to_digit(16) else {
            continue;
        };
        match high.take() {
            None => high = Some(v as u8),
            Some(h) => out.push(&[h << 4 | v as u8])?,
        }
    }
    if let Some(h) = high {
        out.push(&[h << 4])?;
    }
    Ok(out.out)
}

fn ascii85(input: &[u8], limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Capped::new(limit);
    let mut group = [0u8; 5];
    let mut n = 0;
    let value = |g: &[u8; 5]| {
        g.iter()
            .fold(0u64, |acc, &d| acc * 85 + u64::from(d))
            .min(u64::from(u32::MAX)) as u32
    };
    for &c in input {
        match c {
            b'~' => break,
            b'z' if n == 0 => out.push(&[0; 4])?,
            b'!'..=b'u' => {
                group[n] = c - b'!';
                n += 1;
                if n == 5 {
                    out.push(&value(&group).to_be_bytes())?;
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        group[n..].fill(84);
        out.push(&value(&group).to_be_bytes()[..n - 1])?;
    }
    Ok(out.out)
}

fn run_length(input: &[u8], limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Capped::new(limit);
    let mut i = 0;
    while let Some(&len) = input.get(i) {
        match len {
            128 => break,
            0..=127 => {
                let run = &input[(i + 1).min(input.len())..(i + 2 + len as usize).min(input.len())];
                out.push(run)?;
                i += 2 + len as usize;
            }
            _ => {
                let Some(&byte) = input.get(i + 1) else { break };
                out.push(&vec![byte; 257 - len as usize])?;
                i += 2;
            }
        }
    }
    Ok(out.out)
}

/// lopdf decodes cross-reference streams while it reads the trailer, before any load filter
/// runs, with no limit on size and with field widths taken as they come (`/W [1e12 …]`
/// allocates that much). They are checked here, on the raw bytes: every stream whose
/// dictionary says `/Type /XRef`.
fn check_xref_streams(bytes: &[u8]) -> Result<(), String> {
    const WINDOW: usize = 4096;
    let mut from = 0;
    while let Some(found) = find(&bytes[from..], b"/XRef") {
        let at = from + found;
        from = at + 5;
        if bytes.get(from).is_some_and(|&c| is_regular(c)) {
            continue; // a longer name, such as /XRefStm
        }
        let start = rfind(&bytes[at.saturating_sub(WINDOW)..at], b"obj")
            .map_or(at, |p| at.saturating_sub(WINDOW) + p);
        let end = (from + WINDOW).min(bytes.len());
        let Some(stream_at) = find(&bytes[from..end], b"stream").map(|p| from + p + 6) else {
            continue;
        };
        let dict = &bytes[start..stream_at];
        let widths = int_array(dict, b"/W");
        if widths.iter().any(|&w| !(0..=8).contains(&w)) {
            return Err(format!(
                "its cross-reference stream has field widths {widths:?} (at most 8 bytes each)"
            ));
        }
        let data_at = match bytes.get(stream_at..stream_at + 2) {
            Some(b"\r\n") => stream_at + 2,
            Some([b'\n' | b'\r', _]) => stream_at + 1,
            _ => stream_at,
        };
        let decoded = inflate(&bytes[data_at..], MAX_XREF_BYTES).map_err(|TooLarge| {
            format!(
                "its cross-reference stream decompresses to more than {} MiB",
                mib(MAX_XREF_BYTES as u64)
            )
        })?;
        // Each entry lopdf reads takes the sum of the widths in bytes; an /Index that asks for
        // more entries than the data holds makes it loop on zero-width fields.
        let entry = widths.iter().sum::<i64>().max(1);
        let index = int_array(dict, b"/Index");
        let asked: i64 = index.iter().skip(1).step_by(2).map(|&n| n.max(0)).sum();
        if asked > decoded.len() as i64 / entry + 1 {
            return Err(format!(
                "its cross-reference stream lists {asked} entries but holds {}",
                decoded.len() as i64 / entry
            ));
        }
    }
    Ok(())
}

fn is_regular(c: u8) -> bool {
    !c.is_ascii_whitespace() && !b"()<>[]{}/%".contains(&c)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The integers of `KEY [a b c]` in raw dictionary bytes (empty when absent).
fn int_array(dict: &[u8], key: &[u8]) -> Vec<i64> {
    let mut from = 0;
    while let Some(p) = find(&dict[from..], key) {
        let after = from + p + key.len();
        from = after;
        if dict.get(after).is_some_and(|&c| is_regular(c)) {
            continue;
        }
        let rest = &dict[after..];
        let rest = &rest[rest.iter().take_while(|c| c.is_ascii_whitespace()).count()..];
        let Some(body) = rest.strip_prefix(b"[") else {
            return Vec::new();
        };
        let body = &body[..body.iter().position(|&c| c == b']').unwrap_or(body.len())];
        return String::from_utf8_lossy(body)
            .split_ascii_whitespace()
            .map(|t| t.parse::<f64>().map_or(i64::MAX, |v| v as i64))
            .collect();
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------------
// The page tree

/// The pages to read, in order, each once, and the flat page-tree node they are read through.
pub(super) struct Pages {
    /// Page objects in reading order.
    pub(super) ids: Vec<ObjectId>,
    /// Kids entries skipped because the page (or subtree) was already listed.
    pub(super) repeated: usize,
    flat: ObjectId,
}

/// Attributes a page inherits from the nodes above it.
#[derive(Clone, Default)]
struct Inherited {
    resources: Option<Object>,
    media_box: Option<Object>,
}

impl Inherited {
    /// What the kids of `dict` inherit: its own attributes, else what it inherited.
    fn below(&self, dict: &Dictionary) -> Self {
        let own = |key: &[u8], parent: &Option<Object>| {
            dict.get(key).ok().cloned().or_else(|| parent.clone())
        };
        Self {
            resources: own(b"Resources", &self.resources),
            media_box: own(b"MediaBox", &self.media_box),
        }
    }
}

/// Walks the page tree from the catalog without recursion, lists each page once, and rewrites
/// every page to stand alone under one new flat node (see the module comment).
///
/// # Errors
/// When there is no page tree, or more than [`MAX_PAGES`] pages.
pub(super) fn pages(doc: &mut Document) -> Result<Pages, String> {
    let root = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"Pages").ok())
        .and_then(|p| p.as_reference().ok())
        .ok_or("it has no page tree")?;
    let mut ids = Vec::new();
    let mut fixes: Vec<(ObjectId, Inherited)> = Vec::new();
    let mut seen = HashSet::new();
    let mut repeated = 0;
    // Each level: the kids left to visit and what they inherit.
    let mut stack: Vec<(std::vec::IntoIter<Object>, Inherited)> = vec![(
        vec![Object::Reference(root)].into_iter(),
        Inherited::default(),
    )];
    while let Some((kids, inherited)) = stack.last_mut() {
        let Some(kid) = kids.next() else {
            stack.pop();
            continue;
        };
        let Ok(id) = kid.as_reference() else { continue };
        let Ok(dict) = doc.get_dictionary(id) else {
            continue;
        };
        if !seen.insert(id) {
            repeated += 1;
            continue;
        }
        let is_node = match dict.get(b"Type").and_then(Object::as_name) {
            Ok(b"Pages") => true,
            Ok(b"Page") => false,
            _ => dict.has(b"Kids"),
        };
        let inherited = inherited.below(dict);
        if is_node {
            if stack.len() >= MAX_TREE_DEPTH {
                continue;
            }
            let kids = dict
                .get(b"Kids")
                .ok()
                .and_then(|k| deref(doc, k).as_array().ok())
                .cloned()
                .unwrap_or_default();
            stack.push((kids.into_iter(), inherited));
        } else {
            if ids.len() == MAX_PAGES {
                return Err(format!(
                    "it has more than {MAX_PAGES} pages; xgen-desk reads at most {MAX_PAGES}: split it into parts"
                ));
            }
            ids.push(id);
            fixes.push((id, inherited));
        }
    }
    let flat = (doc.max_id + 1, 0);
    doc.max_id += 1;
    let mut node = Dictionary::new();
    node.set("Type", Object::Name(b"Pages".to_vec()));
    node.set("Kids", Object::Array(Vec::new()));
    node.set("Count", Object::Integer(0));
    doc.objects.insert(flat, Object::Dictionary(node));
    if let Ok(catalog) = doc.catalog_mut() {
        catalog.set("Pages", Object::Reference(flat));
    }
    for (id, inherited) in fixes {
        let media_box = inherited
            .media_box
            .filter(|b| is_rectangle(doc, b))
            .unwrap_or_else(|| Object::Array(DEFAULT_MEDIA_BOX.map(Object::Integer).to_vec()));
        if let Ok(page) = doc.get_object_mut(id).and_then(Object::as_dict_mut) {
            page.set("Type", Object::Name(b"Page".to_vec()));
            page.set("Parent", Object::Reference(flat));
            page.set("MediaBox", media_box);
            match inherited.resources {
                Some(resources) => page.set("Resources", resources),
                None => page.remove(b"Resources").map_or((), drop),
            }
        }
    }
    Ok(Pages {
        ids,
        repeated,
        flat,
    })
}

/// Points the flat node at one page, so that pdf-extract's page 1 is that page.
pub(super) fn select(doc: &mut Document, pages: &Pages, page: ObjectId) {
    if let Ok(node) = doc.get_object_mut(pages.flat).and_then(Object::as_dict_mut) {
        node.set("Kids", Object::Array(vec![Object::Reference(page)]));
        node.set("Count", Object::Integer(1));
    }
}

fn deref<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(object),
        _ => object,
    }
}

/// Four numbers, as pdf-extract reads a `/MediaBox` (it panics on anything else).
fn is_rectangle(doc: &Document, object: &Object) -> bool {
    deref(doc, object).as_array().is_ok_and(|a| {
        a.len() >= 4
            && a.iter()
                .all(|v| matches!(deref(doc, v), Object::Integer(_) | Object::Real(_)))
    })
}

// ---------------------------------------------------------------------------------------------
// Forms

/// What drawing the pages has cost so far, and parsed `Do` lists shared between pages.
#[derive(Default)]
pub(super) struct Work {
    /// Bytes of content parsed (or to be parsed) for the pages checked so far.
    pub(super) total: u64,
    draws: HashMap<ObjectId, Rc<[Vec<u8>]>>,
}

/// Follows the forms a page draws as pdf-extract will (a form's own `/Resources`, else its
/// caller's), adding what the page will cost to `work`.
///
/// # Errors
/// Why the page is not read: a form that draws itself, forms nested too deep, a page whose
/// drawing parses too much content. The caller compares `work.total` with
/// [`MAX_DOCUMENT_WORK`] for the document as a whole.
pub(super) fn check_page(doc: &Document, page: ObjectId, work: &mut Work) -> Result<(), String> {
    let Ok(dict) = doc.get_dictionary(page) else {
        return Ok(());
    };
    let contents = doc.get_page_contents(page);
    let mut cost: u64 = contents
        .iter()
        .filter_map(|&id| doc.get_object(id).ok()?.as_stream().ok())
        .map(|s| s.content.len() as u64)
        .sum();
    if cost > MAX_PAGE_WORK {
        return Err(format!("its content is over {} MiB", mib(MAX_PAGE_WORK)));
    }
    let empty = Dictionary::new();
    let resources = dict
        .get(b"Resources")
        .ok()
        .and_then(|r| deref(doc, r).as_dict().ok())
        .unwrap_or(&empty);
    if draws_forms(doc, resources) {
        cost = follow_forms(doc, &contents, resources, cost, work)?;
    }
    work.total += cost;
    Ok(())
}

/// Whether any XObject a resource dictionary names is a form (no recursion is possible
/// otherwise, and the page need not be parsed twice).
fn draws_forms(doc: &Document, resources: &Dictionary) -> bool {
    xobjects(doc, resources).is_some_and(|x| {
        x.iter()
            .any(|(_, v)| deref(doc, v).as_stream().is_ok_and(|s| is_form(&s.dict)))
    })
}

fn xobjects<'a>(doc: &'a Document, resources: &'a Dictionary) -> Option<&'a Dictionary> {
    resources
        .get(b"XObject")
        .ok()
        .and_then(|x| deref(doc, x).as_dict().ok())
}

fn is_form(dict: &Dictionary) -> bool {
    dict.get(b"Subtype")
        .and_then(Object::as_name)
        .is_ok_and(|s| s == b"Form")
}

fn follow_forms(
    doc: &Document,
    contents: &[ObjectId],
    resources: &Dictionary,
    mut cost: u64,
    work: &mut Work,
) -> Result<u64, String> {
    let page_content: Vec<u8> = contents
        .iter()
        .filter_map(|&id| doc.get_object(id).ok()?.as_stream().ok())
        .flat_map(|s| s.content.iter().copied().chain([b'\n']))
        .collect();
    struct Frame<'a> {
        form: Option<ObjectId>,
        names: Rc<[Vec<u8>]>,
        next: usize,
        resources: &'a Dictionary,
    }
    let mut stack = vec![Frame {
        form: None,
        names: do_names(&page_content),
        next: 0,
        resources,
    }];
    let mut draws: u64 = 0;
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.names.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let caller = top.resources;
        draws += 1;
        if draws > MAX_PAGE_DRAWS {
            return Err(format!("it draws more than {MAX_PAGE_DRAWS} objects"));
        }
        let Some(Object::Reference(id)) = xobjects(doc, caller).and_then(|x| x.get(name).ok())
        else {
            continue;
        };
        let id = *id;
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
            continue;
        };
        if !is_form(&stream.dict) {
            continue;
        }
        if stack.iter().any(|f| f.form == Some(id)) {
            return Err(format!(
                "it draws a form XObject (object {} {}) that draws itself",
                id.0, id.1
            ));
        }
        if stack.len() > MAX_FORM_DEPTH {
            return Err(format!(
                "its form XObjects nest more than {MAX_FORM_DEPTH} deep"
            ));
        }
        cost += stream.content.len() as u64;
        if cost > MAX_PAGE_WORK {
            return Err(format!(
                "drawing it parses more than {} MiB of content (forms drawn over and over)",
                mib(MAX_PAGE_WORK)
            ));
        }
        let resources = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| deref(doc, r).as_dict().ok())
            .unwrap_or(caller);
        let names = work
            .draws
            .entry(id)
            .or_insert_with(|| do_names(&stream.content))
            .clone();
        stack.push(Frame {
            form: Some(id),
            names,
            next: 0,
            resources,
        });
    }
    Ok(cost)
}

/// The names a content stream draws with `Do`, in order, parsed as pdf-extract parses it.
fn do_names(content: &[u8]) -> Rc<[Vec<u8>]> {
    let Ok(content) = Content::decode(content) else {
        return Rc::from(Vec::new());
    };
    content
        .operations
        .into_iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| op.operands.first()?.as_name().ok().map(<[u8]>::to_vec))
        .collect()
}
