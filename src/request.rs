//! Building the HTTP request from the manifest: pure (no clock, environment or network).
//!
//! Every parameter goes where the manifest says; the few things the manifest cannot say (XML
//! request bodies, the copy-source encoding) come from `quirks.rs`.

use std::path::PathBuf;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::connection::Addressing;
use crate::endpoint::{encode_query, target, Endpoint};
use crate::error::Error;
use crate::manifest::{Encoding, Location, Operation};
use crate::quirks;
use crate::timefmt;

/// What the request body is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Empty,
    Bytes(Bytes),
    /// Streamed from disk: `len` bytes from `offset` (a whole file, or one part of it).
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Payload {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An unsigned, fully encoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// `scheme://authority/encoded/path?encoded=query`
    pub uri: String,
    /// Lowercase names, in the order added; signing appends its own.
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where the request goes: the resolved endpoint and addressing style.
#[derive(Debug, Clone)]
pub struct Destination<'a> {
    pub endpoint: &'a Endpoint,
    pub addressing: Addressing,
    pub region: &'a str,
}

/// A header map's entries: an object's members, or a list of `{"Name", "Value"}` objects (the
/// form a form library can draw).
pub(crate) fn map_entries(v: &Value) -> Vec<(&str, &Value)> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|e| Some((e.get("Name")?.as_str()?, e.get("Value")?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The wire text of a JSON value (strings as is, numbers and booleans as JSON writes them).
fn wire_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // JSON Schema counts 1.0 and 1e3 as integers; S3 wants `1` and `1000`.
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            // Integral and well inside i64: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        // A list in a header: items joined by commas, one holding a comma or a quote quoted
        // (RFC 9110 §5.6; botocore's `_escape_header_list_string`).
        Value::Array(items) => items
            .iter()
            .map(|item| match wire_text(item) {
                t if t.contains([',', '"']) => format!("\"{}\"", t.replace('"', "\\\"")),
                t => t,
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn encode_value(name: &str, encoding: Option<Encoding>, v: &Value) -> Result<String, Error> {
    let bad = |why: String| Error::invalid_at(format!("/input/{name}"), why);
    let date = |to: fn(&str) -> Option<String>| {
        let text = wire_text(v);
        to(&text).ok_or_else(|| bad(timefmt::NOT_A_DATE.into()))
    };
    match encoding {
        Some(Encoding::HttpDate) => date(timefmt::to_http_date),
        Some(Encoding::Iso8601) => date(timefmt::to_iso8601),
        Some(Encoding::CopySource) => quirks::copy_source(v).map_err(bad),
        _ => Ok(wire_text(v)),
    }
}

/// Builds the request for `op` from a validated `input`. `payload` is the body already resolved
/// from the body-source parameters (or from `quirks::xml_body`).
pub(crate) fn build(
    op: &Operation,
    input: &Map<String, Value>,
    dest: &Destination<'_>,
    payload: Payload,
) -> Result<HttpRequest, Error> {
    let bucket = input.get("Bucket").and_then(Value::as_str);
    let key = input.get("Key").and_then(Value::as_str);
    let has_key = op.http.path.contains("{Key}");
    let t = target(
        dest.endpoint,
        dest.addressing,
        bucket,
        if has_key { key } else { None },
    );

    let mut query: Vec<(String, String)> = op
        .http
        .query
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Room for the headers signing adds (date, payload hash, authorization, a token).
    let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
    headers.push(("host".into(), t.authority.clone()));
    for (p, v) in op.given(input) {
        match p.location {
            Location::Query => query.push((
                p.wire.clone().unwrap_or_else(|| p.name.clone()),
                encode_value(&p.name, p.encoding, v)?,
            )),
            Location::Header => headers.push((
                p.wire
                    .clone()
                    .unwrap_or_else(|| p.name.clone())
                    .to_ascii_lowercase(),
                encode_value(&p.name, p.encoding, v)?,
            )),
            Location::HeaderMap => {
                let prefix = p.wire.as_deref().unwrap_or_default().to_ascii_lowercase();
                for (k, mv) in map_entries(v) {
                    let mut name = String::with_capacity(prefix.len() + k.len());
                    name.push_str(&prefix);
                    name.extend(k.chars().map(|c| c.to_ascii_lowercase()));
                    headers.push((name, wire_text(mv)));
                }
            }
            Location::Path | Location::Body | Location::Local => {}
        }
    }
    // The payload's real length always wins over a caller-given Content-Length (validation has
    // already refused a disagreeing one).
    headers.retain(|(n, _)| n != "content-length");
    // PUT and POST always carry a length, `0` when empty (RFC 9110 §8.6; some S3-compatible
    // servers answer 411 without it, and botocore always sends it).
    if op.request_body.is_some()
        || !payload.is_empty()
        || matches!(op.http.method.as_str(), "PUT" | "POST")
    {
        headers.push(("content-length".into(), payload.len().to_string()));
    }
    query.sort();
    let qs: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() && op.http.query.contains_key(k) {
                encode_query(k)
            } else {
                format!("{}={}", encode_query(k), encode_query(v))
            }
        })
        .collect();
    let query_len: usize = qs.iter().map(|q| q.len() + 1).sum();
    let mut uri =
        String::with_capacity(t.scheme.len() + 3 + t.authority.len() + t.path.len() + query_len);
    for part in [t.scheme, "://", &t.authority, &t.path] {
        uri.push_str(part);
    }
    for (i, q) in qs.iter().enumerate() {
        uri.push(if i == 0 { '?' } else { '&' });
        uri.push_str(q);
    }
    Ok(HttpRequest {
        method: op.http.method.clone(),
        uri,
        headers,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::wire_text;
    use serde_json::json;

    #[test]
    fn integral_numbers_go_on_the_wire_as_integers() {
        // JSON Schema accepts 1.0 and 1e3 as integers; S3 must see `1` and `1000`.
        assert_eq!(wire_text(&json!(1.0)), "1");
        assert_eq!(wire_text(&serde_json::from_str("1e3").unwrap()), "1000");
        assert_eq!(wire_text(&json!(10000)), "10000");
        assert_eq!(wire_text(&json!(true)), "true");
        assert_eq!(wire_text(&json!("x")), "x");
        assert_eq!(
            wire_text(&json!(["ETag", "a,b", "q\"t"])),
            r#"ETag,"a,b","q\"t""#
        );
    }
}
