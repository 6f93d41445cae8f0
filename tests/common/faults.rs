//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, placed between the connector and a real S3
//! server, on std threads.
//!
//! Requests are forwarded byte for byte (request line and headers as received, `Host` included),
//! so `SigV4` signatures made for the proxy's address still verify at the server: the server
//! recomputes the signature from the `Host` header it receives. Keep-alive is kept on both sides
//! (several requests per client connection, one upstream connection per client connection).
//! Request bodies are framed by `Content-Length` or chunked encoding; responses by
//! `Content-Length`, chunked encoding or connection close.
//!
//! Per request, a seeded PRNG picks at most one fault, at the configured rates:
//!
//! | fault | what the client sees | forwarded? |
//! |---|---|---|
//! | `reset` | the connection is closed without any reply | no |
//! | `slow_down` | `503 SlowDown` XML error | no |
//! | `internal_error` | `500 InternalError` XML error | no |
//! | `stall` | nothing for `stall_for` (longer than the client's read timeout), then close; either before the reply's head or after half its body | yes |
//! | `truncate` | the reply's head with its real `Content-Length`, half the body, then close (replies without a body are forwarded intact) | yes |
//! | `corrupt_request` | nothing unusual: one byte of the request body is flipped on the way (requests without a body are forwarded intact) | yes, altered |
//!
//! Canned error replies to a `HEAD` carry no body, as a server's do.
//!
//! Optionally a region trap answers requests signed for another region than the bucket's with a
//! `301 PermanentRedirect` (+ `x-amz-bucket-region`) or a `400 AuthorizationHeaderMalformed`
//! (with `<Region>`), and forwards those signed for the bucket's region. Optionally request
//! bodies are read slowly (a slow uplink that is never silent for long).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Probability per request of each fault; their sum must not exceed 1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub reset: f64,
    pub slow_down: f64,
    pub internal_error: f64,
    pub stall: f64,
    pub truncate: f64,
    /// Flip one byte in the middle of a non-empty request body, then forward it.
    pub corrupt_request: f64,
}

impl Rates {
    pub(crate) fn total(&self) -> f64 {
        self.reset
            + self.slow_down
            + self.internal_error
            + self.stall
            + self.truncate
            + self.corrupt_request
    }
}

/// Where a stall happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallAt {
    /// Before the reply's head (the request was forwarded and processed).
    Head,
    /// After the head and half of the body (falls back to `Head` for replies without a body).
    Body,
    /// Either, half and half.
    Either,
}

/// The error a region trap answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionTrap {
    /// `301 PermanentRedirect` with `x-amz-bucket-region`.
    PermanentRedirect,
    /// `400 AuthorizationHeaderMalformed` with `<Region>` in the body.
    AuthorizationHeaderMalformed,
}

/// Reads request bodies `chunk` bytes at a time with `pause` between reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttle {
    pub chunk: usize,
    pub pause: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub upstream: SocketAddr,
    pub seed: u64,
    pub rates: Rates,
    pub stall_for: Duration,
    pub stall_at: StallAt,
    /// The trap, and the bucket's region: requests signed for any other region are trapped.
    pub region_trap: Option<(RegionTrap, String)>,
    pub throttle: Option<Throttle>,
    /// When set, faults are injected only into requests for which this returns true (given the
    /// method and the request target); the others are forwarded.
    pub only: Option<fn(&str, &str) -> bool>,
    /// When set, only the first this many requests that `only` selects get faults.
    pub only_first: Option<u64>,
}

impl Config {
    /// A transparent proxy to `upstream` (no faults).
    pub(crate) fn new(upstream: SocketAddr, seed: u64) -> Self {
        Config {
            upstream,
            seed,
            rates: Rates::default(),
            stall_for: Duration::from_millis(1500),
            stall_at: StallAt::Either,
            region_trap: None,
            throttle: None,
            only: None,
            only_first: None,
        }
    }
}

/// Counters, readable while the proxy runs.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    seen: AtomicU64,
    forwarded: AtomicU64,
    delivered: AtomicU64,
    reset: AtomicU64,
    slow_down: AtomicU64,
    internal_error: AtomicU64,
    stall_head: AtomicU64,
    stall_body: AtomicU64,
    truncate: AtomicU64,
    corrupt_request: AtomicU64,
    region_trap: AtomicU64,
    upstream_errors: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Client connections accepted.
    pub connections: u64,
    /// Complete requests received from clients.
    pub seen: u64,
    /// Requests sent on to the server (including those whose reply was then stalled/truncated).
    pub forwarded: u64,
    /// Server replies passed back to the client intact.
    pub delivered: u64,
    pub reset: u64,
    pub slow_down: u64,
    pub internal_error: u64,
    pub stall_head: u64,
    pub stall_body: u64,
    pub truncate: u64,
    pub corrupt_request: u64,
    pub region_trap: u64,
    /// The server could not be reached or answered garbage (the client connection is closed).
    pub upstream_errors: u64,
}

impl Counts {
    pub(crate) fn faults(&self) -> u64 {
        self.reset
            + self.slow_down
            + self.internal_error
            + self.stall_head
            + self.stall_body
            + self.truncate
            + self.corrupt_request
    }
}

/// What the proxy did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Forwarded,
    Reset,
    SlowDown,
    InternalError,
    StallHead,
    StallBody,
    Truncate,
    CorruptRequest,
    RegionTrap,
    UpstreamError,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub target: String,
    /// The region of the `Authorization` header's credential scope.
    pub scope_region: Option<String>,
    /// The access key ID that signed the request (the `Authorization` header's credential).
    pub access_key: Option<String>,
    /// The request's `x-amz-date` (`20260102T030405Z`).
    pub amz_date: Option<String>,
    pub action: Action,
    /// The server's status when the request was forwarded and a reply came back.
    pub status: Option<u16>,
    /// Request body bytes.
    pub body_bytes: usize,
    /// The request's `x-amz-copy-source` header (a `CopyObject` or an `UploadPartCopy`).
    pub copy_source: Option<String>,
    /// From the end of the request head to the end of its body, as read from the client.
    pub body_read: Duration,
    /// From forwarding the request to having the server's whole reply (zero if not forwarded).
    pub upstream: Duration,
}

struct Shared {
    cfg: Config,
    counters: Counters,
    rng: Mutex<u64>,
    log: Mutex<Vec<Seen>>,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Requests `only` selected so far.
    selected: AtomicU64,
}

impl Shared {
    /// A uniform number in [0, 1) from the shared seeded generator (splitmix64).
    fn draw(&self) -> f64 {
        let mut s = self.rng.lock().unwrap();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn record(&self, req: &Request, action: Action, status: Option<u16>, upstream: Duration) {
        let c = &self.counters;
        let counter = match action {
            Action::Forwarded => &c.delivered,
            Action::Reset => &c.reset,
            Action::SlowDown => &c.slow_down,
            Action::InternalError => &c.internal_error,
            Action::StallHead => &c.stall_head,
            Action::StallBody => &c.stall_body,
            Action::Truncate => &c.truncate,
            Action::CorruptRequest => &c.corrupt_request,
            Action::RegionTrap => &c.region_trap,
            Action::UpstreamError => &c.upstream_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.log.lock().unwrap().push(Seen {
            method: req.method.clone(),
            target: req.target.clone(),
            scope_region: req.scope_region(),
            access_key: req.access_key(),
            amz_date: req.amz_date.clone(),
            action,
            status,
            body_bytes: req.body.len(),
            copy_source: req.copy_source.clone(),
            body_read: req.body_read,
            upstream,
        });
    }
}

/// A running proxy; stops accepting when dropped (connections in progress finish on their own).
pub(crate) struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    pub(crate) fn start(cfg: Config) -> Proxy {
        assert!(cfg.rates.total() <= 1.0, "fault rates sum above 1");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            rng: Mutex::new(cfg.seed),
            cfg,
            counters: Counters::default(),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            selected: AtomicU64::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Proxy { addr, shared }
    }

    /// `http://127.0.0.1:<port>`, for the connection's `endpoint`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            connections: g(&c.connections),
            seen: g(&c.seen),
            forwarded: g(&c.forwarded),
            delivered: g(&c.delivered),
            reset: g(&c.reset),
            slow_down: g(&c.slow_down),
            internal_error: g(&c.internal_error),
            stall_head: g(&c.stall_head),
            stall_body: g(&c.stall_body),
            truncate: g(&c.truncate),
            corrupt_request: g(&c.corrupt_request),
            region_trap: g(&c.region_trap),
            upstream_errors: g(&c.upstream_errors),
        }
    }

    /// Every request seen so far, in the order the proxy finished with them.
    pub(crate) fn log(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A buffered reader over a socket that keeps unread bytes for the next message.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; 0 at end of stream.
    fn fill(&mut self, max: usize) -> io::Result<usize> {
        let mut tmp = vec![0u8; max.clamp(1, 256 * 1024)];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// The next message head, through the blank line; `None` at a clean end of stream.
    fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                let rest = self.buf.split_off(i + 4);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            if self.buf.len() > 256 * 1024 {
                return Err(io::Error::other("head too large"));
            }
            if self.fill(64 * 1024)? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Exactly `n` bytes, reading at most `throttle.chunk` at a time with pauses when given.
    fn take(&mut self, n: usize, throttle: Option<Throttle>) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            let want = n - self.buf.len();
            let got = match throttle {
                Some(t) => {
                    std::thread::sleep(t.pause);
                    self.fill(want.min(t.chunk))?
                }
                None => self.fill(want)?,
            };
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let rest = self.buf.split_off(i + 2);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            if self.fill(64 * 1024)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// A chunked body exactly as sent (sizes, extensions, trailers included).
    fn read_chunked(&mut self, throttle: Option<Throttle>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line()?;
            out.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let size = text.trim().split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                loop {
                    let t = self.read_line()?;
                    out.extend_from_slice(&t);
                    if t == b"\r\n" {
                        return Ok(out);
                    }
                }
            }
            out.extend(self.take(size + 2, throttle)?);
        }
    }

    fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        while self.fill(256 * 1024)? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Header values by lowercase name (the first of each).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

struct Request {
    method: String,
    target: String,
    head: Vec<u8>,
    body: Vec<u8>,
    body_read: Duration,
    chunked: bool,
    close: bool,
    authorization: Option<String>,
    amz_date: Option<String>,
    copy_source: Option<String>,
}

impl Request {
    /// `Credential=AKID/20260101/us-east-1/s3/aws4_request` → `us-east-1`.
    fn scope_region(&self) -> Option<String> {
        let a = self.authorization.as_deref()?;
        let cred = a.split("Credential=").nth(1)?;
        let cred = cred.split([',', ' ']).next()?;
        cred.split('/').nth(2).map(str::to_string)
    }

    /// `Credential=AKID/...` → `AKID`.
    fn access_key(&self) -> Option<String> {
        let a = self.authorization.as_deref()?;
        let cred = a.split("Credential=").nth(1)?;
        cred.split('/').next().map(str::to_string)
    }

    fn bucket(&self) -> &str {
        self.target
            .trim_start_matches('/')
            .split(['/', '?'])
            .next()
            .unwrap_or("")
    }
}

fn read_request(c: &mut Conn, throttle: Option<Throttle>) -> io::Result<Option<Request>> {
    let Some(head) = c.read_head()? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut first = text.split("\r\n").next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let started = Instant::now();
    let chunked = has_token(header(&text, "transfer-encoding"), "chunked");
    let body = if chunked {
        c.read_chunked(throttle)?
    } else {
        let n = header(&text, "content-length")
            .map(str::parse::<usize>)
            .transpose()
            .map_err(|_| io::Error::other("bad content-length"))?
            .unwrap_or(0);
        c.take(n, throttle)?
    };
    Ok(Some(Request {
        close: has_token(header(&text, "connection"), "close"),
        authorization: header(&text, "authorization").map(str::to_string),
        amz_date: header(&text, "x-amz-date").map(str::to_string),
        copy_source: header(&text, "x-amz-copy-source").map(str::to_string),
        method,
        target,
        head,
        body,
        body_read: started.elapsed(),
        chunked,
    }))
}

struct Response {
    status: u16,
    /// Interim (1xx) replies and the final head, as received.
    head: Vec<u8>,
    body: Vec<u8>,
    close: bool,
}

fn read_response(c: &mut Conn, method: &str) -> io::Result<Response> {
    let mut all_heads = Vec::new();
    loop {
        let head = c.read_head()?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let text = String::from_utf8_lossy(&head).into_owned();
        let status: u16 = text
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("bad status line"))?;
        all_heads.extend_from_slice(&head);
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let mut close = has_token(header(&text, "connection"), "close");
        let body = if method == "HEAD" || status == 204 || status == 304 {
            Vec::new()
        } else if has_token(header(&text, "transfer-encoding"), "chunked") {
            c.read_chunked(None)?
        } else if let Some(n) = header(&text, "content-length") {
            let n = n
                .parse()
                .map_err(|_| io::Error::other("bad content-length"))?;
            c.take(n, None)?
        } else {
            close = true;
            c.read_to_close()?
        };
        return Ok(Response {
            status,
            head: all_heads,
            body,
            close,
        });
    }
}

/// Sends `req` upstream and reads the reply, on the kept-alive connection when there is one
/// (reconnecting once if the server had closed it before answering).
fn forward(up: &mut Option<Conn>, cfg: &Config, req: &Request) -> io::Result<Response> {
    for round in 0..2 {
        let reused = up.is_some();
        if up.is_none() {
            let s = TcpStream::connect_timeout(&cfg.upstream, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_mins(2)))?;
            *up = Some(Conn::new(s));
        }
        let c = up.as_mut().unwrap();
        let sent = c
            .stream
            .write_all(&req.head)
            .and_then(|()| c.stream.write_all(&req.body))
            .and_then(|()| c.stream.flush());
        let result = sent.and_then(|()| read_response(c, &req.method));
        match result {
            Ok(r) => {
                if r.close {
                    *up = None;
                }
                return Ok(r);
            }
            Err(e) => {
                *up = None;
                if !(reused && round == 0) {
                    return Err(e);
                }
            }
        }
    }
    unreachable!()
}

fn error_reply(status: &str, code: &str, message: &str, id: u64, extra: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>fault-{id}</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: fault-{id}\r\nServer: fault-proxy\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A canned reply as the server would send it for `method`: a reply to `HEAD` has a head only
/// (its `Content-Length` stays, as HTTP allows; sending the body too would leave bytes on a
/// kept-alive connection that the client must not read as the next reply).
fn for_method(mut reply: Vec<u8>, method: &str) -> Vec<u8> {
    if method == "HEAD" {
        if let Some(at) = find(&reply, b"\r\n\r\n") {
            reply.truncate(at + 4);
        }
    }
    reply
}

fn close(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Both);
}

// One connection's whole life through the proxy, fault by fault, read top to bottom.
#[allow(clippy::too_many_lines)]
fn serve(client: TcpStream, sh: &Shared) {
    let cfg = &sh.cfg;
    sh.counters.connections.fetch_add(1, Ordering::Relaxed);
    let _ = client.set_nodelay(true);
    let _ = client.set_read_timeout(Some(Duration::from_mins(2)));
    let Ok(writer) = client.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut c = Conn::new(client);
    let mut up: Option<Conn> = None;
    loop {
        let Ok(Some(req)) = read_request(&mut c, cfg.throttle) else {
            return;
        };
        sh.counters.seen.fetch_add(1, Ordering::Relaxed);
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);

        if let Some((trap, region)) = &cfg.region_trap {
            if req.scope_region().as_deref() != Some(region.as_str()) {
                let wrong = req.scope_region().unwrap_or_default();
                let reply = match trap {
                    RegionTrap::PermanentRedirect => {
                        let mut r = error_reply(
                            "301 Moved Permanently",
                            "PermanentRedirect",
                            "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
                            id,
                            &format!("<Bucket>{}</Bucket><Endpoint>s3.{region}.amazonaws.com</Endpoint>", req.bucket()),
                        );
                        // x-amz-bucket-region goes into the head, before the blank line.
                        let at = find(&r, b"\r\n\r\n").unwrap();
                        let hdr = format!("\r\nx-amz-bucket-region: {region}");
                        r.splice(at..at, hdr.into_bytes());
                        r
                    }
                    RegionTrap::AuthorizationHeaderMalformed => error_reply(
                        "400 Bad Request",
                        "AuthorizationHeaderMalformed",
                        &format!("The authorization header is malformed; the region '{wrong}' is wrong; expecting '{region}'"),
                        id,
                        &format!("<Region>{region}</Region>"),
                    ),
                };
                let reply = for_method(reply, &req.method);
                sh.record(&req, Action::RegionTrap, None, Duration::ZERO);
                if writer.write_all(&reply).is_err() || req.close {
                    return close(&writer);
                }
                continue;
            }
        }

        let selected = cfg.only.is_none_or(|f| f(&req.method, &req.target));
        let r = match cfg.only_first {
            _ if !selected => Rates::default(),
            Some(n) if sh.selected.fetch_add(1, Ordering::SeqCst) >= n => Rates::default(),
            _ => cfg.rates,
        };
        let u = sh.draw();
        let mut edge = r.reset;
        let pick = |edge: &mut f64, rate: f64| {
            *edge += rate;
            u < *edge
        };
        if u < edge {
            sh.record(&req, Action::Reset, None, Duration::ZERO);
            return close(&writer);
        }
        let canned = if pick(&mut edge, r.slow_down) {
            Some((
                Action::SlowDown,
                error_reply(
                    "503 Slow Down",
                    "SlowDown",
                    "Please reduce your request rate.",
                    id,
                    "",
                ),
            ))
        } else if pick(&mut edge, r.internal_error) {
            Some((
                Action::InternalError,
                error_reply(
                    "500 Internal Server Error",
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    id,
                    "",
                ),
            ))
        } else {
            None
        };
        if let Some((action, reply)) = canned {
            let reply = for_method(reply, &req.method);
            sh.record(&req, action, None, Duration::ZERO);
            if writer.write_all(&reply).is_err() || req.close {
                return close(&writer);
            }
            continue;
        }
        let stall = pick(&mut edge, r.stall);
        let truncate = !stall && pick(&mut edge, r.truncate);
        let corrupt = !stall && !truncate && pick(&mut edge, r.corrupt_request);
        let mut req = req;
        let corrupted = corrupt && !req.chunked && !req.body.is_empty();
        if corrupted {
            let mid = req.body.len() / 2;
            req.body[mid] ^= 0x20;
        }

        sh.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let Ok(resp) = forward(&mut up, cfg, &req) else {
            sh.record(&req, Action::UpstreamError, None, sent_at.elapsed());
            return close(&writer);
        };
        let upstream = sent_at.elapsed();
        let half = resp.body.len() / 2;
        if stall {
            let in_body = resp.body.len() >= 2
                && match cfg.stall_at {
                    StallAt::Head => false,
                    StallAt::Body => true,
                    StallAt::Either => sh.draw() < 0.5,
                };
            if in_body {
                let _ = writer
                    .write_all(&resp.head)
                    .and_then(|()| writer.write_all(&resp.body[..half]))
                    .and_then(|()| writer.flush());
                sh.record(&req, Action::StallBody, Some(resp.status), upstream);
            } else {
                sh.record(&req, Action::StallHead, Some(resp.status), upstream);
            }
            std::thread::sleep(cfg.stall_for);
            return close(&writer);
        }
        if truncate && resp.body.len() >= 2 {
            let _ = writer
                .write_all(&resp.head)
                .and_then(|()| writer.write_all(&resp.body[..half]))
                .and_then(|()| writer.flush());
            sh.record(&req, Action::Truncate, Some(resp.status), upstream);
            return close(&writer);
        }
        let ok = writer
            .write_all(&resp.head)
            .and_then(|()| writer.write_all(&resp.body))
            .and_then(|()| writer.flush())
            .is_ok();
        let action = if corrupted {
            Action::CorruptRequest
        } else {
            Action::Forwarded
        };
        sh.record(&req, action, Some(resp.status), upstream);
        if !ok || resp.close || req.close {
            return close(&writer);
        }
    }
}
