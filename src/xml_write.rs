//! XML request bodies written from a JSON value, guided by its (validated) schema. Pure.
//!
//! The schema is the payload parameter's, generated from AWS's model; its `x-s3` annotations
//! say where the XML departs from the JSON member names, as botocore's rest-xml serializer
//! reads the model:
//! - on the payload schema: `xml` (the root element) and `xmlns` (its namespace);
//! - on a property: `xml` (its element name when not the member name), `attribute` (written as
//!   an attribute of the enclosing element), `xmlns` (`{"prefix"?, "uri"}` declared on its
//!   element);
//! - on an array: `flattened` (items repeat under the property's name) or `member` (the item
//!   element inside a wrapper named after the property);
//! - on a date: `timestamp` (`iso8601` or `rfc822`).
//!
//! Properties are written in the schema's order (the model's member order), which is what
//! botocore writes too when given the members in that order; S3 does not depend on the order.

use serde_json::{Map, Value};

use crate::timefmt;

/// The document for `value`, whose schema is `schema` (the payload parameter's). `Err` names
/// the JSON pointer (below the parameter) of a value the schema did not prepare for.
pub(crate) fn document(schema: &Value, value: &Value) -> Result<String, String> {
    let x = schema.get("x-s3");
    let root = x
        .and_then(|x| x.get("xml"))
        .and_then(Value::as_str)
        .ok_or("the payload schema names no root element")?;
    let mut out = String::with_capacity(256);
    element(&mut out, root, schema, x, value, "")?;
    Ok(out)
}

fn annotation<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema.get("x-s3").and_then(|x| x.get(key))
}

/// Writes `<name ...>value</name>`; `x` is the annotation of the property naming it (which
/// may declare a namespace).
fn element(
    out: &mut String,
    name: &str,
    schema: &Value,
    x: Option<&Value>,
    value: &Value,
    at: &str,
) -> Result<(), String> {
    out.push('<');
    out.push_str(name);
    if let Some(ns) = x.and_then(|x| x.get("xmlns")) {
        namespace(out, ns);
    }
    match (schema.get("type").and_then(Value::as_str), value) {
        (Some("object"), Value::Object(members)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let props = props.ok_or_else(|| format!("{at}: the schema has no properties"))?;
            // Attributes first, on this element's start tag.
            for (key, ps) in props {
                if let (Some(attr), Some(v)) = (annotation(ps, "attribute"), members.get(key)) {
                    let attr = attr.as_str().unwrap_or(key);
                    out.push_str(&format!(" {attr}=\"{}\"", escape(&scalar(ps, v)?)));
                }
            }
            out.push('>');
            children(out, props, members, at)?;
        }
        (_, v) => {
            out.push('>');
            out.push_str(&escape(&scalar(schema, v)?));
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

fn children(
    out: &mut String,
    props: &Map<String, Value>,
    members: &Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    for (key, ps) in props {
        let Some(v) = members.get(key) else { continue };
        if annotation(ps, "attribute").is_some() {
            continue;
        }
        let name = annotation(ps, "xml").and_then(Value::as_str).unwrap_or(key);
        let here = format!("{at}/{key}");
        match v {
            Value::Array(items) => {
                let item_schema = ps.get("items").unwrap_or(&Value::Null);
                let flattened = annotation(ps, "flattened").and_then(Value::as_bool) == Some(true);
                let item_name = if flattened {
                    name
                } else {
                    out.push('<');
                    out.push_str(name);
                    if let Some(ns) = annotation(ps, "xmlns") {
                        namespace(out, ns);
                    }
                    out.push('>');
                    annotation(ps, "member")
                        .and_then(Value::as_str)
                        .unwrap_or("member")
                };
                for (i, item) in items.iter().enumerate() {
                    let item_x = item_schema.get("x-s3");
                    element(
                        out,
                        item_name,
                        item_schema,
                        item_x,
                        item,
                        &format!("{here}/{i}"),
                    )?;
                }
                if !flattened {
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
            }
            _ => element(out, name, ps, ps.get("x-s3"), v, &here)?,
        }
    }
    Ok(())
}

fn namespace(out: &mut String, ns: &Value) {
    let uri = ns.get("uri").and_then(Value::as_str).unwrap_or_default();
    match ns.get("prefix").and_then(Value::as_str) {
        Some(prefix) => out.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(uri))),
        None => out.push_str(&format!(" xmlns=\"{}\"", escape(uri))),
    }
}

/// A scalar's text: booleans and numbers as JSON writes them, dates in the model's format.
fn scalar(schema: &Value, v: &Value) -> Result<String, String> {
    match (annotation(schema, "timestamp").and_then(Value::as_str), v) {
        (Some(format), Value::String(s)) => {
            let to = if format == "rfc822" {
                timefmt::to_http_date
            } else {
                timefmt::to_iso8601
            };
            to(s).ok_or_else(|| timefmt::NOT_A_DATE.to_string())
        }
        (_, Value::String(s)) => Ok(s.clone()),
        (_, Value::Bool(b)) => Ok(b.to_string()),
        (_, Value::Number(n)) => Ok(n.to_string()),
        (_, other) => Err(format!("cannot write {other} as XML text")),
    }
}

/// Text and attribute values escaped: the five XML specials, and line ends and tabs as
/// character references so that no parser normalises them away.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_lists_attributes_and_namespaces_follow_the_annotations() {
        let schema = json!({
            "type": "object",
            "x-s3": {"xml": "AccessControlPolicy", "xmlns": {"uri": "http://s3.amazonaws.com/doc/2006-03-01/"}},
            "properties": {
                "Grants": {"type": "array", "x-s3": {"xml": "AccessControlList", "member": "Grant"}, "items": {
                    "type": "object", "properties": {
                        "Grantee": {"type": "object", "x-s3": {"xmlns": {"prefix": "xsi", "uri": "http://www.w3.org/2001/XMLSchema-instance"}}, "properties": {
                            "ID": {"type": "string"},
                            "Type": {"type": "string", "x-s3": {"attribute": "xsi:type"}}
                        }},
                        "Permission": {"type": "string"}
                    }}},
                "Tags": {"type": "array", "x-s3": {"flattened": true, "xml": "Tag"}, "items": {"type": "string"}},
                "When": {"type": "string", "x-s3": {"timestamp": "iso8601"}},
                "On": {"type": "boolean"}
            }
        });
        let value = json!({
            "On": true,
            "Tags": ["a", "b<c"],
            "Grants": [{"Permission": "READ", "Grantee": {"Type": "CanonicalUser", "ID": "x&y"}}],
            "When": "Wed, 01 Jan 2031 00:00:00 GMT"
        });
        assert_eq!(
            document(&schema, &value).unwrap(),
            concat!(
                r#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
                r#"<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">"#,
                "<ID>x&amp;y</ID></Grantee><Permission>READ</Permission></Grant></AccessControlList>",
                "<Tag>a</Tag><Tag>b&lt;c</Tag><When>2031-01-01T00:00:00Z</When><On>true</On></AccessControlPolicy>"
            )
        );
    }
}
