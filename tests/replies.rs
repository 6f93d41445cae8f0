//! Replies that S3 documents but the local servers never send, from a canned HTTP responder on
//! 127.0.0.1: `CopyObject`, `UploadPartCopy` and `CompleteMultipartUpload` can answer
//! `200 OK` with an `<Error>` document ("S3 200 OK error"), which must be an error, classified
//! and retried by its code like any other; and S3's `BadDigest` refusal of an altered upload
//! (`SeaweedFS` answers `InvalidDigest` instead).

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::format_collect, clippy::needless_pass_by_value)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One request the responder received.
struct Seen {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// A reply: status line (`200 OK`), extra header lines, body.
struct Reply {
    status: &'static str,
    headers: Vec<String>,
    body: String,
}

impl Reply {
    fn ok(body: String) -> Reply {
        Reply {
            status: "200 OK",
            headers: Vec::new(),
            body,
        }
    }
}

/// Answers each request with the reply `reply` gives for it, or closes the connection without
/// one when it gives None; records the requests. Stops with the test process.
fn scripted(
    reply: impl Fn(&Seen) -> Option<Reply> + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let _ = reader.read_line(&mut head);
            let mut parts = head.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or_default().to_string(),
                parts.next().unwrap_or_default().to_string(),
            );
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
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let req = Seen {
                method,
                target,
                body,
            };
            let out = reply(&req);
            seen.lock().unwrap().push(req);
            let Some(out) = out else {
                continue; // dropped: the connection closes with no reply
            };
            let extra: String = out.headers.iter().map(|h| format!("{h}\r\n")).collect();
            let reply = format!(
                "HTTP/1.1 {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 x-amz-request-id: canned-1\r\n{extra}Connection: close\r\n\r\n{}",
                out.status,
                out.body.len(),
                out.body
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (endpoint, log)
}

/// The targets of the requests with this method the responder received, in order.
fn targets(log: &Mutex<Vec<Seen>>, method: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == method)
        .map(|s| s.target.clone())
        .collect()
}

/// `200 OK` with the body `reply` gives, or no reply at all for None.
fn responder_or_drop(
    reply: impl Fn(&Seen) -> Option<String> + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    scripted(move |req| reply(req).map(Reply::ok))
}

/// `200 OK` with the body `reply` gives.
fn responder(reply: impl Fn(&Seen) -> String + Send + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    responder_or_drop(move |req| Some(reply(req)))
}

/// Answers every request with `body`.
fn canned(body: &'static str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    responder(move |_| body.to_string())
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
        assert_eq!(count.lock().unwrap().len(), 3, "{operation}");

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
        assert_eq!(count.lock().unwrap().len(), 1, "{operation}");
    }
}

#[test]
fn complete_without_parts_collects_every_page_of_parts() {
    // ListParts answers 1,000 parts a page (S3's most), 2,500 in all; the completion must list
    // every part, in order, with its ETag.
    const TOTAL: u32 = 2500;
    let (endpoint, log) = responder(|req| {
        if req.method == "GET" {
            let marker: u32 = req
                .target
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("part-number-marker="))
                .map_or(0, |v| v.parse().unwrap());
            let last = (marker + 1000).min(TOTAL);
            let mut xml = format!(
                "<ListPartsResult><Bucket>b-1</Bucket><Key>k</Key><UploadId>u1</UploadId>\
                 <PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{last}</NextPartNumberMarker>\
                 <MaxParts>1000</MaxParts><IsTruncated>{}</IsTruncated>",
                last < TOTAL
            );
            for n in marker + 1..=last {
                xml.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>&quot;etag-{n}&quot;</ETag><Size>5242880</Size></Part>"
                ));
            }
            xml + "</ListPartsResult>"
        } else {
            "<CompleteMultipartUploadResult><Bucket>b-1</Bucket><Key>k</Key>\
             <ETag>\"done-2500\"</ETag></CompleteMultipartUploadResult>"
                .to_string()
        }
    });
    let r = run(
        &endpoint,
        "complete_multipart_upload",
        json!({"Bucket": "b-1", "Key": "k", "uploadId": "u1"}),
    );
    assert_eq!(r.code, 0, "{}", r.envelope);
    assert_eq!(r.output()["ETag"], "\"done-2500\"");
    let log = log.lock().unwrap();
    let lists = log.iter().filter(|s| s.method == "GET").count();
    assert_eq!(lists, 3, "three pages of parts");
    let post = log
        .iter()
        .find(|s| s.method == "POST")
        .expect("a completion");
    let body = String::from_utf8(post.body.clone()).unwrap();
    let numbers: Vec<u32> = body
        .split("<PartNumber>")
        .skip(1)
        .map(|p| p.split('<').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (1..=TOTAL).collect::<Vec<_>>());
    assert!(
        body.contains("<ETag>&quot;etag-2500&quot;</ETag>"),
        "ETags carried"
    );
}

#[test]
fn lost_create_reply_cleanup_reads_every_page_of_the_keys_uploads() {
    // The key already has 1,005 uploads in progress (two pages of ListMultipartUploads). The
    // first create is applied (upload new-1) but its reply is lost; the repeat makes new-2.
    // Meanwhile another writer, with other credentials, starts other-1 on the same key.
    // Only new-1 may be aborted: the uploads on the second page were there before, and
    // other-1 has another initiator than new-2, the upload the connector goes on with.
    use std::sync::atomic::{AtomicUsize, Ordering};
    let creates = Arc::new(AtomicUsize::new(0));
    let c = creates.clone();
    let (endpoint, log) = responder_or_drop(move |req| {
        if req.method == "POST" {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            return (n > 1).then(|| {
                format!(
                    "<InitiateMultipartUploadResult><Bucket>b-1</Bucket><Key>k</Key>\
                     <UploadId>new-{n}</UploadId></InitiateMultipartUploadResult>"
                )
            });
        }
        if req.method == "DELETE" {
            return Some(String::new());
        }
        let mut ids: Vec<String> = (1..=1005).map(|i| format!("u{i:04}")).collect();
        let made = c.load(Ordering::SeqCst);
        ids.extend((1..=made).map(|n| format!("new-{n}")));
        if made > 0 {
            ids.push("other-1".into());
        }
        let from = req
            .target
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("upload-id-marker="))
            .and_then(|m| ids.iter().position(|id| id == m))
            .map_or(0, |i| i + 1);
        let page = &ids[from..(from + 1000).min(ids.len())];
        let truncated = from + page.len() < ids.len();
        let mut xml = format!(
            "<ListMultipartUploadsResult><Bucket>b-1</Bucket><Prefix>k</Prefix>\
             <MaxUploads>1000</MaxUploads><IsTruncated>{truncated}</IsTruncated>\
             <NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker>",
            page.last().unwrap()
        );
        for id in page {
            let who = if id.starts_with("other") {
                "someone-else"
            } else {
                "me"
            };
            xml.push_str(&format!(
                "<Upload><Key>k</Key><UploadId>{id}</UploadId><Initiator><ID>{who}</ID></Initiator>\
                 <Initiated>2026-11-26T00:00:00.000Z</Initiated></Upload>"
            ));
        }
        Some(xml + "</ListMultipartUploadsResult>")
    });
    let r = run(
        &endpoint,
        "create_multipart_upload",
        json!({"Bucket": "b-1", "Key": "k"}),
    );
    assert_eq!(r.code, 0, "{}", r.envelope);
    assert_eq!(r.output()["UploadId"], "new-2");
    let aborted = targets(&log, "DELETE");
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(aborted[0].contains("uploadId=new-1"), "{aborted:?}");
    assert_eq!(targets(&log, "GET").len(), 4, "two pages before, two after");
}

/// A `ListMultipartUploads` responder over `total` uploads of keys k0000.., `per_page` a page,
/// honouring key-marker and upload-id-marker as S3 does.
fn uploads_responder(total: usize, per_page: usize) -> (String, Arc<Mutex<Vec<Seen>>>) {
    responder(move |req| {
        let all: Vec<(String, String)> = (0..total)
            .map(|i| (format!("k{:04}", i / 2), format!("id{i:04}")))
            .collect();
        let param = |name: &str| {
            req.target
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
        };
        let after = match (param("key-marker"), param("upload-id-marker")) {
            (Some(k), Some(u)) => all
                .iter()
                .position(|(key, id)| *key == k && *id == u)
                .map_or(0, |i| i + 1),
            _ => 0,
        };
        let asked: usize = param("max-uploads").map_or(1000, |v| v.parse().unwrap());
        let n = asked.min(per_page);
        let page = &all[after..(after + n).min(total)];
        let truncated = after + page.len() < total;
        let mut xml = format!(
            "<ListMultipartUploadsResult><Bucket>b-1</Bucket><MaxUploads>{n}</MaxUploads>\
             <IsTruncated>{truncated}</IsTruncated>"
        );
        if let (true, Some((k, id))) = (truncated, page.last()) {
            xml.push_str(&format!(
                "<NextKeyMarker>{k}</NextKeyMarker><NextUploadIdMarker>{id}</NextUploadIdMarker>"
            ));
        }
        for (k, id) in page {
            xml.push_str(&format!(
                "<Upload><Key>{k}</Key><UploadId>{id}</UploadId></Upload>"
            ));
        }
        xml + "</ListMultipartUploadsResult>"
    })
}

#[test]
fn list_multipart_uploads_follows_pages_up_to_max_items() {
    let ids = |out: &Value| -> Vec<String> {
        out["Uploads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UploadId"].as_str().unwrap().to_string())
            .collect()
    };
    // 2,500 uploads, 1,000 a page: all of them in three requests.
    let (endpoint, log) = uploads_responder(2500, 1000);
    let r = run(
        &endpoint,
        "list_multipart_uploads",
        json!({"Bucket": "b-1", "MaxItems": 10000}),
    );
    let out = r.output().clone();
    assert_eq!(
        ids(&out),
        (0..2500).map(|i| format!("id{i:04}")).collect::<Vec<_>>()
    );
    assert_eq!(out["IsTruncated"], false);
    assert!(
        out.get("NextKeyMarker").is_none(),
        "nothing to continue from"
    );
    assert_eq!(log.lock().unwrap().len(), 3);

    // Stopped at MaxItems: the markers to continue from, which give the rest.
    let (endpoint, _) = uploads_responder(7, 1000);
    let r = run(
        &endpoint,
        "list_multipart_uploads",
        json!({"Bucket": "b-1", "max-uploads": 2, "MaxItems": 5}),
    );
    let first = r.output().clone();
    assert_eq!(ids(&first).len(), 5, "{first}");
    assert_eq!(first["IsTruncated"], true);
    let rest = run(
        &endpoint,
        "list_multipart_uploads",
        json!({"Bucket": "b-1", "key-marker": first["NextKeyMarker"],
               "upload-id-marker": first["NextUploadIdMarker"], "MaxItems": 100}),
    );
    assert_eq!(
        [ids(&first), ids(rest.output())].concat(),
        (0..7).map(|i| format!("id{i:04}")).collect::<Vec<_>>()
    );
}

#[test]
fn repeated_completion_is_checked_against_the_object() {
    // The first completion is applied but its reply lost; the repeat gets NoSuchUpload. The
    // object is accepted only if its ETag is the multipart ETag of exactly the parts given.
    use md5::{Digest, Md5};
    let parts = [Md5::digest(b"part one"), Md5::digest(b"part two")];
    let etags: Vec<String> = parts
        .iter()
        .map(|d| format!("\"{}\"", hex::encode(d)))
        .collect();
    let good = format!("\"{}-2\"", hex::encode(Md5::digest(parts.concat())));
    for (object_etag, accepted) in [(good.clone(), true), ("\"0123abcd-2\"".to_string(), false)] {
        let completes = Arc::new(Mutex::new(0));
        let c = completes.clone();
        let (endpoint, log) = scripted(move |req| match req.method.as_str() {
            "POST" => {
                let mut n = c.lock().unwrap();
                *n += 1;
                (*n > 1).then(|| Reply {
                    status: "404 Not Found",
                    headers: Vec::new(),
                    body: "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>".into(),
                })
            }
            _ => Some(Reply {
                status: "206 Partial Content",
                headers: vec![
                    format!("ETag: {object_etag}"),
                    "Content-Range: bytes 0-0/10485760".into(),
                ],
                body: "x".into(),
            }),
        });
        let r = run(
            &endpoint,
            "complete_multipart_upload",
            json!({"Bucket": "b-1", "Key": "k", "uploadId": "u1", "Parts": [
                {"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]}),
        );
        assert_eq!(targets(&log, "GET").len(), 1, "one look at the object");
        if accepted {
            assert_eq!(r.code, 0, "{}", r.envelope);
            assert_eq!(r.output()["ETag"], good.as_str());
            assert_eq!(r.output()["Key"], "k");
        } else {
            assert_eq!(r.error()["code"], "NoSuchUpload", "{}", r.envelope);
        }
    }
}

/// A `create_multipart_upload` responder: `post(n)` answers the n-th create (None: applied, but
/// no reply; an error status: not applied). The listing shows `listing_extra` XML, then the
/// uploads the applied creates made (new-n).
fn create_responder(
    post: impl Fn(usize) -> Option<Reply> + Send + 'static,
    listing_extra: &'static str,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let creates = Arc::new(Mutex::new((0usize, Vec::<usize>::new())));
    scripted(move |req| match req.method.as_str() {
        "POST" => {
            let mut c = creates.lock().unwrap();
            c.0 += 1;
            let n = c.0;
            let reply = post(n);
            if reply.as_ref().is_none_or(|r| r.status.starts_with("200")) {
                c.1.push(n);
            }
            reply
        }
        "DELETE" => Some(Reply::ok(String::new())),
        _ => {
            let uploads: String = creates
                .lock()
                .unwrap()
                .1
                .iter()
                .map(|n| format!("<Upload><Key>k</Key><UploadId>new-{n}</UploadId></Upload>"))
                .collect();
            Some(Reply::ok(format!(
                "<ListMultipartUploadsResult><Bucket>b-1</Bucket>{listing_extra}{uploads}\
                 </ListMultipartUploadsResult>"
            )))
        }
    })
}

fn slow_down() -> Reply {
    Reply {
        status: "503 Slow Down",
        headers: Vec::new(),
        body: "<Error><Code>SlowDown</Code><Message>slow</Message></Error>".into(),
    }
}

#[test]
fn a_lost_create_reply_is_cleaned_up_whatever_the_last_attempt_says() {
    // The first create is applied but its reply lost; the repeats get 503 SlowDown. The
    // operation fails with SlowDown, and the upload the first attempt made is aborted.
    let (endpoint, log) = create_responder(
        |n| (n > 1).then(slow_down),
        "<IsTruncated>false</IsTruncated>",
    );
    let r = run(
        &endpoint,
        "create_multipart_upload",
        json!({"Bucket": "b-1", "Key": "k"}),
    );
    assert_eq!(r.error()["code"], "SlowDown", "{}", r.envelope);
    let aborted = targets(&log, "DELETE");
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(aborted[0].contains("uploadId=new-1"), "{aborted:?}");
}

#[test]
fn without_a_usable_listing_a_create_is_not_repeated() {
    // The listing says truncated but gives no markers to continue from: the key's uploads
    // cannot be known, so a lost create reply could not be cleaned up, and the create is sent
    // once only.
    let (endpoint, log) = create_responder(
        |_| None,
        "<IsTruncated>true</IsTruncated><Upload><Key>k</Key><UploadId>old-1</UploadId></Upload>",
    );
    let r = run(
        &endpoint,
        "create_multipart_upload",
        json!({"Bucket": "b-1", "Key": "k"}),
    );
    assert_eq!(r.error()["kind"], "network", "{}", r.envelope);
    assert_eq!(r.error()["attempts"], 1, "{}", r.envelope);
    assert_eq!(targets(&log, "POST").len(), 1);
}

#[test]
fn a_listing_that_does_not_advance_is_an_error() {
    // Truncated, no items, the same markers every time: stopped at the second page instead
    // of asking forever.
    let (endpoint, log) = responder(|_| {
        "<ListMultipartUploadsResult><Bucket>b-1</Bucket><IsTruncated>true</IsTruncated>\
         <NextKeyMarker>a</NextKeyMarker><NextUploadIdMarker>x</NextUploadIdMarker>\
         </ListMultipartUploadsResult>"
            .to_string()
    });
    let r = run(
        &endpoint,
        "list_multipart_uploads",
        json!({"Bucket": "b-1", "MaxItems": 10000}),
    );
    assert_eq!(r.code, 1, "{}", r.envelope);
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("does not advance"),
        "{}",
        r.envelope
    );
    assert_eq!(log.lock().unwrap().len(), 2);
}

/// Serves `get_object` twice with a `size`-byte body that pauses half way (so that progress is
/// reported): the first reply is cut there, the second completes.
fn cut_then_whole(size: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (attempt, conn) in listener.incoming().take(2).enumerate() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\n\r\n"
            );
            let half = vec![b'x'; size / 2];
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&half);
            let _ = conn.flush();
            std::thread::sleep(std::time::Duration::from_millis(400));
            if attempt > 0 {
                let _ = conn.write_all(&vec![b'x'; size - size / 2]);
            }
        }
    });
    endpoint
}

#[test]
fn a_retried_download_reports_each_byte_once() {
    const SIZE: usize = 4 << 20;
    let endpoint = cut_then_whole(SIZE);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object.bin");
    let request = json!({"operation": "get_object",
        "input": {"Bucket": "b-1", "Key": "k", "OutputFile": file},
        "connection": {"endpoint": endpoint, "region": "us-east-1", "addressing": "path",
            "access_key_id": common::ACCESS_KEY, "secret_access_key": common::SECRET_KEY}});
    let mut cmd = common::run_command();
    cmd.arg("--progress");
    let out = common::run_cmd(cmd, &request);
    let stderr = &out.stderr;
    out.output();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), SIZE as u64);
    let events: Vec<(u64, u64)> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "progress")
        .map(|v| (v["bytes"].as_u64().unwrap(), v["total"].as_u64().unwrap()))
        .collect();
    assert!(events.len() >= 2, "progress was reported: {stderr}");
    assert!(
        events.iter().all(|(done, total)| done <= total),
        "the cut attempt's bytes were counted again: {events:?}"
    );
    assert_eq!(events.last(), Some(&(SIZE as u64, SIZE as u64)));
}

/// S3's refusal of a body that reached it altered: `400 BadDigest`, nothing stored.
fn bad_digest() -> Reply {
    Reply {
        status: "400 Bad Request",
        headers: Vec::new(),
        body: "<Error><Code>BadDigest</Code><Message>The CRC64NVME you specified did not match \
               the calculated checksum.</Message><RequestId>digest-1</RequestId></Error>"
            .into(),
    }
}

#[test]
fn an_upload_refused_as_altered_is_sent_again_and_nothing_is_deleted() {
    let (endpoint, log) = scripted(|req| (req.method == "PUT").then(bad_digest));
    // The connector's own CRC: the bytes went wrong on the way, so they are sent again (a
    // stored object under the key, if any, is an earlier one: no DELETE).
    let r = run(
        &endpoint,
        "put_object",
        json!({"Bucket": "bkt", "Key": "k", "Body": "hello"}),
    );
    let e = r.error();
    assert_eq!(
        (
            e["kind"].as_str(),
            e["code"].as_str(),
            e["retryable"].as_bool(),
            e["attempts"].as_u64()
        ),
        (Some("service"), Some("BadDigest"), Some(true), Some(3)),
        "{e}"
    );
    assert_eq!(targets(&log, "PUT").len(), 3);
    assert!(
        targets(&log, "DELETE").is_empty(),
        "nothing stored, nothing deleted"
    );
    // A checksum the caller gave: refused every time, so one attempt.
    let r = run(
        &endpoint,
        "put_object",
        json!({"Bucket": "bkt", "Key": "k", "Body": "hello", "x-amz-checksum-crc32": "AAAAAA=="}),
    );
    let e = r.error();
    assert_eq!(
        (
            e["code"].as_str(),
            e["retryable"].as_bool(),
            e["attempts"].as_u64()
        ),
        (Some("BadDigest"), Some(false), Some(1)),
        "{e}"
    );
    assert_eq!(targets(&log, "PUT").len(), 4);
    assert!(targets(&log, "DELETE").is_empty());
}
