//! XML replies to JSON, guided by the operation's output schema (`x-s3.xml` paths). Pure.
//!
//! The reply is read into a small element tree (quick-xml), then each output property picks its
//! elements: arrays take every match (always a list), scalars the first; integers and booleans
//! become JSON numbers and booleans. Depth and size are bounded.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

pub const MAX_DEPTH: usize = 64;

/// An element of a parsed reply. Names and (usually) text borrow from the reply's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element<'a> {
    pub name: &'a str,
    pub text: Cow<'a, str>,
    /// Child elements, and the element's attributes (other than namespace declarations) as
    /// children marked `attribute`, which an `x-s3.xml` path selects as `@name`.
    pub children: Vec<Element<'a>>,
    pub attribute: bool,
}

impl<'a> Element<'a> {
    pub(crate) fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children
            .iter()
            .find(|c| c.name == name && !c.attribute)
    }

    #[must_use]
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_ref())
    }

    fn push_text(&mut self, piece: Cow<'a, str>) {
        // Attribute children come first: an element child is the last one.
        let has_elements = self.children.last().is_some_and(|c| !c.attribute);
        if has_elements && piece.trim().is_empty() {
            return; // layout whitespace between child elements
        }
        if self.text.is_empty() {
            self.text = piece;
        } else {
            self.text.to_mut().push_str(&piece);
        }
    }
}

/// The element name without a namespace prefix, as a slice of the document itself: quick-xml's
/// events borrow from it, so the name is found by its position.
pub(crate) fn local_name<'a>(
    doc: &'a str,
    event: &str,
    name_len: usize,
) -> Result<&'a str, String> {
    let start = (event.as_ptr() as usize).wrapping_sub(doc.as_ptr() as usize);
    let name = doc
        .get(start..start + name_len)
        .filter(|n| n.as_ptr() == event.as_ptr())
        .ok_or("XML name outside the document")?;
    Ok(name.rsplit_once(':').map_or(name, |(_, local)| local))
}

/// The text of an entity reference: a character reference or one of XML's five named ones.
pub(crate) fn resolve_entity(
    r: &quick_xml::events::BytesRef<'_>,
) -> Result<Cow<'static, str>, String> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| format!("XML entity: {e}"))?
    {
        return Ok(Cow::Owned(c.to_string()));
    }
    Ok(Cow::Borrowed(match r.as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => return Err(format!("XML entity: unknown `&{other};`")),
    }))
}

/// An element's attributes as attribute children (`xsi:type="CanonicalUser"` → `type`), but
/// namespace declarations. Read leniently, as the streamed mapping ignores them: a malformed
/// attribute ends the list rather than the reply.
fn attributes<'a>(
    doc: &'a str,
    e: &quick_xml::events::BytesStart<'a>,
) -> Result<Vec<Element<'a>>, String> {
    let mut out = Vec::new();
    for a in e.attributes().with_checks(false) {
        let Ok(a) = a else { break };
        let key = a.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let Ok(value) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) else {
            break;
        };
        out.push(Element {
            name: local_name(doc, key, key.len())?,
            text: Cow::Owned(value.into_owned()),
            children: Vec::new(),
            attribute: true,
        });
    }
    Ok(out)
}

/// Parses a (UTF-8) document into its root element, without copying names or plain text.
pub fn parse(bytes: &[u8]) -> Result<Element<'_>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("XML is not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element<'_>> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH}"));
                }
                let name = local_name(text, &e, e.name().as_ref().len())?;
                stack.push(Element {
                    name,
                    children: attributes(text, &e)?,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: local_name(text, &e, e.name().as_ref().len())?,
                    children: attributes(text, &e)?,
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    // Entity references arrive as their own events: the text needs no unescaping.
                    top.push_text(t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = resolve_entity(&r)?;
                if let Some(top) = stack.last_mut() {
                    top.text.to_mut().push_str(&resolved);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.to_mut().push_str(&c);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Eof => return Err("XML ended before its root element closed".into()),
            _ => {}
        }
    }
}

/// The properties of an object schema that come from the XML reply, with the element path each
/// takes: its `x-s3.xml` path, or (unless `path_required`, as below the root) its own name.
/// Properties from headers are left out.
pub(crate) fn xml_properties(
    schema: &Value,
    path_required: bool,
) -> impl Iterator<Item = (&String, &Value, &str)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(move |(name, ps)| {
            let path = ps
                .get("x-s3")
                .and_then(|x| x.get("xml"))
                .and_then(Value::as_str);
            path.or((!path_required).then_some(name.as_str()))
                .map(|path| (name, ps, path))
        })
}

/// Maps `root` to JSON by the properties of an object schema. Properties without an `x-s3.xml`
/// path (headers) are skipped here.
#[must_use]
pub fn map_root(schema: &Value, root: &Element) -> Map<String, Value> {
    map_fields(schema, root, true)
}

/// Each property of an object schema from the child elements its `x-s3.xml` path names (or,
/// unless `path_required`, the child element of the property's own name).
fn map_fields(schema: &Value, el: &Element, path_required: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, ps, path) in xml_properties(schema, path_required) {
        if let Some(v) = map_path(ps, el, path) {
            out.insert(name.clone(), v);
        }
    }
    out
}

fn select<'e, 'a>(el: &'e Element<'a>, path: &str) -> Vec<&'e Element<'a>> {
    let mut current = vec![el];
    for seg in path.split('/') {
        if seg == "." {
            continue;
        }
        let (seg, attribute) = match seg.strip_prefix('@') {
            Some(name) => (name, true),
            None => (seg, false),
        };
        current = current
            .iter()
            .flat_map(|e| {
                e.children
                    .iter()
                    .filter(move |c| c.name == seg && c.attribute == attribute)
            })
            .collect();
    }
    current
}

fn map_path(schema: &Value, el: &Element, path: &str) -> Option<Value> {
    let found = select(el, path);
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        let items = schema.get("items").unwrap_or(&Value::Null);
        return Some(Value::Array(
            found.iter().map(|e| map_value(items, e)).collect(),
        ));
    }
    // A text value that is the root element itself (`<LocationConstraint>`) is absent when the
    // root has no text, as botocore reads it (none for us-east-1).
    if path == "." && schema.get("type").and_then(Value::as_str) == Some("string") {
        return Some(Value::from(el.text.trim())).filter(|v| v != "");
    }
    found.first().map(|e| map_value(schema, e))
}

fn map_value(schema: &Value, el: &Element) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => Value::Object(map_fields(schema, el, false)),
        Some("integer") => el
            .text
            .trim()
            .parse::<i64>()
            .map_or_else(|_| Value::String(el.text.to_string()), Value::from),
        Some("boolean") => match el.text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        _ => Value::String(el.text.to_string()),
    }
}

/// S3's `<Error>` document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Error {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub region: Option<String>,
}

pub fn parse_error(bytes: &[u8]) -> Option<S3Error> {
    let root = parse(bytes).ok()?;
    if root.name != "Error" {
        return None;
    }
    Some(S3Error {
        code: root.child_text("Code")?.to_string(),
        message: root.child_text("Message").unwrap_or_default().to_string(),
        request_id: root.child_text("RequestId").map(str::to_string),
        region: root.child_text("Region").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>a &amp; b</Key><Size>3</Size><Owner><ID>o</ID></Owner></Contents>
<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>
<Contents><Key>c</Key><Size>10</Size></Contents></ListBucketResult>"#;

    fn schema() -> Value {
        json!({"properties": {
            "Name": {"type": "string", "x-s3": {"xml": "Name"}},
            "Prefix": {"type": "string", "x-s3": {"xml": "Prefix"}},
            "MaxKeys": {"type": "integer", "x-s3": {"xml": "MaxKeys"}},
            "IsTruncated": {"type": "boolean", "x-s3": {"xml": "IsTruncated"}},
            "Contents": {"type": "array", "x-s3": {"xml": "Contents"}, "items": {"type": "object", "properties": {
                "Key": {"type": "string"}, "Size": {"type": "integer"},
                "Owner": {"type": "object", "properties": {"ID": {"type": "string"}}}}}},
            "CommonPrefixes": {"type": "array", "x-s3": {"xml": "CommonPrefixes"}, "items": {"type": "object", "properties": {"Prefix": {"type": "string"}}}},
            "Missing": {"type": "array", "x-s3": {"xml": "Nope/Nope"}, "items": {"type": "string"}},
            "ETag": {"type": "string", "x-s3": {"header": "ETag"}}
        }})
    }

    #[test]
    fn listing_maps_with_interleaved_lists_and_types() {
        let root = parse(LISTING.as_bytes()).unwrap();
        let out = Value::Object(map_root(&schema(), &root));
        assert_eq!(
            out,
            json!({"Name": "b", "Prefix": "", "MaxKeys": 1000, "IsTruncated": false,
                "Contents": [{"Key": "a & b", "Size": 3, "Owner": {"ID": "o"}}, {"Key": "c", "Size": 10}],
                "CommonPrefixes": [{"Prefix": "p/"}], "Missing": []})
        );
    }

    #[test]
    fn errors_and_bad_documents() {
        let e = parse_error(b"<Error><Code>NoSuchKey</Code><Message>gone</Message><RequestId>r1</RequestId></Error>").unwrap();
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("NoSuchKey", Some("r1"))
        );
        assert!(parse_error(b"<ListBucketResult/>").is_none());
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("deeper"));
    }
}
