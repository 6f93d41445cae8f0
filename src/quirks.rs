//! The per-operation exceptions the manifest cannot express, one commented item each, with the
//! S3 documentation that calls for it. Everything else is generic.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::classify::BAD_DIGEST;
use crate::endpoint::{decode_url, encode_key};
use crate::error::Error;
use crate::manifest::{Operation, Quirk, RequestBody};
use crate::request::Payload;

/// `x-amz-copy-source`: hosts give `bucket/key[?versionId=v]` unencoded; S3 wants it URL-encoded
/// (`CopyObject`: "The value must be URL-encoded"). Encoded like a key, as botocore does.
pub(crate) fn encode_copy_source(value: &str) -> String {
    let value = value.strip_prefix('/').unwrap_or(value);
    match value.rsplit_once("?versionId=") {
        Some((path, version)) => {
            // The version id is appended as given, as botocore does.
            format!("{}?versionId={}", encode_key(path), encode_unsafe(version))
        }
        None => encode_key(value),
    }
}

/// Percent-encodes what cannot stand in a header value (controls, space, non-ASCII); version ids
/// are otherwise sent as given.
fn encode_unsafe(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if (0x21..=0x7e).contains(&b) && b != b'%' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The XML body of operations that send one.
///
/// - `CreateBucket`: `<CreateBucketConfiguration><LocationConstraint>` for every region but
///   us-east-1, which must be sent without one (`API_CreateBucket`: "If you don't specify a Region,
///   the bucket is created in US East (N. Virginia)"; S3 refuses `us-east-1` as a constraint).
///   `create_bucket_in_region`'s `Region` must equal the connection's region, as the docs page says:
///   the request is signed for the connection's region, so another would be refused by S3.
/// - `CompleteMultipartUpload`: `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...`
///   (`API_CompleteMultipartUpload`), from `Parts`.
pub(crate) fn xml_body(
    op: &Operation,
    input: &Map<String, Value>,
    region: &str,
) -> Result<Option<Payload>, Error> {
    match op.request_body {
        Some(RequestBody::CreateBucketConfiguration) => {
            let wanted = input
                .get("Region")
                .and_then(Value::as_str)
                .unwrap_or(region);
            if wanted != region {
                return Err(Error::invalid_at(
                    "/input/Region",
                    format!("must match the connection's region `{region}` (the request is signed for it); set connection.region to `{wanted}`"),
                ));
            }
            if wanted == "us-east-1" {
                return Ok(Some(Payload::Empty));
            }
            let xml = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml_escape(wanted)
            );
            Ok(Some(Payload::Bytes(Bytes::from(xml))))
        }
        Some(RequestBody::CompleteMultipartUpload) => {
            let parts = input
                .get("Parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut xml = String::from(
                "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
            );
            for p in &parts {
                let n = p
                    .get("PartNumber")
                    .and_then(Value::as_u64)
                    .unwrap_or_default();
                let etag = p.get("ETag").and_then(Value::as_str).unwrap_or_default();
                xml.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                    xml_escape(etag)
                ));
            }
            xml.push_str("</CompleteMultipartUpload>");
            Ok(Some(Payload::Bytes(Bytes::from(xml))))
        }
        _ => Ok(None),
    }
}

/// `ListObjects`: unless the caller chose an `encoding-type`, ask for `url` and decode the reply,
/// as botocore does, so that keys with characters XML 1.0 cannot carry still list correctly
/// (`API_ListObjects`, `EncodingType`). Returns whether it was set here.
pub(crate) fn auto_encoding_type(op: &Operation, input: &mut Map<String, Value>) -> bool {
    if op.has_quirk(Quirk::UrlEncodedListing) && !input.contains_key("encoding-type") {
        input.insert("encoding-type".into(), Value::String("url".into()));
        return true;
    }
    false
}

/// Decodes the fields S3 URL-encodes under `encoding-type=url` and drops `EncodingType`.
pub fn decode_listing(output: &mut Map<String, Value>) {
    for f in ["Prefix", "Marker", "NextMarker", "Delimiter"] {
        if let Some(Value::String(s)) = output.get_mut(f) {
            *s = decode_url(s);
        }
    }
    for (list, field) in [("Contents", "Key"), ("CommonPrefixes", "Prefix")] {
        for item in output
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(Value::String(s)) = item.get_mut(field) {
                *s = decode_url(s);
            }
        }
    }
    output.remove("EncodingType");
}

/// `PutObject` whose every attempt reached S3 altered (`BadDigest`: S3's own Content-MD5 check,
/// or the `ETag` of a streamed file that is not its MD5, `body::check_etag`): S3 refuses a
/// mismatching Content-MD5 before storing, but a streamed file is checked only after S3 stored
/// it, so the corrupt object is deleted rather than left under the caller's key (`API_PutObject`,
/// "To ensure that data is not corrupted traversing the network, use the Content-MD5 header").
pub(crate) fn delete_after(op: &Operation, err: &Error) -> bool {
    err.code.as_deref() == Some(BAD_DIGEST) && op.has_quirk(Quirk::DeleteCorruptObject)
}

/// `CopyObject`, `UploadPartCopy` and `CompleteMultipartUpload` can answer 200 with an `<Error>` body
/// (knowledge-center "S3 200 OK error"); the XML reply's root decides.
pub(crate) fn error_in_success(op: &Operation) -> bool {
    op.has_quirk(Quirk::ErrorInSuccess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_encoded_like_a_key() {
        assert_eq!(encode_copy_source("src/a b+c.txt"), "src/a%20b%2Bc.txt");
        assert_eq!(
            encode_copy_source("/src/x?versionId=3/L4kq+ab"),
            "src/x?versionId=3/L4kq+ab"
        );
    }

    #[test]
    fn listing_is_decoded() {
        let mut o: Map<String, Value> = serde_json::from_str(
            r#"{"Contents":[{"Key":"a%2Bb+c"}],"CommonPrefixes":[{"Prefix":"p%2F"}],"NextMarker":"x%25","EncodingType":"url"}"#,
        )
        .unwrap();
        decode_listing(&mut o);
        assert_eq!(o["Contents"][0]["Key"], "a+b c");
        assert_eq!(o["CommonPrefixes"][0]["Prefix"], "p/");
        assert_eq!(o["NextMarker"], "x%");
        assert!(o.get("EncodingType").is_none());
    }
}
