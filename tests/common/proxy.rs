//! A counting, recording TCP endpoint on 127.0.0.1 for tests that must prove what reached (or did
//! not reach) the network.
//!
//! Three modes:
//! - [`Mode::Reply`]: no server behind it; every connection is counted, what the client sends is
//!   recorded until the end of the request head, then a canned reply is written and the
//!   connection closed. A plain counter that also lets a valid request finish quickly.
//! - [`Mode::Forward`]: a byte-for-byte proxy in front of a real server (`SigV4` still verifies:
//!   the client signs for the proxy's `Host`, which is forwarded unchanged). Both directions are
//!   recorded per connection.
//! - [`Mode::Blackhole`]: accepts, reads and records, never answers (read-timeout tests).
//!
//! The accept loop polls a non-blocking listener; [`Proxy::stop`] stops it and then drains the
//! backlog, so a connection made by a child process that has already exited is still counted.
//!
//! Use from a test file with `#[path = "common/proxy.rs"] mod proxy;`.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Recorded bytes per connection and direction are capped at this (the rest is only counted).
pub(crate) const RECORD_CAP: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Answer every connection with these bytes after the request head, then close.
    Reply(Vec<u8>),
    /// Forward to this address, both ways.
    Forward(SocketAddr),
    /// Read and record, never answer.
    Blackhole,
}

impl Mode {
    /// A minimal S3-like refusal: `403` with an XML error body, then close.
    pub(crate) fn forbidden() -> Mode {
        let body = "<Error><Code>AccessDenied</Code><Message>counting listener</Message></Error>";
        Mode::Reply(
            format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

/// What one accepted connection carried.
#[derive(Debug, Default, Clone)]
pub(crate) struct Conversation {
    /// Client to server (capped at [`RECORD_CAP`]).
    pub request: Vec<u8>,
    /// Server to client (capped at [`RECORD_CAP`]).
    pub reply: Vec<u8>,
}

#[derive(Default)]
struct State {
    connections: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    conversations: Mutex<Vec<Arc<Mutex<Conversation>>>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
}

/// Totals after [`Proxy::stop`].
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub connections: u64,
    /// Bytes the clients sent.
    pub bytes_in: u64,
    /// Bytes sent back to the clients.
    pub bytes_out: u64,
    pub conversations: Vec<Conversation>,
}

impl Stats {
    /// Whether `needle` occurs in what any client sent.
    pub(crate) fn client_sent(&self, needle: &[u8]) -> bool {
        self.conversations
            .iter()
            .any(|c| contains(&c.request, needle))
    }
}

pub(crate) struct Proxy {
    pub addr: SocketAddr,
    mode: Mode,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    listener: Arc<TcpListener>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    pub(crate) fn start(mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = Arc::new(listener);
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (listener, state, stop, mode) =
                (listener.clone(), state.clone(), stop.clone(), mode.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => handle(s, &mode, &state),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Proxy {
            addr,
            mode,
            state,
            stop,
            listener,
            accept: Some(accept),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far (the backlog not included; see [`Proxy::stop`]).
    pub(crate) fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Stops accepting, counts what is still in the backlog, waits for the connection handlers
    /// and returns the totals.
    pub(crate) fn stop(mut self) -> Stats {
        self.finish()
    }

    fn finish(&mut self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        // Connections completed by the kernel but not yet accepted.
        while let Ok((s, _)) = self.listener.accept() {
            handle(s, &self.mode, &self.state);
        }
        let handlers: Vec<_> = std::mem::take(&mut *self.state.handlers.lock().unwrap());
        for h in handlers {
            let _ = h.join();
        }
        Stats {
            connections: self.state.connections.load(Ordering::SeqCst),
            bytes_in: self.state.bytes_in.load(Ordering::SeqCst),
            bytes_out: self.state.bytes_out.load(Ordering::SeqCst),
            conversations: self
                .state
                .conversations
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.lock().unwrap().clone())
                .collect(),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.accept.is_some() {
            let _ = self.finish();
        }
    }
}

fn handle(client: TcpStream, mode: &Mode, state: &Arc<State>) {
    state.connections.fetch_add(1, Ordering::SeqCst);
    let _ = client.set_nonblocking(false);
    let conv = Arc::new(Mutex::new(Conversation::default()));
    state.conversations.lock().unwrap().push(conv.clone());
    let (mode, state2) = (mode.clone(), state.clone());
    let h = std::thread::spawn(move || match mode {
        Mode::Reply(reply) => serve_reply(client, &reply, &state2, &conv),
        Mode::Blackhole => {
            let _ = client.set_read_timeout(Some(Duration::from_mins(2)));
            pump(
                client.try_clone().unwrap(),
                None,
                &state2.bytes_in,
                &conv,
                true,
            );
        }
        Mode::Forward(upstream) => {
            let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (st, cv) = (state2.clone(), conv.clone());
            let up = std::thread::spawn(move || pump(c2, Some(s2), &st.bytes_in, &cv, true));
            pump(server, Some(client), &state2.bytes_out, &conv, false);
            let _ = up.join();
        }
    });
    state.handlers.lock().unwrap().push(h);
}

/// Reads the request head (or whatever arrives within a short time), then answers and closes.
fn serve_reply(mut client: TcpStream, reply: &[u8], state: &State, conv: &Mutex<Conversation>) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16 * 1024];
    let mut seen = Vec::new();
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                state.bytes_in.fetch_add(n as u64, Ordering::SeqCst);
                record(&mut conv.lock().unwrap().request, &buf[..n]);
                seen.extend_from_slice(&buf[..n]);
                if contains(&seen, b"\r\n\r\n") || seen.len() > 1024 * 1024 {
                    break;
                }
            }
        }
    }
    if client.write_all(reply).is_ok() {
        state
            .bytes_out
            .fetch_add(reply.len() as u64, Ordering::SeqCst);
        record(&mut conv.lock().unwrap().reply, reply);
    }
    let _ = client.shutdown(Shutdown::Write);
    // Drain what the client still sends (a body) so that it sees the reply rather than a reset.
    let _ = client.set_read_timeout(Some(Duration::from_millis(300)));
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
        state.bytes_in.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` (or nowhere), counting and recording, until EOF or an error.
fn pump(
    mut from: TcpStream,
    to: Option<TcpStream>,
    counter: &AtomicU64,
    conv: &Mutex<Conversation>,
    client_side: bool,
) {
    let mut to = to;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::SeqCst);
                {
                    let mut c = conv.lock().unwrap();
                    let rec = if client_side {
                        &mut c.request
                    } else {
                        &mut c.reply
                    };
                    record(rec, &buf[..n]);
                }
                if let Some(t) = to.as_mut() {
                    if t.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    }
    if let Some(t) = to {
        let _ = t.shutdown(Shutdown::Write);
    }
    let _ = from.shutdown(Shutdown::Read);
}

fn record(into: &mut Vec<u8>, bytes: &[u8]) {
    let room = RECORD_CAP.saturating_sub(into.len());
    into.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Whether `needle` occurs in `haystack` (bytes).
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
