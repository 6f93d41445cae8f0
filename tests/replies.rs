//! Replies that S3 documents but the local servers never send, from a canned HTTP responder on
//! 127.0.0.1: `CopyObject`, `UploadPartCopy` and `CompleteMultipartUpload` can answer
//! `200 OK` with an `<Error>` document ("S3 200 OK error"), which must be an error, classified
//! and retried by its code like any other.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

/// Answers every request with `200 OK` and `body`; counts the requests. Stops with the test.
fn canned(body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body_in = vec![0u8; length];
            let _ = reader.read_exact(&mut body_in);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 x-amz-request-id: canned-1\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (endpoint, count)
}

fn run(endpoint: &str, operation: &str, input: Value) -> common::Outcome {
    common::run_raw(
        &json!({"operation": operation, "input": input, "connection": {
            "endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
            "secret_access_key": common::SECRET_KEY, "addressing": "path", "max_attempts": 3}}),
        &[],
    )
}

const TRANSIENT: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
    <Message>We encountered an internal error. Please try again.</Message>\
    <RequestId>in-body-1</RequestId></Error>";
const FINAL: &str = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

#[test]
fn ok_status_with_an_error_document_is_an_error() {
    let copy = json!({"Bucket": "dst-bucket", "Key": "copy", "x-amz-copy-source": "src-bucket/a"});
    let complete = json!({"Bucket": "b-1", "Key": "k", "uploadId": "u1",
                          "Parts": [{"PartNumber": 1, "ETag": "\"e1\""}]});
    let part_copy = json!({"Bucket": "b-1", "Key": "k", "uploadId": "u1", "partNumber": 1,
                           "x-amz-copy-source": "src-bucket/a"});
    for (operation, input) in [
        ("copy_object", &copy),
        ("complete_multipart_upload", &complete),
        ("copy_part_in_multipart", &part_copy),
    ] {
        // Transient (InternalError): retried up to max_attempts, then reported as S3 said it.
        let (endpoint, count) = canned(TRANSIENT);
        let r = run(&endpoint, operation, input.clone());
        assert_eq!(r.code, 1, "{operation}: {}", r.envelope);
        let e = r.error();
        assert_eq!(e["kind"], "service", "{operation}: {e}");
        assert_eq!(e["code"], "InternalError", "{operation}: {e}");
        assert_eq!(e["status"], 200, "{operation}: {e}");
        assert_eq!(e["retryable"], true, "{operation}: {e}");
        assert_eq!(e["attempts"], 3, "{operation}: {e}");
        assert_eq!(e["request_id"], "in-body-1", "{operation}: {e}");
        assert_eq!(count.load(Ordering::SeqCst), 3, "{operation}");

        // Not transient (AccessDenied): one attempt.
        let (endpoint, count) = canned(FINAL);
        let r = run(&endpoint, operation, input.clone());
        let e = r.error();
        assert_eq!(
            (
                e["code"].as_str(),
                e["retryable"].as_bool(),
                e["attempts"].as_u64()
            ),
            (Some("AccessDenied"), Some(false), Some(1)),
            "{operation}: {e}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1, "{operation}");
    }
}
