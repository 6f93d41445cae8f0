//! The pipeline for one validated request: resolve the connection, prepare the body, build, sign,
//! send, read the reply into the output. Composite behaviour (pagination, completing a multipart
//! upload without a parts list) is built from the same single call.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::body::{self, check_etag, check_length};
use crate::cancel::Cancel;
use crate::checksum::{Integrity, Ranges, Running, Stored};
use crate::credentials::{self, Resolved};
use crate::endpoint::Endpoint;
use crate::error::{Error, Failure};
use crate::manifest::{steps, Operation, ResponseBody, Runner};
use crate::output::Output;
use crate::prepare::{prepare, prepare_with, PREREAD_MAX};
use crate::progress::Progress;
use crate::request::{Destination, HttpRequest, Payload};
use crate::sink::{self, write_at, write_output_file, OutFile};
use crate::transport::{self, Sent, Transport};
use crate::validate::Request;
use crate::{quirks, response, retry, signing, xml, xml_stream, xml_text};

/// Largest XML reply read (a 1,000-key listing is well under 1 MiB).
const MAX_XML_REPLY: usize = 64 * 1024 * 1024;
/// Largest object returned inline as `Body`/`BodyBase64`; larger ones need `OutputFile`.
pub(crate) const MAX_INLINE_BODY: usize = 64 * 1024 * 1024;

/// Where a call's body comes from and where a downloaded body goes, when not from the input.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOpts {
    pub(crate) payload: Option<Payload>,
    pub(crate) sink: Sink,
    /// The caller makes a repeat of this `POST` harmless, so it is retried like a `PUT`.
    pub(crate) repeat_safe: bool,
    /// Cleanup after a failure (aborting an upload, listing what a lost reply left): runs even
    /// past the overall deadline, within `CLEANUP_GRACE`.
    pub(crate) cleanup: bool,
    /// A listing's result lists kept as JSON text (`xml_text`), their items URL-decoded when
    /// `Some(true)` and the reply says it encoded them; values when `None`.
    pub(crate) text_lists: Option<bool>,
}

/// Options for a cleanup call.
pub(crate) const CLEANUP: CallOpts = CallOpts {
    payload: None,
    sink: Sink::Default,
    repeat_safe: false,
    cleanup: true,
    text_lists: None,
};

/// Options for a `POST` made safe to repeat by the caller.
pub(crate) const REPEAT_SAFE: CallOpts = CallOpts {
    payload: None,
    sink: Sink::Default,
    repeat_safe: true,
    cleanup: false,
    text_lists: None,
};

/// How long cleanup may run past the overall timeout (`timeout_seconds`) before the operation
/// is cut off regardless.
const CLEANUP_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub(crate) enum Sink {
    /// `OutputFile` from the input, else inline.
    #[default]
    Default,
    /// Into an existing file at an offset (one range of a parallel download), with the
    /// range's CRC recorded when the download will check the whole object's.
    At {
        file: Arc<OutFile>,
        offset: u64,
        crcs: Option<Arc<Ranges>>,
    },
}

/// A successful operation's output, and the region that served it when S3 redirected there.
#[derive(Debug, Clone)]
pub(crate) struct Executed {
    pub(crate) output: Output,
    pub(crate) region: Option<String>,
}

/// Keeps one pooled HTTP client per (scheme, connect timeout), reused across requests.
#[derive(Default)]
pub(crate) struct Executor {
    transports: Mutex<HashMap<(bool, Duration), Arc<Transport>>>,
}

impl Executor {
    pub(crate) fn new() -> Self {
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

    /// Executes a validated request, with the process environment as the connection fallback,
    /// reporting transfer progress (bytes done, total) to `progress`.
    pub(crate) async fn execute_with_progress(
        &self,
        req: &Request,
        progress: &Progress,
    ) -> Result<Executed, Error> {
        self.execute(req, progress, &Cancel::new()).await
    }

    /// [`Self::execute_with_progress`] that `cancel` can stop: its requests stop, and what it
    /// started is cleaned up within [`crate::cancel::CLEANUP_BOUND`].
    pub(crate) async fn execute(
        &self,
        req: &Request,
        progress: &Progress,
        cancel: &Cancel,
    ) -> Result<Executed, Error> {
        if cancel.is_cancelled() {
            return Err(cancel.error());
        }
        let conn = credentials::resolve(&req.connection, &credentials::process_env)?;
        tracing::debug!(operation = %req.operation.name, region = %conn.region, endpoint = %conn.endpoint.host, credentials = %conn.credentials.label(), "executing");
        let transport = self.transport(&conn)?;
        let ctx = Ctx {
            conn: &conn,
            transport: &transport,
            progress: progress.clone(),
            attempts: AtomicU32::default(),
            maybe_applied: AtomicU32::default(),
            redirect: Mutex::new(None),
            deadline: conn
                .overall_timeout
                .map(|limit| (tokio::time::Instant::now() + limit, limit)),
            cancel: cancel.clone(),
        };
        let work = ctx.dispatch(req.operation, req.input.clone());
        // Each request stops at the deadline (`call_with`), so that the operation can still
        // clean up after itself; the grace period bounds that cleanup.
        let work = async {
            match conn.overall_timeout {
                Some(limit) => tokio::time::timeout(limit + CLEANUP_GRACE, work)
                    .await
                    .map_err(|_| ctx.deadline_error())?,
                None => work.await,
            }
        };
        let out = tokio::select! {
            out = work => out,
            () = cancel.cleanup_over() => Err(cancel.error()),
        }?;
        progress.finish();
        let region = ctx
            .redirect
            .lock()
            .expect("redirect")
            .as_ref()
            .map(|(r, _)| r.clone());
        Ok(Executed {
            output: out,
            region,
        })
    }
}

/// What `run` refuses before sending anything, checked without sending: the connection resolves
/// (environment and profile files as fallbacks, as for `run`) and the operation's first request
/// builds (body source, `Content-MD5`, region rules). `validate` runs this, so that a request it
/// calls valid is not then refused by `run` as `invalid_request`. Credentials absent from the
/// connection may exist only where `run` runs, so a stand-in pair is used when it gives neither
/// half (the key pair plays no part in building).
pub(crate) fn preflight(req: &Request) -> Result<(), Error> {
    let mut connection = req.connection.clone();
    if connection.access_key_id.is_none()
        && connection.secret_access_key.is_none()
        && connection.session_token.is_none()
    {
        connection.access_key_id = Some("AKIDPREFLIGHT".into());
        connection.secret_access_key = Some(crate::connection::Secret::new("preflight"));
    }
    let conn = credentials::resolve(&connection, &credentials::process_env)?;
    let body = body::input_payload_blocking(req.operation, &req.input)?;
    let dest = Destination {
        endpoint: &conn.endpoint,
        addressing: conn.addressing,
        region: &conn.region,
    };
    prepare(req.operation, &req.input, &dest, conn.checksums, body).map(|_| ())
}

pub(crate) struct Ctx<'a> {
    pub(crate) conn: &'a Resolved,
    transport: &'a Transport,
    pub(crate) progress: Progress,
    /// Attempts made so far by the whole operation (for the overall-timeout error).
    attempts: AtomicU32,
    /// Attempts that failed after the request may have been applied (a reset or a timeout once
    /// sent, an unreadable success reply): what a lost reply may have left behind.
    maybe_applied: AtomicU32,
    /// The overall deadline (`timeout_seconds`), and that limit for the error message.
    deadline: Option<(tokio::time::Instant, Duration)>,
    /// Region and endpoint after a redirect; later requests of the operation use them too.
    redirect: Mutex<Option<(String, Endpoint)>>,
    /// The host's (or the process's) signal to stop; cleanup requests go on regardless.
    cancel: Cancel,
}

impl Ctx<'_> {
    /// A context for requests about another bucket (a copy's source): the same connection,
    /// deadline and progress, but a region redirect of its own, so that following the source
    /// bucket to its region does not move the destination's requests.
    pub(crate) fn elsewhere(&self) -> Ctx<'_> {
        Ctx {
            conn: self.conn,
            transport: self.transport,
            progress: self.progress.clone(),
            attempts: AtomicU32::default(),
            maybe_applied: AtomicU32::default(),
            deadline: self.deadline,
            redirect: Mutex::new(None),
            cancel: self.cancel.clone(),
        }
    }

    /// The connection as this operation's requests use it (after a redirect, its region and
    /// endpoint).
    fn target_conn(&self) -> Resolved {
        let (region, endpoint) = self.target();
        Resolved {
            region,
            endpoint,
            ..self.conn.clone()
        }
    }

    /// Runs the operation as the manifest says: paged, by its runner, or as one request.
    async fn dispatch(
        &self,
        op: &'static Operation,
        input: Map<String, Value>,
    ) -> Result<Output, Error> {
        if op.pagination.is_some() {
            return self.paginate(op, input).await;
        }
        let out = match op.runner {
            Some(Runner::UploadFile) => self.upload_file(op, input).await,
            Some(Runner::DownloadFile) => self.download_file(op, input).await,
            Some(Runner::CreateMultipartUpload) => self.create_upload(input).await,
            Some(Runner::CompleteMultipartUpload) => self.complete_given_or_all(input).await,
            Some(Runner::Presign) => {
                let creds = self.conn.credentials.get().await?;
                crate::presign::presign(op, &input, &self.target_conn(), &creds, SystemTime::now())
            }
            Some(Runner::DeletePrefix) => self.delete_prefix(input).await,
            Some(Runner::CopyFile) => self.copy_file(op, input).await,
            Some(Runner::ObjectExists) => self.object_exists(op, input).await,
            None => return self.call_output(op, &input, &CallOpts::default()).await,
        };
        out.map(Output::from)
    }

    /// One logical request: attempts with retries, and one region redirect followed.
    pub(crate) async fn call(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        self.call_with(op, input, &CallOpts::default()).await
    }

    /// A call with a given body (a file range) or body destination (a file offset).
    pub(crate) async fn call_with(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<Map<String, Value>, Error> {
        self.call_output(op, input, opts)
            .await
            .map(Output::into_map)
    }

    /// [`Self::call_with`], its output as read (a listing's lists as text, `opts.text_lists`).
    pub(crate) async fn call_output(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<Output, Error> {
        let deadline = self.deadline.filter(|_| !opts.cleanup).map(|(d, _)| d);
        let (mut attempt, mut redirected) = (0, false);
        loop {
            attempt += 1;
            let err = match self.attempt_before(deadline, op, input, opts).await? {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            if err.failure == Failure::Invalid {
                return Err(err);
            }
            if !redirected && self.follow_redirect(op, &err) {
                redirected = true;
                continue;
            }
            let idempotent = op.http.method != "POST" || opts.repeat_safe;
            if self.conn.retry.should_retry(&err, idempotent, attempt) {
                let delay = retry::Policy::delay(attempt, retry::jitter_unit());
                tracing::warn!(operation = %op.name, attempt, kind = ?err.kind, code = ?err.code, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "retrying after: {}", err.full_message());
                let wake = tokio::time::Instant::now() + delay;
                let wake = deadline.map_or(wake, |d| wake.min(d));
                // A cancel ends the wait; the next attempt then stops at once.
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    () = self.cancel.cancelled(), if !opts.cleanup => {}
                }
                continue;
            }
            let mut err = Error {
                attempts: Some(attempt),
                ..err
            };
            if quirks::delete_after(op, &err) {
                self.delete_corrupt(input, &mut err).await;
            }
            return Err(err);
        }
    }

    /// One attempt, cut off at `deadline` or by a cancel (not a cleanup's). The outer error
    /// ends the operation (the deadline passed, or it was cancelled); the inner result is the
    /// attempt's own. Counts attempts, and those that may have been applied though they failed.
    async fn attempt_before(
        &self,
        deadline: Option<tokio::time::Instant>,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<Result<Output, Error>, Error> {
        let cancellable = !opts.cleanup;
        if cancellable && self.cancel.is_cancelled() {
            return Err(self.cancel.error());
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Err(self.deadline_error());
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let attempt = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, self.attempt(op, input, opts))
                    .await
                    .map_err(|_| self.deadline_error()),
                None => Ok(self.attempt(op, input, opts).await),
            }
        };
        let result = tokio::select! {
            result = attempt => result,
            () = self.cancel.cancelled(), if cancellable => Err(self.cancel.error()),
        }
        .inspect_err(|_| {
            // Cut off in flight: the request may have been applied.
            self.maybe_applied.fetch_add(1, Ordering::Relaxed);
        })?;
        if result.as_ref().is_err_and(Error::maybe_applied) {
            self.maybe_applied.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    /// Sends the operation's later requests to the region S3 named in a redirect, when it is
    /// another one; says whether it did.
    fn follow_redirect(&self, op: &Operation, err: &Error) -> bool {
        let Some(region) = err.redirect_region.clone().filter(|r| *r != self.region()) else {
            return false;
        };
        tracing::warn!(operation = %op.name, from = %self.region(), to = %region, "following a redirect to the bucket's region");
        let endpoint = if self.conn.endpoint.is_aws() {
            Endpoint::aws(&region)
        } else {
            self.conn.endpoint.clone()
        };
        *self.redirect.lock().expect("redirect") = Some((region, endpoint));
        true
    }

    /// Attempts made so far by the whole operation.
    fn attempts_made(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Attempts so far that failed after their request may have been applied.
    pub(crate) fn maybe_applied(&self) -> u32 {
        self.maybe_applied.load(Ordering::Relaxed)
    }

    /// The error for an operation stopped by its overall timeout.
    fn deadline_error(&self) -> Error {
        let limit = self.deadline.map(|(_, l)| l).unwrap_or_default();
        Error {
            attempts: Some(self.attempts_made()),
            ..Error::of(
                Failure::Deadline,
                format!("operation exceeded the overall timeout of {limit:?}"),
            )
        }
    }

    fn region(&self) -> String {
        match &*self.redirect.lock().expect("redirect") {
            Some((r, _)) => r.clone(),
            None => self.conn.region.clone(),
        }
    }

    /// Region and endpoint of this operation's requests (after a redirect, the new ones).
    fn target(&self) -> (String, Endpoint) {
        match &*self.redirect.lock().expect("redirect") {
            Some((r, e)) => (r.clone(), e.clone()),
            None => (self.conn.region.clone(), self.conn.endpoint.clone()),
        }
    }

    /// One attempt: prepare afresh (a file is stat'ed and reopened), sign now, send, read. The
    /// bytes it reported as progress are taken back when it fails.
    async fn attempt(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<Output, Error> {
        let progress = self.progress.attempt();
        let result = async {
            let (req, creds) = self.signed_request(op, input, opts).await?;
            if let (Payload::File { len, .. }, None) = (&req.payload, &opts.payload) {
                progress.set_total(*len); // a whole-file put_object or upload part
            }
            tracing::debug!(method = %req.method, uri = %req.uri, bytes = req.payload.len(), "sending");
            // A range bound for aligned buffers is read into them from the socket.
            let raw = matches!(&opts.sink, Sink::At { file, offset, .. } if file.direct_at(*offset));
            let sent = self
                .transport
                .send(
                    req,
                    self.conn.read_timeout,
                    &progress,
                    (self.conn.checksums, raw),
                )
                .await?;
            self.read_reply(op, input, opts, sent, &progress)
                .await
                .map_err(|e| self.after_expired(e, &creds))
                .map_err(|e| after_altered(e, op, input))
        }
        .await;
        if result.is_err() {
            progress.take_back();
        }
        result
    }

    /// S3 saying the temporary credentials expired (the source's clock ahead of ours, or
    /// credentials revoked early): they are dropped from the cache, and the attempt is retried
    /// with fresh ones when the source can give others.
    fn after_expired(&self, mut err: Error, used: &credentials::Credentials) -> Error {
        if err
            .code
            .as_deref()
            .is_some_and(crate::classify::credentials_expired)
            && self.conn.credentials.expired(used)
        {
            err.retryable = true;
        }
        err
    }

    /// The request of one attempt, prepared and signed at this moment with the credentials
    /// valid now (refreshed first when they are about to expire), and those credentials.
    async fn signed_request(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<(HttpRequest, Arc<credentials::Credentials>), Error> {
        let (region, endpoint) = self.target();
        let body = match &opts.payload {
            Some(p) => p.clone(),
            None => body::input_payload(op, input).await?,
        };
        let dest = Destination {
            endpoint: &endpoint,
            addressing: self.conn.addressing,
            region: &region,
        };
        let mut req = prepare(op, input, &dest, self.conn.checksums, body)?;
        if let Some(crc) = preread_crc(&req).await? {
            // A small file: its CRC, read now, goes in a header (`prepare::PREREAD_MAX`).
            req = prepare_with(
                op,
                input,
                &dest,
                self.conn.checksums,
                req.payload,
                Some(crc),
            )?;
        }
        let creds = self.conn.credentials.get().await?;
        signing::sign(&mut req, &creds, &region, SystemTime::now())?;
        Ok((req, creds))
    }

    /// The reply: an S3 error, or the output from its headers and body (XML, or the object's
    /// bytes into the sink).
    async fn read_reply(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        opts: &CallOpts,
        sent: Sent,
        progress: &Progress,
    ) -> Result<Output, Error> {
        let idle = self.conn.read_timeout;
        let (mut parts, mut body) = sent.response.into_parts();
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
        if let Some(md5) = sent.file_md5 {
            check_etag(&parts.headers, &md5)?;
        }
        if let Some(crc) = sent.file_crc {
            uploaded_crc(&mut parts.headers, crc)?;
        }
        let mut out = response::headers_output(&op.output, &parts.headers);
        let length = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match op.response_body {
            ResponseBody::Xml => {
                let bytes = transport::read_all(&mut body, idle, MAX_XML_REPLY).await?;
                let mut out = Output::from(out);
                out.extend(read_xml(op, &parts, &bytes, opts.text_lists)?);
                return Ok(out);
            }
            ResponseBody::Payload => {
                let sink = match (&opts.sink, input.get("OutputFile").and_then(Value::as_str)) {
                    (Sink::At { file, offset, crcs }, _) => BytesTo::At(file, *offset, crcs),
                    (Sink::Default, Some(path)) => BytesTo::File(Path::new(path)),
                    (Sink::Default, None) => BytesTo::Inline,
                };
                let check = self.stored_checksum(&parts);
                let reply = Reply {
                    length,
                    check: check.as_ref(),
                };
                out.extend(self.read_object(sink, &mut body, reply, progress).await?);
            }
            ResponseBody::Text => {
                let bytes = transport::read_all(&mut body, idle, MAX_XML_REPLY).await?;
                out.extend(read_text(op, bytes)?);
            }
            ResponseBody::None => while transport::next_chunk(&mut body, idle).await?.is_some() {},
        }
        Ok(Output::from(out))
    }

    /// The checksum to compare a whole object's bytes with: the one S3 stored, sent with a
    /// whole-object reply (not a range or a part, whose bytes are not what it covers).
    fn stored_checksum(&self, parts: &http::response::Parts) -> Option<Stored> {
        if self.conn.checksums == Integrity::Off
            || parts.status != http::StatusCode::OK
            || parts.headers.contains_key("content-range")
        {
            return None;
        }
        Stored::from_headers(&parts.headers)
    }

    /// The object's bytes, into a file (at an offset, or whole through a temporary name) or
    /// inline as `Body` (UTF-8) or `BodyBase64`, checked against `reply.check` when given.
    async fn read_object(
        &self,
        sink: BytesTo<'_>,
        body: &mut transport::ReplyBody,
        reply: Reply<'_>,
        progress: &Progress,
    ) -> Result<Map<String, Value>, Error> {
        let idle = self.conn.read_timeout;
        let length = reply.length;
        let mut out = Map::new();
        let mut crc = reply.check.map(|c| Running::new(c.algorithm));
        match sink {
            BytesTo::At(file, offset, crcs) => {
                let mut range = crcs.as_ref().map(|r| Running::new(r.algorithm));
                let to = sink::Into {
                    idle,
                    expected: length,
                    progress,
                    crc: range.as_mut(),
                    check: None,
                };
                let written = write_at(file, offset, body, to).await?;
                if let (Some(crcs), Some(range)) = (crcs, range) {
                    crcs.record(offset, range.value(), written);
                }
                out.insert("ContentLength".into(), json!(written));
            }
            BytesTo::File(path) => {
                let to = sink::Into {
                    idle,
                    expected: length,
                    progress,
                    crc: crc.as_mut(),
                    check: reply.check,
                };
                let written = write_output_file(path, body, to).await?;
                out.insert("OutputFile".into(), json!(path));
                out.insert("ContentLength".into(), json!(written));
            }
            BytesTo::Inline => {
                if let Some(n) = length.filter(|n| *n > MAX_INLINE_BODY as u64) {
                    return Err(Error::of(
                        Failure::Io,
                        format!("the object is {n} bytes, more than {MAX_INLINE_BODY} returned inline; give OutputFile"),
                    ));
                }
                let bytes = transport::read_all(body, idle, MAX_INLINE_BODY).await?;
                check_length(bytes.len() as u64, length)?;
                if let (Some(stored), Some(crc)) = (reply.check, crc.as_mut()) {
                    crc.update(&bytes);
                    stored.verify(crc.value(), bytes.len() as u64)?;
                }
                let (name, text) = match String::from_utf8(bytes) {
                    Ok(text) => ("Body", text),
                    Err(e) => (
                        "BodyBase64",
                        base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                    ),
                };
                out.insert(name.into(), Value::String(text));
            }
        }
        Ok(out)
    }

    /// Deletes the object a corrupted upload left (`quirks::delete_after`), saying so in `err`.
    async fn delete_corrupt(&self, input: &Map<String, Value>, err: &mut Error) {
        let key: Map<String, Value> = ["Bucket", "Key"]
            .iter()
            .filter_map(|k| input.get(*k).map(|v| ((*k).to_string(), v.clone())))
            .collect();
        let delete = steps().delete_object;
        match self.attempt(delete, &key, &CallOpts::default()).await {
            Ok(_) => err.message.push_str("; the corrupted object was deleted"),
            Err(d) => err.message.push_str(&format!(
                "; deleting the corrupted object failed too: {}",
                d.full_message()
            )),
        }
    }
}

/// The CRC of a file body small enough to read twice, when the request would carry it in a
/// trailer (read on the blocking pool, in chunks).
async fn preread_crc(req: &HttpRequest) -> Result<Option<u64>, Error> {
    let Payload::File { path, offset, len } = &req.payload else {
        return Ok(None);
    };
    let Some(algorithm) = req
        .header("x-amz-trailer")
        .and_then(crate::checksum::trailer_of)
    else {
        return Ok(None);
    };
    if *len > PREREAD_MAX {
        return Ok(None);
    }
    let (path, offset, len) = (path.clone(), *offset, *len);
    tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&path)?;
        let mut crc = Running::new(algorithm);
        let mut buf = vec![0u8; transport::FILE_CHUNK];
        let mut at = 0u64;
        while at < len {
            let n = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
            file.read_exact_at(&mut buf[..n], offset + at)?;
            crc.update(&buf[..n]);
            at += n as u64;
        }
        Ok(crc.value())
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r)
    .map(Some)
    .map_err(|e| Error::of(Failure::Io, "cannot read the body file").caused_by(e))
}

/// What the reply's head says about its body.
struct Reply<'a> {
    /// `Content-Length`.
    length: Option<u64>,
    /// The stored checksum the bytes must have.
    check: Option<&'a Stored>,
}

/// The CRC S3 returns for an upload whose body carried one in a trailer must be the CRC of the
/// bytes sent (a server that stores what it received without checking the trailer still
/// answers what it computed); when S3 returns none, the output says what was sent.
fn uploaded_crc(
    headers: &mut http::HeaderMap,
    (algorithm, crc): (crate::checksum::Algorithm, u64),
) -> Result<(), Error> {
    let sent = algorithm.encode(crc);
    match headers.get(algorithm.header()).and_then(|v| v.to_str().ok()) {
        Some(stored) if stored != sent => Err(Error {
            code: Some(crate::classify::BAD_DIGEST.into()),
            ..Error::of(
                Failure::Corrupt,
                format!(
                    "upload corrupted in transit: S3 stored {} {stored}, the file's bytes have {sent}",
                    algorithm.name()
                ),
            )
        }),
        Some(_) => Ok(()),
        None => {
            if let Ok(v) = http::HeaderValue::from_str(&sent) {
                headers.insert(algorithm.header(), v);
            }
            Ok(())
        }
    }
}

/// Where a downloaded object's bytes go.
enum BytesTo<'a> {
    /// Into an existing file at an offset (one range of a parallel download).
    At(&'a Arc<OutFile>, u64, &'a Option<Arc<Ranges>>),
    /// A whole file, written through a temporary name.
    File(&'a Path),
    /// Returned in the output.
    Inline,
}

/// A text document reply (a bucket policy) as the output property that `x-s3.body` marks.
fn read_text(op: &Operation, bytes: Vec<u8>) -> Result<Map<String, Value>, Error> {
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::of(
            Failure::Unreadable,
            "unreadable reply: the document is not UTF-8",
        )
    })?;
    let name = op
        .output
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .find(|(_, s)| s.pointer("/x-s3/body").is_some())
        .map_or("Body", |(n, _)| n.as_str());
    let mut out = Map::new();
    out.insert(name.to_string(), Value::String(text));
    Ok(out)
}

/// An object's bytes that S3 refused as altered on the way, when every digest they were checked
/// against was the connector's own: the attempt is retried, sending the bytes again from their
/// source (nothing was stored). A digest the input gave that does not match the bytes would be
/// refused every time, so then the error stands.
fn after_altered(mut err: Error, op: &Operation, input: &Map<String, Value>) -> Error {
    let digest_given = input
        .keys()
        .any(|k| k == "Content-MD5" || k.starts_with("x-amz-checksum-"));
    if op.request_body == Some(crate::manifest::RequestBody::Payload)
        && !digest_given
        && err
            .code
            .as_deref()
            .is_some_and(crate::classify::body_refused_as_altered)
    {
        err.retryable = true;
    }
    err
}

/// An XML reply mapped to output fields: a listing's result lists written as JSON text when
/// `text_lists` (`Some(decode)`) and the reply is plain enough (`xml_text`); else straight from
/// the events when the schema allows (listings), else via the tree. An `<Error>` root where the
/// operation may send one in a `200 OK` is S3's error.
fn read_xml(
    op: &Operation,
    parts: &http::response::Parts,
    bytes: &[u8],
    text_lists: Option<bool>,
) -> Result<Output, Error> {
    let unreadable = |e: String| Error::of(Failure::Unreadable, format!("unreadable reply: {e}"));
    let written = match (op.xml_plan(), &op.pagination, text_lists) {
        (Some(plan), Some(spec), Some(decode)) => {
            xml_text::write_reply(plan, bytes, &spec.results, decode)
        }
        _ => None,
    };
    let (root, mapped) = if let Some(w) = written {
        (w.root, Output::with_lists(w.fields, w.lists))
    } else if let Some(plan) = op.xml_plan() {
        let (root, map) = xml_stream::map_reply(plan, bytes).map_err(unreadable)?;
        (root, Output::from(map))
    } else {
        let root = xml::parse(bytes).map_err(unreadable)?;
        (root.name, Output::from(xml::map_root(&op.output, &root)))
    };
    if root == "Error" && quirks::error_in_success(op) {
        return Err(response::service_error(parts.status, &parts.headers, bytes));
    }
    Ok(mapped)
}
