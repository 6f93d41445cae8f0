//! Golden tests of built and signed requests, offline.
//!
//! Each `tests/fixtures/golden/<case>.json` gives an operation, its input and a connection; the
//! request goes through the real pipeline (validation, connection resolution, body, build, `SigV4`
//! at the fixture's fixed time with the AWS documentation example credentials) and must equal
//! the fixture's `expected`. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites `expected`
//! from the current output instead: review the diff by hand before committing it.
//!
//! Golden values alone would only pin whatever the connector does, so every case is also checked
//! against facts computed here, independently of the connector: the `Authorization` header by a
//! small `SigV4` reference signer (itself checked against the published AWS examples), the
//! `x-amz-content-sha256` against the body's SHA-256, `Content-Length` against the body's length,
//! and the path against an RFC 3986 encoding of the key. Finally, the two published S3 examples
//! are built through the manifest and must give AWS's signatures exactly.

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(
    clippy::format_collect,
    clippy::needless_pass_by_value,
    clippy::too_many_lines
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use s3_connector::connection::{Addressing, Secret};
use s3_connector::credentials::{self, Credentials};
use s3_connector::endpoint::Endpoint;
use s3_connector::manifest::{Location, Manifest, Operation};
use s3_connector::prepare::prepare;
use s3_connector::request::{Destination, HttpRequest, Payload};
use s3_connector::{body, signing, timefmt, validate};

/// The AWS documentation example credentials.
const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// 2013-05-24T00:00:00Z, the time of the published S3 `SigV4` examples.
const EXAMPLE_SECS: u64 = 1_369_353_600;

// ---------------------------------------------------------------------------------------------
// Running one fixture
// ---------------------------------------------------------------------------------------------

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn fixture_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/fixtures/golden exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

fn example_creds(session_token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: Secret::new(SECRET_KEY),
        session_token: session_token.map(Secret::new),
        source: "golden test".into(),
        expiry: None,
    }
}

fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EXAMPLE_SECS)
}

/// What one fixture produced.
struct Outcome {
    actual: Value,
    req: HttpRequest,
    op: &'static Operation,
    input: Map<String, Value>,
    session_token: Option<String>,
    region: String,
    /// `x-amz-date` the fixture's time must give, derived from its text.
    amz_date: String,
}

/// `{tmp}` in top-level string inputs is the case's temporary directory (for `BodyFile`,
/// `OutputFile`); `files` are written there first.
fn prepare_input(case: &Value, tmp: &Path) -> Result<Map<String, Value>, String> {
    if let Some(files) = case.get("files").and_then(Value::as_object) {
        for (name, content) in files {
            let content = content.as_str().ok_or("`files` values must be strings")?;
            std::fs::write(tmp.join(name), content).map_err(|e| format!("writing {name}: {e}"))?;
        }
    }
    let mut input = case
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tmp_text = tmp.to_str().ok_or("temporary directory is not UTF-8")?;
    for v in input.values_mut() {
        if let Value::String(s) = v {
            *s = s.replace("{tmp}", tmp_text);
        }
    }
    Ok(input)
}

/// A string field of a fixture.
fn text<'c>(case: &'c Value, field: &str) -> Result<&'c str, String> {
    case.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("fixture field `{field}` must be a string"))
}

/// The request envelope of a fixture, as a host would send it; no endpoint means the AWS one
/// of the region.
fn envelope(case: &Value, tmp: &Path) -> Result<Value, String> {
    let mut connection = json!({
        "region": text(case, "region")?,
        "addressing": text(case, "addressing")?,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
    });
    if let Some(endpoint) = case.get("endpoint").and_then(Value::as_str) {
        connection["endpoint"] = json!(endpoint);
    }
    if let Some(token) = case.get("session_token").and_then(Value::as_str) {
        connection["session_token"] = json!(token);
    }
    Ok(json!({
        "operation": text(case, "operation")?,
        "input": prepare_input(case, tmp)?,
        "connection": connection,
    }))
}

fn run_case(case: &Value, tmp: &Path) -> Result<Outcome, String> {
    let time_text = text(case, "time")?;
    let session_token = case
        .get("session_token")
        .and_then(Value::as_str)
        .map(str::to_string);
    let envelope = envelope(case, tmp)?;
    let valid = validate::validate_envelope(envelope)
        .map_err(|e| format!("fixture input is invalid: {e} {:?}", e.details))?;
    // An empty environment: everything comes from the connection.
    let conn = credentials::resolve(&valid.connection, &|_| None)
        .map_err(|e| format!("connection: {e}"))?;

    let secs = timefmt::parse_rfc3339(time_text).ok_or("`time` must be RFC 3339")?;
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).map_err(|e| e.to_string())?);
    let amz_date = time_text
        .strip_suffix('Z')
        .filter(|t| t.len() == 19)
        .ok_or("`time` must be whole seconds in UTC (…Z)")?
        .replace(['-', ':'], "")
        + "Z";

    let op = valid.operation;
    let body = body::input_payload_blocking(op, &valid.input).map_err(|e| format!("body: {e}"))?;
    let dest = Destination {
        endpoint: &conn.endpoint,
        addressing: conn.addressing,
        region: &conn.region,
    };
    // The same preparation as `run` (XML body, integrity headers, SSE-C key MD5, build); a
    // small file's CRC read first and sent in a header, as `run` does.
    let mut req = prepare(op, &valid.input, &dest, conn.checksums, body)
        .map_err(|e| format!("prepare: {e} {:?}", e.details))?;
    if let (Some(_), Payload::File { path, len, .. }) = (req.header("x-amz-trailer"), &req.payload)
    {
        if *len <= s3_connector::prepare::PREREAD_MAX {
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            let crc = s3_connector::checksum::Algorithm::Crc64Nvme.of(&bytes);
            let payload = req.payload.clone();
            req = s3_connector::prepare::prepare_with(
                op,
                &valid.input,
                &dest,
                conn.checksums,
                payload,
                Some(crc),
            )
            .map_err(|e| format!("prepare: {e}"))?;
        }
    }
    signing::sign(
        &mut req,
        conn.credentials.fixed().unwrap(),
        &conn.region,
        time,
    )
    .map_err(|e| format!("sign: {e}"))?;

    Ok(Outcome {
        actual: render_request(&req),
        req,
        op,
        input: valid.input,
        session_token,
        region: conn.region.clone(),
        amz_date,
    })
}

fn render_request(req: &HttpRequest) -> Value {
    let body = match &req.payload {
        Payload::Empty => Value::Null,
        Payload::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(b)}),
        },
        Payload::File { len, .. } => json!({"file_len": len}),
    };
    json!({
        "method": req.method,
        "uri": req.uri,
        "headers": req.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
        "body": body,
    })
}

// ---------------------------------------------------------------------------------------------
// Checks independent of the connector
// ---------------------------------------------------------------------------------------------

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256 (RFC 2104), written out so the reference signer shares no code with the connector.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `SigV4` `UriEncode`: every byte but `A-Za-z0-9-._~` (and `/` when asked) as `%XX`, uppercase.
fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `(scheme, authority, path, query)` of an absolute URI.
fn split_uri(uri: &str) -> (&str, &str, &str, &str) {
    let (scheme, rest) = uri.split_once("://").expect("absolute URI");
    let slash = rest.find('/').expect("URI has a path");
    let (authority, path_query) = rest.split_at(slash);
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    (scheme, authority, path, query)
}

/// The `Authorization` header for `headers` (which must hold `x-amz-date` and
/// `x-amz-content-sha256`), per "Signature Calculations for the Authorization Header:
/// Transferring Payload in a Single Chunk". S3 rules: the path is used as sent (encoded once,
/// never normalised); every header sent is signed.
fn reference_authorization(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    access_key: &str,
    secret_key: &str,
    region: &str,
) -> String {
    let (_, _, path, query) = split_uri(uri);
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    params.sort();
    let canonical_query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if name == "authorization" || name == "user-agent" {
            continue;
        }
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        grouped.entry(name).or_default().push(value);
    }
    let canonical_headers: String = grouped
        .iter()
        .map(|(n, vs)| format!("{n}:{}\n", vs.join(",")))
        .collect();
    let signed_headers = grouped.keys().cloned().collect::<Vec<_>>().join(";");
    let get = |n: &str| {
        grouped
            .get(n)
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("request has no {n}"))
            .clone()
    };
    let amz_date = get("x-amz-date");
    let payload_hash = get("x-amz-content-sha256");

    let canonical_request = format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, b"s3");
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Every fact about a signed request that can be derived without the connector.
fn independent_problems(o: &Outcome, files: Option<&Map<String, Value>>) -> Vec<String> {
    let req = &o.req;
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let header = |n: &str| req.header(n).map(str::to_string);
    let (scheme, authority, path, query) = split_uri(&req.uri);

    check(
        scheme == "http" || scheme == "https",
        format!("scheme `{scheme}`"),
    );
    for (n, _) in &req.headers {
        check(
            n == &n.to_ascii_lowercase(),
            format!("header name `{n}` is not lowercase"),
        );
        check(
            req.headers.iter().filter(|(m, _)| m == n).count() == 1,
            format!("header `{n}` appears more than once"),
        );
    }
    check(
        header("host").as_deref() == Some(authority),
        format!(
            "host header {:?} is not the URI authority `{authority}`",
            header("host")
        ),
    );
    check(
        header("x-amz-date").as_deref() == Some(o.amz_date.as_str()),
        format!("x-amz-date {:?}, want {}", header("x-amz-date"), o.amz_date),
    );

    // Body: hash and length.
    // An upload of an object's bytes carries a CRC64NVME (its value is botocore's: tests/oracle.rs):
    // in memory in its header, from a file in an aws-chunked trailer.
    let takes_crc =
        o.op.parameters
            .iter()
            .any(|p| p.name == "x-amz-checksum-crc64nvme")
            && o.op.request_body == Some(s3_connector::manifest::RequestBody::Payload);
    let (want_sha, body_len) = match &req.payload {
        Payload::Empty => (EMPTY_SHA256.to_string(), 0),
        Payload::Bytes(b) => (hex_sha256(b), b.len() as u64),
        // A small file: its CRC read first and sent in a header (`prepare::PREREAD_MAX`).
        Payload::File { len, .. } if takes_crc && *len <= s3_connector::prepare::PREREAD_MAX => {
            check(
                header("x-amz-checksum-crc64nvme").is_some() && header("x-amz-trailer").is_none(),
                "a small file upload does not carry its CRC64NVME in a header".into(),
            );
            ("UNSIGNED-PAYLOAD".to_string(), *len)
        }
        Payload::File { len, .. } if takes_crc => {
            check(
                header("x-amz-decoded-content-length") == Some(len.to_string())
                    && header("x-amz-trailer").as_deref() == Some("x-amz-checksum-crc64nvme")
                    && header("content-encoding").as_deref() == Some("aws-chunked"),
                "a file upload is not announced as aws-chunked with a CRC64NVME trailer".into(),
            );
            // One chunk (the fixtures' files are small), the last chunk, the trailer line.
            let framed = format!("{len:x}\r\n").len() as u64 + len + 2 + 3;
            let trailer = "x-amz-checksum-crc64nvme:".len() as u64 + 12 + 4;
            let encoded = if *len == 0 {
                3 + trailer
            } else {
                framed + trailer
            };
            ("STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_string(), encoded)
        }
        Payload::File { len, .. } => ("UNSIGNED-PAYLOAD".to_string(), *len),
    };
    if let Payload::Bytes(b) = &req.payload {
        // A Content-MD5 only when the input gave it, which must then match the body.
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b));
        let crc = header("x-amz-checksum-crc64nvme");
        check(
            crc.is_some() == takes_crc && header("content-md5").is_none_or(|m| m == md5),
            format!(
                "checksum {crc:?}, content-md5 {:?} for a {}-byte body",
                header("content-md5"),
                b.len()
            ),
        );
    }
    check(
        header("x-amz-content-sha256").as_deref() == Some(want_sha.as_str()),
        format!(
            "x-amz-content-sha256 {:?}, want {want_sha}",
            header("x-amz-content-sha256")
        ),
    );
    if let Payload::File { path, len, .. } = &req.payload {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let written = files
            .and_then(|f| f.get(name))
            .and_then(Value::as_str)
            .map(|c| c.len() as u64);
        check(
            written == Some(*len),
            format!("file body length {len}, the fixture wrote {written:?}"),
        );
    }
    match header("content-length") {
        Some(cl) => check(
            cl == body_len.to_string(),
            format!("content-length {cl}, body is {body_len} bytes"),
        ),
        None => check(
            body_len == 0 && o.op.request_body.is_none(),
            format!("no content-length, body is {body_len} bytes"),
        ),
    }

    // Path: `/{bucket}/{key}` (path style) or `/{key}` (virtual), the key RFC 3986-encoded once.
    let bucket = o.input.get("Bucket").and_then(Value::as_str);
    let virtual_host = bucket.is_some_and(|b| authority.starts_with(&format!("{b}.")));
    let key_part = match o.input.get("Key").and_then(Value::as_str) {
        Some(k) if o.op.http.path.contains("{Key}") => {
            format!("/{}", uri_encode(k.as_bytes(), true))
        }
        _ => String::new(),
    };
    let want_path = match bucket {
        Some(_) if virtual_host && key_part.is_empty() => "/".to_string(),
        Some(_) if virtual_host => key_part,
        Some(b) => format!("/{}{key_part}", uri_encode(b.as_bytes(), true)),
        None => "/".to_string(),
    };
    check(
        path == want_path,
        format!("path `{path}`, want `{want_path}`"),
    );

    // Nothing local or body-only is sent as a header or a query parameter.
    let query_names: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            String::from_utf8_lossy(&percent_decode(p.split('=').next().unwrap_or(p))).into_owned()
        })
        .collect();
    for p in &o.op.parameters {
        if matches!(p.location, Location::Local | Location::Body) && o.input.contains_key(&p.name) {
            let lower = p.name.to_ascii_lowercase();
            check(
                !req.headers.iter().any(|(n, _)| *n == lower) && !query_names.contains(&p.name),
                format!("`{}` ({:?}) was sent", p.name, p.location),
            );
        }
    }
    // Fixed query parameters are there (`uploads` for CreateMultipartUpload).
    for k in o.op.http.query.keys() {
        check(
            query_names.contains(k),
            format!("fixed query `{k}` missing"),
        );
    }

    // Session token: sent and signed.
    let auth = header("authorization").unwrap_or_default();
    match &o.session_token {
        Some(token) => {
            check(
                header("x-amz-security-token").as_deref() == Some(token.as_str()),
                "x-amz-security-token is not the session token".into(),
            );
            check(
                auth.contains("x-amz-security-token"),
                "x-amz-security-token is not signed".into(),
            );
        }
        None => check(
            header("x-amz-security-token").is_none(),
            "x-amz-security-token without a session token".into(),
        ),
    }

    // The signature, recomputed from scratch.
    let unsigned: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| n != "authorization")
        .cloned()
        .collect();
    let want_auth = reference_authorization(
        &req.method,
        &req.uri,
        &unsigned,
        ACCESS_KEY,
        SECRET_KEY,
        &o.region,
    );
    check(
        auth == want_auth,
        format!("authorization differs from the reference signer:\n    got  {auth}\n    want {want_auth}"),
    );
    problems
}

// ---------------------------------------------------------------------------------------------
// Diff and fixture writing
// ---------------------------------------------------------------------------------------------

fn lines_of(expected: &Value) -> Vec<String> {
    let mut out = vec![
        format!("method  {}", expected["method"].as_str().unwrap_or("?")),
        format!("uri     {}", expected["uri"].as_str().unwrap_or("?")),
    ];
    for h in expected["headers"].as_array().into_iter().flatten() {
        out.push(format!(
            "header  {}: {}",
            h[0].as_str().unwrap_or("?"),
            h[1].as_str().unwrap_or("?")
        ));
    }
    out.push(format!("body    {}", expected["body"]));
    out
}

/// A line diff (longest common subsequence): ` ` same, `-` expected only, `+` actual only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push_str(&format!("      {}\n", expected[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("    - {}\n", expected[i]));
            i += 1;
        } else {
            out.push_str(&format!("    + {}\n", actual[j]));
            j += 1;
        }
    }
    out
}

/// Pretty JSON with two-space indentation, arrays of scalars on one line (so that each header
/// is one `["name", "value"]` line).
fn pretty(v: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{pad}{}: {}",
                        Value::String(k.clone()),
                        pretty(v, indent + 1)
                    )
                })
                .collect();
            format!("{{\n{}\n{end}}}", items.join(",\n"))
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(Value::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|x| format!("{pad}{}", pretty(x, indent + 1)))
                .collect();
            format!("[\n{}\n{end}]", items.join(",\n"))
        }
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn golden_requests() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let paths = fixture_paths();
    assert!(
        !paths.is_empty(),
        "no fixtures in {}",
        golden_dir().display()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let mut case: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        let tmp = tempfile::tempdir().unwrap();
        let outcome = match run_case(&case, tmp.path()) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let problems = independent_problems(&outcome, case.get("files").and_then(Value::as_object));
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: fails independent checks:\n  {}",
                problems.join("\n  ")
            ));
        }
        if update {
            if case["expected"] != outcome.actual {
                case["expected"] = outcome.actual;
                std::fs::write(path, pretty(&case, 0) + "\n").unwrap();
                eprintln!("updated {}", path.display());
            }
            continue;
        }
        if case.get("expected").is_none_or(Value::is_null) {
            failures.push(format!(
                "{name}: no `expected` yet; run with UPDATE_GOLDEN=1 and review the result"
            ));
            continue;
        }
        if case["expected"] != outcome.actual {
            failures.push(format!(
                "{name}: request differs from the golden one (- expected, + actual):\n{}",
                diff(&lines_of(&case["expected"]), &lines_of(&outcome.actual))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (UPDATE_GOLDEN=1 rewrites `expected`; review before committing):\n\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_operation_has_a_golden_case() {
    let covered: std::collections::BTreeSet<String> = fixture_paths()
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            v["operation"].as_str().unwrap().to_string()
        })
        .collect();
    // upload_file and download_file are composites: every request they send is one of the
    // single-request operations covered here (put, multipart, ranged get).
    // Those generated from AWS's model are checked against botocore's serializer instead, with
    // generated inputs (`tests/oracle.rs`).
    // The same holds for copy_file and delete_prefix (copy, multipart, HEAD, listing and
    // DeleteObjects requests); presigned URLs are checked against botocore's in
    // `tests/presign_oracle.rs` and against AWS's published one below.
    let composite = [
        "upload_file",
        "download_file",
        "copy_file",
        "delete_prefix",
        "presign_get_object",
        "presign_put_object",
        "presign_upload_part",
    ];
    let missing: Vec<&str> = Manifest::embedded()
        .operations
        .iter()
        .filter(|o| o.origin != s3_connector::manifest::Origin::Model)
        .map(|o| o.name.as_str())
        .filter(|n| !covered.contains(*n) && !composite.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a golden case: {missing:?}"
    );
}

#[test]
fn golden_diff_is_readable() {
    let a = [
        "method  GET".to_string(),
        "header  host: a".into(),
        "body    null".into(),
    ];
    let b = [
        "method  GET".to_string(),
        "header  host: b".into(),
        "body    null".into(),
    ];
    assert_eq!(
        diff(&a, &b),
        "      method  GET\n    - header  host: a\n    + header  host: b\n      body    null\n"
    );
}

// The published examples of "Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk (AWS Signature Version 4)", Amazon S3 API Reference
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
// bucket examplebucket, 20130524T000000Z, us-east-1, the example credentials.

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The reference signer must reproduce all four published examples, so that agreeing with it
/// means agreeing with S3.
#[test]
fn reference_signer_reproduces_the_published_examples() {
    let sig = |method: &str, uri: &str, headers: &[(&str, &str)]| {
        reference_authorization(
            method,
            uri,
            &h(headers),
            ACCESS_KEY,
            SECRET_KEY,
            "us-east-1",
        )
    };
    let host = ("host", "examplebucket.s3.amazonaws.com");
    let date = ("x-amz-date", "20130524T000000Z");
    let empty = ("x-amz-content-sha256", EMPTY_SHA256);
    assert_eq!(
        sig("GET", "https://examplebucket.s3.amazonaws.com/test.txt", &[host, ("range", "bytes=0-9"), empty, date]),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    let body = "Welcome to Amazon S3.";
    assert_eq!(
        hex_sha256(body.as_bytes()),
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    assert_eq!(
        sig(
            "PUT",
            "https://examplebucket.s3.amazonaws.com/test%24file.text",
            &[
                host,
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                date,
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
            ]
        ),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    );
    assert_eq!(
        sig("GET", "https://examplebucket.s3.amazonaws.com/?lifecycle", &[host, empty, date]),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    );
    // Given unsorted: the canonical query sorts it.
    assert_eq!(
        sig("GET", "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2", &[host, empty, date]),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    );
}

/// Builds `input` for `operation` through the manifest against `https://s3.amazonaws.com`,
/// virtual hosted, and signs it at 20130524T000000Z.
fn build_published(
    operation: &str,
    input: Value,
    creds: &Credentials,
    time: SystemTime,
) -> HttpRequest {
    let valid = validate::validate_envelope(json!({"operation": operation, "input": input}))
        .unwrap_or_else(|e| panic!("{operation} input is invalid: {e} {:?}", e.details));
    let op = valid.operation;
    let endpoint = Endpoint::parse("https://s3.amazonaws.com").unwrap();
    let dest = Destination {
        endpoint: &endpoint,
        addressing: Addressing::Virtual,
        region: "us-east-1",
    };
    let body = body::input_payload_blocking(op, &valid.input).unwrap();
    let mut req = prepare(
        op,
        &valid.input,
        &dest,
        s3_connector::checksum::Integrity::default(),
        body,
    )
    .unwrap();
    signing::sign(&mut req, creds, "us-east-1", time).unwrap();
    req
}

fn get_test_txt(key: &str, creds: &Credentials, time: SystemTime) -> HttpRequest {
    build_published(
        "get_object",
        json!({"Bucket": "examplebucket", "Key": key, "Range": "bytes=0-9"}),
        creds,
        time,
    )
}

#[test]
fn published_get_object_signature() {
    let req = get_test_txt("test.txt", &example_creds(None), example_time());
    assert_eq!(req.method, "GET");
    assert_eq!(req.uri, "https://examplebucket.s3.amazonaws.com/test.txt");
    assert_eq!(req.header("host"), Some("examplebucket.s3.amazonaws.com"));
    assert_eq!(req.header("range"), Some("bytes=0-9"));
    assert_eq!(req.header("x-amz-date"), Some("20130524T000000Z"));
    assert_eq!(req.header("x-amz-content-sha256"), Some(EMPTY_SHA256));
    assert_eq!(
        req.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
    );
}

/// AWS's published presigned URL (`sigv4-query-string-auth`, "An example"): a GET of
/// `examplebucket/test.txt` valid for 86,400 s, signed with the documentation's key at
/// 2013-05-24T00:00:00Z.
#[test]
fn published_presigned_url_signature() {
    let req = validate::validate_envelope(json!({
        "operation": "presign_get_object",
        "input": {"Bucket": "examplebucket", "Key": "test.txt", "ExpiresIn": 86400},
        "connection": {"endpoint": "https://s3.amazonaws.com", "region": "us-east-1",
                       "addressing": "virtual", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                       "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    }))
    .unwrap();
    let conn = credentials::resolve(&req.connection, &|_| None).unwrap();
    let out = s3_connector::presign::presign(
        req.operation,
        &req.input,
        &conn,
        conn.credentials.fixed().unwrap(),
        example_time(),
    )
    .unwrap();
    assert_eq!(
        out["URL"],
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    assert_eq!(out["Expires"], "2013-05-25T00:00:00Z");
    assert_eq!(out["Headers"], json!({}));
}

#[test]
fn published_list_objects_signature() {
    let req = build_published(
        "list_objects",
        json!({"Bucket": "examplebucket", "max-keys": 2, "prefix": "J"}),
        &example_creds(None),
        example_time(),
    );
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.uri,
        "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"
    );
    assert_eq!(
        req.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        )
    );
}

#[test]
fn signature_depends_on_secret_time_key_and_token() {
    let signature = |req: &HttpRequest| {
        req.header("authorization")
            .and_then(|a| a.rsplit_once("Signature="))
            .map(|(_, s)| s.to_string())
            .unwrap()
    };
    let base = signature(&get_test_txt(
        "test.txt",
        &example_creds(None),
        example_time(),
    ));
    assert_eq!(
        base,
        signature(&get_test_txt(
            "test.txt",
            &example_creds(None),
            example_time()
        )),
        "signing is deterministic"
    );

    let mut other_secret = example_creds(None);
    other_secret.secret_access_key = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ");
    let variants = [
        (
            "secret key",
            get_test_txt("test.txt", &other_secret, example_time()),
        ),
        (
            "time (+1 s)",
            get_test_txt(
                "test.txt",
                &example_creds(None),
                example_time() + Duration::from_secs(1),
            ),
        ),
        (
            "object key byte",
            get_test_txt("test.txu", &example_creds(None), example_time()),
        ),
        (
            "session token",
            get_test_txt("test.txt", &example_creds(Some("token")), example_time()),
        ),
    ];
    let mut seen = std::collections::BTreeSet::from([base.clone()]);
    for (what, req) in &variants {
        let s = signature(req);
        assert_ne!(s, base, "changing the {what} must change the signature");
        assert!(
            seen.insert(s),
            "changing the {what} gave a signature already seen"
        );
        // Each variant still agrees with the reference signer, with its own secret and time.
        let secret = if *what == "secret key" {
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ"
        } else {
            SECRET_KEY
        };
        let unsigned: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(n, _)| n != "authorization")
            .cloned()
            .collect();
        assert_eq!(
            req.header("authorization").unwrap(),
            reference_authorization(
                &req.method,
                &req.uri,
                &unsigned,
                ACCESS_KEY,
                secret,
                "us-east-1"
            ),
            "{what}"
        );
    }
    // The later time is in the signed x-amz-date.
    assert_eq!(variants[1].1.header("x-amz-date"), Some("20130524T000001Z"));
}

/// The independent checks must catch a request that was changed after signing, a wrong length
/// and a path encoded twice: otherwise passing them would prove nothing.
#[test]
fn independent_checks_catch_tampering() {
    let path = golden_dir().join("put_object_text_all_headers.json");
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fresh = || run_case(&case, tmp.path()).unwrap();
    assert_eq!(independent_problems(&fresh(), None), Vec::<String>::new());

    let set = |o: &mut Outcome, name: &str, value: &str| {
        for (n, v) in &mut o.req.headers {
            if n == name {
                *v = value.to_string();
            }
        }
    };
    let mut o = fresh();
    set(&mut o, "content-type", "text/html");
    let problems = independent_problems(&o, None);
    assert!(
        problems.iter().any(|p| p.contains("authorization")),
        "{problems:?}"
    );

    let mut o = fresh();
    set(&mut o, "content-length", "12");
    let problems = independent_problems(&o, None);
    assert!(
        problems.iter().any(|p| p.contains("content-length 12")),
        "{problems:?}"
    );

    let mut o = fresh();
    set(&mut o, "x-amz-content-sha256", EMPTY_SHA256);
    let problems = independent_problems(&o, None);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("x-amz-content-sha256")),
        "{problems:?}"
    );

    let mut o = fresh();
    o.input.insert("Key".into(), json!("notes/hello world.txt"));
    let problems = independent_problems(&o, None);
    assert!(
        problems.iter().any(|p| p.starts_with("path")),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// What `run` puts on the wire
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 request as it arrived: request line, headers in order, body.
struct Received {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request from `stream` (head, then `content-length` bytes of body).
fn read_request(stream: &mut impl std::io::Read) -> Result<Received, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request head ended".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let mut line = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (
        line.next().unwrap_or_default(),
        line.next().unwrap_or_default(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(Ok(0), |(_, v)| v.parse())
        .map_err(|e| format!("content-length: {e}"))?;
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("reading the body: {e}"))?;
        if n == 0 {
            return Err(format!("body ended after {} of {len} bytes", body.len()));
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Received {
        method: method.into(),
        target: target.into(),
        headers,
        body,
    })
}

/// A reply `run` does not retry: every request is answered with it.
fn refusal() -> Vec<u8> {
    let body =
        "<Error><Code>InvalidRequest</Code><Message>refused by the wire test</Message></Error>";
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one request from a new connection (TLS with `tls` when given) and refuses it.
fn answer(
    mut tcp: std::net::TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
) -> Result<Received, String> {
    use std::io::Write;
    tcp.set_nonblocking(false).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    if let Some(config) = tls {
        let conn = rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        let got = read_request(&mut stream)?;
        let _ = stream.write_all(&refusal()).and_then(|()| stream.flush());
        Ok(got)
    } else {
        let got = read_request(&mut tcp)?;
        let _ = tcp.write_all(&refusal());
        Ok(got)
    }
}

/// Answers every connection to `listener` until `stop` is set (at most 60 s); returns the
/// requests in the order they came.
fn receive_all(
    listener: &std::net::TcpListener,
    tls: Option<&Arc<rustls::ServerConfig>>,
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<Result<Received, String>> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    listener.set_nonblocking(true).unwrap();
    while std::time::Instant::now() < deadline {
        match listener.accept() {
            Ok((tcp, _)) => got.push(answer(tcp, tls)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => got.push(Err(format!("accept: {e}"))),
        }
    }
    got
}

/// A TLS server configuration for `host`, and the PEM its client must trust.
fn tls_for(host: &str) -> (Arc<rustls::ServerConfig>, String) {
    let certified = rcgen::generate_simple_self_signed(vec![host.to_string()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    (Arc::new(config), certified.cert.pem())
}

/// Runs `s3-connector run` on `envelope` with every connection sent to `listener` (the debug
/// build's `S3_CONNECTOR_TEST_CONNECT_TO`), and returns the request that arrived there.
fn what_run_sends(envelope: &Value, fixture_uri: &str, tmp: &Path) -> Result<Received, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (scheme, authority, _, _) = split_uri(fixture_uri);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3-connector"));
    cmd.arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp)
        .env("S3_CONNECTOR_TEST_CONNECT_TO", addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let tls = (scheme == "https").then(|| {
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        let (config, pem) = tls_for(host);
        let ca = tmp.join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        cmd.env("AWS_CA_BUNDLE", &ca);
        config
    });
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(envelope.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (received, out) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| receive_all(&listener, tls.as_ref(), &stop));
        let out = child.wait_with_output();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (receiver.join().unwrap(), out)
    });
    let out = out.map_err(|e| e.to_string())?;
    let reply: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "run's stdout is not one JSON document ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    // A reply to a HEAD has no body, so its code is the status's.
    let code = &reply["error"]["code"];
    if reply["error"]["status"] != 400 || (code != "InvalidRequest" && code != "BadRequest") {
        return Err(format!("run did not get the listener's reply: {reply}"));
    }
    // The operation's own request comes last (create_multipart_upload lists the key's uploads
    // first, to clean up after a lost reply).
    received.into_iter().last().ok_or("no request arrived")?
}

/// The differences between a fixture's `expected` request and what arrived, other than the
/// time (`x-amz-date`) and so the signature.
fn wire_differences(
    expected: &Value,
    got: &Received,
    files: Option<&Map<String, Value>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let uri = expected["uri"].as_str().unwrap_or_default();
    let (scheme, authority, _, _) = split_uri(uri);
    let header = |name: &str| {
        got.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let sent_uri = format!(
        "{scheme}://{}{}",
        header("host").unwrap_or(authority),
        got.target
    );
    if (got.method.as_str(), sent_uri.as_str())
        != (expected["method"].as_str().unwrap_or_default(), uri)
    {
        problems.push(format!(
            "sent {} {sent_uri}, fixture has {} {uri}",
            got.method, expected["method"]
        ));
    }
    // Headers: every one of the fixture's, in its order, and no other but the client's name.
    let timeless = |n: &str| n != "x-amz-date" && n != "authorization";
    let want: Vec<(String, String)> = expected["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h[0].as_str()?.to_string(), h[1].as_str()?.to_string())))
        .filter(|(n, _)| timeless(n))
        .collect();
    let sent: Vec<(String, String)> = got
        .headers
        .iter()
        .filter(|(n, _)| timeless(n) && n != "user-agent")
        .cloned()
        .collect();
    if want != sent {
        problems.push(format!(
            "headers differ:\n    fixture {want:?}\n    sent    {sent:?}"
        ));
    }
    if !header("user-agent").is_some_and(|v| v.starts_with("s3-connector/")) {
        problems.push(format!("user-agent {:?}", header("user-agent")));
    }
    // The signature differs by the time alone: same key, scope and signed headers.
    let fixed = |a: &str| {
        a.split(", Signature=")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let drop_date = |a: String| {
        let mut parts: Vec<&str> = a.split('/').collect();
        if parts.len() > 1 {
            parts[1] = "DATE";
        }
        parts.join("/")
    };
    let want_auth = expected["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h[0] == "authorization")
        .and_then(|h| h[1].as_str())
        .map(|a| drop_date(fixed(a)));
    if header("authorization").map(|a| drop_date(fixed(a))) != want_auth {
        problems.push(format!(
            "authorization {:?}, fixture {want_auth:?}",
            header("authorization")
        ));
    }
    let want_body: Vec<u8> = match &expected["body"] {
        Value::Null => Vec::new(),
        Value::String(s) => s.clone().into_bytes(),
        Value::Object(o) if o.contains_key("base64") => base64::engine::general_purpose::STANDARD
            .decode(o["base64"].as_str().unwrap_or_default())
            .unwrap_or_default(),
        // A streamed file: the bytes of the case's only file.
        Value::Object(_) => files
            .and_then(|f| f.values().next())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
        other => format!("unexpected body {other}").into_bytes(),
    };
    // An aws-chunked body: its data must be the file, followed by the announced trailer.
    let got_body = match header("x-amz-trailer") {
        Some(name) => match dechunk(&got.body) {
            Some((data, trailer)) if trailer == name => data,
            other => {
                problems.push(format!(
                    "aws-chunked body unreadable or wrong trailer: {other:?}"
                ));
                got.body.clone()
            }
        },
        None => got.body.clone(),
    };
    if got_body != want_body {
        problems.push(format!(
            "body of {} bytes differs from the fixture's {}",
            got.body.len(),
            want_body.len()
        ));
    }
    problems
}

/// The data and the trailer's name of an `aws-chunked` body (`hex-size CRLF data CRLF`..., then
/// `0 CRLF name:value CRLF CRLF`).
fn dechunk(body: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut data = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?, 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            let text = std::str::from_utf8(rest).ok()?;
            let line = text.strip_suffix("\r\n\r\n")?;
            let (name, _value) = line.split_once(':')?;
            return Some((data, name.to_string()));
        }
        data.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

#[test]
fn golden_requests_are_what_run_sends() {
    let mut failures = Vec::new();
    let paths = fixture_paths();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let result = envelope(&case, tmp.path()).and_then(|env| {
            what_run_sends(
                &env,
                case["expected"]["uri"].as_str().unwrap_or_default(),
                tmp.path(),
            )
        });
        match result {
            Ok(got) => {
                let problems = wire_differences(
                    &case["expected"],
                    &got,
                    case.get("files").and_then(Value::as_object),
                );
                if !problems.is_empty() {
                    failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden requests are not what `run` sends:\n\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}
