//! GETs without a body whose reply is read into the caller's memory: the ranges of a download
//! written past the page cache.
//!
//! hyper reads a reply into buffers of its own and hands out slices of them, so a range bound
//! for an aligned buffer (`crate::direct`) was copied once more on its way there: a third of a
//! download's CPU (docs/benchmarks.md). Here the request goes over a connection of this
//! module's pool, made by the same connector as hyper's (TLS, connect timeout, the test hook);
//! the reply's head is read with `httparse` (hyper's own parser), and a body of known length
//! is read from the socket straight into the memory the caller gives. Other bodies (chunked,
//! or ending when the connection closes, as an error reply may come) are read as chunks.
//!
//! A connection goes back to the pool only once its reply was read to the end, nothing more
//! came, and neither side asked to close it; one that was closed or received anything while
//! idle is dropped before reuse. A reused connection that the server closed as the request
//! went (nothing of a reply comes back) is replaced by another: a GET is safe to send again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper_rustls::HttpsConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_service::Service;

use crate::connect::Connector;
use crate::error::{Error, Failure};

type Io = TokioIo<hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>;

/// The longest reply head read (hyper's limit is about as large).
const MAX_HEAD: usize = 256 * 1024;
/// Headers in a reply head, at most (S3 sends a few dozen; user metadata adds some).
const MAX_HEADERS: usize = 256;
/// Bytes read at once into the connection's own buffer (heads, chunked bodies).
const READ_SIZE: usize = 64 * 1024;
/// How long an idle connection is kept (hyper's pool here keeps them 20 s).
const KEEP_IDLE: Duration = Duration::from_secs(20);
/// Idle connections kept, at most.
const MAX_IDLE: usize = 64;

/// Connections between requests, by scheme and authority.
pub(crate) struct Pool {
    connector: HttpsConnector<Connector>,
    idle: Mutex<Vec<(String, Conn, Instant)>>,
}

/// Body bytes a plain connection must have received before a read wakes up (`SO_RCVLOWAT`):
/// half the wake-ups and reads of a download, and a tenth of its CPU (docs/benchmarks.md).
const WAKE_AT: usize = 512 * 1024;
/// How long a read waits for [`WAKE_AT`] bytes; past it, the reply's reads wake at each byte
/// again, so that a slow sender is not taken for a silent one.
const BATCH_WAIT: Duration = Duration::from_millis(50);

struct Conn {
    /// Boxed: a TLS connection's state is kilobytes, and the futures holding a `Conn` move.
    io: Box<Io>,
    /// Bytes read past what was taken: a head's end and the body's start, a chunk's framing.
    buf: BytesMut,
    /// The `SO_RCVLOWAT` set (1, the kernel's default, until a body is read).
    lowat: usize,
    /// Whether this reply's body is read [`WAKE_AT`] bytes at a time (until they come slowly).
    batching: bool,
}

impl Conn {
    /// A socket read of body bytes, `left` of them to come, at most `idle` without a byte.
    /// While they come quickly, the read wakes once [`WAKE_AT`] of them (or the rest) are
    /// there; once they took longer than [`BATCH_WAIT`], at each byte.
    async fn read_body(
        &mut self,
        dst: &mut [u8],
        left: u64,
        idle: Duration,
    ) -> Result<usize, Error> {
        let checked = |read: std::io::Result<usize>| match read {
            Err(e) => Err(lost("reading the reply failed").caused_by(e)),
            Ok(0) => Err(closed_early(left)),
            Ok(n) => Ok(n),
        };
        if self.batching {
            self.wake_at(usize::try_from(left).unwrap_or(usize::MAX).min(WAKE_AT));
            if self.lowat > 1 {
                if let Ok(read) = tokio::time::timeout(BATCH_WAIT, self.io.read(dst)).await {
                    return checked(read);
                }
                self.batching = false;
                self.wake_at(1);
            }
        }
        match tokio::time::timeout(idle, self.io.read(dst)).await {
            Err(_) => Err(stalled(idle)),
            Ok(read) => checked(read),
        }
    }

    /// The TCP socket under any TLS.
    fn tcp(&self) -> &tokio::net::TcpStream {
        match self.io.inner() {
            hyper_rustls::MaybeHttpsStream::Http(tcp) => tcp.inner(),
            hyper_rustls::MaybeHttpsStream::Https(tls) => tls.inner().get_ref().0.inner().inner(),
        }
    }

    /// Whether an idle connection is as it was left: not closed by the server, and nothing
    /// came on it (a `408` sent to an idle connection would otherwise be read as the next
    /// reply).
    fn quiet(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut byte = 0u8;
        // SAFETY: a peek of at most one byte into `byte`, on a descriptor open while `self.io`
        // is; nothing is taken from the socket.
        let n = unsafe {
            libc::recv(
                self.tcp().as_raw_fd(),
                std::ptr::from_mut(&mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
    }

    /// Lets a read wake only once `n` bytes arrived: fewer wake-ups and larger reads. Plain
    /// connections only: under TLS the bytes on the socket are not the body's.
    fn wake_at(&mut self, n: usize) {
        use std::os::fd::AsRawFd;
        let n = n.max(1);
        if n == self.lowat {
            return;
        }
        if !matches!(self.io.inner(), hyper_rustls::MaybeHttpsStream::Http(_)) {
            return;
        }
        let value = libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX);
        // SAFETY: the descriptor is open while `self.io` is; the option's value is a c_int
        // read from the given pointer and length.
        let rc = unsafe {
            libc::setsockopt(
                self.tcp().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::from_ref(&value).cast(),
                libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).expect("4 bytes"),
            )
        };
        if rc == 0 {
            self.lowat = n;
        }
    }
}

/// Why one exchange failed: with nothing of a reply back on a reused connection, it is sent
/// again on a new one.
enum Failed {
    Stale,
    Other(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Other(e)
    }
}

impl Pool {
    pub(crate) fn new(connector: HttpsConnector<Connector>) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `head` (a whole request without a body) to `uri`'s server and reads the reply's
    /// head, within `idle` for the connection, the request and the head together (as
    /// `transport::Activity::until_head` for hyper's).
    pub(crate) async fn send(
        self: &Arc<Self>,
        uri: &http::Uri,
        head: &[u8],
        idle: Duration,
    ) -> Result<http::Response<RawBody>, Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        );
        let until = tokio::time::Instant::now() + idle;
        loop {
            let (conn, reused) = match self.take(&key) {
                Some(conn) => (conn, true),
                None => (self.connect(uri, (until, idle)).await?, false),
            };
            match exchange(conn, head, (until, idle)).await {
                Ok((parts, conn, framing, keep)) => {
                    let mut body = RawBody {
                        conn: Some(conn),
                        framing,
                        reuse: keep.then(|| (self.clone(), key)),
                    };
                    body.finish_if_done();
                    return Ok(http::Response::from_parts(parts, body));
                }
                Err(Failed::Stale) if reused => {
                    tracing::debug!("a kept connection was closed by the server; connecting anew");
                }
                Err(Failed::Stale) => {
                    return Err(Error::of(
                        Failure::Lost,
                        "the connection closed before a reply",
                    ))
                }
                Err(Failed::Other(e)) => return Err(e),
            }
        }
    }

    fn take(&self, key: &str) -> Option<Conn> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.retain(|(_, conn, since)| since.elapsed() < KEEP_IDLE && conn.quiet());
        let at = idle.iter().rposition(|(k, _, _)| k == key)?;
        Some(idle.swap_remove(at).1)
    }

    fn put(&self, key: String, conn: Conn) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((key, conn, Instant::now()));
        }
    }

    async fn connect(
        &self,
        uri: &http::Uri,
        (until, idle): (tokio::time::Instant, Duration),
    ) -> Result<Conn, Error> {
        let mut connector = self.connector.clone();
        let connecting = connector.call(uri.clone());
        let io = match tokio::time::timeout_at(until, connecting).await {
            Err(_) => {
                return Err(Error::of(
                    Failure::Stalled,
                    format!("no connection within {idle:?}"),
                ))
            }
            Ok(Err(e)) => {
                return Err(Error::of(Failure::Connect, "cannot connect")
                    .caused_by(std::io::Error::other(e)))
            }
            Ok(Ok(io)) => io,
        };
        Ok(Conn {
            io: Box::new(TokioIo::new(io)),
            buf: BytesMut::new(),
            lowat: 1,
            batching: true,
        })
    }
}

/// How a reply's body ends (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Chunk),
    /// Until the server closes the connection.
    Close,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
    /// A chunk's size line is next.
    Size,
    /// This many bytes of the chunk's data are still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines, up to an empty one.
    Trailers,
}

/// Writes the request and reads the reply's head: the head, the connection, how the body ends,
/// and whether the connection may be kept.
async fn exchange(
    mut conn: Conn,
    head: &[u8],
    (until, idle): (tokio::time::Instant, Duration),
) -> Result<(http::response::Parts, Conn, Framing, bool), Failed> {
    conn.wake_at(1); // a reply head may be short
    conn.batching = true;
    let written = async {
        conn.io.write_all(head).await?;
        conn.io.flush().await
    };
    match tokio::time::timeout_at(until, written).await {
        Err(_) => return Err(stalled(idle).into()),
        Ok(Err(_)) => return Err(Failed::Stale), // nothing of a reply came
        Ok(Ok(())) => {}
    }
    loop {
        if let Some((parts, framing, keep)) = parse_head(&mut conn.buf)? {
            return Ok((parts, conn, framing, keep));
        }
        if conn.buf.len() >= MAX_HEAD {
            return Err(garbled(format!("reply head longer than {MAX_HEAD} bytes")).into());
        }
        // Closed or reset before a byte of the reply: the server had closed the connection.
        match fill(&mut conn, (until, idle)).await {
            Ok(0) if conn.buf.is_empty() => return Err(Failed::Stale),
            Err(e) if e.failure == Failure::Lost && conn.buf.is_empty() => {
                return Err(Failed::Stale)
            }
            Ok(0) => return Err(lost("the connection closed in the reply head").into()),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The reply head at the start of `buf` (taken out of it), once it is all there; interim
/// (1xx) replies are skipped.
fn parse_head(buf: &mut BytesMut) -> Result<Option<(http::response::Parts, Framing, bool)>, Error> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut reply = httparse::Response::new(&mut headers);
        let len = match reply.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(garbled(format!("unreadable reply head: {e}"))),
        };
        let code = reply.code.unwrap_or(0);
        if (100..200).contains(&code) && code != 101 {
            buf.advance(len);
            continue;
        }
        let mut builder =
            http::Response::builder()
                .status(code)
                .version(if reply.version == Some(0) {
                    http::Version::HTTP_10
                } else {
                    http::Version::HTTP_11
                });
        for h in reply.headers.iter() {
            builder = builder.header(h.name, h.value);
        }
        let (parts, ()) = builder
            .body(())
            .map_err(|e| garbled(format!("unreadable reply head: {e}")))?
            .into_parts();
        buf.advance(len);
        let framing = framing_of(&parts)?;
        // A reply that gives both a transfer coding and a length is not trusted to leave the
        // connection clean (RFC 9112, section 6.3), nor one with a coding in HTTP/1.0.
        let keep = parts.version == http::Version::HTTP_11
            && framing != Framing::Close
            && !(parts.headers.contains_key(http::header::TRANSFER_ENCODING)
                && parts.headers.contains_key(http::header::CONTENT_LENGTH))
            && !has_token(&parts.headers, http::header::CONNECTION, "close");
        return Ok(Some((parts, framing, keep)));
    }
}

fn framing_of(parts: &http::response::Parts) -> Result<Framing, Error> {
    use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    if parts.status == http::StatusCode::NO_CONTENT
        || parts.status == http::StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Length(0));
    }
    if parts.headers.contains_key(TRANSFER_ENCODING) {
        let last = parts.headers.get_all(TRANSFER_ENCODING).iter().next_back();
        let chunked = last
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        return Ok(if chunked {
            Framing::Chunked(Chunk::Size)
        } else {
            Framing::Close
        });
    }
    // One value, or a list of the same value repeated (RFC 9110, section 8.6).
    let mut length = None;
    for value in parts.headers.get_all(CONTENT_LENGTH) {
        let text = value
            .to_str()
            .map_err(|_| garbled("unreadable Content-Length"))?;
        for item in text.split(',') {
            let n = digits(item.trim())
                .ok_or_else(|| garbled(format!("unreadable Content-Length `{text}`")))?;
            if length.is_some_and(|l| l != n) {
                return Err(garbled(
                    "the reply gives two different Content-Length values",
                ));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// A number of decimal digits only (no sign, no space), as HTTP lengths are written.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn has_token(headers: &http::HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A reply's body, read from its connection.
pub(crate) struct RawBody {
    /// `None` once the body is read (the connection back in the pool, or closed).
    conn: Option<Conn>,
    framing: Framing,
    /// Where the connection goes once the body is read, when it may be kept.
    reuse: Option<(Arc<Pool>, String)>,
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawBody({:?})", self.framing)
    }
}

impl RawBody {
    /// Whether [`Self::read_into`] can be used: the body's length was given.
    pub(crate) fn reads_into(&self) -> bool {
        matches!(self.framing, Framing::Length(_) | Framing::Done)
    }

    /// Reads the next bytes of a body of known length into `dst` (from the socket itself when
    /// nothing is buffered), at most `idle` waiting; 0 at the end.
    pub(crate) async fn read_into(
        &mut self,
        dst: &mut [u8],
        idle: Duration,
    ) -> Result<usize, Error> {
        let left = match self.framing {
            Framing::Length(n) => n,
            Framing::Done => return Ok(0),
            _ => {
                return Err(Error::of(
                    Failure::Internal,
                    "read_into on a body of unknown length",
                ))
            }
        };
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::of(Failure::Internal, "no connection"))?;
        let max = usize::try_from(left).unwrap_or(usize::MAX).min(dst.len());
        if max == 0 {
            return Ok(0);
        }
        let n = if conn.buf.is_empty() {
            conn.read_body(&mut dst[..max], left, idle).await?
        } else {
            let n = max.min(conn.buf.len());
            dst[..n].copy_from_slice(&conn.buf[..n]);
            conn.buf.advance(n);
            n
        };
        self.framing = Framing::Length(left - n as u64);
        self.finish_if_done();
        Ok(n)
    }

    /// The next chunk of the body, at most `idle` waiting; `None` at the end.
    pub(crate) async fn next_chunk(&mut self, idle: Duration) -> Result<Option<Bytes>, Error> {
        loop {
            self.finish_if_done();
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(left) => {
                    if conn.buf.is_empty() && fill(conn, within(idle)).await? == 0 {
                        return Err(closed_early(left));
                    }
                    let n = take_len(&mut conn.buf, left);
                    self.framing = Framing::Length(left - n.len() as u64);
                    return Ok(Some(n));
                }
                Framing::Close => {
                    if conn.buf.is_empty() && fill(conn, within(idle)).await? == 0 {
                        self.framing = Framing::Done;
                        self.conn = None;
                        return Ok(None);
                    }
                    return Ok(Some(conn.buf.split().freeze()));
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    if conn.buf.is_empty() && fill(conn, within(idle)).await? == 0 {
                        return Err(closed_early(left));
                    }
                    let n = take_len(&mut conn.buf, left);
                    let left = left - n.len() as u64;
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Some(n));
                }
                Framing::Chunked(state) => {
                    let Some(line) = take_line(&mut conn.buf)? else {
                        if fill(conn, within(idle)).await? == 0 {
                            return Err(lost("the connection closed in a chunked reply"));
                        }
                        continue;
                    };
                    self.framing = next_chunk_state(state, &line)?;
                }
            }
        }
    }

    /// Once the body is read: the connection back to the pool when it may be kept.
    fn finish_if_done(&mut self) {
        if !matches!(self.framing, Framing::Length(0) | Framing::Done) {
            return;
        }
        self.framing = Framing::Done;
        if let (Some(conn), Some((pool, key))) = (self.conn.take(), self.reuse.take()) {
            if conn.buf.is_empty() {
                pool.put(key, conn);
            }
        }
    }
}

/// The chunked framing after the line `line` read in `state` (a size, a data end, a trailer).
fn next_chunk_state(state: Chunk, line: &[u8]) -> Result<Framing, Error> {
    Ok(match state {
        Chunk::Size => {
            let size = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| garbled("unreadable chunk size in the reply"))?;
            Framing::Chunked(if size == 0 {
                Chunk::Trailers
            } else {
                Chunk::Data(size)
            })
        }
        Chunk::DataEnd if line.is_empty() => Framing::Chunked(Chunk::Size),
        Chunk::DataEnd => return Err(garbled("a chunk of the reply is longer than its size")),
        Chunk::Trailers if line.is_empty() => Framing::Done,
        Chunk::Trailers | Chunk::Data(_) => Framing::Chunked(state),
    })
}

/// Up to `left` bytes from the front of `buf`.
fn take_len(buf: &mut BytesMut, left: u64) -> Bytes {
    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
    buf.split_to(n).freeze()
}

/// A line (without its CRLF) from the front of `buf`, once it is all there.
fn take_line(buf: &mut BytesMut) -> Result<Option<Vec<u8>>, Error> {
    match memchr::memchr(b'\n', buf) {
        Some(at) => {
            let line = buf.split_to(at + 1);
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            Ok(Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec()))
        }
        None if buf.len() > READ_SIZE => Err(garbled("a chunk line of the reply is too long")),
        None => Ok(None),
    }
}

/// Reads what the connection has into its buffer, waiting until `until` at most (`idle` after
/// the last read, or what is left of it for a head); 0 when it closed.
async fn fill(
    conn: &mut Conn,
    (until, idle): (tokio::time::Instant, Duration),
) -> Result<usize, Error> {
    conn.buf.reserve(READ_SIZE);
    let read = conn.io.read_buf(&mut conn.buf);
    match tokio::time::timeout_at(until, read).await {
        Err(_) => Err(stalled(idle)),
        Ok(Err(e)) => Err(lost("reading the reply failed").caused_by(e)),
        Ok(Ok(n)) => Ok(n),
    }
}

/// A wait of `idle` from now.
fn within(idle: Duration) -> (tokio::time::Instant, Duration) {
    (tokio::time::Instant::now() + idle, idle)
}

fn stalled(idle: Duration) -> Error {
    Error::of(Failure::Stalled, format!("reply stalled for {idle:?}"))
}

fn lost(what: &str) -> Error {
    Error::of(Failure::Lost, what)
}

fn closed_early(left: u64) -> Error {
    lost(&format!(
        "the connection closed with {left} bytes of the reply to come"
    ))
}

/// A reply that breaks HTTP/1.1: lost, and retried, as hyper's parse errors are
/// (`transport::network_error`).
fn garbled(what: impl Into<String>) -> Error {
    Error::of(Failure::Lost, what.into())
}

#[cfg(test)]
mod tests {
    //! A scripted server on 127.0.0.1: what S3-compatible servers here do not do on request
    //! (a chunked or close-delimited error reply, closing a kept connection, a body cut short).

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    const IDLE: Duration = Duration::from_secs(5);

    /// A server that answers each request with the next reply of `replies` and closes the
    /// connection after those marked so; the request heads it received, and its connections.
    async fn server(
        replies: Vec<(&'static [u8], bool)>,
    ) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (h, a) = (heads.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            'conns: loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let mut got = Vec::new();
                loop {
                    let end = loop {
                        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        let mut b = [0u8; 4096];
                        match sock.read(&mut b).await {
                            Ok(0) | Err(_) => continue 'conns,
                            Ok(n) => got.extend_from_slice(&b[..n]),
                        }
                    };
                    let head: Vec<u8> = got.drain(..end).collect();
                    h.lock().unwrap().push(String::from_utf8(head).unwrap());
                    let Some((reply, close)) = replies.next() else {
                        return;
                    };
                    sock.write_all(reply).await.unwrap();
                    if close {
                        continue 'conns; // dropped: closed
                    }
                }
            }
        });
        (format!("http://{addr}"), heads, accepted)
    }

    /// A listener on a free loopback port, and a URI on it.
    async fn listener() -> (TcpListener, http::Uri) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/b/k", listener.local_addr().unwrap());
        (listener, uri.parse().unwrap())
    }

    fn pool() -> Arc<Pool> {
        Pool::new(crate::transport::connector(false, IDLE).unwrap())
    }

    fn head_for(uri: &http::Uri) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\nrange: bytes=0-9\r\n\r\n",
            uri.path(),
            uri.authority().unwrap()
        )
        .into_bytes()
    }

    async fn read_all_into(body: &mut RawBody) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = body.read_into(&mut buf, IDLE).await?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    async fn chunks(body: &mut RawBody) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(c) = body.next_chunk(IDLE).await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_body_of_known_length_is_read_into_memory_and_its_connection_kept() {
        block_on(async {
            let reply: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n0123456789";
            let (base, heads, accepted) = server(vec![(reply, false), (reply, false)]).await;
            let pool = pool();
            for key in ["/b/one", "/b/two"] {
                let uri: http::Uri = format!("{base}{key}").parse().unwrap();
                let reply = pool.send(&uri, &head_for(&uri), IDLE).await.unwrap();
                let (parts, mut body) = reply.into_parts();
                assert_eq!(parts.status, 206);
                assert_eq!(parts.headers["etag"], "\"e\"");
                assert!(body.reads_into());
                assert_eq!(read_all_into(&mut body).await.unwrap(), b"0123456789");
                assert_eq!(body.read_into(&mut [0u8; 4], IDLE).await.unwrap(), 0);
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                1,
                "one connection for both"
            );
            let heads = heads.lock().unwrap();
            assert!(
                heads[1].starts_with("GET /b/two HTTP/1.1\r\nhost: 127.0.0.1:"),
                "{heads:?}"
            );
        });
    }

    #[test]
    fn chunked_and_close_delimited_replies_are_read_as_chunks() {
        block_on(async {
            let chunked: &[u8] = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: y\r\n\r\n";
            let closing: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\n\r\n<Error/>";
            let (base, _, accepted) =
                server(vec![(chunked, false), (closing, true), (chunked, false)]).await;
            let pool = pool();
            let uri: http::Uri = format!("{base}/b/k").parse().unwrap();
            let mut got = Vec::new();
            for _ in 0..3 {
                let (parts, mut body) = pool
                    .send(&uri, &head_for(&uri), IDLE)
                    .await
                    .unwrap()
                    .into_parts();
                assert!(!body.reads_into());
                got.push((parts.status.as_u16(), chunks(&mut body).await.unwrap()));
            }
            assert_eq!(got[0], (404, b"hello world".to_vec()));
            assert_eq!(got[1], (500, b"<Error/>".to_vec()));
            assert_eq!(got[2], got[0]);
            // The chunked reply's connection was kept; the close-delimited one's was not.
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn a_kept_connection_the_server_closed_is_replaced() {
        block_on(async {
            // The server closes after its first reply, which says nothing of closing: the
            // connection goes back to the pool, and the next request finds it closed.
            let reply: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let (base, _, accepted) = server(vec![(reply, true), (reply, false)]).await;
            let pool = pool();
            let uri: http::Uri = format!("{base}/b/k").parse().unwrap();
            for _ in 0..2 {
                let (_, mut body) = pool
                    .send(&uri, &head_for(&uri), IDLE)
                    .await
                    .unwrap()
                    .into_parts();
                assert_eq!(read_all_into(&mut body).await.unwrap(), b"ok");
                tokio::time::sleep(Duration::from_millis(50)).await; // the close arrives
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn a_body_cut_short_is_lost_and_a_silent_server_stalls() {
        block_on(async {
            let short: &[u8] =
                b"HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\n\r\n0123456789";
            let (base, _, _) = server(vec![(short, true)]).await;
            let uri: http::Uri = format!("{base}/b/k").parse().unwrap();
            let (_, mut body) = pool()
                .send(&uri, &head_for(&uri), IDLE)
                .await
                .unwrap()
                .into_parts();
            let e = read_all_into(&mut body).await.unwrap_err();
            assert_eq!(e.failure, Failure::Lost, "{}", e.full_message());
            assert!(e.message.contains("90 bytes"), "{}", e.message);

            // A server that accepts and never answers.
            let (listener, uri) = listener().await;
            let idle = Duration::from_millis(200);
            let e = pool().send(&uri, &head_for(&uri), idle).await.unwrap_err();
            assert_eq!(e.failure, Failure::Stalled, "{}", e.full_message());
            drop(listener);
        });
    }

    /// A body that trickles in, each piece well within `idle` of the last but the whole
    /// longer than `idle`: read as it comes once it proves slow, not taken for a stall.
    #[test]
    fn a_slow_body_is_not_a_stalled_one() {
        block_on(async {
            let (listener, uri) = listener().await;
            tokio::spawn(async move {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut head = [0u8; 1024];
                let _ = sock.read(&mut head).await.unwrap();
                sock.write_all(b"HTTP/1.1 206 Partial Content\r\nContent-Length: 1500\r\n\r\n")
                    .await
                    .unwrap();
                for i in 0..15u8 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    sock.write_all(&[b'a' + i; 100]).await.unwrap();
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            });
            let idle = Duration::from_millis(600);
            let (_, mut body) = pool()
                .send(&uri, &head_for(&uri), idle)
                .await
                .unwrap()
                .into_parts();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                let n = body.read_into(&mut buf, idle).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got.len(), 1500);
            assert!(got
                .chunks(100)
                .zip(b'a'..)
                .all(|(c, b)| c.iter().all(|x| *x == b)));
        });
    }

    /// Bytes that come on an idle kept connection (a server's `408`) are not taken for the
    /// next request's reply: the connection is dropped and the request goes on a new one.
    #[test]
    fn a_kept_connection_that_received_anything_is_dropped() {
        block_on(async {
            let (listener, uri) = listener().await;
            let accepted = Arc::new(AtomicUsize::new(0));
            let a = accepted.clone();
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for body in [&b"one"[..], b"two"] {
                    let (mut sock, _) = listener.accept().await.unwrap();
                    a.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.read(&mut [0u8; 1024]).await.unwrap();
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    sock.write_all(head.as_bytes()).await.unwrap();
                    sock.write_all(body).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let timeout = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n";
                    sock.write_all(timeout).await.unwrap();
                    kept.push(sock);
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            });
            let pool = pool();
            for want in [&b"one"[..], b"two"] {
                let (parts, mut body) = pool
                    .send(&uri, &head_for(&uri), IDLE)
                    .await
                    .unwrap()
                    .into_parts();
                assert_eq!(parts.status, 200);
                assert_eq!(read_all_into(&mut body).await.unwrap(), want);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        });
    }

    /// A reply head that trickles in is stalled once `idle` passed since the request, however
    /// often a byte comes (as hyper's wait for a head).
    #[test]
    fn a_head_must_come_within_idle() {
        block_on(async {
            let (listener, uri) = listener().await;
            tokio::spawn(async move {
                let (mut sock, _) = listener.accept().await.unwrap();
                let _ = sock.read(&mut [0u8; 1024]).await.unwrap();
                for piece in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".chunks(2) {
                    if sock.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            let e = pool()
                .send(&uri, &head_for(&uri), Duration::from_millis(300))
                .await
                .unwrap_err();
            assert_eq!(e.failure, Failure::Stalled, "{}", e.full_message());
        });
    }

    #[test]
    fn framing_follows_the_reply_head() {
        let parse = |head: &[u8]| {
            let mut buf = BytesMut::from(head);
            parse_head(&mut buf).map(|r| r.map(|(p, f, keep)| (p.status.as_u16(), f, keep)))
        };
        let length = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n").unwrap();
        assert_eq!(length, Some((200, Framing::Length(7), true)));
        let closing = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n");
        assert_eq!(closing.unwrap(), Some((200, Framing::Length(7), false)));
        let old = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\n").unwrap();
        assert_eq!(old, Some((200, Framing::Length(7), false)));
        // An interim reply is skipped; a 204 has no body whatever it says.
        let interim = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(interim.unwrap(), Some((204, Framing::Length(0), true)));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
        let two = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n");
        assert_eq!(two.unwrap_err().failure, Failure::Lost, "garbled: retried");
        let same = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(same.unwrap(), Some((200, Framing::Length(7), true)));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: +7\r\n\r\n").is_err());
        let both =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            both.unwrap(),
            Some((200, Framing::Chunked(Chunk::Size), false))
        );
        assert!(next_chunk_state(Chunk::Size, b"+a").is_err());
        assert_eq!(
            next_chunk_state(Chunk::Size, b"1F;x=y").unwrap(),
            Framing::Chunked(Chunk::Data(31))
        );
        assert_eq!(
            parse(b"HTTX/1.1 200\r\n\r\n").unwrap_err().failure,
            Failure::Lost
        );
    }
}
