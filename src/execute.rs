//! The pipeline for one validated request: resolve the connection, prepare the body, build, sign,
//! send, read the reply into the output. Composite behaviour (pagination, completing a multipart
//! upload without a parts list) is built from the same single call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

use crate::credentials::{self, Resolved};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind};
use crate::manifest::{Encoding, Manifest, Operation, ResponseBody};
use crate::request::{self, Destination, Payload};
use crate::transport::{self, Transport};
use crate::validate::Request;
use crate::{quirks, response, retry, signing, xml};

/// Largest XML reply read (a 1,000-key listing is well under 1 MiB).
const MAX_XML_REPLY: usize = 64 * 1024 * 1024;
/// Largest object returned inline as `Body`/`BodyBase64`; larger ones need `OutputFile`.
pub const MAX_INLINE_BODY: usize = 64 * 1024 * 1024;

/// A successful operation's output, and the region that served it when S3 redirected there.
#[derive(Debug, Clone)]
pub struct Executed {
    pub output: Value,
    pub region: Option<String>,
}

/// Keeps one pooled HTTP client per (scheme, connect timeout), reused across requests.
#[derive(Default)]
pub struct Executor {
    transports: Mutex<HashMap<(bool, Duration), Arc<Transport>>>,
}

impl Executor {
    pub fn new() -> Self {
        Self::default()
    }

    fn transport(&self, conn: &Resolved) -> Result<Arc<Transport>, Error> {
        let key = (conn.endpoint.https, conn.connect_timeout);
        let mut map = self.transports.lock().expect("transport map");
        if let Some(t) = map.get(&key) {
            return Ok(t.clone());
        }
        let t = Arc::new(Transport::new(conn.endpoint.https, conn.connect_timeout)?);
        map.insert(key, t.clone());
        Ok(t)
    }

    /// Executes a validated request with the process environment as the connection fallback.
    pub async fn execute(&self, req: &Request) -> Result<Executed, Error> {
        let conn = credentials::resolve(&req.connection, &credentials::process_env)?;
        tracing::debug!(operation = %req.operation.name, region = %conn.region, endpoint = %conn.endpoint.host, credentials = %conn.credentials.source, "executing");
        let transport = self.transport(&conn)?;
        let ctx = Ctx {
            conn: &conn,
            transport: &transport,
            redirect: Mutex::new(None),
        };
        let work = ctx.dispatch(req.operation, req.input.clone());
        let out = match conn.overall_timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("operation exceeded the overall timeout of {limit:?}"),
                )
            })?,
            None => work.await,
        }?;
        let region = ctx
            .redirect
            .lock()
            .expect("redirect")
            .as_ref()
            .map(|(r, _)| r.clone());
        Ok(Executed {
            output: Value::Object(out),
            region,
        })
    }
}

struct Ctx<'a> {
    conn: &'a Resolved,
    transport: &'a Transport,
    /// Region and endpoint after a redirect; later requests of the operation use them too.
    redirect: Mutex<Option<(String, Endpoint)>>,
}

fn op(name: &str) -> &'static Operation {
    Manifest::embedded()
        .operation(name)
        .expect("operation in manifest")
}

impl Ctx<'_> {
    async fn dispatch(
        &self,
        op: &'static Operation,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        match op.name.as_str() {
            "list_objects" => self.list_objects(op, input).await,
            "list_parts_for_multipart_upload" => self.list_parts(op, input).await,
            "complete_multipart_upload" if !input.contains_key("Parts") => {
                let parts = self.all_parts(&input).await?;
                if parts.is_empty() {
                    return Err(Error::invalid_at(
                        "/input/Parts",
                        "the upload has no parts yet; upload at least one before completing",
                    ));
                }
                input.insert("Parts".into(), Value::Array(parts));
                self.call(op, &input).await
            }
            _ => self.call(op, &input).await,
        }
    }

    /// One logical request: attempts with retries, and one region redirect followed.
    async fn call(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let policy = self.conn.retry;
        let mut attempt = 0;
        let mut redirected = false;
        loop {
            attempt += 1;
            let err = match self.attempt(op, input).await {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            if err.kind == ErrorKind::InvalidRequest {
                return Err(err);
            }
            if let Some(region) = err
                .redirect_region
                .clone()
                .filter(|r| !redirected && *r != self.region())
            {
                tracing::warn!(operation = %op.name, from = %self.region(), to = %region, "following a redirect to the bucket's region");
                let endpoint = if self.conn.endpoint.is_aws() {
                    Endpoint::aws(&region)
                } else {
                    self.conn.endpoint.clone()
                };
                *self.redirect.lock().expect("redirect") = Some((region, endpoint));
                redirected = true;
                continue;
            }
            if policy.should_retry(&err, &op.http.method, attempt) {
                let delay = policy.delay(attempt, retry::jitter_unit());
                tracing::warn!(operation = %op.name, attempt, kind = ?err.kind, code = ?err.code, delay_ms = delay.as_millis() as u64, "retrying after: {}", err.message);
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(Error {
                attempts: Some(attempt),
                ..err
            });
        }
    }

    fn region(&self) -> String {
        match &*self.redirect.lock().expect("redirect") {
            Some((r, _)) => r.clone(),
            None => self.conn.region.clone(),
        }
    }

    /// One attempt: prepare the body afresh (a file is reopened), build, sign now, send, read.
    async fn attempt(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let (region, endpoint) = match &*self.redirect.lock().expect("redirect") {
            Some((r, e)) => (r.clone(), e.clone()),
            None => (self.conn.region.clone(), self.conn.endpoint.clone()),
        };
        let payload = match quirks::xml_body(op, input, &region)? {
            Some(p) => p,
            None => prepare_payload(op, input)?,
        };
        let input = with_content_md5(op, input, &payload, self.conn.checksums)?;
        let dest = Destination {
            endpoint: &endpoint,
            addressing: self.conn.addressing,
            region: &region,
        };
        let mut req = request::build(op, &input, &dest, payload)?;
        signing::sign(&mut req, &self.conn.credentials, &region, SystemTime::now())?;
        tracing::debug!(method = %req.method, uri = %req.uri, bytes = req.payload.len(), "sending");
        let idle = self.conn.read_timeout;
        let resp = self.transport.send(req, idle).await?;
        let (parts, mut body) = resp.into_parts();
        tracing::debug!(status = parts.status.as_u16(), "reply");
        if !parts.status.is_success() {
            let bytes = transport::read_all(&mut body, idle, 1024 * 1024)
                .await
                .unwrap_or_default();
            return Err(response::service_error(
                parts.status,
                &parts.headers,
                &bytes,
            ));
        }
        let mut out = response::headers_output(&op.output, &parts.headers);
        match op.response_body {
            ResponseBody::Xml => {
                let bytes = transport::read_all(&mut body, idle, MAX_XML_REPLY).await?;
                let root = xml::parse(&bytes).map_err(|e| {
                    Error::new(ErrorKind::Service, format!("unreadable reply: {e}")).retryable(true)
                })?;
                if root.name == "Error" && quirks::error_in_success(op) {
                    return Err(response::service_error(
                        parts.status,
                        &parts.headers,
                        &bytes,
                    ));
                }
                out.extend(xml::map_root(&op.output, &root));
            }
            ResponseBody::Payload => {
                let expected = parts
                    .headers
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match input.get("OutputFile").and_then(Value::as_str) {
                    Some(path) => {
                        let written =
                            write_output_file(Path::new(path), &mut body, idle, expected).await?;
                        out.insert("OutputFile".into(), json!(path));
                        out.insert("ContentLength".into(), json!(written));
                    }
                    None => {
                        if expected.is_some_and(|n| n > MAX_INLINE_BODY as u64) {
                            return Err(Error::new(
                                ErrorKind::Io,
                                format!("the object is {} bytes, more than {MAX_INLINE_BODY} returned inline; give OutputFile", expected.unwrap_or(0)),
                            ));
                        }
                        let bytes = transport::read_all(&mut body, idle, MAX_INLINE_BODY).await?;
                        check_length(bytes.len() as u64, expected)?;
                        match String::from_utf8(bytes) {
                            Ok(text) => out.insert("Body".into(), Value::String(text)),
                            Err(e) => out.insert(
                                "BodyBase64".into(),
                                Value::String(
                                    base64::engine::general_purpose::STANDARD
                                        .encode(e.into_bytes()),
                                ),
                            ),
                        };
                    }
                }
            }
            ResponseBody::None => while transport::next_chunk(&mut body, idle).await?.is_some() {},
        }
        Ok(out)
    }

    /// ListObjects with automatic pagination up to `MaxItems` (objects plus common prefixes).
    async fn list_objects(
        &self,
        op: &'static Operation,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let limit = item_limit(&input, "max-keys");
        let page_size = input.get("max-keys").and_then(Value::as_u64);
        input.remove("MaxItems");
        let auto = quirks::auto_encoding_type(op, &mut input);
        let mut merged: Option<Map<String, Value>> = None;
        loop {
            let collected = merged.as_ref().map_or(0, count_listing);
            let remaining = limit - collected;
            let want = page_size.unwrap_or(1000).min(remaining).min(1000);
            input.insert("max-keys".into(), json!(want));
            let mut page = self.call(op, &input).await?;
            if auto {
                quirks::decode_listing(&mut page);
            }
            let truncated = page
                .get("IsTruncated")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            // S3 sends NextMarker only with a delimiter; otherwise the last key is the marker.
            let next = page
                .get("NextMarker")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| last_listed(&page));
            let m = match merged.as_mut() {
                None => {
                    merged = Some(page);
                    merged.as_mut().expect("just set")
                }
                Some(m) => {
                    for list in ["Contents", "CommonPrefixes"] {
                        let more = page
                            .get(list)
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        if let Some(Value::Array(a)) = m.get_mut(list) {
                            a.extend(more);
                        }
                    }
                    m.insert("IsTruncated".into(), json!(truncated));
                    m
                }
            };
            match (&next, truncated) {
                (Some(marker), true) => {
                    m.insert("NextMarker".into(), json!(marker));
                    if count_listing(m) >= limit {
                        break;
                    }
                    let sent = if auto {
                        marker.clone()
                    } else {
                        wire_marker(&input, marker)
                    };
                    input.insert("marker".into(), json!(sent));
                }
                _ => {
                    m.remove("NextMarker");
                    break;
                }
            }
        }
        // `Marker` stays the first page's: where the caller started.
        Ok(merged.unwrap_or_default())
    }

    /// ListParts with automatic pagination up to `MaxItems`.
    async fn list_parts(
        &self,
        op: &'static Operation,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let limit = item_limit(&input, "max-parts");
        let page_size = input.get("max-parts").and_then(Value::as_u64);
        input.remove("MaxItems");
        let mut merged: Option<Map<String, Value>> = None;
        loop {
            let have = merged.as_ref().map_or(0, |m| list_len(m, "Parts"));
            let want = page_size.unwrap_or(1000).min(limit - have).min(1000);
            input.insert("max-parts".into(), json!(want));
            let page = self.call(op, &input).await?;
            let truncated = page
                .get("IsTruncated")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let next = page.get("NextPartNumberMarker").and_then(Value::as_u64);
            let m = match merged.as_mut() {
                None => {
                    merged = Some(page);
                    merged.as_mut().expect("just set")
                }
                Some(m) => {
                    let more = page
                        .get("Parts")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Array(a)) = m.get_mut("Parts") {
                        a.extend(more);
                    }
                    m.insert("IsTruncated".into(), json!(truncated));
                    match next {
                        Some(n) => m.insert("NextPartNumberMarker".into(), json!(n)),
                        None => m.remove("NextPartNumberMarker"),
                    };
                    m
                }
            };
            match next {
                Some(n) if truncated && list_len(m, "Parts") < limit => {
                    input.insert("part-number-marker".into(), json!(n));
                }
                _ => break,
            }
        }
        Ok(merged.unwrap_or_default())
    }

    /// Every uploaded part of an upload, as `Parts` for CompleteMultipartUpload.
    async fn all_parts(&self, input: &Map<String, Value>) -> Result<Vec<Value>, Error> {
        let mut list_input = Map::new();
        for k in ["Bucket", "Key", "uploadId"] {
            if let Some(v) = input.get(k) {
                list_input.insert(k.into(), v.clone());
            }
        }
        list_input.insert("MaxItems".into(), json!(10000));
        let listed = self
            .list_parts(op("list_parts_for_multipart_upload"), list_input)
            .await?;
        Ok(listed
            .get("Parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]}))
            .collect())
    }
}

/// The total item limit: `MaxItems`, else the page size when only that is given (manual paging
/// gets one page, as from S3), else 1,000.
fn item_limit(input: &Map<String, Value>, page_param: &str) -> u64 {
    input
        .get("MaxItems")
        .and_then(Value::as_u64)
        .or_else(|| input.get(page_param).and_then(Value::as_u64))
        .unwrap_or(1000)
}

fn list_len(m: &Map<String, Value>, list: &str) -> u64 {
    m.get(list)
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

fn count_listing(m: &Map<String, Value>) -> u64 {
    list_len(m, "Contents") + list_len(m, "CommonPrefixes")
}

fn last_listed(page: &Map<String, Value>) -> Option<String> {
    let last = |list: &str, field: &str| {
        page.get(list)
            .and_then(Value::as_array)
            .and_then(|a| a.last())
            .and_then(|v| v.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (last("Contents", "Key"), last("CommonPrefixes", "Prefix")) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A marker taken from a reply the caller asked to be URL-encoded must be decoded to send again.
fn wire_marker(input: &Map<String, Value>, marker: &str) -> String {
    if input.get("encoding-type").and_then(Value::as_str) == Some("url") {
        crate::endpoint::decode_url(marker)
    } else {
        marker.to_string()
    }
}

fn check_length(got: u64, expected: Option<u64>) -> Result<(), Error> {
    match expected {
        Some(n) if n != got => Err(Error::new(
            ErrorKind::Network,
            format!("reply body truncated: {got} of {n} bytes"),
        )
        .retryable(true)),
        _ => Ok(()),
    }
}

/// Integrity of in-memory bodies: a caller-given Content-MD5 must match the body (checked
/// before sending), and when none is given one is computed, unless checksums are turned off.
/// File bodies are not read twice for it: they are checked by length and streamed once.
fn with_content_md5<'i>(
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
    let actual = base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes));
    match input.get("Content-MD5").and_then(Value::as_str) {
        Some(given) if given != actual => Err(Error::invalid_at(
            "/input/Content-MD5",
            "does not match the body (base64 MD5 of the bytes to send)",
        )),
        Some(_) => Ok(std::borrow::Cow::Borrowed(input)),
        None if enabled => {
            let mut with = input.clone();
            with.insert("Content-MD5".into(), Value::String(actual));
            Ok(std::borrow::Cow::Owned(with))
        }
        None => Ok(std::borrow::Cow::Borrowed(input)),
    }
}

/// The body from the body-source parameters: text, base64 or a file (stat'ed, not read).
pub fn prepare_payload(op: &Operation, input: &Map<String, Value>) -> Result<Payload, Error> {
    for p in &op.parameters {
        let Some(Value::String(v)) = input.get(&p.name) else {
            continue;
        };
        let at = format!("/input/{}", p.name);
        match p.encoding {
            Some(Encoding::Text) => return Ok(Payload::Bytes(Bytes::from(v.clone().into_bytes()))),
            Some(Encoding::Base64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|e| Error::invalid_at(at, format!("is not valid base64: {e}")))?;
                return Ok(Payload::Bytes(Bytes::from(bytes)));
            }
            Some(Encoding::File) => {
                let meta = std::fs::metadata(v)
                    .map_err(|e| Error::invalid_at(at.clone(), format!("cannot be read: {e}")))?;
                if !meta.is_file() {
                    return Err(Error::invalid_at(at, "is not a regular file"));
                }
                return Ok(Payload::File {
                    path: PathBuf::from(v),
                    len: meta.len(),
                });
            }
            _ => {}
        }
    }
    Ok(Payload::Empty)
}

/// Streams a reply body to `path` through a temporary file in the same directory, renamed only
/// when complete and of the announced length; on any failure the temporary file is removed.
async fn write_output_file(
    path: &Path,
    body: &mut hyper::body::Incoming,
    idle: Duration,
    expected: Option<u64>,
) -> Result<u64, Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let tmp = dir.join(format!(
        ".{name}.s3c-{}-{}.part",
        std::process::id(),
        next_tmp_id()
    ));
    let io =
        |e: std::io::Error| Error::new(ErrorKind::Io, format!("writing {}: {e}", path.display()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut written = 0u64;
        while let Some(chunk) = transport::next_chunk(body, idle).await? {
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        check_length(written, expected)?;
        tokio::fs::rename(&tmp, path).await.map_err(io)?;
        Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

fn next_tmp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
