//! Sending: hyper's pooled client over tokio, TLS by rustls.
//!
//! Not reqwest: its URL type removes `.` and `..` path segments (even `%2E%2E`), which would send
//! a key such as `a/../b` to another key. hyper takes an `http::Uri`, which keeps the path as
//! built. Bodies stream: a file is read in fixed-size chunks, never whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::connect::Connector;
use crate::error::{Error, Failure};
use crate::progress::Progress;
use crate::request::{HttpRequest, Payload};

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// Read size for file bodies.
pub(crate) const FILE_CHUNK: usize = 256 * 1024;

/// A reply, and the MD5 of the file body that was streamed, when one was sent whole.
pub(crate) struct Sent {
    pub(crate) response: http::Response<Incoming>,
    pub(crate) file_md5: Option<[u8; 16]>,
}

struct FileDigest {
    md5: Mutex<Md5>,
    bytes: AtomicU64,
    len: u64,
}

pub(crate) struct Transport {
    client: Client<HttpsConnector<Connector>, Body>,
}

impl Transport {
    /// `tls`: load trust roots (only needed for https endpoints; loading them costs milliseconds).
    pub(crate) fn new(tls: bool, connect_timeout: Duration) -> Result<Transport, Error> {
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
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Connector::new(http));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .build(https);
        Ok(Transport { client })
    }

    /// Sends a signed request and waits for the reply's head, at most `idle` without a byte.
    pub(crate) async fn send(
        &self,
        req: HttpRequest,
        idle: Duration,
        progress: &Progress,
        checksum_files: bool,
    ) -> Result<Sent, Error> {
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
        let activity = Activity::new();
        let mut sent_file: Option<Arc<FileDigest>> = None;
        let body: Body = match req.payload {
            Payload::Empty => Empty::new().map_err(|never| match never {}).boxed(),
            Payload::Bytes(b) => Full::new(b).map_err(|never| match never {}).boxed(),
            Payload::File { path, offset, len } => {
                let file = open_at(&path, offset).await?;
                let (body, digest) = file_body(file, len, progress, &activity, checksum_files);
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
        let file_md5 = sent_file.filter(|_| checksum_files).and_then(|d| {
            (d.bytes.load(Ordering::Relaxed) == d.len)
                .then(|| d.md5.lock().expect("md5").clone().finalize().into())
        });
        Ok(Sent { response, file_md5 })
    }
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

/// The body file, open at `offset`.
async fn open_at(path: &std::path::Path, offset: u64) -> Result<tokio::fs::File, Error> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::of(Failure::Io, "cannot open the body file").caused_by(e))?;
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| Error::of(Failure::Io, "cannot seek in the body file").caused_by(e))?;
    }
    Ok(file)
}

/// `len` bytes of `file` as a streamed body, in `FILE_CHUNK` reads, reporting progress and
/// activity; with the MD5 of what was read, to check the `ETag` S3 returns without reading twice.
fn file_body(
    file: tokio::fs::File,
    len: u64,
    progress: &Progress,
    activity: &Activity,
    checksum: bool,
) -> (Body, Arc<FileDigest>) {
    let digest = Arc::new(FileDigest {
        md5: Mutex::new(Md5::new()),
        bytes: AtomicU64::new(0),
        len,
    });
    let (progress, activity, seen) = (progress.clone(), activity.clone(), digest.clone());
    let stream = ReaderStream::with_capacity(file.take(len), FILE_CHUNK).map_ok(move |chunk| {
        // hyper pulls the next chunk once the last one is written: progress.
        activity.touch();
        if checksum {
            seen.md5.lock().expect("md5").update(&chunk);
        }
        seen.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        progress.add(chunk.len() as u64);
        Frame::data(chunk)
    });
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
    body: &mut Incoming,
    idle: Duration,
) -> Result<Option<Bytes>, Error> {
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
    body: &mut Incoming,
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
