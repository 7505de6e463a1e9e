//! The page tree and the forms each page draws, walked here without recursion before
//! pdf-extract sees them.
//!
//! pdf-extract follows `/Parent` chains and form XObjects by recursion, which a file that
//! points at itself turns into a stack overflow (the process dies: `catch_unwind` cannot catch
//! that), and takes the page tree as it comes, so a page listed 40,000 times is read 40,000
//! times. So the page tree is walked here, each page listed once, and flattened: each page
//! gets its inherited `/Resources` and `/MediaBox` written in and a `/Parent` that ends the
//! chain, so pdf-extract's own walk up the tree is one step. Before a page is read, the forms
//! it draws are followed the way pdf-extract will follow them, counting depth, draws and the
//! bytes of content it will parse; a form that draws itself, or a page whose drawing costs
//! more than the limits, is refused before pdf-extract starts.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use pdf_extract::content::Content;
use pdf_extract::{Dictionary, Document, Object, ObjectId};

use super::mib;

/// Most pages read: four million characters (the text limit) over this many pages is 200 a
/// page, so a longer document is over the text limit or mostly blank.
pub(super) const MAX_PAGES: usize = 20_000;
/// Deepest nesting of form XObjects followed. Real documents nest a few levels; pdf-extract
/// spends a recursion (and stack) per level.
pub(super) const MAX_FORM_DEPTH: usize = 32;
/// Most bytes of content in one page's content streams, or in one form. pdf-extract holds a
/// content stream parsed into operations at once, several times the size of its bytes; real
/// pages hold kilobytes to a few megabytes.
pub(super) const MAX_CONTENT_BYTES: u64 = 32 << 20;
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
/// US Letter, the page size viewers assume when a page says none.
const DEFAULT_MEDIA_BOX: [i64; 4] = [0, 0, 612, 792];

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
    if cost > MAX_CONTENT_BYTES {
        return Err(format!(
            "its content is over {} MiB",
            mib(MAX_CONTENT_BYTES)
        ));
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
        if stream.content.len() as u64 > MAX_CONTENT_BYTES {
            return Err(format!(
                "it draws a form XObject (object {} {}) of more than {} MiB",
                id.0,
                id.1,
                mib(MAX_CONTENT_BYTES)
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
