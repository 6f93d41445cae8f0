//! The per-operation exceptions the manifest cannot express, one commented item each, with the
//! S3 documentation that calls for it. Everything else is generic.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::classify::BAD_DIGEST;
use crate::endpoint::encode_key;
use crate::error::Error;
use crate::manifest::{Encoding, Operation, Quirk, RequestBody};
use crate::request::Payload;

/// `x-amz-copy-source` in either of the forms the schema offers (`CopyObject`,
/// `UploadPartCopy`: "The value must be URL-encoded"). `Err` says what is wrong with it.
///
/// - A string is what the docs page describes, `bucket/key[?versionId=ID]` already URL-encoded,
///   and is sent as given: an existing `%XX` is never encoded again, and only the bytes that
///   cannot stand in a header value (controls, space, non-ASCII) are percent-encoded. A `%` not
///   followed by two hex digits is refused rather than guessed at.
/// - `{"Bucket", "Key", "VersionId"?}` is encoded here as boto3 encodes its dict form: the
///   bucket, `/`, the key percent-encoded but for unreserved characters and `/`, then
///   `?versionId=` and the version as botocore appends it, unencoded (here too only the bytes a
///   header cannot carry are encoded, where botocore would send them raw). An access point ARN
///   as `Bucket` (the schema admits only those botocore's `VALID_S3_ARN` does) names the object
///   `ARN/object/KEY`, as S3 reads a copy source through an access point.
pub(crate) fn copy_source(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => copy_source_as_given(s),
        Value::Object(m) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str);
            let (Some(bucket), Some(key)) = (text("Bucket"), text("Key")) else {
                return Err("needs `Bucket` and `Key`".into());
            };
            let object = if bucket.starts_with("arn:") {
                format!("{bucket}/object/{key}")
            } else {
                format!("{bucket}/{key}")
            };
            let mut out = encode_key(&object);
            if let Some(version) = text("VersionId") {
                out.push_str("?versionId=");
                out.push_str(&encode_unsafe(version));
            }
            Ok(out)
        }
        _ => Err("must be a string or an object".into()),
    }
}

fn copy_source_as_given(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
    if let Some(i) = (0..b.len()).find(|&i| b[i] == b'%' && !(hex(i + 1) && hex(i + 2))) {
        // What follows the `%`, up to two characters, to point at it.
        let at: String = s[i..].chars().take(3).collect();
        return Err(format!(
            "has `{at}` where a `%` must be followed by two hex digits: this form must be URL-encoded, `%` itself as `%25`; or give {{\"Bucket\", \"Key\"}} and the connector encodes them"
        ));
    }
    Ok(encode_unsafe(s))
}

/// Percent-encodes the bytes that cannot stand in a header value (controls, space, non-ASCII);
/// everything else, `%` included, is sent as given.
fn encode_unsafe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
/// - `CompleteMultipartUpload`: `<CompleteMultipartUpload><Part><PartNumber/><ETag/>` and the
///   part's CRC when given (`<ChecksumCRC64NVME/>`) `</Part>...` (`API_CompleteMultipartUpload`,
///   `API_CompletedPart`), from `Parts`.
pub(crate) fn xml_body(
    op: &Operation,
    input: &Map<String, Value>,
    region: &str,
) -> Result<Option<Payload>, Error> {
    match op.request_body {
        Some(RequestBody::Xml) => xml_payload(op, input).map(Some),
        // A whole configuration given is written as the model says (bucket type, tags...).
        Some(RequestBody::CreateBucketConfiguration)
            if input.contains_key("CreateBucketConfiguration") =>
        {
            xml_payload(op, input).map(Some)
        }
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
                    "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag>",
                    xml_escape(etag)
                ));
                for m in PART_CHECKSUMS {
                    if let Some(v) = p.get(m).and_then(Value::as_str) {
                        xml.push_str(&format!("<{m}>{}</{m}>", xml_escape(v)));
                    }
                }
                xml.push_str("</Part>");
            }
            xml.push_str("</CompleteMultipartUpload>");
            Ok(Some(Payload::Bytes(Bytes::from(xml))))
        }
        _ => Ok(None),
    }
}

/// The part checksums a completion passes on (`API_CompletedPart`): the CRCs the connector
/// computes and combines.
const PART_CHECKSUMS: [&str; 3] = ["ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME"];

/// The XML document of the operation's `Encoding::Xml` parameter (`xml_write.rs`), or no body
/// when it is not given (as botocore sends none).
fn xml_payload(op: &Operation, input: &Map<String, Value>) -> Result<Payload, Error> {
    let Some(p) = op
        .parameters
        .iter()
        .find(|p| p.encoding == Some(Encoding::Xml))
    else {
        return Ok(Payload::Empty);
    };
    let Some(value) = input.get(&p.name) else {
        return Ok(Payload::Empty);
    };
    let xml = crate::xml_write::document(&p.schema, value)
        .map_err(|e| Error::invalid_at(format!("/input/{}", p.name), e))?;
    Ok(Payload::Bytes(Bytes::from(xml)))
}

/// `ListObjects`, `ListObjectsV2`, `ListObjectVersions`: unless the caller chose an
/// `encoding-type`, ask for `url` and decode the reply,
/// as botocore does, so that keys with characters XML 1.0 cannot carry still list correctly
/// (`API_ListObjects`, `EncodingType`). Returns whether it was set here.
pub(crate) fn auto_encoding_type(op: &Operation, input: &mut Map<String, Value>) -> bool {
    if op.has_quirk(Quirk::UrlEncodedListing) && !input.contains_key("encoding-type") {
        input.insert("encoding-type".into(), Value::String("url".into()));
        return true;
    }
    false
}

/// The top-level fields S3 URL-encodes under `encoding-type=url`.
const URL_ENCODED_FIELDS: [&str; 7] = [
    "Prefix",
    "Marker",
    "NextMarker",
    "Delimiter",
    "StartAfter",
    "KeyMarker",
    "NextKeyMarker",
];

/// The result lists whose items S3 URL-encodes a field of under `encoding-type=url`: (list,
/// field).
const URL_ENCODED_ITEMS: [(&str, &str); 4] = [
    ("Contents", "Key"),
    ("CommonPrefixes", "Prefix"),
    ("Versions", "Key"),
    ("DeleteMarkers", "Key"),
];

/// The field of a result list's items that S3 URL-encodes under `encoding-type=url`.
pub(crate) fn url_encoded_item(list: &str) -> Option<&'static str> {
    URL_ENCODED_ITEMS
        .iter()
        .find(|(l, _)| *l == list)
        .map(|(_, field)| *field)
}

/// Decodes the fields S3 URL-encodes under `encoding-type=url` and drops `EncodingType`: those
/// of `ListObjects`, `ListObjectsV2` and `ListObjectVersions`, as botocore's handlers decode them
/// (`decode_list_object`, `decode_list_object_v2`, `decode_list_object_versions`). As there,
/// only a reply that says `EncodingType` `url` is decoded: a server that ignored the parameter
/// sent its keys as they are, and decoding those would turn a key `a+b` into `a b`.
pub fn decode_listing(output: &mut Map<String, Value>) {
    if output.get("EncodingType").and_then(Value::as_str) != Some("url") {
        return;
    }
    for (list, field) in URL_ENCODED_ITEMS {
        for item in output
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(Value::String(s)) = item.get_mut(field) {
                *s = crate::endpoint::decode_url(s);
            }
        }
    }
    for f in URL_ENCODED_FIELDS {
        if let Some(Value::String(s)) = output.get_mut(f) {
            *s = crate::endpoint::decode_url(s);
        }
    }
    // `Map::remove`, so the last field takes its place, as it always has.
    output.remove("EncodingType");
}

/// `PutObject` whose every attempt reached S3 altered (`BadDigest`: S3's own Content-MD5 check,
/// or the `ETag` of a streamed file that is not its MD5, `body::check_etag`): S3 refuses a
/// mismatching Content-MD5 before storing, but a streamed file is checked only after S3 stored
/// it, so the corrupt object is deleted rather than left under the caller's key (`API_PutObject`,
/// "To ensure that data is not corrupted traversing the network, use the Content-MD5 header").
/// Only the connector's own finding (`Failure::Corrupt`): when S3 itself answers `BadDigest` it
/// stored nothing, and the object under the key, if any, is an earlier one to keep.
pub(crate) fn delete_after(op: &Operation, err: &Error) -> bool {
    err.failure == crate::error::Failure::Corrupt
        && err.code.as_deref() == Some(BAD_DIGEST)
        && op.has_quirk(Quirk::DeleteCorruptObject)
}

/// `CopyObject`, `UploadPartCopy` and `CompleteMultipartUpload` can answer 200 with an `<Error>` body
/// (knowledge-center "S3 200 OK error"); the XML reply's root decides.
pub(crate) fn error_in_success(op: &Operation) -> bool {
    op.has_quirk(Quirk::ErrorInSuccess)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn given(s: &str) -> Result<String, String> {
        copy_source(&Value::String(s.into()))
    }

    #[test]
    fn a_string_copy_source_is_sent_as_given() {
        // Already encoded: nothing is encoded twice.
        assert_eq!(
            given("my-bucket/%C3%BC/%C3%B1%20x%2B.txt").unwrap(),
            "my-bucket/%C3%BC/%C3%B1%20x%2B.txt"
        );
        assert_eq!(
            given("/src/x%3F.txt?versionId=3/L4kq+ab").unwrap(),
            "/src/x%3F.txt?versionId=3/L4kq+ab"
        );
        // What cannot stand in a header is still encoded; `+` and `#` are left to S3.
        assert_eq!(given("src/ä b+#.txt").unwrap(), "src/%C3%A4%20b+#.txt");
        for (bad, at) in [
            ("src/100%", "`%`"),
            ("src/50%off", "`%of`"),
            ("src/%zz", "`%zz`"),
            ("src/%4", "`%4`"),
            ("src/%4é", "`%4é`"),
            ("src/%41%%41", "`%%4`"),
        ] {
            let e = given(bad).unwrap_err();
            assert!(e.contains("two hex digits") && e.contains(at), "{bad}: {e}");
        }
    }

    #[test]
    fn an_object_copy_source_is_encoded_as_boto3_encodes_its_dict() {
        let src = |v: Value| copy_source(&v).unwrap();
        assert_eq!(
            src(json!({"Bucket": "src", "Key": "a b+c%/?#ü.txt"})),
            "src/a%20b%2Bc%25/%3F%23%C3%BC.txt"
        );
        assert_eq!(
            src(json!({"Bucket": "src", "Key": "k", "VersionId": "3/L4kq+ab"})),
            "src/k?versionId=3/L4kq+ab"
        );
        assert_eq!(
            src(json!({"Bucket": "arn:aws:s3:us-west-2:123456789012:accesspoint/ap", "Key": "k"})),
            "arn%3Aaws%3As3%3Aus-west-2%3A123456789012%3Aaccesspoint/ap/object/k"
        );
        assert!(copy_source(&json!({"Bucket": "src"})).is_err());
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

    #[test]
    fn a_listing_whose_reply_does_not_say_url_is_left_as_it_is() {
        let raw = r#"{"Contents":[{"Key":"a+b%41"}],"Prefix":"p+q","NextMarker":"x%25"}"#;
        let other = raw.replace(r#""x%25"}"#, r#""x%25","EncodingType":"other"}"#);
        for reply in [raw, other.as_str()] {
            let mut o: Map<String, Value> = serde_json::from_str(reply).unwrap();
            let before = o.clone();
            decode_listing(&mut o);
            assert_eq!(o, before, "{reply}");
        }
        // Every decoded field, from the reply S3 sends with `encoding-type=url`.
        let mut o: Map<String, Value> = serde_json::from_value(json!({
            "Prefix": "a%2Fb+c", "Delimiter": "%2F", "Marker": "m%25", "NextMarker": "n%C3%A9",
            "StartAfter": "s%20", "KeyMarker": "k%2B", "NextKeyMarker": "x%FF",
            "EncodingType": "url",
            "Contents": [{"Key": "a%20b+c%2Bd%25", "Owner": {"ID": "id%20"}}],
            "CommonPrefixes": [{"Prefix": "p%2F+q%2F"}],
            "Versions": [{"Key": "v%20k", "VersionId": "1%20"}],
            "DeleteMarkers": [{"Key": "d%2B"}],
            "ContinuationToken": "t%20"
        }))
        .unwrap();
        decode_listing(&mut o);
        let want = json!({
            "Prefix": "a/b c", "Delimiter": "/", "Marker": "m%", "NextMarker": "n\u{e9}",
            "StartAfter": "s ", "KeyMarker": "k+", "NextKeyMarker": "x\u{fffd}",
            "ContinuationToken": "t%20",
            "Contents": [{"Key": "a b c+d%", "Owner": {"ID": "id%20"}}],
            "CommonPrefixes": [{"Prefix": "p/ q/"}],
            "Versions": [{"Key": "v k", "VersionId": "1%20"}],
            "DeleteMarkers": [{"Key": "d+"}]
        });
        assert_eq!(Value::Object(o), want);
    }
}
