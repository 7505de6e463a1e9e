//! Loading a PDF with every stream decoded once, by our own decoders, under size limits.
//!
//! lopdf inflates a stream as far as it goes, and pdf-extract asks it to again every time the
//! stream is used (an image each time it is drawn, a font on every page). Here every stream is
//! decoded at load and stored plain, its size counted against [`MAX_STREAM_BYTES`] and
//! [`MAX_DECODED_BYTES`]; images are emptied (text extraction never needs their pixels).
//! Cross-reference streams, which lopdf decodes before any of this can run, are checked on
//! the raw bytes first; then [`super::fonts`] checks what pdf-extract will parse in fonts.

use std::cell::Cell;
use std::io::{Read, Write};

use pdf_extract::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};

use super::mib;

/// Most bytes one stream may decode to. Content streams of real pages are kilobytes to a few
/// megabytes; embedded fonts stay under a few tens.
pub(super) const MAX_STREAM_BYTES: usize = 64 << 20;
/// Most bytes all the streams of a document may decode to together.
pub(super) const MAX_DECODED_BYTES: usize = 512 << 20;
/// Most bytes a cross-reference stream may decode to (an entry is a few bytes per object).
const MAX_XREF_BYTES: usize = 64 << 20;
/// Most bytes all cross-reference streams may decode to together.
const MAX_XREF_TOTAL: usize = 256 << 20;
/// Most cross-reference streams checked: a file has one per incremental update.
const MAX_XREF_STREAMS: usize = 1000;

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

/// Why a document did not load.
#[derive(Debug)]
pub(super) enum LoadError {
    /// Over a limit: reading it again another way would cost as much.
    Limit(String),
    /// lopdf could not parse it (its reason): a rebuilt cross-reference table may help.
    Unparsed(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Limit(reason) | Self::Unparsed(reason) => f.write_str(reason),
        }
    }
}

/// Loads a document with every stream decoded under the limits (see the module comment).
///
/// # Errors
/// The reason, in words, when the file is not a PDF lopdf can parse or a stream is over a
/// limit.
pub(super) fn load(bytes: &[u8]) -> Result<Document, LoadError> {
    check_xref_streams(bytes).map_err(LoadError::Limit)?;
    BUDGET.with(|b| b.set(Budget::default()));
    let options = LoadOptions {
        filter: Some(load_filter),
        ..LoadOptions::default()
    };
    let loaded = Document::load_mem_with_options(bytes, options);
    let budget = BUDGET.with(Cell::take);
    overrun_reason(budget.over).map_err(LoadError::Limit)?;
    let mut doc = loaded.map_err(|e| LoadError::Unparsed(e.to_string()))?;
    // An encrypted document is loaded without the filter (lopdf decrypts first), and an
    // object can reach the document by other paths: decode whatever is still encoded.
    let mut budget = budget;
    for (&id, object) in &mut doc.objects {
        if let Object::Stream(stream) = object {
            tame(id, stream, &mut budget);
            overrun_reason(budget.over).map_err(LoadError::Limit)?;
        }
    }
    super::fonts::tame(&mut doc);
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
/// runs, with no limit on size and with field widths and entry counts taken as they come
/// (`/W [1e12 …]` allocates that much; zero widths with a huge `/Index` loop without end).
/// They are checked here, on the raw bytes: every stream whose dictionary says `/Type /XRef`.
/// A real file has one per update; more than [`MAX_XREF_STREAMS`] is refused rather than
/// scanned, and their decoding shares one budget.
fn check_xref_streams(bytes: &[u8]) -> Result<(), String> {
    const WINDOW: usize = 4096;
    let mut from = 0;
    let mut count = 0;
    let mut budget = MAX_XREF_TOTAL;
    while let Some(found) = find(&bytes[from..], b"/XRef") {
        let at = from + found;
        from = at + 5;
        if bytes.get(from).is_some_and(|&c| is_regular(c)) {
            continue; // a longer name, such as /XRefStm
        }
        count += 1;
        if count > MAX_XREF_STREAMS {
            return Err(format!(
                "it has more than {MAX_XREF_STREAMS} cross-reference streams"
            ));
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
        let room = MAX_XREF_BYTES.min(budget);
        let held_bytes = if find(dict, b"/Filter").is_some() {
            inflate(&bytes[data_at..], room)
                .map_err(|TooLarge| {
                    format!(
                        "its cross-reference streams decompress to more than {} MiB",
                        mib(room as u64)
                    )
                })?
                .len()
        } else {
            // Stored as it is (qpdf's QDF files, for one): the bytes up to `endstream`, which
            // lie in the file itself, so the entries they allow cost no more than its size.
            let rest = &bytes[data_at..];
            find(&rest[..rest.len().min(room)], b"endstream").unwrap_or(0)
        };
        budget -= held_bytes;
        // Each entry lopdf reads takes the sum of the widths in bytes; an /Index (or a /Size,
        // without one) that asks for more entries than the data holds makes it loop on
        // zero-width fields.
        let entry = widths.iter().sum::<i64>().max(1);
        let index = int_array(dict, b"/Index");
        let asked = if index.is_empty() {
            int_array(dict, b"/Size").first().copied().unwrap_or(0)
        } else {
            index
                .iter()
                .skip(1)
                .step_by(2)
                .fold(0i64, |sum, &n| sum.saturating_add(n.max(0)))
        };
        let held = held_bytes as i64 / entry;
        if asked > held + 1 {
            return Err(format!(
                "its cross-reference stream lists {asked} entries but holds {held}"
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

/// The integers of `KEY [a b c]`, or of `KEY n`, in raw dictionary bytes (empty when absent;
/// a token that is not a number reads as `i64::MAX`, which every check refuses).
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
        let body = match rest.strip_prefix(b"[") {
            Some(body) => &body[..body.iter().position(|&c| c == b']').unwrap_or(body.len())],
            None => {
                &rest[..rest
                    .iter()
                    .position(|&c| !is_regular(c))
                    .unwrap_or(rest.len())]
            }
        };
        return String::from_utf8_lossy(body)
            .split_ascii_whitespace()
            .map(|t| t.parse::<f64>().map_or(i64::MAX, |v| v as i64))
            .collect();
    }
    Vec::new()
}
