//! Reading replies: headers to output fields, and S3 errors to the error envelope. Pure.

use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::classify::{code_for_status, is_redirect, retryable_reply};
use crate::error::{Error, Failure};
use crate::timefmt;
use crate::xml;

/// Output fields that come from reply headers (`x-s3.header` / `x-s3.header_map`).
pub fn headers_output(output_schema: &Value, headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, ps) in output_schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(s3) = ps.get("x-s3") else { continue };
        if let Some(h) = s3.get("header").and_then(Value::as_str) {
            let Some(raw) = headers.get(h).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let value = match (
                ps.get("type").and_then(Value::as_str),
                ps.get("format").and_then(Value::as_str),
            ) {
                (Some("integer"), _) => raw
                    .trim()
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(raw), Value::from),
                (Some("boolean"), _) => Value::Bool(raw.trim().eq_ignore_ascii_case("true")),
                (_, Some("date-time")) => Value::from(timefmt::http_date_to_iso8601(raw)),
                _ => Value::from(raw),
            };
            out.insert(name.clone(), value);
        } else if let Some(prefix) = s3.get("header_map").and_then(Value::as_str) {
            let mut map = Map::new();
            for (hn, hv) in headers {
                if let Some(k) = hn.as_str().strip_prefix(prefix) {
                    if let Ok(v) = hv.to_str() {
                        map.insert(k.to_string(), Value::from(v));
                    }
                }
            }
            out.insert(name.clone(), Value::Object(map));
        }
    }
    out
}

/// The error envelope for a reply S3 marked as failed (by status, or a 200 with `<Error>`).
pub fn service_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let header_request_id = headers
        .get("x-amz-request-id")
        .or_else(|| headers.get("x-amzn-requestid"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let header_region = headers
        .get("x-amz-bucket-region")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (code, message, request_id, region) = if let Some(e) = xml::parse_error(body) {
        let message = if e.message.is_empty() {
            format!("S3 replied {status}")
        } else {
            e.message
        };
        (
            e.code,
            message,
            e.request_id.or(header_request_id),
            header_region.or(e.region),
        )
    } else {
        let reason = status.canonical_reason().unwrap_or("");
        (
            code_for_status(status.as_u16()).to_string(),
            format!("S3 replied {} {reason}", status.as_u16()),
            header_request_id,
            header_region,
        )
    };
    // A redirect to another region is followed once (`execute.rs`), when S3 names the region.
    let redirect = is_redirect(status.as_u16(), &code);
    Error {
        code: Some(code.clone()),
        status: Some(status.as_u16()),
        request_id,
        retryable: retryable_reply(status.as_u16(), &code),
        redirect_region: if redirect { region } else { None },
        ..Error::of(Failure::Service, format!("{code}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_map_to_typed_fields() {
        let schema = json!({"properties": {
            "ContentLength": {"type": "integer", "x-s3": {"header": "Content-Length"}},
            "LastModified": {"type": "string", "format": "date-time", "x-s3": {"header": "Last-Modified"}},
            "DeleteMarker": {"type": "boolean", "x-s3": {"header": "x-amz-delete-marker"}},
            "ETag": {"type": "string", "x-s3": {"header": "ETag"}},
            "Metadata": {"type": "object", "x-s3": {"header_map": "x-amz-meta-"}},
            "Absent": {"type": "string", "x-s3": {"header": "x-amz-version-id"}}
        }});
        let mut h = HeaderMap::new();
        h.insert("content-length", "42".parse().unwrap());
        h.insert(
            "last-modified",
            "Wed, 25 Nov 2026 21:50:12 GMT".parse().unwrap(),
        );
        h.insert("x-amz-delete-marker", "true".parse().unwrap());
        h.insert("etag", "\"abc\"".parse().unwrap());
        h.insert("x-amz-meta-color", "blue".parse().unwrap());
        let out = Value::Object(headers_output(&schema, &h));
        assert_eq!(
            out,
            json!({"ContentLength": 42, "LastModified": "2026-11-25T21:50:12Z", "DeleteMarker": true, "ETag": "\"abc\"", "Metadata": {"color": "blue"}})
        );
    }

    #[test]
    fn errors_from_xml_and_from_status() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-request-id", "hdr-id".parse().unwrap());
        let e = service_error(
            StatusCode::NOT_FOUND,
            &h,
            b"<Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>",
        );
        assert_eq!(
            (
                e.code.as_deref(),
                e.status,
                e.request_id.as_deref(),
                e.retryable
            ),
            (Some("NoSuchKey"), Some(404), Some("hdr-id"), false)
        );
        let e = service_error(StatusCode::NOT_MODIFIED, &HeaderMap::new(), b"");
        assert_eq!(e.code.as_deref(), Some("NotModified"));
        let e = service_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &HeaderMap::new(),
            b"<Error><Code>SlowDown</Code></Error>",
        );
        assert!(e.retryable);
        let e = service_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>proxy</html>",
        );
        assert_eq!((e.code.as_deref(), e.retryable), (Some("BadGateway"), true));
        let mut h = HeaderMap::new();
        h.insert("x-amz-bucket-region", "eu-west-1".parse().unwrap());
        let e = service_error(StatusCode::MOVED_PERMANENTLY, &h, b"");
        assert_eq!(
            (e.code.as_deref(), e.redirect_region.as_deref()),
            (Some("PermanentRedirect"), Some("eu-west-1"))
        );
        let e = service_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            b"<Error><Code>AuthorizationHeaderMalformed</Code><Region>ap-south-1</Region></Error>",
        );
        assert_eq!(e.redirect_region.as_deref(), Some("ap-south-1"));
        let e = service_error(
            StatusCode::NOT_FOUND,
            &h,
            b"<Error><Code>NoSuchKey</Code></Error>",
        );
        assert_eq!(
            e.redirect_region, None,
            "only redirects carry a region to follow"
        );
    }
}
