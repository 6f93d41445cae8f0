//! `s3-connector mcp`: the Model Context Protocol (revisions 2025-06-18 and 2025-11-25) on
//! stdio: JSON-RPC 2.0, one message per line.
//!
//! Every operation of the manifest is a tool: its input and output JSON Schemas (2020-12) as
//! `inputSchema` and `outputSchema`, its hints as `annotations`. A call runs as `serve` runs a
//! request (one executor, one connection pool, calls at once up to a limit) with the connection
//! given at start; its result is the output as `structuredContent` and as text, or the error
//! envelope as text with `isError`. Transfers report progress when the call asks for it
//! (`_meta.progressToken`), logs reach the client as `notifications/message` at the level it
//! sets, and `notifications/cancelled` cancels a call (which still cleans up after itself and,
//! as the protocol asks, is then not answered).
//!
//! Written here rather than with an SDK crate: the part of the protocol a tool server needs is
//! six methods over the JSON Lines loop `serve` already has, and the official Rust SDK (`rmcp`)
//! would bring its own macros, schema derivation and transports for what is ~400 lines.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::cancel::{Cancel, CLEANUP_BOUND};
use crate::error::Error;
use crate::execute::Executor;
use crate::manifest::{Manifest, Operation, Runner};
use crate::progress::Progress;
use crate::protocol::Response;
use crate::serve::{write_lines, InFlight};
use crate::signals::Signals;

/// Protocol revisions spoken, newest first: a client asking for another gets the newest.
const REVISIONS: &[&str] = &["2025-11-25", "2025-06-18"];
/// Tools per `tools/list` page.
const PAGE: usize = 50;

// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

type Out = mpsc::UnboundedSender<String>;

struct Server {
    executor: Executor,
    connection: Value,
    slots: Semaphore,
    calls: InFlight,
    out: Out,
}

/// Runs the server until the client closes stdin or a signal; returns the exit code.
pub(crate) async fn serve(connection: Option<PathBuf>, concurrency: usize, json_logs: bool) -> u8 {
    let connection = match load_connection(connection) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("s3-connector mcp: {message}");
            return 2;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    crate::mcp_log::init(tx.clone(), json_logs);
    let writer = tokio::spawn(write_lines(rx));
    let server = Arc::new(Server {
        executor: Executor::new(),
        connection,
        slots: Semaphore::new(concurrency.max(1)),
        calls: InFlight::default(),
        out: tx,
    });
    let mut tasks = JoinSet::new();
    let mut signals = Signals::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            () = signals.recv() => break,
            line = lines.next_line() => line,
        };
        match line {
            Ok(Some(line)) if line.trim().is_empty() => {}
            Ok(Some(line)) => server.message(&line, &mut tasks),
            Ok(None) => break,
            Err(e) => {
                tracing::error!("reading stdin: {e}");
                break;
            }
        }
        while let Some(ended) = tasks.try_join_next() {
            log_task_end(ended);
        }
    }
    // The session is over: calls still running are cancelled and clean up after themselves.
    server.calls.cancel_all();
    let ended = tokio::time::timeout(CLEANUP_BOUND + std::time::Duration::from_secs(1), async {
        while let Some(ended) = tasks.join_next().await {
            log_task_end(ended);
        }
    });
    if ended.await.is_err() {
        tracing::error!("calls still running after their cleanup bound were stopped");
    }
    crate::mcp_log::stop();
    drop(server);
    let _ = writer.await;
    0
}

fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        tracing::error!("a tool call task failed: {e}");
    }
}

/// The connection object from `--connection FILE`, checked as a request's would be; none
/// (environment and profile files) without it.
fn load_connection(path: Option<PathBuf>) -> Result<Value, String> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the connection file {}: {e}", path.display()))?;
    let connection = crate::strict_json::parse(&text)
        .map_err(|e| format!("the connection file {} is not JSON: {e}", path.display()))?;
    let probe = json!({"operation": "list_buckets", "connection": connection});
    crate::validate::validate_envelope(probe).map_err(|e| {
        format!(
            "the connection file {} is not a valid connection: {}",
            path.display(),
            serde_json::to_string(&e).unwrap_or_default()
        )
    })?;
    Ok(connection)
}

impl Server {
    /// One message from the client.
    fn message(self: &Arc<Self>, line: &str, tasks: &mut JoinSet<()>) {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return self.error(&Value::Null, PARSE_ERROR, &format!("parse error: {e}")),
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            if msg.get("id").is_some()
                && (msg.get("result").is_some() || msg.get("error").is_some())
            {
                return; // a response: this server sends no requests
            }
            let id = msg.get("id").cloned().unwrap_or(Value::Null);
            return self.error(&id, INVALID_REQUEST, "not a JSON-RPC 2.0 request");
        };
        let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
        let Some(id) = msg.get("id").cloned() else {
            return self.notification(method, &params);
        };
        let result = match method {
            "initialize" => Ok(initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => list_tools(&params),
            "logging/setLevel" => set_level(&params),
            "tools/call" => {
                // Registered before the task starts, so that a cancel right behind it finds it.
                let cancel = self.calls.add(&id);
                let server = self.clone();
                tasks.spawn(async move { server.call(id, params, cancel).await });
                return;
            }
            _ => Err((METHOD_NOT_FOUND, format!("method not found: {method}"))),
        };
        match result {
            Ok(result) => self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result})),
            Err((code, message)) => self.error(&id, code, &message),
        }
    }

    fn notification(&self, method: &str, params: &Value) {
        if method == "notifications/cancelled" {
            if let Some(id) = params.get("requestId") {
                if !self.calls.cancel(id, false) {
                    tracing::debug!(%id, "cancelled a call that is not running");
                }
            }
        }
        // `notifications/initialized` and the rest need nothing.
    }

    /// A `tools/call`: answered when it ends, unless the client cancelled it.
    async fn call(&self, id: Value, params: Value, cancel: Cancel) {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(op) = Manifest::embedded().operation(name) else {
            self.calls.remove(&id);
            return self.error(&id, INVALID_PARAMS, &format!("unknown tool: {name:?}"));
        };
        let token = params.pointer("/_meta/progressToken").cloned();
        let response = self.run(op, &params, token, &cancel).await;
        self.calls.remove(&id);
        if cancel.is_cancelled() {
            return; // the client cancelled it: no response, as MCP asks
        }
        let result = match (&response.output, &response.error) {
            (Some(output), _) => {
                let output = output.to_value();
                json!({
                    "content": [{"type": "text", "text": output.to_string()}],
                    "structuredContent": output,
                    "isError": false,
                })
            }
            _ => json!({
                "content": [{"type": "text", "text": response.to_line()}],
                "isError": true,
            }),
        };
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    /// The call as a request envelope, validated off the runtime's threads and executed.
    async fn run(
        &self,
        op: &'static Operation,
        params: &Value,
        token: Option<Value>,
        cancel: &Cancel,
    ) -> Response {
        let envelope = json!({
            "operation": op.name,
            "input": params.get("arguments").cloned().unwrap_or_else(|| json!({})),
            "connection": self.connection,
        });
        let req =
            match tokio::task::spawn_blocking(move || crate::validate::validate_envelope(envelope))
                .await
            {
                Ok(Ok(req)) => req,
                Ok(Err(e)) => return Response::failure(None, e),
                Err(e) => {
                    let e = Error::of(crate::error::Failure::Internal, format!("validating: {e}"));
                    return Response::failure(None, e);
                }
            };
        let Ok(_slot) = self.slots.acquire().await else {
            return Response::failure(None, cancel.error());
        };
        let progress = match token {
            Some(token) => {
                let out = self.out.clone();
                Progress::new(move |done, total| {
                    let params = json!({"progressToken": token, "progress": done, "total": total});
                    let _ = out.send(
                        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
                            .to_string(),
                    );
                })
            }
            None => Progress::none(),
        };
        let result = self.executor.execute(&req, &progress, cancel).await;
        Response::answer(None, &op.name, result)
    }

    fn error(&self, id: &Value, code: i64, message: &str) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        );
    }

    fn send(&self, message: &Value) {
        let _ = self.out.send(message.to_string());
    }
}

/// The `initialize` result: the client's revision when spoken here, else the newest.
fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let revision = asked
        .filter(|v| REVISIONS.contains(v))
        .unwrap_or(REVISIONS[0]);
    json!({
        "protocolVersion": revision,
        "capabilities": {"tools": {"listChanged": false}, "logging": {}},
        "serverInfo": {
            "name": "s3-connector",
            "title": "S3 connector",
            "version": crate::VERSION,
        },
        "instructions": "Each tool is one Amazon S3 operation (or a workflow step such as \
            upload_file, download_file, copy_file, delete_prefix), named as botocore names it. \
            Inputs use S3's own parameter names (Bucket, Key, ...); outputs are S3's reply as \
            JSON. Hints say which tools only read and which replace or delete data.",
    })
}

/// One page of tools; `cursor` is where the page starts.
fn list_tools(params: &Value) -> Result<Value, (i64, String)> {
    let ops = &Manifest::embedded().operations;
    let start = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(c) => c
            .as_str()
            .and_then(|c| c.parse::<usize>().ok())
            .filter(|n| *n < ops.len())
            .ok_or((INVALID_PARAMS, format!("invalid cursor: {c}")))?,
    };
    let end = (start + PAGE).min(ops.len());
    let tools: Vec<Value> = ops[start..end].iter().map(tool).collect();
    let mut result = json!({"tools": tools});
    if end < ops.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    Ok(result)
}

/// An operation as an MCP tool.
fn tool(op: &Operation) -> Value {
    let hints = op.hints;
    json!({
        "name": op.name,
        "title": op.title,
        "description": op.description,
        "inputSchema": op.input_schema(),
        "outputSchema": op.output_schema(),
        "annotations": {
            "title": op.title,
            "readOnlyHint": hints.read_only,
            "destructiveHint": hints.destructive,
            "idempotentHint": hints.idempotent,
            // A presigned URL is signed here without reaching out to anything.
            "openWorldHint": op.runner != Some(Runner::Presign),
        },
    })
}

/// `logging/setLevel`: the least severe level of log messages sent to the client.
fn set_level(params: &Value) -> Result<Value, (i64, String)> {
    let level = params
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rank = crate::mcp_log::rank(level)
        .ok_or((INVALID_PARAMS, format!("unknown log level: {level:?}")))?;
    crate::mcp_log::LEVEL.store(rank, Ordering::Relaxed);
    Ok(json!({}))
}
