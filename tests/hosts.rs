//! What hosts need beyond the request itself, against `SeaweedFS`: `check` (a "test connection"
//! button), `--version` and the manifest's versions and hints, `serve` stopping on SIGTERM or
//! SIGINT, a `{"cancel": ID}` line, and `run` cancelled by a signal. Every cancellation is
//! checked for what it leaves behind: no multipart upload (boto3 lists them), no object, no
//! temporary file.

// Test scenarios: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{boto3, new_bucket, py, run, run_command, server, Server, ROOT};
use serde_json::{json, Value};

const BIG: usize = 120_000_000;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(ROOT).join("target/test-hosts").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of [`BIG`] bytes: a multipart `upload_file` that reports progress (every 250 ms)
/// before it ends, even in a debug build.
fn big_file(dir: &Path) -> PathBuf {
    let path = dir.join("big.bin");
    std::fs::write(&path, b"0123456789abcdef".repeat(BIG / 16)).unwrap();
    path
}

/// The keys of the multipart uploads in progress in `bucket`, as boto3 lists them.
fn uploads_left(s: &Server, bucket: &str) -> Vec<String> {
    let out = boto3(
        s,
        &format!(
            "print(json.dumps([u['Key'] for u in s3.list_multipart_uploads(Bucket={}).get('Uploads', [])]))",
            py(bucket)
        ),
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn object_exists(s: &Server, bucket: &str, key: &str) -> bool {
    run(s, "object_exists", json!({"Bucket": bucket, "Key": key})).output()["Exists"] == true
}

/// Sends `signal` (TERM, INT) to a child.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child's exit, for at most a minute (then kills it and fails).
fn exit_code(child: &mut Child) -> i32 {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed by a signal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the process did not exit within a minute");
}

// ---------------------------------------------------------------------------------------------
// Versions and hints.

#[test]
fn version_prints_both_versions_and_the_manifest_carries_them_and_hints() {
    let out = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .arg("--version")
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        line.trim(),
        format!(
            "s3-connector {} (protocol {})",
            s3_connector::VERSION,
            s3_connector::PROTOCOL_VERSION
        )
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .arg("manifest")
        .output()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(manifest["connector_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["protocol_version"], s3_connector::PROTOCOL_VERSION);
    for op in manifest["operations"].as_array().unwrap() {
        let (name, h) = (op["name"].as_str().unwrap(), &op["hints"]);
        let method = op["http"]["method"].as_str().unwrap();
        assert!(
            !(h["read_only"] == true && h["destructive"] == true),
            "{name}"
        );
        if method == "DELETE" {
            assert_eq!(h["destructive"], true, "{name} deletes");
        }
        if method == "GET" && op.get("runner").is_none() {
            assert_eq!(h["read_only"], true, "{name} only reads");
        }
        if method == "POST" && !["delete_objects"].contains(&name) {
            assert_eq!(h["idempotent"], false, "{name} is a POST");
        }
    }
    let hint = |name: &str| {
        manifest["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()["hints"]
            .clone()
    };
    assert_eq!(
        hint("delete_prefix"),
        json!({"read_only": false, "destructive": true, "idempotent": true})
    );
    assert_eq!(hint("presign_put_object")["read_only"], true);
    assert_eq!(hint("create_bucket")["destructive"], false);
}

// ---------------------------------------------------------------------------------------------
// `check`.

/// `s3-connector check` on `request`, isolated as `run` is in tests, with `home` as `HOME`.
fn check(request: &Value, home: Option<&Path>) -> (i32, Value, String) {
    let mut cmd = common::isolated("check");
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    let out = common::run_output(cmd, request);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one envelope line: {stdout}");
    (
        out.status.code().unwrap(),
        serde_json::from_str(&stdout).unwrap(),
        stdout,
    )
}

#[test]
fn check_tests_a_connection_with_one_cheap_signed_call() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "check");
    let conn = s.connection();

    let (code, env, _) = check(&json!({"connection": conn}), None);
    assert_eq!(code, 0, "{env}");
    let out = &env["output"];
    assert_eq!(out["CredentialSource"], "connection");
    assert_eq!(out["Region"], "us-east-1");
    assert_eq!(out["Endpoint"], s.endpoint);
    assert_eq!(out["Operation"], "list_buckets");
    assert_eq!(out["BucketsVisible"], true);

    let (code, env, _) = check(
        &json!({"connection": conn, "input": {"Bucket": b}, "id": 9}),
        None,
    );
    assert_eq!(code, 0, "{env}");
    assert_eq!(env["id"], 9);
    assert_eq!(env["output"]["Operation"], "head_bucket");
    assert_eq!(env["output"]["Bucket"], json!(b));

    // A bucket that is not there, and a wrong secret: S3's errors, exit 1.
    let (code, env, _) = check(
        &json!({"connection": conn, "input": {"Bucket": format!("{b}-missing")}}),
        None,
    );
    assert_eq!(
        (code, &env["error"]["kind"], &env["error"]["status"]),
        (1, &json!("service"), &json!(404))
    );
    let mut wrong = conn.clone();
    wrong["secret_access_key"] = json!("not-the-secret");
    let (code, env, _) = check(&json!({"connection": wrong}), None);
    assert_eq!(
        (code, &env["error"]["code"]),
        (1, &json!("SignatureDoesNotMatch"))
    );

    // Credentials from a profile file: the source is named, the values never printed.
    let home = scratch("check-home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            common::ACCESS_KEY,
            common::SECRET_KEY
        ),
    )
    .unwrap();
    let by_profile = json!({"endpoint": s.endpoint, "addressing": "path", "profile": "ci"});
    let (code, env, text) = check(
        &json!({"connection": by_profile, "input": {"Bucket": b}}),
        Some(&home),
    );
    assert_eq!(code, 0, "{env}");
    let source = env["output"]["CredentialSource"].as_str().unwrap();
    assert!(source.contains("ci"), "{source}");
    assert!(!text.contains(common::SECRET_KEY) && !text.contains(common::ACCESS_KEY));

    // None anywhere: a credentials error, nothing sent.
    let bare = json!({"endpoint": s.endpoint, "addressing": "path"});
    let (code, env, _) = check(&json!({"connection": bare}), Some(&scratch("check-empty")));
    assert_eq!(
        (code, &env["error"]["kind"], &env["error"]["code"]),
        (1, &json!("credentials"), &json!("NoCredentials"))
    );

    // Members a check does not take: refused by name, exit 2.
    let (code, env, _) = check(
        &json!({"connection": conn, "input": {"Bucket": b, "Key": "k"}}),
        None,
    );
    assert_eq!(
        (code, &env["error"]["details"][0]["pointer"]),
        (2, &json!("/input/Key"))
    );
    let (code, env, _) = check(&json!({"connection": {"addressing": "sideways"}}), None);
    assert_eq!(code, 2);
    assert_eq!(
        env["error"]["details"][0]["pointer"],
        "/connection/addressing"
    );
}

// ---------------------------------------------------------------------------------------------
// `serve`: signals and cancel lines.

/// A `serve` process with its stdout read line by line on a thread.
struct Serving {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    stderr: std::thread::JoinHandle<String>,
}

impl Serving {
    fn start(args: &[&str]) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
            .arg("serve")
            .arg("--progress")
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", Path::new(ROOT).join("target/test-home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let v: Value = serde_json::from_str(&line.unwrap()).expect("stdout is JSON lines");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            s
        });
        let stdin = child.stdin.take();
        Serving {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    fn send(&mut self, line: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Lines until one satisfies `done` (at most a minute); all of them.
    fn until(&self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_mins(1))
                .expect("a line within a minute");
            let stop = done(&v);
            seen.push(v);
            if stop {
                return seen;
            }
        }
    }

    /// The exit code and every line written after `seen` (responses only, by id).
    fn finish(mut self, mut seen: Vec<Value>) -> (i32, HashMap<String, Vec<Value>>, String) {
        let code = exit_code(&mut self.child);
        drop(self.stdin.take());
        seen.extend(self.lines.iter());
        let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
        for v in seen.into_iter().filter(|v| v.get("event").is_none()) {
            by_id.entry(v["id"].to_string()).or_default().push(v);
        }
        (code, by_id, self.stderr.join().unwrap())
    }
}

fn one<'a>(by_id: &'a HashMap<String, Vec<Value>>, id: &str) -> &'a Value {
    let answers = by_id
        .get(&json!(id).to_string())
        .unwrap_or_else(|| panic!("no answer for {id}: {by_id:?}"));
    assert_eq!(answers.len(), 1, "{id} answered once: {answers:?}");
    &answers[0]
}

fn is_progress_of(v: &Value, id: &str) -> bool {
    v["event"] == "progress" && v["id"] == id
}

#[test]
fn sigterm_cancels_what_outlasts_the_drain_and_aborts_its_uploads() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "sigterm");
    let dir = scratch("sigterm");
    let big = big_file(&dir);
    let conn = s.connection();
    let mut serving = Serving::start(&["--concurrency", "2", "--drain-seconds", "0"]);
    for id in ["up-1", "up-2"] {
        serving.send(
            &json!({"id": id, "operation": "upload_file", "connection": conn,
            "input": {"Bucket": b, "Key": id, "BodyFile": big}}),
        );
    }
    // Waiting for a slot behind the two uploads when the signal comes.
    for id in ["put-1", "put-2", "put-3"] {
        serving.send(
            &json!({"id": id, "operation": "put_object", "connection": conn,
            "input": {"Bucket": b, "Key": id, "Body": "waits"}}),
        );
    }
    let seen = serving.until(|v| is_progress_of(v, "up-1") || v.get("ok").is_some());
    assert!(
        seen.iter().all(|v| v.get("ok").is_none()),
        "nothing ended before the signal: {seen:?}"
    );
    // stdin stays open: a host that signals need not close it.
    signal(&serving.child, "TERM");
    let (code, by_id, stderr) = serving.finish(seen);
    assert_eq!(code, 0, "{stderr}");
    for id in ["up-1", "up-2", "put-1", "put-2", "put-3"] {
        let r = one(&by_id, id);
        assert_eq!(r["ok"], false, "{id}: {r}");
        assert_eq!(r["error"]["kind"], "cancelled", "{id}: {r}");
        assert_eq!(
            r["error"]["retryable"], true,
            "{id}: another process may run it: {r}"
        );
        assert!(!object_exists(s, &b, id), "{id} left an object");
    }
    assert_eq!(uploads_left(s, &b), Vec::<String>::new());
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
}

#[test]
fn sigint_lets_what_runs_finish_within_the_drain() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "sigint");
    let dir = scratch("sigint");
    let big = big_file(&dir);
    let mut serving = Serving::start(&["--drain-seconds", "120"]);
    serving.send(
        &json!({"id": "up", "operation": "upload_file", "connection": s.connection(),
        "input": {"Bucket": b, "Key": "whole", "BodyFile": big}}),
    );
    let seen = serving.until(|v| is_progress_of(v, "up") || v.get("ok").is_some());
    signal(&serving.child, "INT");
    // stdin stays open: the process ends without waiting for the end of input.
    let (code, by_id, stderr) = serving.finish(seen);
    assert_eq!(code, 0, "{stderr}");
    let r = one(&by_id, "up");
    assert_eq!(r["ok"], true, "{r}\n{stderr}");
    assert_eq!(r["output"]["Bytes"], BIG);
    assert!(object_exists(s, &b, "whole"));
    assert!(stderr.contains("SIGINT received"), "{stderr}");
}

#[test]
fn a_cancel_line_cancels_one_request_and_leaves_nothing_behind() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "cancel");
    let dir = scratch("cancel");
    let big = big_file(&dir);
    let conn = s.connection();
    run(
        s,
        "upload_file",
        json!({"Bucket": b, "Key": "source", "BodyFile": big}),
    )
    .output();
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();

    let mut serving = Serving::start(&[]);
    let requests = [
        (
            "up",
            json!({"operation": "upload_file", "input": {"Bucket": b, "Key": "up", "BodyFile": big}}),
        ),
        (
            "down",
            json!({"operation": "download_file", "input": {"Bucket": b, "Key": "source", "OutputFile": downloads.join("down.bin")}}),
        ),
        (
            "get",
            json!({"operation": "get_object", "input": {"Bucket": b, "Key": "source", "OutputFile": downloads.join("get.bin")}}),
        ),
    ];
    for (id, r) in &requests {
        let mut line = r.clone();
        line["id"] = json!(id);
        line["connection"] = conn.clone();
        serving.send(&line);
    }
    let mut seen = Vec::new();
    for (id, _) in &requests {
        if seen.iter().any(|v| is_progress_of(v, id)) {
            continue;
        }
        seen.extend(serving.until(|v| is_progress_of(v, id) || v.get("ok").is_some()));
    }
    assert!(seen.iter().all(|v| v.get("ok").is_none()), "{seen:?}");
    for (id, _) in &requests {
        serving.send(&json!({"cancel": id}));
    }
    // A cancel for no request in flight is ignored (logged), and the stream goes on.
    serving.send(&json!({"cancel": "nobody"}));
    serving.send(
        &json!({"id": "after", "operation": "put_object", "connection": conn,
        "input": {"Bucket": b, "Key": "after", "Body": "still served"}}),
    );
    drop(serving.stdin.take());
    let (code, by_id, stderr) = serving.finish(seen);
    assert_eq!(code, 0, "{stderr}");
    for (id, _) in &requests {
        let r = one(&by_id, id);
        assert_eq!(r["error"]["kind"], "cancelled", "{id}: {r}");
        assert_eq!(r["error"]["retryable"], false, "{id}: the host chose: {r}");
    }
    assert_eq!(one(&by_id, "after")["ok"], true);
    assert!(!by_id.contains_key(&json!("nobody").to_string()));
    assert!(
        stderr.contains("cancel for no request in flight"),
        "{stderr}"
    );
    assert_eq!(uploads_left(s, &b), Vec::<String>::new());
    assert!(!object_exists(s, &b, "up"));
    let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().collect();
    assert!(left.is_empty(), "no file or temporary file left: {left:?}");
}

#[test]
fn run_cleans_up_and_answers_when_signalled() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "run-signal");
    let dir = scratch("run-signal");
    let big = big_file(&dir);
    let mut cmd = run_command();
    cmd.arg("--progress");
    let mut child = cmd.spawn().unwrap();
    let request = json!({"operation": "upload_file", "connection": s.connection(),
        "input": {"Bucket": b, "Key": "big", "BodyFile": big}});
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.to_string().as_bytes()).unwrap();
    drop(stdin);
    // The first progress event on stderr: the upload is under way.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    for _ in 0..10_000 {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "stderr ended first"
        );
        if line.contains("\"event\":\"progress\"") {
            break;
        }
    }
    signal(&child, "TERM");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let code = exit_code(&mut child);
    let envelope: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 1, "{envelope}");
    assert_eq!(envelope["error"]["kind"], "cancelled");
    assert_eq!(uploads_left(s, &b), Vec::<String>::new());
    assert!(!object_exists(s, &b, "big"));
}
