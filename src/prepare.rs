//! One attempt's request from a validated input: the XML body an operation makes, the integrity
//! headers (a CRC checksum or `Content-MD5`, the SSE-C key MD5), then the build. Pure: a body
//! file was stat'ed by the caller (`body::input_payload`). `run`, `validate`, the golden tests
//! and the benches all prepare through here, so a golden fixture is what goes on the wire.

use serde_json::{Map, Value};

use crate::body::{with_content_md5, with_required_md5, with_sse_c_key_md5};
use crate::checksum::{self, Algorithm, Integrity};
use crate::error::Error;
use crate::manifest::{Location, Operation, RequestBody, ResponseBody};
use crate::quirks;
use crate::request::{self, Destination, HttpRequest, Payload};
use crate::transport::FILE_CHUNK;

/// The unsigned request for `op`. `body` is the input's body source, or the part of a file an
/// upload sends; operations whose body the connector writes (XML) take theirs instead.
/// `integrity`: the checksum added to uploads (and asked of downloads) when the caller gave none.
pub fn prepare(
    op: &Operation,
    input: &Map<String, Value>,
    dest: &Destination<'_>,
    integrity: Integrity,
    body: Payload,
) -> Result<HttpRequest, Error> {
    prepare_with(op, input, dest, integrity, body, None)
}

/// A file body no larger than this is read twice: once for its CRC, which then goes in a
/// header, and once to send it (the second read comes from the page cache). Larger ones are
/// read once, their CRC in an `aws-chunked` trailer. A header works with every S3-compatible
/// server that takes CRCs; some store `aws-chunked` as the object's `Content-Encoding`.
pub const PREREAD_MAX: u64 = 16 * 1024 * 1024;

/// [`prepare`], with the CRC of a file body already read (`file_crc`, by the algorithm
/// [`prepare`] names in `x-amz-trailer`), which then goes in a header rather than a trailer.
pub fn prepare_with(
    op: &Operation,
    input: &Map<String, Value>,
    dest: &Destination<'_>,
    integrity: Integrity,
    body: Payload,
    file_crc: Option<u64>,
) -> Result<HttpRequest, Error> {
    let payload = quirks::xml_body(op, input, dest.region)?.unwrap_or(body);
    let input = with_content_md5(op, input, &payload, integrity == Integrity::Md5)?;
    let input = with_sse_c_key_md5(op, &input)?;
    let mut request = request::build(op, &input, dest, payload)?;
    if let Some(algorithm) = integrity.crc() {
        with_crc(op, &mut request, algorithm, file_crc);
        with_checksum_mode(op, &mut request);
    }
    if op.checksum_required {
        with_required_md5(&mut request);
    }
    Ok(request)
}

/// Whether `op` takes the header `name` (so S3 reads and checks it there).
fn takes_header(op: &Operation, name: &str) -> bool {
    op.parameters.iter().any(|p| {
        p.location == Location::Header
            && p.wire
                .as_deref()
                .is_some_and(|w| w.eq_ignore_ascii_case(name))
    })
}

/// An upload's CRC, for operations that carry an object's bytes and take flexible checksums
/// (`PutObject`, `UploadPart`), unless the caller gave a checksum value. The caller's
/// `x-amz-sdk-checksum-algorithm` picks the algorithm when it names a CRC, and one that names
/// another (SHA-256) is left for the caller to send. In memory, the CRC goes in its header; a
/// file goes `aws-chunked` with the CRC in a trailer, so that it is read once
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, signed as such by `signing`).
fn with_crc(op: &Operation, request: &mut HttpRequest, default: Algorithm, file_crc: Option<u64>) {
    let Some(algorithm) = crc_for(op, request, default) else {
        return;
    };
    if request.header("x-amz-sdk-checksum-algorithm").is_none()
        && takes_header(op, "x-amz-sdk-checksum-algorithm")
    {
        // Which checksum follows; some S3-compatibles (moto) store the checksum only with it.
        push(
            request,
            "x-amz-sdk-checksum-algorithm",
            algorithm.name().to_string(),
        );
    }
    match &request.payload {
        Payload::Empty => push(
            request,
            algorithm.header(),
            algorithm.encode(algorithm.of(b"")),
        ),
        Payload::Bytes(b) => {
            let value = algorithm.encode(algorithm.of(b));
            push(request, algorithm.header(), value);
        }
        Payload::File { .. } if file_crc.is_some() => {
            let value = algorithm.encode(file_crc.unwrap_or_default());
            push(request, algorithm.header(), value);
        }
        Payload::File { len, .. } => {
            let len = *len;
            let encoded = checksum::chunked_len(len, FILE_CHUNK as u64, algorithm);
            request.headers.retain(|(n, _)| n != "content-length");
            let encoding = match request
                .headers
                .iter()
                .position(|(n, _)| n == "content-encoding")
            {
                Some(i) => format!("{},aws-chunked", request.headers.remove(i).1),
                None => "aws-chunked".to_string(),
            };
            push(request, "content-encoding", encoding);
            push(request, "content-length", encoded.to_string());
            push(request, "x-amz-decoded-content-length", len.to_string());
            push(request, "x-amz-trailer", algorithm.header().to_string());
            push(
                request,
                "x-amz-content-sha256",
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_string(),
            );
        }
    }
}

/// The CRC an upload of `op` carries, unless it carries none: the operation takes no
/// flexible checksum, the caller gave a checksum value, or named an algorithm other than a CRC.
fn crc_for(op: &Operation, request: &HttpRequest, default: Algorithm) -> Option<Algorithm> {
    if op.request_body != Some(RequestBody::Payload) || !takes_header(op, default.header()) {
        return None;
    }
    let given = |n: &str| n.starts_with("x-amz-checksum-") && n != "x-amz-checksum-algorithm";
    if request.headers.iter().any(|(n, _)| given(n)) {
        return None;
    }
    match request.header("x-amz-sdk-checksum-algorithm") {
        Some(name) => Algorithm::from_name(name),
        None => Some(default),
    }
}

/// A download of a whole object asks for its stored checksum (`x-amz-checksum-mode: ENABLED`),
/// which the executor then compares with the bytes received, unless the caller set the mode.
fn with_checksum_mode(op: &Operation, request: &mut HttpRequest) {
    // A range or a part has no checksum of its own to compare (S3 sends none for a range).
    let part = request
        .uri
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("partNumber=")));
    let partial = part || request.header("range").is_some();
    if op.response_body == ResponseBody::Payload
        && !partial
        && takes_header(op, "x-amz-checksum-mode")
        && request.header("x-amz-checksum-mode").is_none()
    {
        push(request, "x-amz-checksum-mode", "ENABLED".to_string());
    }
}

fn push(request: &mut HttpRequest, name: &str, value: String) {
    request.headers.push((name.to_string(), value));
}
