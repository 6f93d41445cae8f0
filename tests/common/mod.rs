//! Test harness: real S3-compatible servers on 127.0.0.1, started once per test binary, and a
//! runner that drives the `s3-connector` binary exactly as a host does (JSON on stdin/stdout).
//!
//! Servers come from `scripts/install-tools` (`PyPI` wheels) and are started through
//! `scripts/s3-server`, wrapped so that they are killed when the test process exits, however it
//! exits: the wrapper waits on a pipe that only this process holds.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub(crate) const ACCESS_KEY: &str = "AKIDEXAMPLETEST";
pub(crate) const SECRET_KEY: &str = "fake/secret/for/tests/only";
pub(crate) const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub(crate) struct Server {
    pub kind: &'static str,
    pub endpoint: String,
    pub port: u16,
    /// Held open for the life of the process; its closing stops the server.
    _lifeline: Mutex<ChildStdin>,
    _wrapper: Mutex<Child>,
}

impl Server {
    /// Whether this server checks `SigV4` signatures (moto accepts any).
    pub(crate) fn verifies_signatures(&self) -> bool {
        self.kind == "seaweedfs"
    }

    pub(crate) fn connection(&self) -> Value {
        json!({"endpoint": self.endpoint, "region": "us-east-1", "access_key_id": ACCESS_KEY,
               "secret_access_key": SECRET_KEY, "addressing": "path"})
    }
}

pub(crate) fn tools_bin(name: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".tools/venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-tools first",
        p.display()
    );
    p
}

fn ports_free(base: u16, n: u16) -> bool {
    (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

fn start(kind: &'static str) -> Server {
    start_with(kind, &[], None)
}

/// Whether a TLS server at this endpoint answers as it should yet.
pub(crate) type TlsReady<'a> = dyn Fn(&str) -> Result<(), String> + 'a;

/// Starts a server of `kind` with extra arguments for it (`scripts/s3-server`'s
/// `EXTRA_SERVER_ARGS`). With `tls_ready` it serves https (and the endpoint says so), and is
/// ready when `tls_ready(endpoint)` succeeds: the port opens before the TLS layer is set up.
///
/// A server that is not ready in time (a slow machine, or a port taken between our check and
/// its bind) is killed and started again on other ports, up to three times; every failed
/// attempt prints the end of its log, so a failure says why.
pub(crate) fn start_with(
    kind: &'static str,
    extra: &[&str],
    tls_ready: Option<&TlsReady<'_>>,
) -> Server {
    let mut failures = Vec::new();
    for attempt in 0..3u16 {
        match try_start(kind, extra, tls_ready, attempt) {
            Ok(server) => return server,
            Err(why) => {
                let first = why.lines().next().unwrap_or_default();
                eprintln!("{kind}: start attempt {} failed: {first}", attempt + 1);
                failures.push(why);
            }
        }
    }
    panic!(
        "{kind} did not start in 3 attempts:\n{}",
        failures.join("\n\n")
    );
}

/// Ports for `kind`: disjoint ranges per kind, so two servers starting at once never pick the
/// same port, and all below Linux's ephemeral range (32768..), so an outgoing connection's
/// local port cannot take one while the server is starting.
fn pick_port(kind: &str, attempt: u16) -> u16 {
    let (span, base, slots) = if kind == "seaweedfs" {
        (10, 20000, 1000)
    } else {
        (1, 30000, 2700)
    };
    let seed = u16::try_from(std::process::id() & 0xffff)
        .expect("16 bits")
        .wrapping_add(attempt.wrapping_mul(101));
    (0..200u16)
        .map(|i| base + ((seed.wrapping_mul(7).wrapping_add(i * 37)) % slots) * span)
        .find(|&p| ports_free(p, span))
        .expect("free ports on 127.0.0.1")
}

fn try_start(
    kind: &'static str,
    extra: &[&str],
    tls_ready: Option<&TlsReady<'_>>,
    attempt: u16,
) -> Result<Server, String> {
    let port = pick_port(kind, attempt);
    let dir = Path::new(ROOT)
        .join("target/test-servers")
        .join(format!("{kind}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(ROOT).join("scripts/s3-server");
    let log = dir.join("server.log");
    // The wrapper starts the server, then blocks reading stdin; EOF (this process gone, or the
    // handle dropped after a failed attempt) kills it.
    let wrapper = format!(
        "\"$0\" {kind} {port} \"$1\" \"${{@:3}}\" >\"$2\" 2>&1 </dev/null & s=$!; echo started; read -r _; kill -9 $s 2>/dev/null; wait $s 2>/dev/null; rm -rf \"$1\""
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(wrapper)
        .arg(&script)
        .arg(dir.join("data"))
        .arg(&log)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server wrapper");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server {
        kind,
        endpoint: format!(
            "{}://127.0.0.1:{port}",
            if tls_ready.is_some() { "https" } else { "http" }
        ),
        port,
        _lifeline: Mutex::new(child.stdin.take().unwrap()),
        _wrapper: Mutex::new(child),
    };
    match wait_ready(kind, &server.endpoint, port, tls_ready) {
        Ok(()) => Ok(server),
        Err(why) => {
            let tail = log_tail(&log, 40);
            // Closing the lifeline makes the wrapper kill the server; wait until it has.
            let Server {
                _lifeline: lifeline,
                _wrapper: wrapper,
                ..
            } = server;
            drop(lifeline);
            let _ = wrapper.into_inner().unwrap().wait();
            Err(format!(
                "{kind} on port {port}: {why}; its log ends:\n{tail}"
            ))
        }
    }
}

/// Waits until the port answers, and (without TLS) until an anonymous `GET /` gets the answer
/// of the server we started (`SeaweedFS` refuses it with 403, moto lists buckets with 200), not
/// a 503 of a server still starting, or something else that grabbed the port. (Over TLS the
/// caller checks it.)
fn wait_ready(
    kind: &str,
    endpoint: &str,
    port: u16,
    tls_ready: Option<&TlsReady<'_>>,
) -> Result<(), String> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_mins(2);
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err("the port never opened in 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // One poll: Ok(Ok) ready, Ok(Err) not yet (with what it saw), Err a wrong server.
    let expected = if kind == "seaweedfs" { 403 } else { 200 };
    let probe = || -> Result<Result<(), String>, String> {
        match tls_ready {
            Some(check) => Ok(check(endpoint)),
            None => match anonymous_get_status(addr) {
                Ok(s) if s == expected => Ok(Ok(())),
                Ok(503) => Ok(Err("GET / got status 503".into())),
                Ok(s) => Err(format!("GET / answered {s}, not {expected}")),
                Err(e) => Ok(Err(format!("GET / got error: {e}"))),
            },
        }
    };
    loop {
        let last = match probe()? {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if Instant::now() > deadline {
            return Err(format!(
                "not ready {:.0} s after starting; last: {last}",
                started.elapsed().as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("(unreadable: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn anonymous_get_status(addr: SocketAddr) -> std::io::Result<u16> {
    use std::io::Read;
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    c.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut head = [0u8; 12];
    c.read_exact(&mut head)?;
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .map_err(|_| std::io::Error::other("bad status line"))
}

pub(crate) fn server(kind: &'static str) -> &'static Server {
    static SEAWEED: OnceLock<Server> = OnceLock::new();
    static MOTO: OnceLock<Server> = OnceLock::new();
    match kind {
        "seaweedfs" => SEAWEED.get_or_init(|| start("seaweedfs")),
        "moto" => MOTO.get_or_init(|| start("moto")),
        _ => panic!("unknown server {kind}"),
    }
}

/// A bucket name unique to this test run.
pub(crate) fn bucket(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The result of one `s3-connector run`.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub code: i32,
    pub envelope: Value,
    pub stderr: String,
}

impl Outcome {
    pub(crate) fn output(&self) -> &Value {
        assert_eq!(
            self.code, 0,
            "expected success, got {}\n{}",
            self.envelope, self.stderr
        );
        &self.envelope["output"]
    }

    pub(crate) fn error(&self) -> &Value {
        assert_ne!(self.code, 0, "expected failure, got {}", self.envelope);
        &self.envelope["error"]
    }

    pub(crate) fn s3_code(&self) -> String {
        self.error()["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// `s3-connector run` with piped stdio, isolated from the developer's AWS settings: every
/// `AWS_*` variable but the CA bundle removed, a `HOME` without `.aws`, and instance metadata
/// off.
pub(crate) fn run_command() -> Command {
    isolated("run")
}

/// `s3-connector SUBCOMMAND`, isolated as [`run_command`] is.
pub(crate) fn isolated(subcommand: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3-connector"));
    cmd.arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") && k != "AWS_CA_BUNDLE" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", Path::new(ROOT).join("target/test-home"));
    // No instance metadata here: a chain that finds nothing ends at once, not after a timeout.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs one request through the binary; outputs are checked against their output schema.
pub(crate) fn run_raw(request: &Value, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = run_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd, request)
}

/// `run_raw` with these environment variables removed.
pub(crate) fn run_raw_without(request: &Value, remove: &[&str]) -> Outcome {
    let mut cmd = run_command();
    for k in remove {
        cmd.env_remove(k);
    }
    run_cmd(cmd, request)
}

/// `cmd` (from [`run_command`], perhaps with more arguments) given `request` on stdin, to its
/// end: what it printed, unchecked.
pub(crate) fn run_output(mut cmd: Command, request: &Value) -> std::process::Output {
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `cmd` (from [`run_command`], perhaps with more arguments) on `request`.
pub(crate) fn run_cmd(cmd: Command, request: &Value) -> Outcome {
    let out = run_output(cmd, request);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout must be one envelope line, got: {stdout}"
    );
    let envelope: Value = serde_json::from_str(&stdout).unwrap();
    let code = out.status.code().unwrap();
    if code == 0 {
        check_output_schema(request["operation"].as_str().unwrap(), &envelope["output"]);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // stderr is a pipe here, as in a host: plain text, no terminal colour codes.
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape codes in logs written to a pipe: {stderr:?}"
    );
    Outcome {
        code,
        envelope,
        stderr,
    }
}

// Callers write `run(s, "op", json!({...}))`: the input is built for the call.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn run(server: &Server, operation: &str, input: Value) -> Outcome {
    run_raw(
        &json!({"operation": operation, "input": input, "connection": server.connection()}),
        &[],
    )
}

/// Checks an operation's output against its output schema; the error lists every mismatch.
pub(crate) fn output_matches_schema(operation: &str, output: &Value) -> Result<(), String> {
    let op = s3_connector::manifest::Manifest::embedded()
        .operation(operation)
        .ok_or_else(|| format!("no operation {operation}"))?;
    let schema = op.output_schema();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(output)
        .map(|e| format!("{} {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{operation} output does not match its schema: {errors:?}\n{output}"
        ))
    }
}

fn check_output_schema(operation: &str, output: &Value) {
    if let Err(e) = output_matches_schema(operation, output) {
        panic!("{e}");
    }
}

/// Runs a Python snippet with the tools' interpreter (boto3 and botocore installed), `args` as
/// `sys.argv[1:]`. Returns stdout; a failure fails the test with Python's stderr.
pub(crate) fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new(tools_bin("python"))
        .arg("-c")
        .arg(code)
        .args(args)
        .env("HOME", Path::new(ROOT).join("target/test-home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The script `tests/...` (relative to the repository) run by the tools' Python with `input` as
/// JSON on stdin: its stdout read as a JSON list.
pub(crate) fn python_json(script: &str, input: &Value) -> Vec<Value> {
    let script = Path::new(ROOT).join(script);
    let mut child = Command::new(tools_bin("python"))
        .arg(&script)
        .env("HOME", Path::new(ROOT).join("target/test-home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let text = serde_json::to_vec(input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written from another thread: the pipe's buffer may be smaller than the input.
    let writer = std::thread::spawn(move || stdin.write_all(&text));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `s` as a Python string literal (a JSON string is one).
pub(crate) fn py(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Runs a Python snippet with boto3 against `server`; `ENDPOINT`, `s3` (a path-style client) are
/// predefined. Returns stdout.
pub(crate) fn boto3(server: &Server, code: &str) -> String {
    let prelude = format!(
        "import boto3, json, sys, base64\nfrom botocore.config import Config\n\
         s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='{ACCESS_KEY}', \
         aws_secret_access_key='{SECRET_KEY}', config=Config(s3={{'addressing_style': 'path'}}))\n",
        server.endpoint
    );
    python(&format!("{prelude}{code}"), &[])
}

/// A new bucket (a unique name from `prefix`), created through the connector.
pub(crate) fn new_bucket(s: &Server, prefix: &str) -> String {
    let b = bucket(prefix);
    run(s, "create_bucket", json!({"Bucket": b})).output();
    b
}

/// Every version, delete marker and upload in progress removed, then the bucket, by boto3 (a
/// versioned bucket keeps old versions).
pub(crate) fn remove_bucket(s: &Server, b: &str) {
    boto3(
        s,
        &format!(
            "b = {}\n\
             for page in s3.get_paginator('list_object_versions').paginate(Bucket=b):\n\
             \x20   for v in page.get('Versions', []) + page.get('DeleteMarkers', []):\n\
             \x20       s3.delete_object(Bucket=b, Key=v['Key'], VersionId=v['VersionId'])\n\
             for u in s3.list_multipart_uploads(Bucket=b).get('Uploads', []):\n\
             \x20   s3.abort_multipart_upload(Bucket=b, Key=u['Key'], UploadId=u['UploadId'])\n\
             s3.delete_bucket(Bucket=b)\n",
            py(b)
        ),
    );
}

/// `%XX` decoded, nothing else (`+` is a plus sign in an S3 query, as in `SigV4`'s canonical
/// form).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string's decoded pairs, sorted (a multiset).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    pairs.sort();
    pairs
}

/// Declares a test body once and runs it against each server.
#[macro_export]
macro_rules! on_servers {
    ($name:ident, |$s:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            // A scenario, read top to bottom.
            #[allow(clippy::too_many_lines)]
            fn body($s: &'static $crate::common::Server) $body
            #[test]
            fn seaweedfs() {
                body($crate::common::server("seaweedfs"))
            }
            #[test]
            fn moto() {
                body($crate::common::server("moto"))
            }
        }
    };
}

/// An oracle's mismatches sorted against its list of known differences: a known one (`Some((entry,
/// item))`) is printed with its entry's reason; any other fails, and so does a listed item no
/// mismatch shows any more (a stale list). `entries`: each entry's label, reason and items.
pub(crate) fn unexplained(
    mismatches: Vec<(String, Option<(usize, usize)>)>,
    entries: &[(String, &str, Vec<&str>)],
) -> Vec<String> {
    let mut seen: Vec<Vec<bool>> = entries.iter().map(|e| vec![false; e.2.len()]).collect();
    let mut failing = Vec::new();
    for (line, known) in mismatches {
        if let Some((i, item)) = known {
            seen[i][item] = true;
            println!("known difference ({}): {line}", entries[i].1);
        } else {
            failing.push(line);
        }
    }
    for ((label, _, items), seen) in entries.iter().zip(&seen) {
        for (item, seen) in items.iter().zip(seen) {
            if !seen {
                failing.push(format!(
                    "KNOWN_DIFFERENCES lists {label} {item}, which no longer differs: remove it"
                ));
            }
        }
    }
    failing
}

/// `SeaweedFS`'s STS (turned on by an IAM config with a signing key) lets the test identity
/// assume a role with every S3 permission; the session's requests and URLs are verified, the
/// token included. A session lasts `DurationSeconds` (900 at least), or 6 s without it, and
/// is refused from its expiry on (403 `InvalidAccessKeyId`).
pub(crate) const STS_CONFIG: &str = r#"{
  "sts": {"signingKey": "ZmFrZS1zdHMtc2lnbmluZy1rZXktZm9yLXRlc3RzLW9ubHktMDEyMw==",
          "tokenDuration": "6s"},
  "policies": [{"name": "S3AllTest", "document": {"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
                   "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]}]}}],
  "roles": [{"roleName": "TestS3Role", "roleArn": "arn:aws:iam::000000000000:role/TestS3Role",
    "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:user/tests"}, "Action": ["sts:AssumeRole"]}]},
    "attachedPolicies": ["S3AllTest"]}]
}"#;

/// The role of [`STS_CONFIG`].
pub(crate) const STS_ROLE: &str = "arn:aws:iam::000000000000:role/TestS3Role";

/// A `SeaweedFS` with its STS on (its IAM config written into `dir`).
pub(crate) fn start_with_sts(dir: &Path) -> Server {
    let config = dir.join("iam-sts.json");
    std::fs::write(&config, STS_CONFIG).unwrap();
    let flag = format!("-s3.iam.config={}", config.display());
    start_with("seaweedfs", &[flag.as_str()], None)
}

/// Temporary credentials from the server's STS, asked for by boto3 with the static pair, for
/// 900 s: `{AccessKeyId, SecretAccessKey, SessionToken, Expiration, ExpiresAt}` (the expiry in
/// RFC 3339 and in Unix seconds).
pub(crate) fn sts_session(s: &Server, name: &str) -> Value {
    sts_session_for(s, name, Some(900))
}

/// [`sts_session`] lasting `seconds`, or the server's 6 s.
pub(crate) fn sts_session_for(s: &Server, name: &str, seconds: Option<u32>) -> Value {
    let duration = seconds.map_or(String::new(), |d| format!(", DurationSeconds={d}"));
    let code = format!(
        "sts = boto3.client('sts', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1',\n\
         \x20   aws_access_key_id='{ACCESS_KEY}', aws_secret_access_key='{SECRET_KEY}')\n\
         c = sts.assume_role(RoleArn='{STS_ROLE}', RoleSessionName='{name}'{duration})['Credentials']\n\
         c['ExpiresAt'] = int(c['Expiration'].timestamp())\n\
         c['Expiration'] = c['Expiration'].strftime('%Y-%m-%dT%H:%M:%SZ')\n\
         print(json.dumps({{k: c[k] for k in ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration', 'ExpiresAt']}}))\n"
    );
    serde_json::from_str(&boto3(s, &code)).unwrap()
}
