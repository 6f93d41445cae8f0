//! Command-line interface: argument parsing and the commands. stdout carries only protocol JSON;
//! everything else goes to stderr.

use std::io::{Read, Write};

use clap::{Parser, Subcommand};

use crate::error::Error;
use crate::internal::{self, Stage};
use crate::manifest::Manifest;
use crate::protocol::Response;
use crate::validate;

/// Largest request envelope read from stdin (bodies above this belong in `BodyFile`).
pub(crate) const MAX_REQUEST_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "s3-connector",
    version = crate::VERSION_LINE,
    about = "AWS S3 action step: JSON request on stdin, JSON result on stdout."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the manifest: every operation, its parameters and their wire locations.
    Manifest,
    /// Print the JSON Schema of an operation's input (or output), or of the connection.
    Schema {
        /// Operation name, e.g. `put_object`.
        #[arg(required_unless_present = "connection", conflicts_with = "connection")]
        operation: Option<String>,
        /// Print the output schema instead of the input schema.
        #[arg(long)]
        output: bool,
        /// Print the connection schema.
        #[arg(long)]
        connection: bool,
    },
    /// Test a connection: read `{"connection": {...}, "input": {"Bucket": ...}}` from stdin,
    /// resolve the credentials and make one cheap signed call (`HeadBucket` on the bucket, else
    /// `ListBuckets` for one). Prints where the credentials came from, region and endpoint, or
    /// the error. Exit codes as for `run`.
    Check {
        #[command(flatten)]
        logs: LogArgs,
    },
    /// Serve the Model Context Protocol on stdin/stdout: every operation is a tool, with its
    /// input and output schemas. The connection comes from the environment and profile files,
    /// or from `--connection FILE`.
    Mcp {
        /// A JSON file holding the connection object (as in a request envelope).
        #[arg(long, value_name = "FILE")]
        connection: Option<std::path::PathBuf>,
        /// Tool calls executed at once.
        #[arg(long, default_value_t = crate::serve::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        #[command(flatten)]
        logs: LogArgs,
    },
    /// Validate a request envelope read from stdin; print the response envelope.
    /// Exit 0 when valid, 2 when not. Nothing is sent.
    Validate,
    /// Execute one request envelope read from stdin; print one response envelope.
    /// Exit 0 on success, 1 when the request was sent and failed, 2 when it was invalid.
    Run {
        /// Emit progress events `{"event":"progress","bytes":N,"total":M}` as JSON lines on stderr
        /// for transfers that take more than a moment.
        #[arg(long)]
        progress: bool,
        #[command(flatten)]
        logs: LogArgs,
    },
    /// Serve JSON Lines: one request envelope per stdin line (with an `id`), one response per
    /// stdout line carrying that `id`, as each completes. Exits 0 at the end of input once all
    /// requests have finished.
    Serve {
        /// Requests executed at once.
        #[arg(long, default_value_t = crate::serve::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Emit `{"id":...,"event":"progress","bytes":N,"total":M}` lines for long transfers.
        #[arg(long)]
        progress: bool,
        /// After SIGTERM or SIGINT, seconds the requests already running may take to finish
        /// before they are cancelled (then 5 s more for their cleanup at most).
        #[arg(long, default_value_t = crate::serve::DEFAULT_DRAIN_SECONDS)]
        drain_seconds: u64,
        #[command(flatten)]
        logs: LogArgs,
    },
}

#[derive(clap::Args, Debug)]
struct LogArgs {
    /// Log format on stderr. The level comes from `RUST_LOG` (default `warn`), e.g. `RUST_LOG=debug`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(args: &LogArgs) {
    use tracing_subscriber::EnvFilter;
    // aws-sigv4 logs every signed header value at debug/trace, SSE-C keys included: capped.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn"))
        .add_directive("aws_sigv4=info".parse().expect("directive"));
    // Colours only for a person at a terminal: a host's job log gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[must_use]
pub fn main() -> u8 {
    let cli = Cli::parse();
    match cli.command {
        Command::Manifest => {
            print_json(&serde_json::from_str(crate::manifest::MANIFEST_JSON).expect("manifest"))
        }
        Command::Schema {
            operation,
            output,
            connection,
        } => {
            let m = Manifest::embedded();
            if connection {
                return print_json(&crate::schemas::connection_file(m));
            }
            let name = operation.unwrap_or_default();
            match m.operation(&name) {
                Some(op) if output => print_json(&op.output_schema()),
                Some(op) => print_json(&op.input_schema()),
                None => {
                    eprintln!(
                        "s3-connector: unknown operation `{name}`; known: {}",
                        m.operation_names().join(", ")
                    );
                    2
                }
            }
        }
        Command::Validate => {
            let (id, checked) = match read_stdin() {
                Ok(text) => {
                    let (id, parsed) = validate::parse_request_with_id(&text);
                    (
                        id,
                        parsed.and_then(|req| crate::execute::preflight(&req).map(|()| req)),
                    )
                }
                Err(e) => (None, Err(e)),
            };
            let response = match checked {
                Ok(req) => {
                    let mut out = serde_json::Map::new();
                    out.insert("valid".into(), true.into());
                    out.insert("operation".into(), req.operation.name.clone().into());
                    Response::success(req.id, out.into())
                }
                Err(e) => Response::failure(id, e),
            };
            emit(&response)
        }
        Command::Check { logs } => {
            init_logs(&logs);
            let response = match read_stdin() {
                Ok(text) => runtime().block_on(crate::check::check(&text)),
                Err(e) => Response::failure(None, e),
            };
            emit(&response)
        }
        Command::Mcp {
            connection,
            concurrency,
            logs,
        } => {
            let json_logs = logs.log_format == LogFormat::Json;
            long_lived(crate::mcp::serve(connection, concurrency, json_logs))
        }
        Command::Run { progress, logs } => {
            init_logs(&logs);
            let text = match read_stdin() {
                Ok(t) => t,
                Err(e) => return emit(&Response::failure(None, e)),
            };
            // A panic is answered like any failure: one response, exit code 1.
            let response = std::panic::catch_unwind(|| run_request(&text, progress))
                .unwrap_or_else(|_| {
                    Response::failure(internal::id_in(&text), internal::panicked())
                });
            emit(&response)
        }
        Command::Serve {
            concurrency,
            progress,
            drain_seconds,
            logs,
        } => {
            init_logs(&logs);
            long_lived(crate::serve::serve(crate::serve::Options {
                concurrency,
                progress,
                drain: std::time::Duration::from_secs(drain_seconds),
            }))
        }
    }
}

/// Runs a long-lived mode (`serve`, `mcp`) on a multi-threaded runtime; its exit code.
fn long_lived(mode: impl std::future::Future<Output = u8>) -> u8 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(mode);
    // Not waiting for the blocking read of stdin, which a host that signalled may keep open.
    rt.shutdown_background();
    code
}

/// `run`'s request, from its text to its response.
fn run_request(text: &str, progress: bool) -> Response {
    let (id, parsed) = validate::parse_request_with_id(text);
    let req = match parsed {
        Ok(req) => req,
        Err(e) => return Response::failure(id, e),
    };
    internal::test_panic(Stage::Validate, &req.operation.name);
    let executor = crate::execute::Executor::new();
    let reporter = if progress {
        crate::progress::Progress::new(|done, total| {
            eprintln!(
                "{}",
                serde_json::json!({"event": "progress", "bytes": done, "total": total})
            );
        })
    } else {
        crate::progress::Progress::none()
    };
    let cancel = crate::cancel::Cancel::new();
    let work = async {
        internal::test_panic(Stage::Execute, &req.operation.name);
        let mut signals = crate::signals::Signals::new();
        let execute = executor.execute(&req, &reporter, &cancel);
        tokio::pin!(execute);
        // SIGTERM or SIGINT (a host's timeout, a person's Ctrl-C): the operation is cancelled
        // and cleans up after itself (aborts its upload) before the error is printed.
        tokio::select! {
            result = &mut execute => return result,
            () = signals.recv() => cancel.cancel(true),
        }
        execute.await
    };
    let result = runtime().block_on(work);
    Response::answer(req.id.clone(), &req.operation.name, result)
}

fn print_json(v: &serde_json::Value) -> u8 {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
    0
}

/// Writes one response envelope as a line on stdout and returns its exit code.
pub(crate) fn emit(response: &Response) -> u8 {
    let mut out = std::io::stdout().lock();
    let _ = response.write_line(&mut out);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    response.exit_code()
}

/// Reads the whole request from stdin, refusing invalid UTF-8 and oversized input.
pub(crate) fn read_stdin() -> Result<String, Error> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::invalid_at("", format!("cannot read stdin: {e}")))?;
    if buf.len() as u64 > MAX_REQUEST_BYTES {
        return Err(Error::invalid_at(
            "",
            format!("request exceeds {MAX_REQUEST_BYTES} bytes; use BodyFile for large bodies"),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        Error::invalid_at(
            "",
            format!(
                "request is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
