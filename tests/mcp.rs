//! `s3-connector mcp` against `SeaweedFS`, driven by the official MCP Python SDK
//! (`tests/mcp/client.py`): tools listed page by page with their schemas and hints, one input
//! schema checked by a 2020-12 validator, put/get/list as structured results, a failed call as
//! `isError` with the error envelope, progress for a transfer, a cancelled transfer's upload
//! aborted, logs sent to the client. Plus the JSON-RPC edges the SDK does not reach, over raw
//! lines.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{new_bucket, python_json, server, ROOT};
use serde_json::{json, Value};

fn finding<'a>(findings: &'a [Value], name: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"] == name)
        .unwrap_or_else(|| panic!("no finding {name} in {findings:?}"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = Path::new(ROOT).join("target/test-mcp").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    dir
}

#[test]
fn the_official_sdk_lists_calls_and_cancels_tools() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "mcp");
    let dir = scratch("sdk");
    std::fs::write(dir.join("connection.json"), s.connection().to_string()).unwrap();
    // 120 MB: a multipart upload_file long enough to report progress (every 250 ms) and to be
    // cancelled at its first report.
    let big: Vec<u8> = b"0123456789abcdef".repeat(7_500_000);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let findings = python_json(
        "tests/mcp/client.py",
        &json!({
            "bin": env!("CARGO_BIN_EXE_s3-connector"),
            "connection_file": dir.join("connection.json"),
            "bucket": b,
            "big_file": dir.join("big.bin"),
            "home": dir.join("home"),
        }),
    );
    let manifest = s3_connector::manifest::Manifest::embedded();

    let init = finding(&findings, "initialized");
    assert_eq!(init["protocol"], "2025-11-25");
    assert_eq!(init["version"], s3_connector::VERSION);
    assert_eq!(init["capabilities"], json!(["logging", "tools"]));

    let tools = finding(&findings, "tools");
    assert_eq!(tools["count"], manifest.operations.len());
    assert_eq!(tools["unique"], manifest.operations.len());
    assert!(tools["pages"].as_u64().unwrap() > 1, "{tools}");
    assert_eq!(tools["all_typed"], true);
    for name in [
        "get_object",
        "put_object",
        "delete_object",
        "create_multipart_upload",
    ] {
        let h = manifest.operation(name).unwrap().hints;
        assert_eq!(
            tools["annotations"][name],
            json!({"readOnly": h.read_only, "destructive": h.destructive, "idempotent": h.idempotent}),
            "{name}"
        );
    }
    assert_eq!(tools["annotations"]["get_object"]["readOnly"], true);
    assert_eq!(tools["annotations"]["delete_object"]["destructive"], true);

    let schema = finding(&findings, "input_schema");
    assert_eq!(
        schema["dialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["good_valid"], true);
    assert!(schema["bad_errors"]
        .as_array()
        .unwrap()
        .contains(&json!("$['x-amz-acl']")));

    assert_eq!(finding(&findings, "put")["is_error"], false);
    let get = finding(&findings, "get");
    assert_eq!(
        (&get["is_error"], &get["body"], &get["text_matches"]),
        (&json!(false), &json!("hello from MCP"), &json!(true))
    );
    assert_eq!(finding(&findings, "list")["keys"], json!(["mcp/hello.txt"]));

    let failed = finding(&findings, "failed_call");
    assert_eq!(
        (&failed["is_error"], &failed["kind"], &failed["code"]),
        (&json!(true), &json!("service"), &json!("NoSuchKey"))
    );
    let invalid = finding(&findings, "invalid_call");
    assert_eq!(invalid["kind"], "invalid_request");
    assert!(invalid["pointers"]
        .as_array()
        .unwrap()
        .contains(&json!("/input/Extra")));
    assert_eq!(finding(&findings, "unknown_tool")["code"], -32602);

    let progress = finding(&findings, "progress");
    assert_eq!(progress["bytes"], big.len());
    assert!(
        progress["notifications"].as_u64().unwrap() >= 1,
        "{progress}"
    );
    assert_eq!(progress["increasing"], true);
    assert_eq!(
        progress["last"],
        json!([big.len() as f64, big.len() as f64])
    );

    let cancelled = finding(&findings, "cancelled");
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    assert_eq!(cancelled["uploads_left"], json!([]), "{cancelled}");
    assert_eq!(cancelled["object_exists"], false, "{cancelled}");

    let logs = finding(&findings, "logs");
    assert_eq!(logs["levels"], json!(["warning"]), "{logs}");
    assert_eq!(logs["mentions_failure"], true, "{logs}");
}

/// Raw JSON-RPC lines in, every line out; the server ends when stdin closes.
fn exchange(lines: &[Value]) -> Vec<Value> {
    let dir = scratch("raw");
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .arg("mcp")
        .env("HOME", dir.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    writeln!(stdin, "this is not JSON").unwrap();
    drop(stdin);
    let out: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every stdout line is JSON"))
        .collect();
    assert!(child.wait().unwrap().success());
    out
}

#[test]
fn json_rpc_edges_versions_pages_and_errors() {
    let out = exchange(&[
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"protocolVersion": "1999-01-01"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"cursor": "100"}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"cursor": "nope"}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "resources/list"}),
        json!({"jsonrpc": "2.0", "id": 7, "method": "logging/setLevel", "params": {"level": "loud"}}),
    ]);
    let by_id = |id: i64| {
        out.iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no reply to {id} in {out:?}"))
    };
    assert_eq!(by_id(1)["result"]["protocolVersion"], "2025-06-18");
    // An unknown revision gets the newest spoken here.
    assert_eq!(by_id(2)["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(by_id(3)["result"], json!({}));
    let page = &by_id(4)["result"];
    let ops = &s3_connector::manifest::Manifest::embedded().operations;
    assert_eq!(
        page["tools"][0]["name"], ops[100].name,
        "a cursor is where its page starts"
    );
    assert_eq!(page["tools"].as_array().unwrap().len(), ops.len() - 100);
    assert!(page.get("nextCursor").is_none(), "the last page has none");
    assert_eq!(by_id(5)["error"]["code"], -32602);
    assert_eq!(by_id(6)["error"]["code"], -32601);
    assert_eq!(by_id(7)["error"]["code"], -32602);
    let parse_error = out
        .iter()
        .find(|m| m["id"].is_null())
        .expect("a parse error");
    assert_eq!(parse_error["error"]["code"], -32700);
    assert_eq!(
        out.len(),
        8,
        "one reply per request, none to notifications: {out:?}"
    );
}

#[test]
fn a_bad_connection_file_is_refused_at_start() {
    let dir = scratch("bad-connection");
    let file = dir.join("connection.json");
    std::fs::write(&file, r#"{"addressing": "sideways"}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .args(["mcp", "--connection"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "stdout is the protocol's only");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/connection/addressing"), "{stderr}");
}
