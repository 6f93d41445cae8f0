//! `SigV4` signing with aws-sigv4, set up for S3. Pure: the time is an argument.
//!
//! S3 differs from other AWS services in three settings (smithy-rs uses the same for S3):
//! the path is encoded once (not twice), never normalised (`a/../b` is a key, not a path), and
//! `x-amz-content-sha256` is sent and signed.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;

use sha2::{Digest, Sha256};

use crate::credentials::Credentials;
use crate::endpoint::encode_query;
use crate::error::{Error, Failure};
use crate::request::{HttpRequest, Payload};
use crate::sign_key;

pub(crate) fn s3_settings() -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    s
}

/// Signs `req` in place, adding `x-amz-date`, `x-amz-content-sha256`, the session token and
/// `authorization`. In-memory bodies are hashed; files are sent as `UNSIGNED-PAYLOAD` so that
/// they are read once, while streaming; a hash set when the request was prepared
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER` for an `aws-chunked` body) is signed as it is.
///
/// The canonical request is built here rather than by aws-sigv4's `sign`, so that the signing
/// key comes from the cache (`sign_key`) instead of four HMACs a request: a unit test checks
/// that both sign every kind of request alike.
pub fn sign(
    req: &mut HttpRequest,
    creds: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), Error> {
    let amz_date = amz_date(time)?;
    let preset = req
        .headers
        .iter()
        .position(|(n, _)| n == "x-amz-content-sha256")
        .map(|i| req.headers.remove(i).1);
    let hash = preset.unwrap_or_else(|| match &req.payload {
        Payload::Empty => EMPTY_SHA256.to_string(),
        Payload::Bytes(b) => hex_string(&Sha256::digest(b)),
        Payload::File { .. } => "UNSIGNED-PAYLOAD".to_string(),
    });
    // Added in the order aws-sigv4 adds them (the golden fixtures keep it).
    let start = req.headers.len();
    req.headers.reserve(4);
    req.headers.push(("x-amz-date".into(), amz_date));
    req.headers.push(("x-amz-content-sha256".into(), hash));
    if let Some(token) = &creds.session_token {
        req.headers
            .push(("x-amz-security-token".into(), token.expose().to_string()));
    }
    let (amz_date, hash) = (&req.headers[start].1, &req.headers[start + 1].1);
    let (canonical, signed) = canonical_request(req, hash)?;
    let date = &amz_date[..8];
    let mut scope = String::with_capacity(date.len() + region.len() + 20);
    for part in [date, "/", region, "/s3/aws4_request"] {
        scope.push_str(part);
    }
    let mut string_to_sign = String::with_capacity(128 + scope.len());
    for part in ["AWS4-HMAC-SHA256\n", amz_date, "\n", &scope, "\n"] {
        string_to_sign.push_str(part);
    }
    push_hex(&mut string_to_sign, &Sha256::digest(canonical.as_bytes()));
    let signature = sign_key::signature(
        creds.secret_access_key.expose(),
        (date, region, "s3"),
        string_to_sign.as_bytes(),
    );
    let mut authorization = String::with_capacity(160 + signed.len() + scope.len());
    for part in [
        "AWS4-HMAC-SHA256 Credential=",
        &creds.access_key_id,
        "/",
        &scope,
        ", SignedHeaders=",
        &signed,
        ", Signature=",
    ] {
        authorization.push_str(part);
    }
    push_hex(&mut authorization, &signature);
    req.headers
        .insert(start + 1, ("authorization".into(), authorization));
    Ok(())
}

/// Appends the lowercase hex of a digest (the `hex` crate's iterator of chars is several times
/// slower, and three digests are written per request).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for (pair, b) in buf.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    let len = 2 * bytes.len().min(32);
    out.push_str(std::str::from_utf8(&buf[..len]).expect("hex digits are ASCII"));
}

fn hex_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, bytes);
    out
}

/// SHA-256 of nothing, hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Headers never signed (aws-sigv4's defaults): changed by proxies, or the signature itself.
fn is_unsigned(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "user-agent" | "x-amzn-trace-id" | "transfer-encoding"
    )
}

/// `YYYYMMDDTHHMMSSZ` of `time`, UTC.
fn amz_date(time: SystemTime) -> Result<String, Error> {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| Error::of(Failure::Internal, "the clock is before 1970"))?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| Error::of(Failure::Internal, "signing time").caused_by(e))?;
    let year = u32::try_from(t.year())
        .ok()
        .filter(|y| *y <= 9999)
        .ok_or_else(|| Error::of(Failure::Internal, "signing time past year 9999"))?;
    let mut out = [0u8; 16];
    let mut put = |at: usize, width: usize, v: u32| {
        let mut v = v as usize;
        for i in (at..at + width).rev() {
            out[i] = b"0123456789"[v % 10];
            v /= 10;
        }
    };
    put(0, 4, year);
    put(4, 2, u32::from(u8::from(t.month())));
    put(6, 2, u32::from(t.day()));
    put(9, 2, u32::from(t.hour()));
    put(11, 2, u32::from(t.minute()));
    put(13, 2, u32::from(t.second()));
    out[8] = b'T';
    out[15] = b'Z';
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The canonical request of an S3 request and its signed-header list: the path as built
/// (encoded once, never normalised), the query's pairs sorted, the headers lowercased, their
/// values trimmed with runs of spaces collapsed, those of one name joined by commas.
fn canonical_request(req: &HttpRequest, hash: &str) -> Result<(String, String), Error> {
    let bad = |what: &str| {
        Error::of(
            Failure::Internal,
            format!("request cannot be signed: {what}"),
        )
    };
    // After `scheme://` (a scheme has no colon: the first one is its own).
    let rest = match req.uri.find(':') {
        Some(i) if req.uri[i..].starts_with("://") => &req.uri[i + 3..],
        _ => req
            .uri
            .split_once("://")
            .map(|(_, r)| r)
            .ok_or_else(|| bad("no scheme"))?,
    };
    let path_and_query = rest.find('/').map_or("/", |i| &rest[i..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (canonical_query_part(k), canonical_query_part(v)))
        .collect();
    pairs.sort_unstable();
    let headers = signed_headers(req);
    let mut out = String::with_capacity(256 + req.uri.len() + 64 * headers.len());
    out.push_str(&req.method);
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out.push('\n');
    let mut signed = String::with_capacity(16 * headers.len());
    let mut last: Option<&str> = None;
    for (_, n, v) in &headers {
        if last == Some(n.as_ref()) {
            out.pop(); // the newline: a repeated name joins its values with a comma
            out.push(',');
        } else {
            if last.is_some() {
                signed.push(';');
            }
            signed.push_str(n);
            out.push_str(n);
            out.push(':');
        }
        out.push_str(v);
        out.push('\n');
        last = Some(n);
    }
    out.push('\n');
    out.push_str(&signed);
    out.push('\n');
    out.push_str(hash);
    Ok((out, signed))
}

/// A query name or value as aws-sigv4 signs it: decoded as a form (`+` a space) then encoded
/// again, every byte but the unreserved ones as `%XX`. What our builder writes (`encode_query`)
/// is in that form already, so it is borrowed as it is.
fn canonical_query_part(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let hex = |c: u8| matches!(c, b'0'..=b'9' | b'A'..=b'F');
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if is_unreserved(c) => i += 1,
            b'%' if i + 2 < b.len() && hex(b[i + 1]) && hex(b[i + 2]) => {
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0);
                if is_unreserved(v) {
                    break; // `%7E` is signed as `~`
                }
                i += 3;
            }
            _ => break,
        }
    }
    if i == b.len() {
        return Cow::Borrowed(s);
    }
    Cow::Owned(encode_query(&form_decode(s)))
}

/// `application/x-www-form-urlencoded` decoding as the `form_urlencoded` crate does it (the one
/// aws-sigv4 reads queries with): `+` a space, `%XX` a byte, anything else as it is.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The headers signed, lowercased (names are lowercase already in an `HttpRequest`: borrowed
/// then), values as signed, sorted by name (stably: a repeated name keeps its values' order);
/// each with its name's first eight bytes as a number, on which most comparisons end.
fn signed_headers(req: &HttpRequest) -> Vec<(u64, Cow<'_, str>, Cow<'_, str>)> {
    let mut headers: Vec<(u64, Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(req.headers.len());
    for (n, v) in &req.headers {
        let n = if n.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(n.to_ascii_lowercase())
        } else {
            Cow::Borrowed(n.as_str())
        };
        if is_unsigned(&n) {
            continue;
        }
        // The session token is signed as it is (aws-sigv4 does not trim it).
        let v = if n == "x-amz-security-token" {
            Cow::Borrowed(v.as_str())
        } else {
            collapse_spaces(v)
        };
        let mut prefix = [0u8; 8];
        let len = n.len().min(8);
        prefix[..len].copy_from_slice(&n.as_bytes()[..len]);
        headers.push((u64::from_be_bytes(prefix), n, v));
    }
    headers.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    headers
}

/// A header value as signed: spaces trimmed at both ends, runs of spaces made one (only spaces,
/// as S3 does).
fn collapse_spaces(v: &str) -> Cow<'_, str> {
    let v = v.trim_matches(' ');
    // A byte scan: `str::contains("  ")` sets up a substring searcher for every value.
    if !v.as_bytes().windows(2).any(|w| w == b"  ") {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Signs a request to another AWS service (STS's `AssumeRole`) with the SDKs' default settings:
/// the body is hashed but no `x-amz-content-sha256` is sent.
pub(crate) fn sign_service(
    req: &mut HttpRequest,
    creds: &Credentials,
    (region, service): (&str, &str),
    time: SystemTime,
) -> Result<(), Error> {
    let body = match &req.payload {
        Payload::Bytes(b) => SignableBody::Bytes(b),
        _ => SignableBody::Bytes(&[]),
    };
    let settings = SigningSettings::default();
    let (headers, _params) = instructions(req, body, creds, (region, service), time, settings)?;
    req.headers.extend(headers);
    Ok(())
}

/// Signs `req` in its query string (`SigV4` query authentication, as S3 presigned URLs are):
/// the `X-Amz-*` parameters, the session token among them, are added to `req.uri`, valid for
/// `expires` from `time`. The payload is `UNSIGNED-PAYLOAD`: whoever holds the URL sends it.
/// The headers of `req` are signed (but those signers leave out of presigned URLs, such as
/// `x-amz-checksum-mode`), so the holder must send each with the same value: their names are
/// returned, `host` first.
pub fn presign(
    req: &mut HttpRequest,
    creds: &Credentials,
    region: &str,
    time: SystemTime,
    expires: Duration,
) -> Result<Vec<String>, Error> {
    let mut settings = s3_settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    let (_headers, params) = instructions(
        req,
        SignableBody::UnsignedPayload,
        creds,
        (region, "s3"),
        time,
        settings,
    )?;
    let signed = params
        .iter()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, names)| names.split(';').map(str::to_string).collect())
        .unwrap_or_default();
    let mut sep = if req.uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        req.uri.push(sep);
        req.uri.push_str(&encode_query(&name));
        req.uri.push('=');
        req.uri.push_str(&encode_query(&value));
        sep = '&';
    }
    Ok(signed)
}

/// What signing adds to `req`: headers, and query parameters (presigning).
type Added = (Vec<(String, String)>, Vec<(String, String)>);

fn instructions(
    req: &HttpRequest,
    body: SignableBody<'_>,
    creds: &Credentials,
    (region, service): (&str, &str),
    time: SystemTime,
    settings: SigningSettings,
) -> Result<Added, Error> {
    let identity: Identity = AwsCredentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "s3-connector",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error::of(Failure::Internal, "signing parameters").caused_by(e))?
        .into();
    let signable = SignableRequest::new(
        &req.method,
        req.uri.as_str(),
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .map_err(|e| Error::of(Failure::Internal, "request cannot be signed").caused_by(e))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| Error::of(Failure::Internal, "signing failed").caused_by(e))?
        .into_parts();
    let (headers, params) = instructions.into_parts();
    Ok((
        headers
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect(),
        params
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.into_owned()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::connection::Secret;

    /// The request signed by aws-sigv4's own `sign` (what `sign` did before the cached key).
    fn reference(req: &HttpRequest, creds: &Credentials, time: SystemTime) -> HttpRequest {
        let mut req = req.clone();
        let preset = req
            .headers
            .iter()
            .position(|(n, _)| n == "x-amz-content-sha256")
            .map(|i| req.headers.remove(i).1);
        let body = match (&preset, &req.payload) {
            (Some(hash), _) => SignableBody::Precomputed(hash.clone()),
            (None, Payload::Empty) => SignableBody::Bytes(&[]),
            (None, Payload::Bytes(b)) => SignableBody::Bytes(b),
            (None, Payload::File { .. }) => SignableBody::UnsignedPayload,
        };
        let (headers, _) =
            instructions(&req, body, creds, ("eu-west-3", "s3"), time, s3_settings()).unwrap();
        req.headers.extend(headers);
        req
    }

    /// Method, URI, headers, payload.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Payload);

    fn sorted(mut h: Vec<(String, String)>) -> Vec<(String, String)> {
        h.sort();
        h
    }

    #[test]
    fn the_signing_time_is_written_with_leading_zeros() {
        let at = |secs| amz_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
        assert_eq!(at(0), "19700101T000000Z");
        assert_eq!(at(981_173_106), "20010203T040506Z");
        assert_eq!(at(1_764_806_399), "20251203T235959Z");
    }

    #[test]
    fn signs_every_kind_of_request_as_aws_sigv4_does() {
        let plain = Credentials::fixed(
            "AKIDEXAMPLE",
            Secret::new("wJalr/K7MDENG+bPxRfi"),
            None,
            "t",
        );
        let token = Credentials::fixed(
            "ASIAEXAMPLE",
            Secret::new("another/secret"),
            Some(Secret::new("FQoG  token with  spaces==")),
            "t",
        );
        let file = Payload::File {
            path: "/nonexistent".into(),
            offset: 0,
            len: 9,
        };
        let cases: Vec<Case<'_>> = vec![
            ("GET", "http://127.0.0.1:9000/b/k", vec![], Payload::Empty),
            (
                "GET",
                "https://b.s3.eu-west-3.amazonaws.com/a%20b/..%2F/%E2%82%AC?versionId=x%2By&list-type=2&uploads&a=&prefix=%20",
                vec![("range", "bytes=0-9"), ("if-match", "  \"e  t\"  ")],
                Payload::Empty,
            ),
            (
                "PUT",
                "http://127.0.0.1:9000/b/k?partNumber=2&uploadId=u",
                vec![("content-type", "text/plain"), ("x-amz-meta-a", "1"), ("x-amz-meta-a", "2"),
                     ("content-md5", "abc=="), ("user-agent", "ua"), ("Content-Length", "5")],
                Payload::Bytes("hello".into()),
            ),
            ("PUT", "http://127.0.0.1:9000/b/file", vec![("content-length", "9")], file.clone()),
            (
                "PUT",
                "http://127.0.0.1:9000/b/chunked",
                vec![("content-encoding", "aws-chunked"), ("x-amz-trailer", "x-amz-checksum-crc64nvme"),
                     ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")],
                file,
            ),
            ("POST", "http://127.0.0.1:9000/b?delete", vec![("content-md5", "x")], Payload::Bytes("<Delete/>".into())),
            (
                "GET",
                "http://127.0.0.1:9000/b/%20lead%20/a%2Bb%3Dc/%F0%9F%98%80/.?prefix=a%2Fb&prefix=a&marker=%7E~&x-id=GetObject",
                vec![("X-Amz-Meta-Mixed", " a   b\tc "), ("x-amzn-trace-id", "Root=1"),
                     ("transfer-encoding", "chunked"), ("x-amz-meta-empty", ""),
                     ("x-amz-meta-b", "two"), ("x-amz-meta-a", "one"), ("x-amz-meta-a", "  ")],
                Payload::Empty,
            ),
            (
                "GET",
                "http://127.0.0.1:9000/b?q=a+b&r=%7e%2f&s=%zz&t=100%&u==x&v=%E2%82%AC&w=%41%2",
                vec![],
                Payload::Empty,
            ),
            ("HEAD", "https://bucket.s3.amazonaws.com/", vec![("if-none-match", "\"a\", \"b\"")], Payload::Empty),
            (
                "PUT",
                "http://127.0.0.1:9000/b/preset?tagging",
                vec![("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("content-type", "application/xml")],
                Payload::Bytes("<Tagging/>".into()),
            ),
        ];
        let times = [
            SystemTime::UNIX_EPOCH + Duration::from_hours(380_376),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_806_399),
            SystemTime::UNIX_EPOCH + Duration::from_hours(490_224),
        ];
        for (method, uri, headers, payload) in cases {
            let mut all = vec![(
                "host".to_string(),
                uri.split('/').nth(2).unwrap().to_string(),
            )];
            all.extend(
                headers
                    .iter()
                    .map(|(n, v)| ((*n).to_string(), (*v).to_string())),
            );
            let req = HttpRequest {
                method: method.into(),
                uri: uri.into(),
                headers: all,
                payload,
            };
            for creds in [&plain, &token] {
                for time in times {
                    let mut ours = req.clone();
                    sign(&mut ours, creds, "eu-west-3", time).unwrap();
                    let theirs = reference(&req, creds, time);
                    assert_eq!(
                        sorted(ours.headers),
                        sorted(theirs.headers),
                        "{method} {uri}"
                    );
                }
            }
        }
    }
}
