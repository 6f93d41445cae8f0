//! Sending: hyper's pooled client over tokio, TLS by rustls.
//!
//! Not reqwest: its URL type removes `.` and `..` path segments (even `%2E%2E`), which would send
//! a key such as `a/../b` to another key. hyper takes an `http::Uri`, which keeps the path as
//! built. Bodies stream: a file is read in fixed-size chunks, never whole. The ranges of a
//! download read into aligned buffers go through `raw_http` instead (same connector).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};

use crate::checksum::{self, Algorithm, Integrity, Running};
use crate::connect::Connector;
use crate::error::{Error, Failure};
use crate::progress::Progress;
use crate::raw_http::{self, RawBody};
use crate::request::{HttpRequest, Payload};

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// Read size for file bodies, and the chunk size of an `aws-chunked` body (every chunk but the
/// last has exactly this length, so the encoded length is known before sending).
pub(crate) const FILE_CHUNK: usize = 512 * 1024;

/// A reply's body: hyper's, or one read from a connection of [`raw_http`]'s pool.
#[derive(Debug)]
pub(crate) enum ReplyBody {
    Hyper(Incoming),
    Raw(RawBody),
}

/// A reply, and the MD5 or CRC of the file body that was streamed, when one was sent whole.
pub(crate) struct Sent {
    pub(crate) response: http::Response<ReplyBody>,
    pub(crate) file_md5: Option<[u8; 16]>,
    pub(crate) file_crc: Option<(Algorithm, u64)>,
}

struct FileDigest {
    md5: Mutex<Option<Md5>>,
    crc: Mutex<Option<Running>>,
    bytes: AtomicU64,
    len: u64,
}

impl FileDigest {
    fn update(&self, chunk: &[u8]) {
        if let Some(md5) = self.md5.lock().expect("md5").as_mut() {
            md5.update(chunk);
        }
        if let Some(crc) = self.crc.lock().expect("crc").as_mut() {
            crc.update(chunk);
        }
        self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }

    fn complete(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) == self.len
    }

    fn crc_value(&self) -> Option<u64> {
        self.crc.lock().expect("crc").as_ref().map(Running::value)
    }
}

pub(crate) struct Transport {
    client: Client<HttpsConnector<Connector>, Body>,
    /// Connections for GETs whose reply body is read into the caller's memory.
    raw: Arc<raw_http::Pool>,
}

impl Transport {
    /// `tls`: load trust roots (only needed for https endpoints; loading them costs milliseconds).
    pub(crate) fn new(tls: bool, connect_timeout: Duration) -> Result<Transport, Error> {
        let https = connector(tls, connect_timeout)?;
        let raw = raw_http::Pool::new(https.clone());
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .build(https);
        Ok(Transport { client, raw })
    }

    /// Sends a signed request and waits for the reply's head, at most `idle` without a byte.
    /// With `raw`, a GET without a body goes through [`raw_http`], so that its reply body can
    /// be read into the caller's memory ([`RawBody::read_into`]).
    pub(crate) async fn send(
        &self,
        req: HttpRequest,
        idle: Duration,
        progress: &Progress,
        (integrity, raw): (Integrity, bool),
    ) -> Result<Sent, Error> {
        // A trailer was announced when the request was prepared (`prepare::with_crc`), or the
        // CRC of a file read beforehand is in its header.
        let trailer = req.header("x-amz-trailer").and_then(checksum::trailer_of);
        let in_header = checksum::in_header(&req);
        let md5 = integrity == Integrity::Md5 && trailer.is_none();
        let mut builder = http::Request::builder().method(req.method.as_str()).uri(
            req.uri
                .parse::<http::Uri>()
                .map_err(|e| Error::of(Failure::Internal, "request URI").caused_by(e))?,
        );
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = builder.header(
            "user-agent",
            concat!("s3-connector/", env!("CARGO_PKG_VERSION")),
        );
        if raw && req.method == "GET" && matches!(req.payload, Payload::Empty) {
            let (parts, ()) = builder
                .body(())
                .map_err(|e| Error::of(Failure::Internal, "request").caused_by(e))?
                .into_parts();
            let response = self.raw.send(&parts.uri, &head_bytes(&parts), idle).await?;
            return Ok(Sent {
                response: response.map(ReplyBody::Raw),
                file_md5: None,
                file_crc: None,
            });
        }
        let activity = Activity::new();
        let mut sent_file: Option<Arc<FileDigest>> = None;
        let body: Body = match req.payload {
            Payload::Empty => Empty::new().map_err(|never| match never {}).boxed(),
            Payload::Bytes(b) => Full::new(b).map_err(|never| match never {}).boxed(),
            Payload::File { path, offset, len } => {
                let file = open(&path).await?;
                let (body, digest) =
                    file_body(file, (offset, len), (progress, &activity), md5, trailer);
                sent_file = Some(digest);
                body
            }
        };
        let request = builder
            .body(body)
            .map_err(|e| Error::of(Failure::Internal, "request").caused_by(e))?;
        let response = activity
            .until_head(self.client.request(request), idle)
            .await?;
        let whole = sent_file.filter(|d| d.complete());
        let file_md5 = whole.as_ref().and_then(|d| {
            let md5 = d.md5.lock().expect("md5").clone();
            md5.map(|m| m.finalize().into())
        });
        let file_crc = whole
            .as_ref()
            .and_then(|d| Some((trailer?, d.crc_value()?)))
            .or(in_header.filter(|_| whole.is_some()));
        Ok(Sent {
            response: response.map(ReplyBody::Hyper),
            file_md5,
            file_crc,
        })
    }
}

/// The connector under both pools: TCP (no Nagle), TLS by rustls for https endpoints.
pub(crate) fn connector(
    tls: bool,
    connect_timeout: Duration,
) -> Result<HttpsConnector<Connector>, Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let roots = if tls {
        load_roots()?
    } else {
        rustls::RootCertStore::empty()
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::of(Failure::Internal, "TLS setup").caused_by(e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(Connector::new(http)))
}

/// A request without a body as it goes on the wire, as hyper writes it: the request line, the
/// headers in their order, an empty line.
fn head_bytes(parts: &http::request::Parts) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(1024);
    for piece in [
        parts.method.as_str().as_bytes(),
        b" ",
        target.as_bytes(),
        b" HTTP/1.1\r\n",
    ] {
        head.extend_from_slice(piece);
    }
    for (name, value) in &parts.headers {
        for piece in [name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            head.extend_from_slice(piece);
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// When the request body last moved: the idle timeout measures silence, so while a body is
/// being sent each chunk restarts it.
#[derive(Clone)]
struct Activity {
    started: tokio::time::Instant,
    /// Milliseconds after `started` of the last body chunk.
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: tokio::time::Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_since(&self) -> tokio::time::Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// The reply's head, or `Stalled` after `idle` without a body chunk or a reply.
    async fn until_head(
        &self,
        pending: impl std::future::Future<
            Output = Result<http::Response<Incoming>, hyper_util::client::legacy::Error>,
        >,
        idle: Duration,
    ) -> Result<http::Response<Incoming>, Error> {
        let mut pending = std::pin::pin!(pending);
        loop {
            tokio::select! {
                r = &mut pending => return r.map_err(network_error),
                () = tokio::time::sleep_until(self.quiet_since() + idle) => {
                    if tokio::time::Instant::now() >= self.quiet_since() + idle {
                        return Err(Error::of(Failure::Stalled, format!("no reply within {idle:?}")));
                    }
                }
            }
        }
    }
}

/// The body file, open for reading at any offset.
async fn open(path: &std::path::Path) -> Result<Arc<std::fs::File>, Error> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::of(Failure::Io, "cannot open the body file").caused_by(e))?;
    Ok(Arc::new(file.into_std().await))
}

/// One read of `len` bytes at `at`, on the blocking pool, into a buffer of its own (the only
/// copy: the buffer goes to the socket as it is).
async fn read_chunk(file: Arc<std::fs::File>, at: u64, len: usize) -> std::io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, at)?;
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// A file range being sent, frame by frame.
struct FileSend {
    file: Arc<std::fs::File>,
    at: u64,
    end: u64,
    /// Frames ready to go (a chunk and its `aws-chunked` framing).
    queue: std::collections::VecDeque<Bytes>,
    digest: Arc<FileDigest>,
    trailer: Option<Algorithm>,
    finished: bool,
    progress: Progress,
    activity: Activity,
}

impl FileSend {
    /// The next frame: a queued one, else the next chunk read (framed when a trailer follows),
    /// else the trailer.
    async fn next(mut self) -> std::io::Result<Option<(Frame<Bytes>, Self)>> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Ok(Some((Frame::data(b), self)));
            }
            if self.at < self.end {
                let n = usize::try_from((self.end - self.at).min(FILE_CHUNK as u64))
                    .unwrap_or(FILE_CHUNK);
                let chunk = read_chunk(self.file.clone(), self.at, n).await?;
                // hyper pulls the next chunk once the last one is written: progress.
                self.activity.touch();
                self.at += n as u64;
                self.digest.update(&chunk);
                self.progress.add(n as u64);
                if self.trailer.is_some() {
                    self.queue.push_back(Bytes::from(checksum::chunk_head(n)));
                    self.queue.push_back(chunk);
                    self.queue.push_back(Bytes::from_static(b"\r\n"));
                } else {
                    self.queue.push_back(chunk);
                }
                continue;
            }
            match self.trailer {
                Some(algorithm) if !self.finished => {
                    self.finished = true;
                    let crc = self.digest.crc_value().unwrap_or(0);
                    self.queue
                        .push_back(Bytes::from(checksum::trailer(algorithm, crc)));
                }
                _ => return Ok(None),
            }
        }
    }
}

/// `len` bytes of the file from `offset` as a streamed body, in `FILE_CHUNK` reads, reporting
/// progress and activity; with the MD5 or CRC of what was read, so that nothing is read twice.
/// With a `trailer`, the body is `aws-chunked` and ends with that CRC.
fn file_body(
    file: Arc<std::fs::File>,
    (offset, len): (u64, u64),
    (progress, activity): (&Progress, &Activity),
    md5: bool,
    trailer: Option<Algorithm>,
) -> (Body, Arc<FileDigest>) {
    let digest = Arc::new(FileDigest {
        md5: Mutex::new(md5.then(Md5::new)),
        crc: Mutex::new(trailer.map(Running::new)),
        bytes: AtomicU64::new(0),
        len,
    });
    let state = FileSend {
        file,
        at: offset,
        end: offset + len,
        queue: std::collections::VecDeque::new(),
        digest: digest.clone(),
        trailer,
        finished: false,
        progress: progress.clone(),
        activity: activity.clone(),
    };
    let stream = futures_util::stream::try_unfold(state, FileSend::next);
    (BodyExt::boxed(StreamBody::new(stream)), digest)
}

/// A failed exchange, by whether a connection was ever made: when not, nothing was sent.
fn network_error(e: hyper_util::client::legacy::Error) -> Error {
    if e.is_connect() {
        Error::of(Failure::Connect, "cannot connect").caused_by(e)
    } else {
        Error::of(Failure::Lost, "connection failed").caused_by(e)
    }
}

/// Trust roots: the PEM bundle named by `AWS_CA_BUNDLE` when set, else the system's.
fn load_roots() -> Result<rustls::RootCertStore, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var("AWS_CA_BUNDLE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(path) => {
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path).map_err(|e| {
                Error::invalid_at("", format!("AWS_CA_BUNDLE `{path}` cannot be read: {e}"))
            })?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| Error::invalid_at("", format!("AWS_CA_BUNDLE `{path}`: {e}")))?;
                let _ = roots.add(cert);
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(Error::invalid_at(
            "",
            "no TLS trust roots found (system store empty, or AWS_CA_BUNDLE holds no certificate)",
        ));
    }
    Ok(roots)
}

/// The next data chunk of a reply body, waiting at most `idle` for it.
pub(crate) async fn next_chunk(
    body: &mut ReplyBody,
    idle: Duration,
) -> Result<Option<Bytes>, Error> {
    let body = match body {
        ReplyBody::Hyper(body) => body,
        ReplyBody::Raw(raw) => return raw.next_chunk(idle).await,
    };
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(Error::of(
                    Failure::Stalled,
                    format!("reply stalled for {idle:?}"),
                ))
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => {
                return Err(Error::of(Failure::Lost, "reading the reply failed").caused_by(e))
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Reads a whole (small) reply body, refusing more than `limit` bytes.
pub(crate) async fn read_all(
    body: &mut ReplyBody,
    idle: Duration,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(chunk) = next_chunk(body, idle).await? {
        if out.len() + chunk.len() > limit {
            return Err(Error::of(
                Failure::Unexpected,
                format!("reply body exceeds {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
