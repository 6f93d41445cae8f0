//! Bodies: what a request sends (text, base64, a file range), their integrity checks
//! (Content-MD5, the `ETag` of a streamed file, reply lengths), and writing reply bodies to files
//! through a temporary name.

use std::path::PathBuf;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::classify::BAD_DIGEST;
use crate::error::{Error, Failure};
use crate::manifest::{Encoding, Operation};
use crate::request::{HttpRequest, Payload};

pub(crate) fn check_length(got: u64, expected: Option<u64>) -> Result<(), Error> {
    match expected {
        Some(n) if n != got => Err(Error::of(
            Failure::Lost,
            format!("reply body truncated: {got} of {n} bytes"),
        )),
        _ => Ok(()),
    }
}

/// An operation the model says must carry an integrity checksum (`DeleteObjects`,
/// `PutBucketLifecycleConfiguration`, ...) gets `Content-MD5` of its in-memory body, unless the
/// caller gave it or a flexible checksum (`x-amz-checksum-*`). S3 refuses such a request
/// without one; every S3-compatible server reads `Content-MD5`.
pub(crate) fn with_required_md5(request: &mut HttpRequest) {
    use md5::{Digest, Md5};
    let given = request
        .headers
        .iter()
        .any(|(n, _)| n == "content-md5" || n.starts_with("x-amz-checksum-"));
    let bytes: &[u8] = match &request.payload {
        _ if given => return,
        Payload::Empty => b"",
        Payload::Bytes(b) => b,
        Payload::File { .. } => return,
    };
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes));
    request.headers.push(("content-md5".into(), md5));
}

/// Integrity of in-memory bodies: a caller-given Content-MD5 must match the body (checked
/// before sending), and when none is given one is computed when `enabled` (MD5 integrity).
/// File bodies are not read twice for it: they are checked by length and streamed once.
pub(crate) fn with_content_md5<'i>(
    op: &Operation,
    input: &'i Map<String, Value>,
    payload: &Payload,
    enabled: bool,
) -> Result<std::borrow::Cow<'i, Map<String, Value>>, Error> {
    use md5::{Digest, Md5};
    let Payload::Bytes(bytes) = payload else {
        return Ok(std::borrow::Cow::Borrowed(input));
    };
    if op.request_body != Some(crate::manifest::RequestBody::Payload)
        || op.parameter("Content-MD5").is_none()
    {
        return Ok(std::borrow::Cow::Borrowed(input));
    }
    let given = input.get("Content-MD5").and_then(Value::as_str);
    if given.is_none() && !enabled {
        return Ok(std::borrow::Cow::Borrowed(input));
    }
    let actual = base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes));
    match given {
        Some(given) if given != actual => Err(Error::invalid_at(
            "/input/Content-MD5",
            "does not match the body (base64 MD5 of the bytes to send)",
        )),
        Some(_) => Ok(std::borrow::Cow::Borrowed(input)),
        None => {
            let mut with = without_body_sources(op, input);
            with.insert("Content-MD5".into(), Value::String(actual));
            Ok(std::borrow::Cow::Owned(with))
        }
    }
}

/// A copy of the input for building the request, without the body-source parameters (`Body`,
/// `BodyBase64`, `BodyFile`): the body travels as the payload, and an inline body may be tens
/// of MiB, not worth copying again to add a header.
fn without_body_sources(op: &Operation, input: &Map<String, Value>) -> Map<String, Value> {
    use crate::manifest::Encoding;
    input
        .iter()
        .filter(|(k, _)| {
            !op.parameter(k).is_some_and(|p| {
                matches!(
                    p.encoding,
                    Some(Encoding::Text | Encoding::Base64 | Encoding::File)
                )
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// SSE-C keys and the MD5 S3 checks them by: `(key, key MD5)` parameter names.
const SSE_C_KEYS: [(&str, &str); 2] = [
    (
        "x-amz-server-side-encryption-customer-key",
        "x-amz-server-side-encryption-customer-key-MD5",
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key-MD5",
    ),
];

/// SSE-C: S3 wants the key's MD5 beside the key. Computed when not given (as boto3 does), and
/// a given one must match, so that a mistyped key is refused before anything is sent.
pub(crate) fn with_sse_c_key_md5<'i>(
    op: &Operation,
    input: &'i Map<String, Value>,
) -> Result<std::borrow::Cow<'i, Map<String, Value>>, Error> {
    use md5::{Digest, Md5};
    let mut out = std::borrow::Cow::Borrowed(input);
    for (key, md5_name) in SSE_C_KEYS {
        let Some(k) = input.get(key).and_then(Value::as_str) else {
            continue;
        };
        if op.parameter(md5_name).is_none() {
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(k)
            .map_err(|_| Error::invalid_at(format!("/input/{key}"), "is not valid base64"))?;
        let actual = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&raw));
        match input.get(md5_name).and_then(Value::as_str) {
            Some(given) if given != actual => {
                return Err(Error::invalid_at(
                    format!("/input/{md5_name}"),
                    "does not match the key (base64 MD5 of the decoded key)",
                ))
            }
            Some(_) => {}
            None => {
                if let std::borrow::Cow::Borrowed(_) = out {
                    out = std::borrow::Cow::Owned(without_body_sources(op, input));
                }
                out.to_mut().insert(md5_name.into(), Value::String(actual));
            }
        }
    }
    Ok(out)
}

/// Where the body comes from, before any file is looked at.
pub(crate) enum Source<'i> {
    /// In memory (text or base64), or no body at all.
    Ready(Payload),
    /// A local file, to be stat'ed by the caller (sync or async) and given to [`file_payload`].
    File { path: &'i str, pointer: String },
}

/// The body source among the input's parameters: text, base64 or a file path. Pure.
pub(crate) fn source<'i>(
    op: &Operation,
    input: &'i Map<String, Value>,
) -> Result<Source<'i>, Error> {
    for (p, v) in op.given(input) {
        let Value::String(v) = v else {
            continue;
        };
        let pointer = || format!("/input/{}", p.name);
        match p.encoding {
            Some(Encoding::Text) => {
                return Ok(Source::Ready(Payload::Bytes(Bytes::from(
                    v.clone().into_bytes(),
                ))))
            }
            Some(Encoding::Base64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|e| Error::invalid_at(pointer(), base64_problem(&e)))?;
                return Ok(Source::Ready(Payload::Bytes(Bytes::from(bytes))));
            }
            Some(Encoding::File) => {
                return Ok(Source::File {
                    path: v,
                    pointer: pointer(),
                })
            }
            _ => {}
        }
    }
    Ok(Source::Ready(Payload::Empty))
}

/// Why a body is not base64, by position only: the offending byte is not echoed, since the
/// body may be secret.
pub(crate) fn base64_problem(e: &base64::DecodeError) -> String {
    use base64::DecodeError as D;
    match e {
        D::InvalidByte(at, _) | D::InvalidLastSymbol(at, _) => {
            format!("is not valid base64: invalid character at offset {at}")
        }
        D::InvalidLength(n) => format!("is not valid base64: {n} symbols is not a valid length"),
        D::InvalidPadding => "is not valid base64: invalid padding".into(),
    }
}

/// A whole file as the body, from what stat'ing `path` found. Pure.
pub(crate) fn file_payload(
    path: &str,
    pointer: String,
    meta: std::io::Result<std::fs::Metadata>,
) -> Result<Payload, Error> {
    let meta =
        meta.map_err(|e| Error::invalid_at(pointer.clone(), format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(Error::invalid_at(pointer, "is not a regular file"));
    }
    Ok(Payload::File {
        path: PathBuf::from(path),
        offset: 0,
        len: meta.len(),
    })
}

/// The input's body, a file stat'ed on the async runtime's blocking pool.
pub(crate) async fn input_payload(
    op: &Operation,
    input: &Map<String, Value>,
) -> Result<Payload, Error> {
    match source(op, input)? {
        Source::Ready(p) => Ok(p),
        Source::File { path, pointer } => {
            file_payload(path, pointer, tokio::fs::metadata(path).await)
        }
    }
}

/// The input's body, a file stat'ed in place (`validate`, goldens, benches: no runtime).
pub fn input_payload_blocking(
    op: &Operation,
    input: &Map<String, Value>,
) -> Result<Payload, Error> {
    match source(op, input)? {
        Source::Ready(p) => Ok(p),
        Source::File { path, pointer } => file_payload(path, pointer, std::fs::metadata(path)),
    }
}

/// An uploaded file's `ETag` must be the MD5 of the bytes streamed, when S3 computes it so (not
/// for SSE-KMS or SSE-C objects, `API_Object` ETag): catches corruption between disk and S3.
pub(crate) fn check_etag(headers: &http::HeaderMap, md5: &[u8; 16]) -> Result<(), Error> {
    let encrypted = headers
        .get("x-amz-server-side-encryption")
        .is_some_and(|v| v.as_bytes().starts_with(b"aws:kms"))
        || headers.contains_key("x-amz-server-side-encryption-customer-algorithm");
    let Some(etag) = headers.get("etag").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let etag = etag.trim_matches('"');
    if encrypted || etag.len() != 32 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    if !etag.eq_ignore_ascii_case(&hex::encode(md5)) {
        return Err(Error {
            code: Some(BAD_DIGEST.into()),
            ..Error::of(
                Failure::Corrupt,
                format!(
                    "upload corrupted in transit: S3 stored MD5 {etag}, the file's bytes have {}",
                    hex::encode(md5)
                ),
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use serde_json::json;

    #[test]
    fn sse_c_key_md5_is_computed_or_checked() {
        let put = Manifest::embedded().operation("put_object").unwrap();
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef" twice
        let md5 = "hRasmdxgYDKV3nvbahU1MA=="; // base64 MD5 of those 32 bytes
        let input: Map<String, Value> = serde_json::from_value(
            json!({"Bucket": "b", "Key": "k", "x-amz-server-side-encryption-customer-key": key}),
        )
        .unwrap();
        let out = with_sse_c_key_md5(put, &input).unwrap();
        assert_eq!(
            out["x-amz-server-side-encryption-customer-key-MD5"],
            json!(md5)
        );
        let mut given = input.clone();
        given.insert(
            "x-amz-server-side-encryption-customer-key-MD5".into(),
            json!(md5),
        );
        assert!(matches!(
            with_sse_c_key_md5(put, &given).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
        given.insert(
            "x-amz-server-side-encryption-customer-key-MD5".into(),
            json!("AAAAAAAAAAAAAAAAAAAAAA=="),
        );
        let e = with_sse_c_key_md5(put, &given).unwrap_err();
        assert_eq!(
            e.details[0].pointer,
            "/input/x-amz-server-side-encryption-customer-key-MD5"
        );
        assert!(!e.message.contains(key), "the key is never echoed");
        // A computed MD5 comes with a copy of the input without the body sources (the body
        // travels as the payload): no second copy of a large inline body.
        let mut with_body = input.clone();
        with_body.insert("Body".into(), json!("x".repeat(1000)));
        let out = with_sse_c_key_md5(put, &with_body).unwrap();
        assert!(out.get("Body").is_none());
        assert_eq!(
            out["x-amz-server-side-encryption-customer-key-MD5"],
            json!(md5)
        );
        // Without a key, nothing changes.
        let plain: Map<String, Value> =
            serde_json::from_value(json!({"Bucket": "b", "Key": "k"})).unwrap();
        assert!(matches!(
            with_sse_c_key_md5(put, &plain).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_base64_error_names_the_offset_not_the_byte() {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::STANDARD
            .decode("QUJD~EVG")
            .unwrap_err();
        let m = base64_problem(&e);
        assert_eq!(m, "is not valid base64: invalid character at offset 4");
        assert!(!m.contains("126") && !m.contains('~'));
    }
}
