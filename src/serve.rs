//! `s3-connector serve`: JSON Lines in, JSON Lines out, for hosts that keep the connector warm.
//!
//! One request envelope per input line; one response per output line carrying the request's
//! `id`, written whole as each request completes (not necessarily in input order). Requests run
//! concurrently up to a limit and share one executor, so one HTTP connection pool. A malformed
//! line, or one without an `id`, gets an error response (`id` null when unreadable or missing)
//! and the stream goes on. A request whose handling panics gets an `internal` error for its
//! `id`: every request gets exactly one response.
//!
//! A `{"cancel": ID}` line cancels the requests in flight with that `id`: each is answered with
//! a `cancelled` error once what it started is cleaned up (`cancel.rs`). At the end of input,
//! work in flight finishes, then the process exits 0. On SIGTERM or SIGINT it stops reading,
//! answers the requests still waiting for a slot as cancelled, lets those running finish for
//! the drain period, cancels the rest, and exits 0 once every request read is answered.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinError, JoinSet};

use crate::cancel::{Cancel, CLEANUP_BOUND};
use crate::cli::MAX_REQUEST_BYTES;
use crate::error::{Detail, Error};
use crate::execute::Executor;
use crate::internal::{self, Stage};
use crate::progress::Progress;
use crate::protocol::Response;
use crate::signals::Signals;
use crate::validate::{self, Request};

type Events = mpsc::UnboundedSender<String>;

/// Requests in flight at once. 32: on 2 cores against a local `SeaweedFS`, 1,000 small puts ran
/// at 1.84x-2.05x s5cmd's batch throughput at 16 and 2.03x-2.18x at 32 (docs/benchmarks.md);
/// S3 itself takes far more per prefix, and s5cmd's own default is 256 workers.
pub(crate) const DEFAULT_CONCURRENCY: usize = 32;

/// After SIGTERM or SIGINT, how long requests already running may go on before they are
/// cancelled. 20 s, plus [`CLEANUP_BOUND`] for their cleanup, ends within the 30 s Kubernetes
/// gives a pod between SIGTERM and SIGKILL.
pub(crate) const DEFAULT_DRAIN_SECONDS: u64 = 20;

/// Requests read and waiting for a slot, beyond those running. Reading stops while this many
/// wait (so that a flood of lines is not all held in memory); a `cancel` line is read again as
/// soon as one of them starts.
const MAX_WAITING: usize = 1024;

/// What `serve` is run with.
pub(crate) struct Options {
    pub(crate) concurrency: usize,
    pub(crate) progress: bool,
    pub(crate) drain: Duration,
}

/// The requests read and not yet answered, by `id` (its JSON text): what a `cancel` line or a
/// shutdown reaches. Requests that share an `id` share its entry.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<String, Entry>>);

struct Entry {
    id: Value,
    cancel: Cancel,
    requests: usize,
}

impl InFlight {
    pub(crate) fn add(&self, id: &Value) -> Cancel {
        let mut map = self.0.lock().expect("in-flight map");
        let entry = map.entry(id.to_string()).or_insert_with(|| Entry {
            id: id.clone(),
            cancel: Cancel::new(),
            requests: 0,
        });
        entry.requests += 1;
        entry.cancel.clone()
    }

    pub(crate) fn remove(&self, id: &Value) {
        let mut map = self.0.lock().expect("in-flight map");
        let key = id.to_string();
        if let Some(entry) = map.get_mut(&key) {
            entry.requests -= 1;
            if entry.requests == 0 {
                map.remove(&key);
            }
        }
    }

    /// Cancels the requests with this `id`; says whether there were any.
    pub(crate) fn cancel(&self, id: &Value, shutdown: bool) -> bool {
        let map = self.0.lock().expect("in-flight map");
        map.get(&id.to_string())
            .inspect(|e| e.cancel.cancel(shutdown))
            .is_some()
    }

    pub(crate) fn cancel_all(&self) {
        for entry in self.0.lock().expect("in-flight map").values() {
            entry.cancel.cancel(true);
        }
    }

    /// What is left: each `id` once per request still unanswered.
    fn take(&self) -> Vec<(Value, Cancel)> {
        let map = std::mem::take(&mut *self.0.lock().expect("in-flight map"));
        map.into_values()
            .flat_map(|e| std::iter::repeat_n((e.id, e.cancel), e.requests))
            .collect()
    }
}

/// Shared by the reading loop and the request tasks.
struct State {
    executor: Executor,
    slots: Semaphore,
    in_flight: InFlight,
    /// Set on SIGTERM or SIGINT: requests not yet started are answered as cancelled.
    stopping: Cancel,
    events: Events,
    progress: bool,
}

/// Runs the loop over the process's stdin and stdout; returns the exit code.
pub(crate) async fn serve(opts: Options) -> u8 {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(write_lines(rx));
    let state = Arc::new(State {
        executor: Executor::new(),
        slots: Semaphore::new(opts.concurrency.max(1)),
        in_flight: InFlight::default(),
        stopping: Cancel::new(),
        events: tx,
        progress: opts.progress,
    });
    let mut signals = Signals::new();
    let mut tasks = JoinSet::new();
    let mut signalled = read_requests(&state, &mut tasks, &mut signals).await;
    if !signalled {
        // The end of input: what runs finishes, unless a signal comes first.
        signalled = tokio::select! {
            () = join_all(&mut tasks) => false,
            () = signals.recv() => true,
        };
    }
    if signalled {
        tracing::warn!(
            drain_seconds = opts.drain.as_secs(),
            "stopping: reading no more requests; those waiting are cancelled, those running \
             get the drain period"
        );
        state.stopping.cancel(true);
        drain(&state, &mut tasks, &mut signals, opts.drain).await;
    }
    join_all(&mut tasks).await;
    let State { events, .. } = Arc::into_inner(state).expect("tasks ended");
    drop(events);
    let _ = writer.await;
    0
}

/// Writes response lines whole (line and newline in one write), flushed when the queue drains.
pub(crate) async fn write_lines(mut rx: mpsc::UnboundedReceiver<String>) {
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    while let Some(line) = rx.recv().await {
        let mut buf = line.into_bytes();
        buf.push(b'\n');
        if out.write_all(&buf).await.is_err() {
            break;
        }
        if rx.is_empty() && out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.flush().await;
}

/// Reads and dispatches lines until the end of input (false) or a signal (true).
async fn read_requests(state: &Arc<State>, tasks: &mut JoinSet<()>, signals: &mut Signals) -> bool {
    let waiting = Arc::new(Semaphore::new(
        MAX_WAITING + state.slots.available_permits(),
    ));
    let mut input = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = tokio::select! {
            () = signals.recv() => return true,
            n = read_line(&mut input, &mut buf) => n,
        };
        let line = match n {
            Ok(0) => return false,
            Ok(_) => match line_text(&mut input, &buf).await {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(refused) => {
                    let _ = state.events.send(refused.to_line());
                    continue;
                }
            },
            Err(e) => {
                tracing::error!("reading stdin: {e}");
                return false;
            }
        };
        if let Some(id) = cancel_line(&line) {
            if !state.in_flight.cancel(&id, false) {
                tracing::warn!(%id, "cancel for no request in flight (unknown, or already answered)");
            }
            continue;
        }
        let (id, req) = match checked(line).await {
            Ok(valid) => valid,
            Err(refused) => {
                let _ = state.events.send(refused.to_line());
                continue;
            }
        };
        let cancel = state.in_flight.add(&id);
        let permit = tokio::select! {
            () = signals.recv() => {
                // Read but not started: answered as cancelled by the shutdown.
                state.in_flight.remove(&id);
                cancel.cancel(true);
                let _ = state.events.send(Response::failure(Some(id), cancel.error()).to_line());
                return true;
            }
            p = waiting.clone().acquire_owned() => p.expect("semaphore open"),
        };
        let state = state.clone();
        tasks.spawn(async move {
            let response = run(&state, &id, req, &cancel).await;
            state.in_flight.remove(&id);
            let _ = state.events.send(response.to_line());
            drop(permit);
        });
        while let Some(ended) = tasks.try_join_next() {
            reap(ended);
        }
    }
}

/// Reads one line (at most the size limit and one byte more).
async fn read_line(
    input: &mut (impl AsyncRead + AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    input
        .take(MAX_REQUEST_BYTES + 1)
        .read_until(b'\n', buf)
        .await
}

/// The line's text, `None` for a blank one, or the response refusing it (too long, not UTF-8).
async fn line_text(
    input: &mut (impl AsyncRead + AsyncBufReadExt + Unpin),
    buf: &[u8],
) -> Result<Option<Arc<str>>, Response> {
    if buf.len() as u64 > MAX_REQUEST_BYTES {
        // Skip the rest of the oversized line.
        let mut rest = Vec::new();
        let _ = input.read_until(b'\n', &mut rest).await;
        return Err(Response::failure(
            Some(Value::Null),
            Error::invalid_at("", "line exceeds the request size limit"),
        ));
    }
    match std::str::from_utf8(buf) {
        Ok(l) if l.trim().is_empty() => Ok(None),
        Ok(l) => Ok(Some(l.trim_end().into())),
        Err(e) => Err(Response::failure(
            Some(Value::Null),
            Error::invalid_at(
                "",
                format!("line is not valid UTF-8 (byte {})", e.valid_up_to()),
            ),
        )),
    }
}

/// The `id` of a `{"cancel": ID}` line. Only a short line is looked at: a request envelope
/// cannot have a `cancel` member, so any other line is a request.
fn cancel_line(line: &str) -> Option<Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CancelLine {
        cancel: Value,
    }
    if line.len() > 4096 || !line.contains("\"cancel\"") {
        return None;
    }
    serde_json::from_str::<CancelLine>(line)
        .ok()
        .map(|c| c.cancel)
        .filter(|id| !id.is_null())
}

/// A line parsed and validated off the runtime's worker threads (parsing up to 256 MiB,
/// compiling a schema on first use and checking `BodyFile` and `OutputFile` on disk block): its
/// `id` and request, or the response refusing it. A panic while checking is answered as
/// `internal` for the line's `id`.
async fn checked(line: Arc<str>) -> Result<(Value, Request), Response> {
    let text = line.clone();
    match tokio::task::spawn_blocking(move || check(&text)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(panicked(line).await),
        Err(e) => Err(Response::failure(
            Some(Value::Null),
            Error::of(
                crate::error::Failure::Internal,
                format!("checking a line: {e}"),
            ),
        )),
    }
}

/// The `internal` error for a request whose handling panicked, for the `id` read again from
/// its line.
async fn panicked(line: Arc<str>) -> Response {
    let id = tokio::task::spawn_blocking(move || internal::id_in(&line))
        .await
        .ok()
        .flatten();
    Response::failure(Some(id.unwrap_or(Value::Null)), internal::panicked())
}

/// One request from its slot to its response: exactly one, also when it panics, is cancelled
/// while waiting, or the process stops first.
async fn run(state: &State, id: &Value, req: Request, cancel: &Cancel) -> Response {
    let permit = tokio::select! {
        p = state.slots.acquire() => p.expect("semaphore open"),
        () = cancel.cancelled() => return Response::failure(Some(id.clone()), cancel.error()),
        () = state.stopping.cancelled() => {
            cancel.cancel(true);
            return Response::failure(Some(id.clone()), cancel.error());
        }
    };
    let handling = AssertUnwindSafe(execute(state, id, &req, cancel)).catch_unwind();
    let response = handling
        .await
        .unwrap_or_else(|_| Response::failure(Some(id.clone()), internal::panicked()));
    drop(permit);
    response
}

async fn execute(state: &State, id: &Value, req: &Request, cancel: &Cancel) -> Response {
    internal::test_panic(Stage::Execute, &req.operation.name);
    let progress = if state.progress {
        let (tx, id) = (state.events.clone(), id.clone());
        Progress::new(move |done, total| {
            let _ = tx.send(
                json!({"id": id, "event": "progress", "bytes": done, "total": total}).to_string(),
            );
        })
    } else {
        Progress::none()
    };
    let result = state.executor.execute(req, &progress, cancel).await;
    Response::answer(Some(id.clone()), &req.operation.name, result)
}

/// After a signal: requests running get `drain` (cut short by a second signal), then are
/// cancelled and get [`CLEANUP_BOUND`] to clean up. Any still unanswered a moment after that
/// are answered here, so that every request read gets its response.
async fn drain(
    state: &Arc<State>,
    tasks: &mut JoinSet<()>,
    signals: &mut Signals,
    drain: Duration,
) {
    let ended = tokio::select! {
        () = join_all(tasks) => true,
        () = tokio::time::sleep(drain) => {
            tracing::warn!("drain period over: cancelling what still runs");
            false
        }
        () = signals.recv() => {
            tracing::warn!("second signal: cancelling what still runs");
            false
        }
    };
    if ended {
        return;
    }
    state.in_flight.cancel_all();
    let last = CLEANUP_BOUND + Duration::from_secs(1);
    if tokio::time::timeout(last, join_all(tasks)).await.is_ok() {
        return;
    }
    tasks.abort_all();
    for (id, cancel) in state.in_flight.take() {
        tracing::error!(%id, "a cancelled request did not end within its cleanup bound");
        let _ = state
            .events
            .send(Response::failure(Some(id), cancel.error()).to_line());
    }
}

/// A request task's end. `run` answers panics itself, so a task fails only outside any
/// request's handling (sending its response line), or when aborted at the very end.
fn reap(ended: Result<(), JoinError>) {
    if let Err(e) = ended {
        if !e.is_cancelled() {
            tracing::error!("a request task failed after handling its request: {e}");
        }
    }
}

/// Waits for every task (cancel-safe).
async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(ended) = tasks.join_next().await {
        reap(ended);
    }
}

/// Parses and validates one line: its `id` and request, or the response refusing it.
fn check(line: &str) -> Result<(Value, Request), Response> {
    let (id, parsed) = validate::parse_request_with_id(line);
    let id = id.filter(|v| !v.is_null());
    // (A line that is not a JSON object has no id to find: its own error says why.)
    let readable = || crate::strict_json::parse(line).is_ok_and(|v| v.is_object());
    let Some(id) = id else {
        let err = if readable() {
            // Without an id the host could not match the response: nothing is run.
            let missing = Detail {
                pointer: "/id".into(),
                message: "is required in serve mode (any JSON but null), to match the response \
                          to the request"
                    .into(),
            };
            match parsed {
                Ok(_) => Error::invalid_at("/id", missing.message.clone()),
                Err(mut e) => {
                    e.details.insert(0, missing);
                    e
                }
            }
        } else {
            match parsed {
                Err(e) => e,
                Ok(_) => Error::invalid_at("", "the line is not a JSON object"),
            }
        };
        return Err(Response::failure(Some(Value::Null), err));
    };
    let req = parsed.map_err(|e| Response::failure(Some(id.clone()), e))?;
    internal::test_panic(Stage::Validate, &req.operation.name);
    Ok((id, req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_lines_and_requests_told_apart() {
        assert_eq!(cancel_line(r#"{"cancel": 7}"#), Some(json!(7)));
        assert_eq!(cancel_line(r#"{ "cancel" : "a" }"#), Some(json!("a")));
        assert_eq!(cancel_line(r#"{"cancel": null}"#), None);
        assert_eq!(cancel_line(r#"{"cancel": 1, "id": 2}"#), None);
        assert_eq!(
            cancel_line(r#"{"id": 1, "operation": "get_object", "input": {"Key": "\"cancel\""}}"#),
            None
        );
    }

    #[test]
    fn requests_sharing_an_id_share_one_entry() {
        let f = InFlight::default();
        let (a, b) = (f.add(&json!("x")), f.add(&json!("x")));
        assert!(f.cancel(&json!("x"), false));
        assert!(a.is_cancelled() && b.is_cancelled());
        f.remove(&json!("x"));
        assert_eq!(f.take().len(), 1);
        assert!(!f.cancel(&json!("x"), false));
    }
}
