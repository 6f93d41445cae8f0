//! `s3-connector serve`: 1,000 mixed requests over JSON Lines against SeaweedFS (signature
//! checking), ids matched, every result checked, bad lines answered in place.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{bucket, run, server};
use serde_json::{json, Value};

/// Runs `serve` over `lines`; returns every stdout line parsed, and the exit code.
fn serve(lines: &[String], args: &[&str]) -> (Vec<Value>, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .arg("serve")
        .args(args)
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
                assert_eq!(r["error"]["code"], "NoSuchKey", "{r}")
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
