//! XML replies mapped to JSON straight from quick-xml's events, without building a tree. Pure.
//!
//! The output schema is compiled once per operation into a [`Plan`]: for each object, its
//! fields in schema order with the element name each one takes, whether it is a list, and its
//! kind (string, integer, boolean, object). The events are then matched against the plan of the
//! object being filled: by name, with a short linear scan and no hashing. The result is the
//! same as [`xml::parse`] + [`xml::map_root`] (the reference, kept for the schemas a plan cannot
//! express: paths of more than one element, or `.`), which `tests` and `tests/fuzz.rs` check on
//! real and random documents. For a 1,000-key listing this halves the time (docs/benchmarks.md).

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::xml::MAX_DEPTH;

/// An output schema compiled for [`map_reply`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) root: Fields,
}

#[derive(Debug, Clone)]
pub(crate) struct Fields(pub(crate) Vec<Field>);

#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The JSON property.
    pub(crate) prop: String,
    /// The property as it opens a JSON member: `"prop":` (for `xml_text`).
    pub(crate) member: String,
    /// The element's local name.
    pub(crate) element: String,
    pub(crate) list: bool,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Str,
    Int,
    Bool,
    Obj(Fields),
}

impl Plan {
    /// The plan for an output schema, or None when a property's `x-s3.xml` path is not a single
    /// element name (those schemas are mapped through the tree).
    pub(crate) fn compile(schema: &Value) -> Option<Plan> {
        Some(Plan {
            root: fields(schema, true)?,
        })
    }
}

fn fields(schema: &Value, path_required: bool) -> Option<Fields> {
    let mut out = Vec::new();
    for (name, ps, path) in crate::xml::xml_properties(schema, path_required) {
        if path.is_empty() || path == "." || path.contains('/') || path.starts_with('@') {
            return None;
        }
        let list = ps.get("type").and_then(Value::as_str) == Some("array");
        let item = if list {
            ps.get("items").unwrap_or(&Value::Null)
        } else {
            ps
        };
        // Two properties read from one element (`Event` and the flattened `Events`): the
        // plan fills one field an element, so such a schema is mapped through the tree.
        if out.iter().any(|f: &Field| f.element == path) {
            return None;
        }
        out.push(Field {
            member: format!("{}:", Value::from(name.as_str())),
            prop: name.clone(),
            element: path.to_string(),
            list,
            kind: kind(item)?,
        });
    }
    Some(Fields(out))
}

fn kind(schema: &Value) -> Option<Kind> {
    Some(match schema.get("type").and_then(Value::as_str) {
        Some("object") => Kind::Obj(fields(schema, false)?),
        Some("integer") => Kind::Int,
        Some("boolean") => Kind::Bool,
        _ => Kind::Str,
    })
}

/// One value being filled per field of an open object (here a `Value`; `xml_text` keeps where
/// the value's text lies).
pub(crate) enum Slot<T> {
    List(Vec<T>),
    One(Option<T>),
}

impl<T> Slot<T> {
    /// Opens one empty slot per field of `plan` at the end of `slots`.
    pub(crate) fn open_all(plan: &Fields, slots: &mut Vec<Slot<T>>) {
        slots.extend(plan.0.iter().map(|f| {
            if f.list {
                Slot::List(Vec::new())
            } else {
                Slot::One(None)
            }
        }));
    }

    /// Gives the field a value: one more item of a list, or the single one.
    pub(crate) fn put(&mut self, value: T) {
        match self {
            Slot::List(items) => items.push(value),
            Slot::One(one) => *one = Some(value),
        }
    }
}

enum Frame<'p, 'a> {
    /// An object being filled: its plan, where its slots (one per field) start in
    /// [`Mapper::slots`], and the parent's field index.
    Obj {
        plan: &'p Fields,
        base: usize,
        field: usize,
        /// The field after the last one opened: the one looked at first (elements mostly come
        /// in schema order).
        next: usize,
    },
    /// A scalar's element: its text so far, and whether a child element has closed in it.
    Leaf {
        kind: &'p Kind,
        text: Cow<'a, str>,
        had_child: bool,
        field: usize,
    },
    /// An element no field takes (or a repeat of a single one), with everything inside it.
    Skip,
}

/// The state of one mapping besides its stack of open elements.
struct Mapper<'p> {
    /// The slots of every open object, the innermost last (one allocation for them all).
    slots: Vec<Slot<Value>>,
    /// Output objects with their keys in place and every value `null`, one per object plan
    /// and set of fields present: cloning one copies its hash table instead of hashing each
    /// key again, so that a listing's thousand `Contents` hash their keys once.
    templates: Vec<(&'p Fields, u64, Map<String, Value>)>,
}

/// Maps a reply: its root element's name, and the output fields the plan gives.
pub fn map_reply<'d>(
    plan: &Plan,
    bytes: &'d [u8],
) -> Result<(&'d str, Map<String, Value>), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("XML is not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut root_name = "";
    let mut stack: Vec<Frame<'_, '_>> = Vec::with_capacity(8);
    let mut m = Mapper {
        slots: Vec::with_capacity(32),
        templates: Vec::new(),
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if stack.is_empty() => {
                root_name = local_name(text, e, e.name().as_ref().len())?;
                let frame = m.object(&plan.root, 0);
                if matches!(event, Event::Empty(_)) {
                    return Ok((root_name, m.finish(&plan.root, 0)));
                }
                stack.push(frame);
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if !empty && stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH}"));
                }
                let name = local_name(text, e, e.name().as_ref().len())?;
                let frame = m.open(stack.last_mut().expect("inside the root"), name);
                if empty {
                    m.close(&mut stack, frame);
                } else {
                    stack.push(frame);
                }
            }
            Event::End(_) => {
                let frame = stack.pop().ok_or("unbalanced XML")?;
                if stack.is_empty() {
                    let Frame::Obj { plan, base, .. } = frame else {
                        unreachable!("the root is an object")
                    };
                    return Ok((root_name, m.finish(plan, base)));
                }
                m.close(&mut stack, frame);
            }
            Event::Text(t) => {
                if let Some(Frame::Leaf {
                    text, had_child, ..
                }) = stack.last_mut()
                {
                    let piece = t.into_inner();
                    if !(*had_child && piece.trim().is_empty()) {
                        if text.is_empty() {
                            *text = piece;
                        } else {
                            append(text, &piece);
                        }
                    }
                }
            }
            Event::GeneralRef(r) => {
                // Resolved wherever it is, so that a bad one fails the reply as in the tree.
                let resolved = crate::xml::resolve_entity(&r)?;
                if let Some(Frame::Leaf { text, .. }) = stack.last_mut() {
                    append(text, &resolved);
                }
            }
            Event::CData(c) => {
                if let Some(Frame::Leaf { text, .. }) = stack.last_mut() {
                    append(text, &c);
                }
            }
            Event::Eof => return Err("XML ended before its root element closed".into()),
            _ => {}
        }
    }
}

/// `piece` added to an element's text; a borrowed text becomes owned with room for a few more
/// pieces (an `ETag`'s `&quot;`, its hex digits, `&quot;`: one allocation).
fn append(text: &mut Cow<'_, str>, piece: &str) {
    match text {
        Cow::Owned(s) => s.push_str(piece),
        Cow::Borrowed(b) => {
            let mut s = String::with_capacity((b.len() + piece.len()).max(64));
            s.push_str(b);
            s.push_str(piece);
            *text = Cow::Owned(s);
        }
    }
}

impl<'p> Mapper<'p> {
    /// The frame of an object of `plan`, its slots opened.
    fn object<'a>(&mut self, plan: &'p Fields, field: usize) -> Frame<'p, 'a> {
        let base = self.slots.len();
        Slot::open_all(plan, &mut self.slots);
        Frame::Obj {
            plan,
            base,
            field,
            next: 0,
        }
    }

    /// The frame for a child element `name` of `parent`.
    fn open<'a>(&mut self, parent: &mut Frame<'p, 'a>, name: &str) -> Frame<'p, 'a> {
        // Inside a scalar's element or a skipped one, child elements are skipped (a scalar
        // takes only its own text, as in the tree mapping).
        let Frame::Obj {
            plan, base, next, ..
        } = parent
        else {
            return Frame::Skip;
        };
        let (plan, base): (&'p Fields, usize) = (plan, *base);
        let i = match plan.0.get(*next) {
            Some(f) if f.element == name => *next,
            _ => match plan.0.iter().position(|f| f.element == name) {
                Some(i) => i,
                None => return Frame::Skip,
            },
        };
        *next = i + 1;
        if let Slot::One(Some(_)) = self.slots[base + i] {
            return Frame::Skip; // a single field takes the first match
        }
        match &plan.0[i].kind {
            Kind::Obj(fields) => self.object(fields, i),
            kind => Frame::Leaf {
                kind,
                text: Cow::Borrowed(""),
                had_child: false,
                field: i,
            },
        }
    }

    /// Delivers a closed child `frame` to its parent, the new top of `stack`.
    fn close(&mut self, stack: &mut [Frame<'p, '_>], frame: Frame<'p, '_>) {
        let Some(parent) = stack.last_mut() else {
            return;
        };
        let (value, field) = match frame {
            Frame::Obj {
                plan, base, field, ..
            } => (Value::Object(self.finish(plan, base)), field),
            Frame::Leaf {
                kind, text, field, ..
            } => (scalar(kind, text), field),
            Frame::Skip => {
                if let Frame::Leaf { had_child, .. } = parent {
                    *had_child = true;
                }
                return;
            }
        };
        match parent {
            Frame::Obj { base, .. } => self.slots[*base + field].put(value),
            _ => unreachable!("fields are opened inside objects only"),
        }
    }

    /// The object whose slots start at `base` (the last ones open), its fields in schema
    /// order; lists always present, single fields when found.
    fn finish(&mut self, plan: &'p Fields, base: usize) -> Map<String, Value> {
        let slots = &self.slots[base..];
        if slots.len() > 64 {
            return finish_by_inserting(plan, self.slots.drain(base..));
        }
        let present = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s, Slot::One(None)))
            .fold(0u64, |mask, (i, _)| mask | 1 << i);
        let found = self
            .templates
            .iter()
            .position(|(p, mask, _)| std::ptr::eq(*p, plan) && *mask == present);
        let template = found.unwrap_or_else(|| {
            let mut keys = Map::with_capacity(present.count_ones() as usize);
            for (i, f) in plan.0.iter().enumerate() {
                if present & 1 << i != 0 {
                    keys.insert(f.prop.clone(), Value::Null);
                }
            }
            self.templates.push((plan, present, keys));
            self.templates.len() - 1
        });
        let mut out = self.templates[template].2.clone();
        let values = self.slots.drain(base..).filter_map(|slot| match slot {
            Slot::List(items) => Some(Value::Array(items)),
            Slot::One(v) => v,
        });
        for (place, v) in out.values_mut().zip(values) {
            *place = v;
        }
        out
    }
}

/// [`Mapper::finish`] for an object of more fields than a template's mask has bits.
fn finish_by_inserting(
    plan: &Fields,
    slots: impl Iterator<Item = Slot<Value>>,
) -> Map<String, Value> {
    let mut out = Map::with_capacity(plan.0.len());
    for (f, slot) in plan.0.iter().zip(slots) {
        match slot {
            Slot::List(items) => {
                out.insert(f.prop.clone(), Value::Array(items));
            }
            Slot::One(Some(v)) => {
                out.insert(f.prop.clone(), v);
            }
            Slot::One(None) => {}
        }
    }
    out
}

/// A scalar's value by its kind.
fn scalar(kind: &Kind, text: Cow<'_, str>) -> Value {
    match kind {
        Kind::Int => match text.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(text.into_owned()),
        },
        Kind::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        Kind::Str | Kind::Obj(_) => Value::String(text.into_owned()),
    }
}

/// The local name of an element whose tag text `event` lies in `doc`, borrowed from `doc` (as
/// `xml::local_name`).
fn local_name<'a>(doc: &'a str, event: &str, name_len: usize) -> Result<&'a str, String> {
    let start = (event.as_ptr() as usize).wrapping_sub(doc.as_ptr() as usize);
    let name = doc
        .get(start..)
        .and_then(|d| d.get(..name_len))
        .filter(|n| n.as_ptr() == event.as_ptr())
        .ok_or("XML name outside the document")?;
    Ok(local(name))
}

/// A qualified name's local part: after its namespace prefix (a plain loop, faster than
/// `split` on names this short).
pub(crate) fn local(name: &str) -> &str {
    match name.bytes().rposition(|b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::xml;

    /// Both mappings of `doc` by `schema`: (streamed, through the tree).
    fn both(schema: &Value, doc: &str) -> (Result<Value, String>, Result<Value, String>) {
        let plan = Plan::compile(schema).expect("plan");
        let streamed = map_reply(&plan, doc.as_bytes()).map(|(_, m)| Value::Object(m));
        let tree = xml::parse(doc.as_bytes()).map(|r| Value::Object(xml::map_root(schema, &r)));
        (streamed, tree)
    }

    #[test]
    fn same_as_the_tree_on_awkward_documents() {
        let schema = &Manifest::embedded()
            .operation("list_objects")
            .unwrap()
            .output;
        for doc in [
            r#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated><MaxKeys>7</MaxKeys>
<Contents><Key>a &amp; b &#x263A;</Key><Size>3</Size><ETag>&quot;e&quot;</ETag><Owner><ID>o</ID><DisplayName/></Owner></Contents>
<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes><Contents><Key><![CDATA[<c>]]></Key><Size>x1</Size></Contents></ListBucketResult>"#,
            "<ListBucketResult/>",
            "<r><Name>first</Name><Name>second</Name><IsTruncated> maybe </IsTruncated></r>",
            "<r><Name> a <b>inner</b>  <c/> z</Name><Contents><Key>k<x>y</x></Key></Contents></r>",
            "<s3:r xmlns:s3='x'><s3:Name>n</s3:Name><Contents/><Contents><Owner/></Contents></s3:r>",
            "<r><Unknown><Name>nested, not taken</Name></Unknown><MaxKeys>12</MaxKeys></r>",
            "<r><Name>unclosed</r>",
            "<r><Name>open",
            "<r>&bogus;</r>",
        ] {
            let (s, t) = both(schema, doc);
            match (&s, &t) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{doc}");
                    // The same key order too (schema order), as the output is printed.
                    assert_eq!(a.to_string(), b.to_string(), "{doc}");
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{doc}: streamed {s:?}, tree {t:?}"),
            }
        }
    }

    #[test]
    fn not_utf8_fails_as_in_the_tree() {
        let schema = &Manifest::embedded()
            .operation("list_objects")
            .unwrap()
            .output;
        let plan = Plan::compile(schema).unwrap();
        for doc in [
            &b"<r><Name>\xff</Name></r>"[..],
            b"<r><Skipped>\xc3</Skipped></r>",
            b"<r/>\xff",
            b"<r></r> \xe2\x82",
            b"<r\xff/>",
            b"<!-- \xff --><r/>",
            b"\xef\xbb\xbf<r><Name>\xc3\xa9</Name></r>",
        ] {
            let tree = xml::parse(doc).map(|r| Value::Object(xml::map_root(schema, &r)));
            let streamed = map_reply(&plan, doc).map(|(_, m)| Value::Object(m));
            assert_eq!(
                tree.is_ok(),
                streamed.is_ok(),
                "{doc:?}: {tree:?} {streamed:?}"
            );
            if let (Ok(t), Ok(s)) = (tree, streamed) {
                assert_eq!(t, s);
            }
        }
    }

    #[test]
    fn plans_compile_for_the_listing_operations_only_where_paths_allow() {
        let m = Manifest::embedded();
        for name in [
            "list_objects",
            "list_parts_for_multipart_upload",
            "list_multipart_uploads",
        ] {
            assert!(
                Plan::compile(&m.operation(name).unwrap().output).is_some(),
                "{name}"
            );
        }
        // `Buckets/Bucket` and `.` are mapped through the tree.
        assert!(Plan::compile(&m.operation("list_buckets").unwrap().output).is_none());
    }

    #[test]
    fn depth_is_bounded() {
        let schema = serde_json::json!({"properties": {}});
        let plan = Plan::compile(&schema).unwrap();
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(map_reply(&plan, deep.as_bytes())
            .unwrap_err()
            .contains("deeper"));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(map_reply(&plan, ok.as_bytes()).is_ok());
        assert!(xml::parse(ok.as_bytes()).is_ok());
    }
}
