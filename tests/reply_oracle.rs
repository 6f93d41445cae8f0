//! An independent oracle for the replies the connector reads: for every operation of the
//! manifest that is an AWS operation (`aws` set) with at least one output member, a canned
//! reply is made from AWS's model in botocore, not from our manifest
//! (`tests/oracle/botocore_replies.py`, one Python process for all operations): every output
//! member filled, in headers and in an XML body as botocore's rest-xml rules place them (or the
//! raw text of a string or blob payload). botocore's own parser reads that reply; the connector
//! reads it too, served by a canned HTTP responder on 127.0.0.1 to `s3-connector run` with a
//! minimal valid input (the required parameters, generated from the input schema as
//! `tests/oracle.rs` does). Every member botocore parsed must be in the connector's output with
//! an equal value (timestamps compared as instants), and the connector's output must have no
//! member botocore lacks, but for its own (`x-s3.local`, the base64 form of a body, and the
//! length it reports for a body). Each output must also match its operation's output schema.
//!
//! Operations the connector carries out as several requests (`runner` set: `upload_file`,
//! `download_file`, `create_multipart_upload`, `complete_multipart_upload`) are left out: one
//! canned reply cannot answer them, and their replies are tested in `tests/replies.rs` and
//! `tests/e2e.rs`. Paged listings are asked for one page: the page size alone is given
//! (`paginate.rs`: the page size is then the item limit, and the reply has more items).
//!
//! `REPLY_ORACLE_DUMP=<operation> cargo test --test reply_oracle -- --nocapture` prints that
//! operation's reply and both outputs.

// Test scenarios: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines)]

mod common;
#[path = "common/examples.rs"]
mod examples;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use s3_connector::manifest::{Manifest, Operation, ResponseBody};

/// Differences found by this oracle that cannot be fixed in the connector, each `Known`: the
/// operation, the member paths that differ, and why. A listed difference is reported but does
/// not fail the test; a listed path that no longer differs fails it.
const KNOWN_DIFFERENCES: &[Known] = &[
    Known {
        operation: "list_objects",
        paths: &["/Prefix"],
        why: "botocore's `decode_list_object` leaves `Prefix` URL-encoded, though S3's \
              ListObjects reference (quoted in that handler's own comment) lists `Prefix` among \
              the fields `encoding-type=url` encodes; the connector decodes it",
    },
    Known {
        operation: "list_objects",
        paths: &["/EncodingType"],
        why: "the connector drops `EncodingType` from a listing whose encoding it chose itself \
              (`quirks::decode_listing`): the caller asked for none; botocore's client keeps it",
    },
    Known {
        operation: "list_objects_v2",
        paths: &["/EncodingType"],
        why: "as for list_objects: the connector's own `encoding-type=url` is not reported",
    },
    Known {
        operation: "list_object_versions",
        paths: &["/EncodingType"],
        why: "as for list_objects: the connector's own `encoding-type=url` is not reported",
    },
];

struct Known {
    operation: &'static str,
    paths: &'static [&'static str],
    why: &'static str,
}

/// The connection's region: that of a connector-only `Region` parameter
/// (`create_bucket_in_region`), which must be the connection's.
const REGION: &str = examples::INPUT_REGION;

/// A difference between botocore's parse of a reply and the connector's output.
struct Mismatch {
    operation: String,
    path: String,
    ours: String,
    botocore: String,
}

/// The minimal input of `op`: its required parameters (a required XML payload with its
/// required members), a required body from its first source, digests of what they check, and
/// for a paged listing the page size alone (one page).
fn minimal_input(op: &Operation) -> Result<Map<String, Value>, String> {
    let mut input = examples::example(op, false, false)?;
    examples::with_required_body(op, &mut input);
    if let Some(pages) = &op.pagination {
        input.insert(pages.page_size.clone(), json!(1));
    }
    Ok(input)
}

// ---------------------------------------------------------------------------------------------
// botocore's replies, and a responder that serves one.

/// botocore's canned reply and its parse for every operation, from one Python process.
fn botocore_replies(ops: &[&Operation]) -> Vec<Value> {
    let names: Vec<&str> = ops.iter().map(|o| o.aws.as_deref().unwrap()).collect();
    let results = common::python_json("tests/oracle/botocore_replies.py", &json!(names));
    assert_eq!(results.len(), ops.len(), "one result an operation");
    results
}

/// Answers every request with `reply` (status 200, its headers in order, its body but to a
/// `HEAD`), closing each connection after it; counts the requests. Stops with the test process.
fn serve(reply: &Value) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let headers: Vec<(String, String)> = reply["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    let body = reply["body"].as_str().unwrap().as_bytes().to_vec();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let _ = reader.read_line(&mut head);
            let head_request = head.starts_with("HEAD ");
            let (mut length, mut chunked) = (0usize, false);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                    chunked = true;
                }
            }
            if chunked {
                // To the last chunk and the empty trailer.
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("0\r\n\r\n") {
                }
            } else {
                let mut request_body = vec![0u8; length];
                let _ = reader.read_exact(&mut request_body);
            }
            seen.fetch_add(1, Ordering::Relaxed);
            let mut out = String::from("HTTP/1.1 200 OK\r\n");
            for (n, v) in &headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            out.push_str("x-amz-request-id: reply-oracle\r\nConnection: close\r\n\r\n");
            let mut bytes = out.into_bytes();
            if !head_request {
                bytes.extend_from_slice(&body);
            }
            let _ = conn.write_all(&bytes);
        }
    });
    (endpoint, count)
}

/// `s3-connector run` on `input` against `endpoint`, one attempt: the envelope, or why the
/// run failed.
fn run(endpoint: &str, op: &Operation, input: &Map<String, Value>) -> Result<Value, String> {
    let request = json!({"operation": op.name, "input": input, "connection": {
        "endpoint": endpoint, "region": REGION, "access_key_id": common::ACCESS_KEY,
        "secret_access_key": common::SECRET_KEY, "addressing": "path", "max_attempts": 1}});
    let out = common::run_output(common::run_command(), &request);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let envelope: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("stdout is not one envelope ({e}): {stdout}"))?;
    if out.status.success() {
        Ok(envelope["output"].clone())
    } else {
        Err(format!(
            "run failed: {envelope}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// Both values are the same instant, written as RFC 3339 (`.000` or not, `Z` or an offset).
fn same_instant(a: &str, b: &str) -> bool {
    match (
        OffsetDateTime::parse(a, &Rfc3339),
        OffsetDateTime::parse(b, &Rfc3339),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Every member botocore parsed must be in ours, equal; ours must have no other member.
fn compare(path: &str, ours: &Value, boto: &Value, differ: &mut dyn FnMut(&str, String, String)) {
    match (ours, boto) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, bv) in b {
                let p = format!("{path}/{k}");
                match o.get(k) {
                    Some(ov) => compare(&p, ov, bv, differ),
                    None => differ(&p, "(absent)".into(), bv.to_string()),
                }
            }
            for (k, ov) in o {
                if !b.contains_key(k) {
                    differ(&format!("{path}/{k}"), ov.to_string(), "(absent)".into());
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            if o.len() == b.len() {
                for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                    compare(&format!("{path}[{i}]"), ov, bv, differ);
                }
            } else {
                differ(path, ours.to_string(), boto.to_string());
            }
        }
        (Value::String(o), Value::String(b)) if o == b || same_instant(o, b) => {}
        _ if ours == boto => {}
        _ => differ(path, ours.to_string(), boto.to_string()),
    }
}

/// The name of the output property marked `x-s3.body` with `form` (`text`, `base64`).
fn body_property<'a>(op: &'a Operation, form: &str) -> Option<&'a str> {
    op.output
        .get("properties")?
        .as_object()?
        .iter()
        .find(|(_, s)| s.pointer("/x-s3/body").and_then(Value::as_str) == Some(form))
        .map(|(n, _)| n.as_str())
}

/// Compares one operation's output with botocore's parse of the same reply. botocore names a
/// text or blob payload by its member (`Body`, `Policy`, `AnnotationPayload`): ours is the
/// property `x-s3.body: text` marks. Ours may add its own members: connector-local ones, the
/// base64 form of a body, and (for an object body) the length it read.
fn compare_output(op: &Operation, ours: &Value, case: &Value, out: &mut Vec<Mismatch>) {
    let mut differ = |path: &str, o: String, b: String| {
        out.push(Mismatch {
            operation: op.name.clone(),
            path: path.to_string(),
            ours: o,
            botocore: b,
        });
    };
    let mut boto = case["expected"].as_object().cloned().unwrap_or_default();
    if let Some(member) = case["payload"].as_str() {
        if let (Some(v), Some(ours_name)) = (boto.remove(member), body_property(op, "text")) {
            boto.insert(ours_name.to_string(), v);
        }
    }
    let mut ours = ours.as_object().cloned().unwrap_or_default();
    let props = op.output.get("properties").and_then(Value::as_object);
    for (name, schema) in props.into_iter().flatten() {
        let own = schema.pointer("/x-s3/local").is_some()
            || schema.pointer("/x-s3/body").and_then(Value::as_str) == Some("base64")
            || (op.response_body == ResponseBody::Payload
                && name == "ContentLength"
                && !boto.contains_key(name));
        if own {
            ours.remove(name);
        }
    }
    compare("", &Value::Object(ours), &Value::Object(boto), &mut differ);
}

/// The known difference `m` is, as (index in `KNOWN_DIFFERENCES`, index in its `paths`).
fn known(m: &Mismatch) -> Option<(usize, usize)> {
    KNOWN_DIFFERENCES.iter().enumerate().find_map(|(i, k)| {
        let p = k.paths.iter().position(|p| *p == m.path)?;
        (k.operation == m.operation).then_some((i, p))
    })
}

#[test]
fn every_aws_operation_reads_the_reply_botocore_reads() {
    let manifest = Manifest::embedded();
    let mut skipped = Vec::new();
    let mut ops: Vec<&'static Operation> = Vec::new();
    for o in &manifest.operations {
        let has_output = o
            .output
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if o.aws.is_none() || !has_output {
            continue;
        }
        // Several requests each (see the module's comment): tested in tests/replies.rs and
        // tests/e2e.rs.
        if o.runner.is_some() {
            skipped.push(o.name.as_str());
            continue;
        }
        ops.push(s3_connector::manifest::operation(&o.name).expect("in the index"));
    }

    let mut inputs = Vec::new();
    let mut refused = Vec::new();
    for op in &ops {
        match minimal_input(op) {
            Ok(input) => inputs.push(input),
            Err(e) => {
                refused.push(format!("{}: no input: {e}", op.name));
                inputs.push(Map::new());
            }
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));

    let cases = botocore_replies(&ops);
    let dump = std::env::var("REPLY_ORACLE_DUMP").unwrap_or_default();
    let mut mismatches = Vec::new();
    let mut failing = Vec::new();
    for ((op, input), case) in ops.iter().zip(&inputs).zip(&cases) {
        if let Some(e) = case.get("error") {
            failing.push(format!("{}: botocore made no reply: {e}", op.name));
            continue;
        }
        let (endpoint, requests) = serve(case);
        let output = match run(&endpoint, op, input) {
            Ok(output) => output,
            Err(e) => {
                failing.push(format!(
                    "{}: {e}\n  input: {}\n  reply: {case}",
                    op.name,
                    Value::Object(input.clone())
                ));
                continue;
            }
        };
        let sent = requests.load(std::sync::atomic::Ordering::Relaxed);
        if sent != 1 {
            failing.push(format!("{}: {sent} requests, not one", op.name));
        }
        if op.name == dump {
            println!(
                "{}\n  input: {}\n  reply: {}\n  ours: {output}\n  botocore: {}",
                op.name,
                Value::Object(input.clone()),
                json!({"headers": case["headers"], "body": case["body"]}),
                case["expected"]
            );
        }
        if let Err(e) = common::output_matches_schema(&op.name, &output) {
            failing.push(e);
        }
        compare_output(op, &output, case, &mut mismatches);
    }
    println!("reply oracle: {} operations", ops.len());
    println!(
        "reply oracle: skipped (multi-request runners): {}",
        skipped.join(", ")
    );

    let lines = mismatches
        .iter()
        .map(|m| {
            let line = format!(
                "{} {}:\n    ours:     {}\n    botocore: {}",
                m.operation, m.path, m.ours, m.botocore
            );
            (line, known(m))
        })
        .collect();
    let entries: Vec<_> = KNOWN_DIFFERENCES
        .iter()
        .map(|k| (k.operation.to_string(), k.why, k.paths.to_vec()))
        .collect();
    failing.extend(common::unexplained(lines, &entries));
    for f in &failing {
        eprintln!("{f}");
    }
    assert!(
        failing.is_empty(),
        "{} differences from botocore (listed above)",
        failing.len()
    );
}
