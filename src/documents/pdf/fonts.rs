//! Font programs and CMaps: pdf-extract parses them with recursive parsers that know no depth
//! limit, unwraps what they return, and does it again on every page that uses the font. Each
//! is checked once here, at load: one nested too deep, or one its parser rejects, is dropped,
//! and the pages read with the font's own encoding instead of crashing the reader or losing
//! every page the font is on.

use std::collections::HashSet;

use pdf_extract::{Dictionary, Document, Object, ObjectId};

/// Deepest nesting of arrays, procedures, strings and dictionaries accepted in the PostScript-
/// like streams pdf-extract parses by recursion (lopdf's own parser stops at 100 too).
const MAX_NESTING: usize = 100;

/// What pdf-extract parses in a font, with recursive parsers that know no depth limit and that
/// it runs again for every page the font is used on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FontPart {
    /// A Type 1 font program (`/FontFile`): only its encoding is read.
    Type1Program,
    /// A `/ToUnicode` CMap.
    CMap,
    /// The `/Encoding` CMap of a Type 0 font.
    EncodingCMap,
}

/// Shortens Type 1 font programs to their clear-text part (the encoding is there; the
/// encrypted rest only costs parsing time, page after page), and drops any font program or
/// CMap nested deeper than [`MAX_NESTING`]: the page then reads with the font's standard
/// encoding instead of crashing the reader.
pub(super) fn tame(doc: &mut Document) {
    scale_type3_widths(doc);
    let mut parts: Vec<(ObjectId, FontPart)> = Vec::new();
    let mut direct_cmap = false;
    let mut stack: Vec<&Object> = doc.objects.values().collect();
    while let Some(object) = stack.pop() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &stream.dict,
            Object::Array(items) => {
                stack.extend(items);
                continue;
            }
            _ => continue,
        };
        for (key, value) in dict.iter() {
            let part = match key.as_slice() {
                b"FontFile" => Some(FontPart::Type1Program),
                b"ToUnicode" => Some(FontPart::CMap),
                b"Encoding" if is_type0(dict) => Some(FontPart::EncodingCMap),
                _ => None,
            };
            match (part, value) {
                (Some(part), Object::Reference(id)) => parts.push((*id, part)),
                (Some(FontPart::CMap), value) => direct_cmap |= !is_identity(value),
                (None, Object::Dictionary(_) | Object::Array(_)) => stack.push(value),
                _ => {}
            }
        }
    }
    let mut refused = HashSet::new();
    for (id, part) in parts {
        let stream = match doc.get_object_mut(id) {
            Ok(Object::Stream(stream)) => stream,
            Ok(name) if is_identity(name) => continue,
            // pdf-extract panics on a `/ToUnicode` that is missing or not a stream: a stream
            // whose length was wrong loads as its bare dictionary (pypdf's issue-301 file).
            _ if part == FontPart::CMap => {
                refused.insert(id);
                continue;
            }
            _ => continue,
        };
        if part == FontPart::Type1Program {
            let clear = stream
                .dict
                .get(b"Length1")
                .and_then(Object::as_i64)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0 && n < stream.content.len());
            if let Some(clear) = clear {
                stream.content.truncate(clear);
            }
        }
        if nesting(&stream.content) > MAX_NESTING || !parses(part, &stream.content) {
            refused.insert(id);
        }
    }
    if !refused.is_empty() || direct_cmap {
        drop_refused(doc, &refused);
    }
}

/// Type 3 fonts give their glyph widths in their own glyph space, which `/FontMatrix` maps to
/// text space; pdf-extract divides them by 1,000 whatever the matrix says. A font whose
/// matrix is not the usual 0.001 (dvips's bitmap fonts use `[1 0 0 -1 0 0]`) then advances
/// its glyphs a thousandth of the way, and the spacing of every word is lost. The widths are
/// rewritten here to what pdf-extract's division expects.
fn scale_type3_widths(doc: &mut Document) {
    let mut fonts: Vec<(ObjectId, f64)> = Vec::new();
    for (&id, object) in &doc.objects {
        let Ok(dict) = object.as_dict() else { continue };
        let is_type3 = dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|s| s == b"Type3");
        if !is_type3 {
            continue;
        }
        let scale = dict
            .get(b"FontMatrix")
            .and_then(Object::as_array)
            .ok()
            .and_then(|m| m.first())
            .and_then(|a| a.as_float().ok())
            .map(|a| f64::from(a).abs() * 1000.0)
            .filter(|&s| s.is_finite() && s > 0.0 && (s - 1.0).abs() > 1e-6);
        if let Some(scale) = scale {
            fonts.push((id, scale));
        }
    }
    // A widths array that two fonts share is scaled once.
    let mut scaled = HashSet::new();
    for (id, scale) in fonts {
        let widths = match doc.get_object(id).and_then(Object::as_dict) {
            Ok(dict) => match dict.get(b"Widths") {
                Ok(Object::Reference(target)) => *target,
                Ok(Object::Array(_)) => id,
                _ => continue,
            },
            Err(_) => continue,
        };
        if widths != id && !scaled.insert(widths) {
            continue;
        }
        let array = match doc.get_object_mut(widths) {
            Ok(Object::Array(items)) => items,
            Ok(Object::Dictionary(dict)) if widths == id => match dict.get_mut(b"Widths") {
                Ok(Object::Array(items)) => items,
                _ => continue,
            },
            _ => continue,
        };
        for width in array.iter_mut() {
            if let Ok(w) = width.as_float() {
                *width = Object::Real((f64::from(w) * scale) as f32);
            }
        }
    }
}

/// The one name pdf-extract accepts as a `/ToUnicode` value.
fn is_identity(value: &Object) -> bool {
    value.as_name().is_ok_and(|name| name == b"Identity-H")
}

/// Whether pdf-extract's parser for this part reads it without failing. pdf-extract unwraps
/// their results, so a CMap it cannot read costs every page the font is used on; dropped, the
/// pages read with the font's own encoding. Checked once here (under a quiet `catch`: the
/// parsers panic too) instead of failing on every page.
fn parses(part: FontPart, content: &[u8]) -> bool {
    super::super::caught::catch(|| match part {
        FontPart::Type1Program => type1_encoding_parser::get_encoding_map(content).is_ok(),
        FontPart::CMap => {
            adobe_cmap_parser::get_unicode_map(content).is_ok_and(|map| {
                // As pdf-extract decodes each entry: UTF-16BE, a lone surrogate skipped.
                map.values().all(|v| {
                    let units: Vec<u16> = v
                        .chunks(2)
                        .map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]))
                        .collect();
                    v.len() % 2 == 0
                        && (matches!(units[..], [0xd800..=0xdfff])
                            || String::from_utf16(&units).is_ok())
                })
            })
        }
        FontPart::EncodingCMap => adobe_cmap_parser::get_byte_mapping(content).is_ok(),
    })
    .unwrap_or(false)
}

fn is_type0(dict: &Dictionary) -> bool {
    dict.get(b"Subtype")
        .and_then(Object::as_name)
        .is_ok_and(|s| s == b"Type0")
}

/// Removes the references to refused font programs and CMaps, and `/ToUnicode` values given
/// directly that pdf-extract cannot read (anything but a stream or `Identity-H`); a Type 0
/// font's encoding becomes `Identity-H` (pdf-extract requires one).
fn drop_refused(doc: &mut Document, refused: &HashSet<ObjectId>) {
    let is_refused = |v: &Object| v.as_reference().is_ok_and(|id| refused.contains(&id));
    let mut stack: Vec<&mut Object> = doc.objects.values_mut().collect();
    while let Some(object) = stack.pop() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &mut stream.dict,
            Object::Array(items) => {
                stack.extend(items.iter_mut());
                continue;
            }
            _ => continue,
        };
        for key in [&b"FontFile"[..], b"ToUnicode"] {
            if dict.get(key).is_ok_and(is_refused) {
                dict.remove(key);
            }
        }
        if dict
            .get(b"ToUnicode")
            .is_ok_and(|v| v.as_reference().is_err() && !is_identity(v))
        {
            dict.remove(b"ToUnicode");
        }
        if dict.get(b"Encoding").is_ok_and(is_refused) {
            dict.set("Encoding", Object::Name(b"Identity-H".to_vec()));
        }
        stack.extend(
            dict.iter_mut()
                .map(|(_, v)| v)
                .filter(|v| matches!(v, Object::Dictionary(_) | Object::Array(_))),
        );
    }
}

/// The deepest nesting of `[ { ( <<` in PostScript-like text. Brackets inside strings and
/// comments count too: that can only overestimate, and real CMaps nest two or three deep.
fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        match (c, next) {
            (b'\\', _) => i += 1,
            (b'<', Some(b'<')) | (b'>', Some(b'>')) => {
                depth = if c == b'<' {
                    depth + 1
                } else {
                    depth.saturating_sub(1)
                };
                i += 1;
            }
            (b'[' | b'{' | b'(', _) => depth += 1,
            (b']' | b'}' | b')', _) => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
        i += 1;
    }
    deepest
}
