//! Example inputs generated from an operation's input schema, shared by the oracles
//! (`tests/oracle.rs`, `tests/reply_oracle.rs`): a full one (every parameter but connector-local
//! ones and the base64/file body sources, every member of an XML payload, lists of two) or a
//! minimal one (required parameters), with digests that match what they check.

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use s3_connector::manifest::{Encoding, Location, Operation, Parameter, RequestBody, Rule};

pub(crate) const BUCKET: &str = "oracle-bucket";
/// Space and `+` are encoded in a path, `/` is not.
pub(crate) const KEY: &str = "dir/key with space+plus.txt";
/// The docs page's form of `x-amz-copy-source`: URL-encoded, sent as given by both.
pub(crate) const COPY_SOURCE: &str = "src-bucket/src%20key.txt";
/// Whole seconds: botocore writes microseconds only when there are some.
pub(crate) const DATE: &str = "2030-01-02T03:04:05Z";
/// Object bytes (`Body` text): non-ASCII and XML specials, sent as they are.
pub(crate) const BODY: &str = "oracle body: \u{fc} & <text>\n";
/// The region a connector-only `Region` parameter asks for (`create_bucket_in_region`), which
/// must be the connection's: not us-east-1, so that a location constraint is written.
pub(crate) const INPUT_REGION: &str = "eu-west-1";
/// A query value with characters that must be encoded (space, `+`, `/`) and one that must not
/// (`~`).
pub(crate) const QUERY_TEXT: &str = "q a+b/c~d";
/// XML text with the characters that must be escaped.
pub(crate) const XML_TEXT: &str = "text & <markup> \"quoted\"";
pub(crate) const HEADER_TEXT: &str = "oracle-value";

// ---------------------------------------------------------------------------------------------
// Examples from the schemas.

/// The string a schema takes: the first candidate it accepts. Enumerations give their first
/// value (the `nth` for the `nth` item of a list, so that unique items stay unique), dates
/// `DATE`, free text the context's text, then the schema's own examples and a few forms the
/// patterns of the manifest ask for (base64 digests, ranges, ARNs).
pub(crate) fn string_for(schema: &Value, context: &str, nth: usize) -> Option<String> {
    let strings = |key: &str| -> Vec<String> {
        schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let consts: Vec<String> = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("const").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut candidates = Vec::new();
    for list in [strings("enum"), consts] {
        if !list.is_empty() {
            candidates.push(list[nth % list.len()].clone());
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        candidates.push(DATE.into());
    }
    let text = match context {
        "xml" => XML_TEXT,
        "query" => QUERY_TEXT,
        _ => HEADER_TEXT,
    };
    if nth > 0 {
        candidates.push(format!("{text}-{nth}"));
    }
    candidates.push(text.into());
    candidates.push(DATE.into());
    candidates.extend(strings("examples"));
    candidates.extend([
        b64(&[7u8; 32]),
        b64(&Md5::digest(b"")),
        // A CRC32/CRC32C and a CRC64NVME, as S3 writes them (4 and 8 bytes).
        b64(&[7u8; 4]),
        b64(&[7u8; 8]),
        "bytes=0-99".into(),
        "arn:aws:kms:us-east-1:123456789012:key/oracle-key".into(),
        BUCKET.into(),
        "oracle".into(),
        COPY_SOURCE.into(),
    ]);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .ok()?;
    candidates
        .into_iter()
        .find(|c| validator.is_valid(&Value::String(c.clone())))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A value for `schema`: every property when `full`, else the required ones (and as many more as
/// `minProperties` asks); lists of two items when `full`, else of `minItems` (at least one).
pub(crate) fn value_for(
    schema: &Value,
    full: bool,
    context: &str,
    nth: usize,
) -> Result<Value, String> {
    let kind = schema.get("type").and_then(Value::as_str);
    let count = |key: &str| {
        schema
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    match kind {
        Some("object") => {
            let mut out = Map::new();
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                // A map (`x-amz-meta-`): one entry.
                let item = schema
                    .get("additionalProperties")
                    .filter(|s| s.is_object())
                    .map_or(Ok(json!("v")), |s| value_for(s, full, context, 0))?;
                out.insert("k".into(), item);
                return Ok(Value::Object(out));
            };
            // Required always, or (`then.required`) whenever the object is given.
            let required: Vec<&str> = [schema.get("required"), schema.pointer("/then/required")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let most = count("maxProperties").unwrap_or(usize::MAX);
            let least = count("minProperties").unwrap_or(0);
            // Properties in the schema's order, the model's: botocore writes XML in the order
            // it is given the members, the connector in the schema's.
            for (name, sub) in props {
                let wanted = required.contains(&name.as_str()) || (full && out.len() < most);
                if wanted {
                    out.insert(name.clone(), value_for(sub, full, context, nth)?);
                }
            }
            for (name, sub) in props {
                if out.len() >= least {
                    break;
                }
                if !out.contains_key(name) {
                    out.insert(name.clone(), value_for(sub, full, context, nth)?);
                }
            }
            // Back into the schema's order after the additions.
            let ordered = props
                .keys()
                .filter_map(|k| out.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            Ok(Value::Object(ordered))
        }
        Some("array") => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            let n = if full {
                2
            } else {
                count("minItems").unwrap_or(1).max(1)
            }
            .min(count("maxItems").unwrap_or(usize::MAX));
            // Unique items of an enumeration: no more than it has values.
            let values = items.get("enum").and_then(Value::as_array).map(Vec::len);
            let n = match values {
                Some(v) if schema.get("uniqueItems") == Some(&json!(true)) => n.min(v),
                _ => n,
            };
            (0..n)
                .map(|i| value_for(&items, full, context, i))
                .collect::<Result<_, _>>()
                .map(Value::Array)
        }
        Some("integer") => {
            let bound = |key: &str| schema.get(key).and_then(Value::as_i64);
            let low = bound("minimum").unwrap_or(i64::MIN);
            let high = bound("maximum").unwrap_or(i64::MAX);
            let nth = i64::try_from(nth).unwrap_or(0);
            Ok(json!((7 + nth).clamp(low, high)))
        }
        Some("boolean") => Ok(json!(true)),
        Some("number") => Ok(json!(1.5)),
        _ => string_for(schema, context, nth)
            .map(Value::String)
            .ok_or_else(|| format!("no generated string satisfies {schema}")),
    }
}

/// Where a parameter's free text lands, for the text chosen for it.
pub(crate) fn context(p: &Parameter) -> &'static str {
    match (p.location, p.encoding) {
        (_, Some(Encoding::Xml)) => "xml",
        (Location::Query, _) => "query",
        _ => "header",
    }
}

/// Whether the parameter is a base64 or file body source (the text one stands for them).
pub(crate) fn other_body_source(p: &Parameter) -> bool {
    matches!(p.encoding, Some(Encoding::Base64 | Encoding::File))
}

/// The example input of `op`: `full` or minimal, the minimal one with the XML payload (its
/// required members) when `payload`, even where the payload itself is optional. `Err` names the
/// parameter no value was found for.
pub(crate) fn example(
    op: &Operation,
    full: bool,
    payload: bool,
) -> Result<Map<String, Value>, String> {
    let mut input = Map::new();
    for p in &op.parameters {
        let xml_payload = payload && p.encoding == Some(Encoding::Xml);
        if p.location == Location::Local
            || other_body_source(p)
            || !(full || p.required || xml_payload)
        {
            continue;
        }
        let v = match (p.name.as_str(), p.encoding) {
            ("Bucket", _) => json!(BUCKET),
            ("Key", _) => json!(KEY),
            (_, Some(Encoding::CopySource)) => json!(COPY_SOURCE),
            (_, Some(Encoding::HttpDate | Encoding::Iso8601)) => json!(DATE),
            (_, Some(Encoding::Text)) => json!(BODY),
            ("Region", _) if p.member.is_none() => json!(INPUT_REGION),
            ("Content-Length", _) => json!(body_text(op).len()),
            // Filled below, from the value it is the digest of.
            (name, _) if name.eq_ignore_ascii_case("content-md5") || is_key_md5(p) => json!(""),
            _ => {
                value_for(&p.schema, full, context(p), 0).map_err(|e| format!("{}: {e}", p.name))?
            }
        };
        input.insert(p.name.clone(), v);
    }
    // What a given parameter needs with it (`Rule::Requires`): a listed value.
    for rule in &op.rules {
        if let Rule::Requires(r) = rule {
            if !input.contains_key(&r.given) {
                continue;
            }
            for (need, values) in &r.needs {
                if let Some(v) = values.first() {
                    input.insert(need.clone(), v.clone());
                } else if !input.contains_key(need) {
                    let p = op.parameter(need).expect("rules name parameters");
                    let v = value_for(&p.schema, full, context(p), 0)
                        .map_err(|e| format!("{need}: {e}"))?;
                    input.insert(need.clone(), v);
                }
            }
        }
    }
    // Digests of what they check: the body's `Content-MD5`, an SSE-C key's MD5.
    for p in &op.parameters {
        if !input.contains_key(&p.name) {
            continue;
        }
        let digest = if p.name.eq_ignore_ascii_case("content-md5") {
            b64(&Md5::digest(body_text(op).as_bytes()))
        } else if is_key_md5(p) {
            let wire = p.wire.as_deref().unwrap_or_default();
            let key_wire = &wire[..wire.len() - "-MD5".len()];
            let key = op
                .parameters
                .iter()
                .find(|k| k.wire.as_deref() == Some(key_wire))
                .and_then(|k| input.get(&k.name))
                .and_then(Value::as_str)
                .map_or_else(|| b64(&[7u8; 32]), str::to_string);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|e| format!("{}: {e}", p.name))?;
            b64(&Md5::digest(raw))
        } else {
            continue;
        };
        input.insert(p.name.clone(), json!(digest));
    }
    Ok(input)
}

/// An SSE-C key's `...-MD5` header (not `Content-MD5`).
pub(crate) fn is_key_md5(p: &Parameter) -> bool {
    p.wire
        .as_deref()
        .is_some_and(|w| w.ends_with("-MD5") && !w.eq_ignore_ascii_case("content-md5"))
}

/// The body an example sends when the operation takes one from its input: `BODY`, else nothing
/// (the XML-writing operations' `Content-MD5` is then of an empty body: it is passed through,
/// as botocore passes it, and not checked by either).
pub(crate) fn body_text(op: &Operation) -> &'static str {
    if op.request_body == Some(RequestBody::Payload) {
        BODY
    } else {
        ""
    }
}

/// The first of a required choice (`Rule::OneOf`) when the input gives none: a body from its
/// first source, else a value of the first parameter's schema (`delete_prefix`'s `Prefix`).
pub(crate) fn with_required_body(op: &Operation, input: &mut Map<String, Value>) {
    for rule in &op.rules {
        if let Rule::OneOf(names) = rule {
            if !names.iter().any(|n| input.contains_key(n)) {
                let first = op.parameter(&names[0]).expect("rules name parameters");
                let v = if first.encoding == Some(Encoding::Text) {
                    json!(BODY)
                } else {
                    value_for(&first.schema, false, context(first), 0)
                        .unwrap_or_else(|e| panic!("{}: {e}", first.name))
                };
                input.insert(names[0].clone(), v);
            }
        }
    }
}
