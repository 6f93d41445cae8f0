//! `s3-connector serve`: JSON Lines in, JSON Lines out, for hosts that keep the connector warm.
//!
//! One request envelope per input line; one response per output line carrying the request's
//! `id`, written whole as each request completes (not necessarily in input order). Requests run
//! concurrently up to a limit and share one executor, so one HTTP connection pool. A malformed
//! line, or one without an `id`, gets an error response (`id` null when unreadable or missing)
//! and the stream goes on. A request whose handling panics gets an `internal` error for its
//! `id`: every request gets exactly one response. At the end of input, work in flight finishes,
//! then the process exits.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinError, JoinSet};

use crate::cli::MAX_REQUEST_BYTES;
use crate::error::{Detail, Error};
use crate::execute::Executor;
use crate::internal::{self, Stage};
use crate::progress::Progress;
use crate::protocol::Response;
use crate::validate::{self, Request};

type Events = mpsc::UnboundedSender<String>;

/// Requests in flight at once. 32: on 2 cores against a local `SeaweedFS`, 1,000 small puts ran
/// at 1.84x-2.05x s5cmd's batch throughput at 16 and 2.03x-2.18x at 32 (docs/benchmarks.md);
/// S3 itself takes far more per prefix, and s5cmd's own default is 256 workers.
pub(crate) const DEFAULT_CONCURRENCY: usize = 32;

/// Runs the loop over the process's stdin and stdout; returns the exit code.
pub(crate) async fn serve(concurrency: usize, progress: bool) -> u8 {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
        while let Some(line) = rx.recv().await {
            // Whole lines only: one write of line + newline, flushed when the queue is drained.
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
    });
    let executor = Arc::new(Executor::new());
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut input = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match (&mut input)
            .take(MAX_REQUEST_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("reading stdin: {e}");
                break;
            }
        };
        if n == 0 {
            break;
        }
        if buf.len() as u64 > MAX_REQUEST_BYTES {
            let _ = tx.send(
                Response::failure(
                    Some(Value::Null),
                    Error::invalid_at("", "line exceeds the request size limit"),
                )
                .to_line(),
            );
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            let _ = input.read_until(b'\n', &mut rest).await;
            continue;
        }
        let line: Arc<str> = match std::str::from_utf8(&buf) {
            Ok(l) if l.trim().is_empty() => continue,
            Ok(l) => l.trim_end().into(),
            Err(e) => {
                let err = Error::invalid_at(
                    "",
                    format!("line is not valid UTF-8 (byte {})", e.valid_up_to()),
                );
                let _ = tx.send(Response::failure(Some(Value::Null), err).to_line());
                continue;
            }
        };
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let (executor, tx) = (executor.clone(), tx.clone());
        tasks.spawn(async move {
            let response = respond(&executor, line, progress.then_some(&tx)).await;
            let _ = tx.send(response.to_line());
            drop(permit);
        });
        while let Some(ended) = tasks.try_join_next() {
            reap(ended);
        }
    }
    while let Some(ended) = tasks.join_next().await {
        reap(ended);
    }
    drop(tx);
    let _ = writer.await;
    0
}

/// A request task's end. `respond` answers panics itself, so a task fails only outside any
/// request's handling (sending its response line): logged, since nothing else can be done.
fn reap(ended: Result<(), JoinError>) {
    if let Err(e) = ended {
        tracing::error!("a request task failed after handling its request: {e}");
    }
}

/// One line's response: exactly one, also when handling it panics (an `internal` error for the
/// request's `id`, read again from the line).
async fn respond(executor: &Executor, line: Arc<str>, events: Option<&Events>) -> Response {
    let handling = AssertUnwindSafe(handle(executor, line.clone(), events)).catch_unwind();
    if let Ok(response) = handling.await {
        return response;
    }
    let id = tokio::task::spawn_blocking(move || internal::id_in(&line))
        .await
        .ok()
        .flatten();
    Response::failure(Some(id.unwrap_or(Value::Null)), internal::panicked())
}

async fn handle(executor: &Executor, line: Arc<str>, events: Option<&Events>) -> Response {
    // Off the runtime's worker threads: parsing a line (up to 256 MiB), compiling a schema on
    // first use, and checking `BodyFile` and `OutputFile` on disk all block.
    let (id, req) = match tokio::task::spawn_blocking(move || check(&line)).await {
        Ok(Ok(valid)) => valid,
        Ok(Err(refused)) => return refused,
        // A panic in validation goes on up, answered like one in execution. (A blocking task
        // is not cancelled while awaited: the runtime outlives `serve`.)
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    internal::test_panic(Stage::Execute, &req.operation.name);
    let progress = match events {
        Some(tx) => {
            let (tx, id) = (tx.clone(), id.clone());
            Progress::new(move |done, total| {
                let _ = tx.send(
                    json!({"id": id, "event": "progress", "bytes": done, "total": total})
                        .to_string(),
                );
            })
        }
        None => Progress::none(),
    };
    let result = executor.execute_with_progress(&req, &progress).await;
    Response::answer(id, &req.operation.name, result)
}

/// Parses and validates one line: its `id` and request, or the response refusing it.
fn check(line: &str) -> Result<(Option<Value>, Request), Response> {
    let (id, parsed) = validate::parse_request_with_id(line);
    let id = id.filter(|v| !v.is_null());
    // (A line that is not a JSON object has no id to find: its own error says why.)
    let readable = || crate::strict_json::parse(line).is_ok_and(|v| v.is_object());
    if id.is_none() && readable() {
        // Without an id the host could not match the response: nothing is run.
        let missing = Detail {
            pointer: "/id".into(),
            message: "is required in serve mode (any JSON but null), to match the response to \
                      the request"
                .into(),
        };
        let err = match parsed {
            Ok(_) => Error::invalid_at("/id", missing.message.clone()),
            Err(mut e) => {
                e.details.insert(0, missing);
                e
            }
        };
        return Err(Response::failure(Some(Value::Null), err));
    }
    let id = Some(id.unwrap_or(Value::Null));
    let req = parsed.map_err(|e| Response::failure(id.clone(), e))?;
    internal::test_panic(Stage::Validate, &req.operation.name);
    Ok((id, req))
}
