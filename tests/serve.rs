//! `s3-connector serve`: 1,000 mixed requests over JSON Lines against `SeaweedFS` (signature
//! checking), ids matched, every result checked, bad lines answered in place.

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{bucket, run, run_raw, server};
use serde_json::{json, Value};

/// Runs `serve` over `lines`; returns every stdout line parsed, and the exit code.
fn serve(lines: &[String], args: &[&str]) -> (Vec<Value>, i32) {
    serve_with_env(lines, args, &[])
}

fn serve_with_env(lines: &[String], args: &[&str], env: &[(&str, &str)]) -> (Vec<Value>, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every stdout line is one JSON document"))
        .collect();
    writer.join().unwrap();
    (out, child.wait().unwrap().code().unwrap())
}

#[test]
fn thousand_mixed_requests_with_ids_matched_and_bad_lines() {
    let s = server("seaweedfs");
    let b = bucket("serve");
    run(s, "create_bucket", json!({"Bucket": b})).output();
    let conn = s.connection();
    // Objects that exist before the stream, for gets and deletes.
    let mut pre = Vec::new();
    for i in 0..100 {
        pre.push(
            json!({"id": format!("pre-{i}"), "operation": "put_object", "connection": conn,
            "input": {"Bucket": b, "Key": format!("pre/{i}"), "Body": format!("pre body {i}")}})
            .to_string(),
        );
    }
    let (out, code) = serve(&pre, &["--concurrency", "32"]);
    assert_eq!(code, 0);
    assert!(out.iter().all(|r| r["ok"] == true), "{out:?}");

    let mut lines = Vec::new();
    let mut expect: HashMap<String, (&str, String)> = HashMap::new();
    for i in 0..1000 {
        let id = format!("r{i}");
        let (op, input, check) = match i % 5 {
            0 | 1 => (
                "put_object",
                json!({"Bucket": b, "Key": format!("new/{i}"), "Body": format!("new body {i}")}),
                format!("new body {i}"),
            ),
            2 => (
                "get_object",
                json!({"Bucket": b, "Key": format!("pre/{}", i % 100)}),
                format!("pre body {}", i % 100),
            ),
            3 => (
                "list_objects",
                json!({"Bucket": b, "prefix": "pre/", "MaxItems": 1000}),
                "100".to_string(),
            ),
            _ => (
                "get_object",
                json!({"Bucket": b, "Key": format!("missing/{i}")}),
                "NoSuchKey".to_string(),
            ),
        };
        lines.push(
            json!({"id": id, "operation": op, "input": input, "connection": conn}).to_string(),
        );
        expect.insert(id, (op, check));
        if i % 100 == 50 {
            // Bad lines in the middle: unreadable, unknown operation with an id, invalid input,
            // and a valid request without an id (refused: its response could not be matched).
            lines.push("{not json".to_string());
            lines.push(
                json!({"operation": "put_object", "connection": conn,
                "input": {"Bucket": b, "Key": format!("noid/{i}"), "Body": "x"}})
                .to_string(),
            );
            lines.push(json!({"id": format!("bad-op-{i}"), "operation": "nope"}).to_string());
            lines.push(json!({"id": format!("bad-in-{i}"), "operation": "put_object", "input": {"Bucket": b}, "connection": conn}).to_string());
        }
    }
    let (out, code) = serve(&lines, &[]);
    assert_eq!(code, 0);
    assert_eq!(out.len(), 1000 + 40, "one response per line");
    let mut seen = HashMap::new();
    let (mut unreadable, mut without_id) = (0, 0);
    for r in &out {
        match r["id"].as_str() {
            None => {
                assert_eq!(r.get("id"), Some(&Value::Null), "{r}");
                assert_eq!(r["error"]["kind"], "invalid_request");
                match r["error"]["details"][0]["pointer"].as_str() {
                    Some("/id") => without_id += 1,
                    _ => unreadable += 1,
                }
            }
            Some(id) if id.starts_with("bad-") => {
                assert_eq!(r["ok"], false);
                assert_eq!(r["error"]["kind"], "invalid_request");
                let pointer = &r["error"]["details"][0]["pointer"];
                assert!(pointer == "/operation" || pointer == "/input/Key", "{r}");
            }
            Some(id) => {
                assert!(
                    seen.insert(id.to_string(), r.clone()).is_none(),
                    "id {id} answered twice"
                );
            }
        }
    }
    assert_eq!((unreadable, without_id), (10, 10));
    assert_eq!(seen.len(), 1000);
    for (id, (op, check)) in &expect {
        let r = &seen[id];
        match *op {
            "put_object" => assert_eq!(r["ok"], true, "{r}"),
            "get_object" if check == "NoSuchKey" => {
                assert_eq!(r["error"]["code"], "NoSuchKey", "{r}");
            }
            "get_object" => assert_eq!(r["output"]["Body"], check.as_str(), "{r}"),
            _ => assert_eq!(
                r["output"]["Contents"].as_array().map(Vec::len),
                Some(100),
                "{id}"
            ),
        }
    }
    // The puts really landed, with the right bytes.
    let listed = run(
        s,
        "list_objects",
        json!({"Bucket": b, "prefix": "new/", "MaxItems": 1000}),
    );
    assert_eq!(listed.output()["Contents"].as_array().unwrap().len(), 400);
    let got = run(s, "get_object", json!({"Bucket": b, "Key": "new/501"}));
    assert_eq!(got.output()["Body"], "new body 501");
    // The requests without an id were not run.
    let listed = run(s, "list_objects", json!({"Bucket": b, "prefix": "noid/"}));
    assert_eq!(listed.output()["Contents"], json!([]));
}

#[test]
fn progress_events_for_a_long_transfer() {
    let s = server("seaweedfs");
    let b = bucket("prog");
    run(s, "create_bucket", json!({"Bucket": b})).output();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, vec![7u8; 96 * 1024 * 1024]).unwrap();
    let conn = s.connection();
    let line = json!({"id": "up", "operation": "upload_file", "connection": conn,
        "input": {"Bucket": b, "Key": "big.bin", "BodyFile": src, "PartSize": 5 * 1024 * 1024, "MultipartThreshold": 0, "Concurrency": 2}});
    let (out, code) = serve(&[line.to_string()], &["--progress"]);
    assert_eq!(code, 0);
    let (events, results): (Vec<&Value>, Vec<&Value>) =
        out.iter().partition(|v| v.get("event").is_some());
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["output"]["Bytes"], 96 * 1024 * 1024);
    // A 96 MiB transfer takes well over the 250 ms reporting interval here (about 1.5 s).
    assert!(!events.is_empty(), "no progress events");
    // Events carry the request id; bytes never go backwards and stay within the total.
    let mut last = 0;
    for e in &events {
        assert_eq!(e["id"], "up");
        assert_eq!(e["event"], "progress");
        let (done, total) = (e["bytes"].as_u64().unwrap(), e["total"].as_u64().unwrap());
        assert_eq!(total, 96 * 1024 * 1024);
        assert!(done >= last && done <= total, "{e}");
        last = done;
    }
}

/// Makes the debug binary panic (the test hook, `docs/testing.md`) while executing
/// `list_objects` and while validating `delete_object`.
const PANICS: (&str, &str) = (
    "S3_CONNECTOR_TEST_PANIC",
    "list_objects,validate:delete_object",
);

/// The `internal` error a panicking request gets: it says it is a bug and quotes nothing.
fn assert_internal(r: &Value, bucket: &str) {
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["kind"], "internal", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("bug in the connector"), "{r}");
    assert!(!r.to_string().contains(bucket), "{r}");
}

#[test]
fn a_panicking_request_gets_one_internal_error_and_the_rest_go_on() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the panic hook exists in debug builds only");
        return;
    }
    let s = server("seaweedfs");
    let b = bucket("panic");
    run(s, "create_bucket", json!({"Bucket": b})).output();
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "before", "Body": "b"}),
    )
    .output();
    let conn = s.connection();
    let mut lines = Vec::new();
    for i in 0..30 {
        let (id, op, input) = match i % 3 {
            0 => (
                json!(format!("put-{i}")),
                "put_object",
                json!({"Bucket": b, "Key": format!("k{i}"), "Body": "x"}),
            ),
            1 => (json!(i), "list_objects", json!({"Bucket": b})),
            _ => (
                json!({"validating": i}),
                "delete_object",
                json!({"Bucket": b, "Key": "before"}),
            ),
        };
        lines.push(
            json!({"id": id, "operation": op, "input": input, "connection": conn}).to_string(),
        );
    }
    // The pool and the process survive: requests after the panics still run.
    lines.push(json!({"id": "last", "operation": "get_object", "input": {"Bucket": b, "Key": "before"}, "connection": conn}).to_string());
    let (out, code) = serve_with_env(&lines, &["--concurrency", "4"], &[PANICS]);
    assert_eq!(code, 0, "serve exits normally");
    assert_eq!(out.len(), lines.len(), "one line per request: {out:?}");
    let mut seen = HashMap::new();
    for r in &out {
        assert!(
            seen.insert(r["id"].to_string(), r).is_none(),
            "answered twice: {r}"
        );
    }
    for i in 0..30 {
        match i % 3 {
            0 => assert_eq!(seen[&json!(format!("put-{i}")).to_string()]["ok"], true),
            1 => assert_internal(seen[&json!(i).to_string()], &b),
            _ => assert_internal(seen[&json!({"validating": i}).to_string()], &b),
        }
    }
    // The validation panics deleted nothing.
    assert_eq!(seen[&json!("last").to_string()]["output"]["Body"], "b");
}

#[test]
fn a_panic_in_run_is_one_internal_error_with_exit_code_1() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the panic hook exists in debug builds only");
        return;
    }
    let s = server("seaweedfs");
    let b = bucket("panic-run");
    run(s, "create_bucket", json!({"Bucket": b})).output();
    for (op, id, input) in [
        ("list_objects", json!(7), json!({"Bucket": b})),
        (
            "delete_object",
            json!("v"),
            json!({"Bucket": b, "Key": "k"}),
        ),
    ] {
        let request =
            json!({"id": id, "operation": op, "input": input, "connection": s.connection()});
        let out = run_raw(&request, &[PANICS]);
        assert_eq!(out.code, 1, "{}", out.envelope);
        assert_eq!(out.envelope["id"], id);
        assert_internal(&out.envelope, &b);
        assert!(
            out.stderr.contains("S3_CONNECTOR_TEST_PANIC"),
            "{}",
            out.stderr
        );
    }
    // Other operations are untouched by the hook.
    let ok = run_raw(
        &json!({"operation": "delete_object", "input": {"Bucket": b, "Key": "k"}, "connection": s.connection()}),
        &[("S3_CONNECTOR_TEST_PANIC", "list_objects")],
    );
    assert_eq!(ok.code, 0, "{}", ok.envelope);
}
