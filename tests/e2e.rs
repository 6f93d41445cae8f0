//! End to end: every operation through `s3-connector run` against two independent S3
//! implementations on 127.0.0.1 (`SeaweedFS`, which verifies `SigV4`, and moto), with boto3 as the
//! independent client for cross-checks. Each test runs on both servers unless it says why not.

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(
    clippy::case_sensitive_file_extension_comparisons,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::items_after_statements,
    clippy::similar_names,
    clippy::unreadable_literal
)]

mod common;

use base64::Engine as _;
use common::{boto3, bucket, run, run_raw, server, Server};
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deletes every object and the bucket, through the connector.
fn cleanup(s: &Server, b: &str) {
    let listed = run(s, "list_objects", json!({"Bucket": b, "MaxItems": 100000}));
    for o in listed.output()["Contents"].as_array().unwrap() {
        run(s, "delete_object", json!({"Bucket": b, "Key": o["Key"]})).output();
    }
    run(s, "delete_bucket", json!({"Bucket": b})).output();
}

on_servers!(object_round_trip_and_metadata, |s| {
    let b = common::new_bucket(s, "rt");
    let put = run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "docs/hello.txt", "Body": "hello, world\n",
        "Content-Type": "text/plain", "x-amz-meta-": {"Color": "blue", "owner": "team-a"}, "Cache-Control": "no-cache"}),
    );
    let etag = put.output()["ETag"].as_str().unwrap().to_string();
    assert_eq!(
        etag, "\"22c3683b094136c3398391ae71b20f04\"",
        "ETag is the quoted MD5 of the body"
    );
    let got = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "docs/hello.txt"}),
    );
    let out = got.output();
    assert_eq!(out["Body"], "hello, world\n");
    assert_eq!(out["ContentLength"], 13);
    assert_eq!(out["ContentType"], "text/plain");
    assert_eq!(out["ETag"], etag.as_str());
    assert_eq!(out["Metadata"], json!({"color": "blue", "owner": "team-a"}));
    assert_eq!(out["CacheControl"], "no-cache");
    assert!(out["LastModified"].as_str().unwrap().ends_with('Z'));
    // Binary bodies come back as base64.
    let bytes: Vec<u8> = (0..=255u8).collect();
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "bin", "BodyBase64": b64(&bytes)}),
    )
    .output();
    let got = run(s, "get_object", json!({"Bucket": b, "Key": "bin"}));
    assert_eq!(got.output()["BodyBase64"], b64(&bytes));
    assert!(got.output().get("Body").is_none());
    // Empty object.
    run(s, "put_object", json!({"Bucket": b, "Key": "empty"})).output();
    assert_eq!(
        run(s, "get_object", json!({"Bucket": b, "Key": "empty"})).output()["ContentLength"],
        0
    );
    // Range.
    let got = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "docs/hello.txt", "Range": "bytes=7-11"}),
    );
    assert_eq!(got.output()["Body"], "world");
    assert_eq!(got.output()["ContentRange"], "bytes 7-11/13");
    // Delete.
    let del = run(
        s,
        "delete_object",
        json!({"Bucket": b, "Key": "docs/hello.txt"}),
    );
    del.output();
    assert_eq!(
        run(
            s,
            "get_object",
            json!({"Bucket": b, "Key": "docs/hello.txt"})
        )
        .s3_code(),
        "NoSuchKey"
    );
    cleanup(s, &b);
});

on_servers!(file_body_and_output_file, |s| {
    let b = common::new_bucket(s, "file");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "big.bin", "BodyFile": src}),
    )
    .output();
    let dst = dir.path().join("out.bin");
    let got = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "big.bin", "OutputFile": dst}),
    );
    assert_eq!(got.output()["ContentLength"], data.len());
    assert_eq!(got.output()["OutputFile"], dst.to_str().unwrap());
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded bytes differ"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no temporary file left behind: {leftovers:?}"
    );
    // A failed download leaves no output file.
    let missing = dir.path().join("missing.bin");
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "nope", "OutputFile": missing}),
    );
    assert_eq!(r.s3_code(), "NoSuchKey");
    assert!(!missing.exists());
    cleanup(s, &b);
});

on_servers!(conditional_and_range_errors, |s| {
    let b = common::new_bucket(s, "cond");
    let etag = run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "k", "Body": "0123456789"}),
    )
    .output()["ETag"]
        .clone();
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "k", "If-None-Match": etag}),
    );
    assert_eq!(
        (r.code, r.s3_code(), r.error()["status"].as_u64()),
        (1, "NotModified".into(), Some(304))
    );
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "k", "If-Match": "\"0000\""}),
    );
    assert_eq!(
        (r.s3_code(), r.error()["status"].as_u64()),
        ("PreconditionFailed".into(), Some(412))
    );
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "k", "Range": "bytes=100-200"}),
    );
    assert_eq!(
        (r.s3_code(), r.error()["status"].as_u64()),
        ("InvalidRange".into(), Some(416))
    );
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "k", "If-Modified-Since": "2000-01-01T00:00:00Z"}),
    );
    assert_eq!(r.output()["Body"], "0123456789");
    let r = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "k", "If-Modified-Since": "2100-01-01T00:00:00Z"}),
    );
    assert_eq!(r.s3_code(), "NotModified");
    cleanup(s, &b);
});

on_servers!(service_errors, |s| {
    let missing = bucket("missing");
    let r = run(s, "list_objects", json!({"Bucket": missing}));
    assert_eq!((r.code, r.s3_code()), (1, "NoSuchBucket".to_string()));
    let e = r.error();
    assert_eq!(e["kind"], "service");
    assert_eq!(e["status"], 404);
    assert_eq!(e["retryable"], false);
    assert!(e["request_id"].is_string(), "request id reported: {e}");
    let b = common::new_bucket(s, "err");
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "k", "Body": "x"}),
    )
    .output();
    assert_eq!(
        run(s, "delete_bucket", json!({"Bucket": b})).s3_code(),
        "BucketNotEmpty"
    );
    assert_eq!(
        run(
            s,
            "abort_multipart_upload",
            json!({"Bucket": b, "Key": "k", "uploadId": "no-such-upload"})
        )
        .s3_code(),
        "NoSuchUpload"
    );
    cleanup(s, &b);
});

on_servers!(multipart_flow, |s| {
    let b = common::new_bucket(s, "mpu");
    let five_mib = 5 * 1024 * 1024;
    let part1: Vec<u8> = (0..five_mib).map(|i| (i % 251) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let part2_file = dir.path().join("part2.bin");
    let part2: Vec<u8> = (0..five_mib).map(|i| (i % 241) as u8).collect();
    std::fs::write(&part2_file, &part2).unwrap();
    let source_text = "0123456789abcdefghij";
    let part3_text: String = (0..five_mib)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "source.txt", "Body": source_text}),
    )
    .output();

    let created = run(
        s,
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "assembled", "Content-Type": "application/x-test", "x-amz-meta-": {"stage": "mpu"}}),
    );
    let upload_id = created.output()["UploadId"].as_str().unwrap().to_string();
    assert_eq!(created.output()["Key"], "assembled");
    let up = |n: u32, body: Value| {
        let mut input =
            json!({"Bucket": b, "Key": "assembled", "uploadId": upload_id, "partNumber": n});
        input
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        run(s, "upload_part_in_multipart", input).output()["ETag"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let e1 = up(1, json!({"BodyBase64": b64(&part1)}));
    let e2 = up(2, json!({"BodyFile": part2_file}));
    let e3 = up(3, json!({"Body": part3_text}));
    let copied = run(
        s,
        "copy_part_in_multipart",
        json!({"Bucket": b, "Key": "assembled", "uploadId": upload_id, "partNumber": 4,
        "x-amz-copy-source": format!("{b}/source.txt"), "x-amz-copy-source-range": "bytes=10-14"}),
    );
    let e4 = copied.output()["CopyPartResult"]["ETag"]
        .as_str()
        .unwrap()
        .to_string();
    // list_parts with pagination: one part per page, all four collected.
    let listed = run(
        s,
        "list_parts_for_multipart_upload",
        json!({"Bucket": b, "Key": "assembled", "uploadId": upload_id, "max-parts": 1, "MaxItems": 10}),
    );
    let parts = listed.output()["Parts"].as_array().unwrap();
    let numbers: Vec<u64> = parts
        .iter()
        .map(|p| p["PartNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    assert_eq!(parts[0]["Size"], five_mib);
    assert_eq!(
        parts[0]["ETag"].as_str().unwrap().trim_matches('"'),
        e1.trim_matches('"')
    );
    assert_eq!(listed.output()["IsTruncated"], false);
    let one = run(
        s,
        "list_parts_for_multipart_upload",
        json!({"Bucket": b, "Key": "assembled", "uploadId": upload_id, "max-parts": 2}),
    );
    assert_eq!(
        one.output()["Parts"].as_array().unwrap().len(),
        2,
        "max-parts alone gives one page"
    );
    assert_eq!(one.output()["IsTruncated"], true);
    assert_eq!(one.output()["NextPartNumberMarker"], 2);
    // Complete with an explicit list.
    let parts = json!([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}, {"PartNumber": 4, "ETag": e4}]);
    let done = run(
        s,
        "complete_multipart_upload",
        json!({"Bucket": b, "Key": "assembled", "uploadId": upload_id, "Parts": parts}),
    );
    assert!(
        done.output()["ETag"].as_str().unwrap().ends_with("-4\""),
        "{}",
        done.output()
    );
    let dst = dir.path().join("assembled.bin");
    let got = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "assembled", "OutputFile": dst}),
    );
    assert_eq!(got.output()["ContentType"], "application/x-test");
    assert_eq!(got.output()["Metadata"]["stage"], "mpu");
    let mut want = part1.clone();
    want.extend(&part2);
    want.extend(part3_text.as_bytes());
    want.extend(b"abcde");
    assert!(
        std::fs::read(&dst).unwrap() == want,
        "assembled object differs"
    );

    // Complete without a parts list: the connector lists the parts itself.
    let id2 = run(
        s,
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "auto"}),
    )
    .output()["UploadId"]
        .as_str()
        .unwrap()
        .to_string();
    for (n, body) in [(1, &part1), (2, &part2)] {
        run(s, "upload_part_in_multipart", json!({"Bucket": b, "Key": "auto", "uploadId": id2, "partNumber": n, "BodyBase64": b64(body)})).output();
    }
    run(
        s,
        "complete_multipart_upload",
        json!({"Bucket": b, "Key": "auto", "uploadId": id2}),
    )
    .output();
    assert_eq!(
        run(
            s,
            "get_object",
            json!({"Bucket": b, "Key": "auto", "Range": "bytes=0-0"})
        )
        .output()["ContentRange"],
        format!("bytes 0-0/{}", 2 * five_mib)
    );

    // Too small a first part.
    let id3 = run(
        s,
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "small"}),
    )
    .output()["UploadId"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 1..=2 {
        run(
            s,
            "upload_part_in_multipart",
            json!({"Bucket": b, "Key": "small", "uploadId": id3, "partNumber": n, "Body": "x"}),
        )
        .output();
    }
    assert_eq!(
        run(
            s,
            "complete_multipart_upload",
            json!({"Bucket": b, "Key": "small", "uploadId": id3})
        )
        .s3_code(),
        "EntityTooSmall"
    );
    // The small upload is listed as in progress, then aborted and gone.
    let open = run(
        s,
        "list_multipart_uploads",
        json!({"Bucket": b, "prefix": "small"}),
    );
    let ids: Vec<&str> = open.output()["Uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UploadId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id3.as_str()]);
    assert_eq!(open.output()["Uploads"][0]["Key"], "small");
    // Abort, then the upload is gone.
    run(
        s,
        "abort_multipart_upload",
        json!({"Bucket": b, "Key": "small", "uploadId": id3}),
    )
    .output();
    assert_eq!(
        run(
            s,
            "list_parts_for_multipart_upload",
            json!({"Bucket": b, "Key": "small", "uploadId": id3})
        )
        .s3_code(),
        "NoSuchUpload"
    );
    let open = run(s, "list_multipart_uploads", json!({"Bucket": b}));
    assert_eq!(
        open.output()["Uploads"],
        json!([]),
        "no upload left in progress"
    );
    cleanup(s, &b);
});

on_servers!(copy_object_with_awkward_source, |s| {
    let b = common::new_bucket(s, "copy");
    run(s, "put_object", json!({"Bucket": b, "Key": "src dir/ä b+c.txt", "Body": "copy me", "x-amz-meta-": {"a": "1"}})).output();
    let r = run(
        s,
        "copy_object",
        json!({"Bucket": b, "Key": "dst.txt", "x-amz-copy-source": {"Bucket": b, "Key": "src dir/ä b+c.txt"},
        "x-amz-metadata-directive": "REPLACE", "x-amz-meta-": {"b": "2"}, "Content-Type": "text/plain"}),
    );
    assert!(r.output()["CopyObjectResult"]["ETag"].is_string());
    let got = run(s, "get_object", json!({"Bucket": b, "Key": "dst.txt"}));
    assert_eq!(got.output()["Body"], "copy me");
    assert_eq!(got.output()["Metadata"], json!({"b": "2"}));
    let r = run(
        s,
        "copy_object",
        json!({"Bucket": b, "Key": "x", "x-amz-copy-source": format!("{b}/nope")}),
    );
    assert_eq!(r.s3_code(), "NoSuchKey");
    cleanup(s, &b);
});

on_servers!(list_objects_pagination_and_prefixes, |s| {
    let b = common::new_bucket(s, "list");
    let keys = ["a/1", "a/2", "b/1", "c", "d", "e", "f+g h"];
    for k in keys {
        run(s, "put_object", json!({"Bucket": b, "Key": k, "Body": k})).output();
    }
    let all = run(s, "list_objects", json!({"Bucket": b}));
    let got: Vec<&str> = all.output()["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(got, keys);
    let first = &all.output()["Contents"][0];
    assert_eq!(first["Size"], 3);
    assert!(first["ETag"].is_string() && first["LastModified"].is_string());
    assert_eq!(all.output()["IsTruncated"], false);
    // Automatic pagination 2 keys a page, stopped at 5 items, then continued from NextMarker.
    let page = run(
        s,
        "list_objects",
        json!({"Bucket": b, "max-keys": 2, "MaxItems": 5}),
    );
    let out = page.output();
    assert_eq!(out["Contents"].as_array().unwrap().len(), 5);
    assert_eq!(out["IsTruncated"], true);
    // The server's NextMarker when it gives one (moto does, unlike AWS), else the last key.
    assert!(out["NextMarker"].is_string());
    let rest = run(
        s,
        "list_objects",
        json!({"Bucket": b, "marker": out["NextMarker"]}),
    );
    let got: Vec<&str> = rest.output()["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["e", "f+g h"]);
    // Delimiter: common prefixes.
    let d = run(s, "list_objects", json!({"Bucket": b, "delimiter": "/"}));
    assert_eq!(
        d.output()["CommonPrefixes"],
        json!([{"Prefix": "a/"}, {"Prefix": "b/"}])
    );
    assert_eq!(d.output()["Contents"].as_array().unwrap().len(), 4);
    let p = run(s, "list_objects", json!({"Bucket": b, "prefix": "a/"}));
    assert_eq!(p.output()["Contents"].as_array().unwrap().len(), 2);
    cleanup(s, &b);
});

on_servers!(buckets_and_regions, |s| {
    let b = common::new_bucket(s, "bkt");
    let listed = run(s, "list_buckets", json!({}));
    assert!(listed.output()["Buckets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["Name"] == b.as_str()));
    // A region that disagrees with the connection's is refused before sending.
    let r = run(
        s,
        "create_bucket_in_region",
        json!({"Bucket": bucket("reg"), "Region": "eu-west-1"}),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.error()["details"][0]["pointer"], "/input/Region");
    // The matching region sends its location constraint.
    let regional = bucket("reg");
    let mut conn = s.connection();
    conn["region"] = json!("eu-west-1");
    let r = run_raw(
        &json!({"operation": "create_bucket_in_region", "input": {"Bucket": regional, "Region": "eu-west-1"}, "connection": conn}),
        &[],
    );
    r.output();
    run_raw(
        &json!({"operation": "delete_bucket", "input": {"Bucket": regional}, "connection": conn}),
        &[],
    )
    .output();
    run(s, "delete_bucket", json!({"Bucket": b})).output();
    assert_eq!(
        run(s, "delete_bucket", json!({"Bucket": b})).s3_code(),
        "NoSuchBucket"
    );
});

/// Keys that a path normaliser or a second encoding would corrupt.
const AWKWARD_KEYS: &[&str] = &[
    "sp ace",
    "a+b",
    "100%",
    "x?y#z",
    "ünï/cødé ✓",
    "semi;colon=eq&amp",
    "tilde~*'()!$",
    "a//b",
    "a/../b",
    "./x",
    "x/./y",
    "trailing/",
];

on_servers!(awkward_keys_round_trip_exactly, |s| {
    let b = common::new_bucket(s, "keys");
    let mut stored = Vec::new();
    for k in AWKWARD_KEYS {
        let dot_segments = k.split('/').any(|seg| seg == "." || seg == "..");
        if s.kind == "seaweedfs" && (k.contains("//") || k.ends_with('/')) {
            // SeaweedFS collapses `//` in its filer paths and keeps a trailing-slash key as an
            // empty directory marker (boto3 sees the same). Our bytes on the wire are exact
            // (golden tests), and moto stores these keys as sent.
            continue;
        }
        let r = run(
            s,
            "put_object",
            json!({"Bucket": b, "Key": k, "Body": format!("body of {k}")}),
        );
        if s.kind == "seaweedfs" && dot_segments {
            // SeaweedFS refuses dot segments outright: refused, never stored under another key.
            assert_eq!(r.s3_code(), "InvalidRequest", "{k}");
            continue;
        }
        r.output();
        stored.push(*k);
    }
    for k in &stored {
        let got = run(s, "get_object", json!({"Bucket": b, "Key": k}));
        assert_eq!(got.output()["Body"], format!("body of {k}"), "{k}");
    }
    // The independent client lists exactly these keys, and reads each body under its own key.
    let listed = boto3(s, &format!(
        "keys = []\nfor page in s3.get_paginator('list_objects').paginate(Bucket='{b}'):\n    keys += [o['Key'] for o in page.get('Contents', [])]\n\
         print(json.dumps({{k: s3.get_object(Bucket='{b}', Key=k)['Body'].read().decode() for k in keys}}))"));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let mut want: Vec<&str> = stored.clone();
    want.sort_unstable();
    let mut have: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    have.sort_unstable();
    assert_eq!(have, want);
    for (k, v) in listed.as_object().unwrap() {
        assert_eq!(v.as_str().unwrap(), format!("body of {k}"));
    }
    // And our listing agrees with boto3's.
    let ours = run(s, "list_objects", json!({"Bucket": b}));
    let mut ours: Vec<&str> = ours.output()["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    ours.sort_unstable();
    assert_eq!(ours, want);
    cleanup(s, &b);
});

on_servers!(cross_check_with_boto3, |s| {
    let b = common::new_bucket(s, "xchk");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    run(s, "put_object", json!({"Bucket": b, "Key": "from-connector.bin", "BodyBase64": b64(&bytes),
        "Content-Type": "application/octet-stream", "x-amz-meta-": {"origin": "connector", "n": "1"}})).output();
    let peer = boto3(s, &format!(
        "r = s3.get_object(Bucket='{b}', Key='from-connector.bin')\n\
         print(json.dumps({{'body': base64.b64encode(r['Body'].read()).decode(), 'meta': r['Metadata'], 'type': r['ContentType']}}))"));
    let peer: Value = serde_json::from_str(&peer).unwrap();
    assert_eq!(peer["body"], b64(&bytes), "boto3 reads our bytes exactly");
    assert_eq!(peer["meta"], json!({"origin": "connector", "n": "1"}));
    assert_eq!(peer["type"], "application/octet-stream");
    // The reverse: boto3 writes, the connector reads.
    boto3(s, &format!(
        "s3.put_object(Bucket='{b}', Key='from boto3/ü.bin', Body=bytes(range(256))*3, Metadata={{'origin': 'boto3'}}, ContentType='x/y')"));
    let got = run(
        s,
        "get_object",
        json!({"Bucket": b, "Key": "from boto3/ü.bin"}),
    );
    let want: Vec<u8> = (0..=255u8).cycle().take(768).collect();
    assert_eq!(got.output()["BodyBase64"], b64(&want));
    assert_eq!(got.output()["Metadata"], json!({"origin": "boto3"}));
    assert_eq!(got.output()["ContentType"], "x/y");
    cleanup(s, &b);
});

on_servers!(upload_and_download_files_in_parallel_parts, |s| {
    let b = common::new_bucket(s, "xfer");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let size = 13 * 1024 * 1024 + 123;
    let data: Vec<u8> = (0..size as u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let five = 5 * 1024 * 1024;
    let up = run(
        s,
        "upload_file",
        json!({"Bucket": b, "Key": "multi.bin", "BodyFile": src, "PartSize": five,
        "MultipartThreshold": five, "Concurrency": 3, "Content-Type": "application/x-test", "x-amz-meta-": {"via": "upload_file"}}),
    );
    assert_eq!(up.output()["Parts"], 3);
    assert_eq!(up.output()["Bytes"], size);
    assert!(
        up.output()["ETag"].as_str().unwrap().ends_with("-3\""),
        "{}",
        up.output()
    );
    // The independent client reads the same bytes, type and metadata; no upload is left open.
    let peer = boto3(s, &format!(
        "import hashlib\nr = s3.get_object(Bucket='{b}', Key='multi.bin')\n\
         u = s3.list_multipart_uploads(Bucket='{b}').get('Uploads', [])\n\
         print(json.dumps({{'md5': hashlib.md5(r['Body'].read()).hexdigest(), 'type': r['ContentType'], 'meta': r['Metadata'], 'open': len(u)}}))"));
    let peer: Value = serde_json::from_str(&peer).unwrap();
    use md5::Digest;
    assert_eq!(peer["md5"], hex::encode(md5::Md5::digest(&data)));
    assert_eq!(peer["type"], "application/x-test");
    assert_eq!(peer["meta"], json!({"via": "upload_file"}));
    assert_eq!(peer["open"], 0);
    // Download in parallel ranges.
    let dst = dir.path().join("dst.bin");
    let down = run(
        s,
        "download_file",
        json!({"Bucket": b, "Key": "multi.bin", "OutputFile": dst, "PartSize": five, "MultipartThreshold": five, "Concurrency": 3}),
    );
    assert_eq!(down.output()["Parts"], 3);
    assert_eq!(down.output()["Bytes"], size);
    assert_eq!(down.output()["ContentType"], "application/x-test");
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded bytes differ"
    );
    // The same bytes whichever way the ranges reach the file: ranges of 5 MiB + 1,000 bytes
    // start off the 4 KiB boundary that writes past the page cache need (all but the first go
    // through the page cache), and `PageCache` sends every range through it.
    for extra in [json!({"PartSize": five + 1000}), json!({"PageCache": true})] {
        let mut input = json!({"Bucket": b, "Key": "multi.bin", "OutputFile": dst,
            "MultipartThreshold": five, "Concurrency": 3, "PartSize": five});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        std::fs::remove_file(&dst).unwrap();
        let down = run(s, "download_file", input);
        assert_eq!(down.output()["Bytes"], size, "{extra}");
        assert!(
            std::fs::read(&dst).unwrap() == data,
            "{extra}: bytes differ"
        );
    }
    // Small files: one PUT, one GET; an empty object too.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"tiny").unwrap();
    let up = run(
        s,
        "upload_file",
        json!({"Bucket": b, "Key": "small.txt", "BodyFile": small}),
    );
    assert_eq!(up.output()["Parts"], 1);
    assert_eq!(
        up.output()["ETag"],
        format!("\"{}\"", hex::encode(md5::Md5::digest(b"tiny")))
    );
    let got = dir.path().join("small.out");
    assert_eq!(
        run(
            s,
            "download_file",
            json!({"Bucket": b, "Key": "small.txt", "OutputFile": got})
        )
        .output()["Bytes"],
        4
    );
    assert_eq!(std::fs::read(&got).unwrap(), b"tiny");
    run(s, "put_object", json!({"Bucket": b, "Key": "empty"})).output();
    let got = dir.path().join("empty.out");
    assert_eq!(
        run(
            s,
            "download_file",
            json!({"Bucket": b, "Key": "empty", "OutputFile": got})
        )
        .output()["Bytes"],
        0
    );
    assert_eq!(std::fs::read(&got).unwrap().len(), 0);
    // A missing key leaves no file.
    let missing = dir.path().join("missing.out");
    assert_eq!(
        run(
            s,
            "download_file",
            json!({"Bucket": b, "Key": "nope", "OutputFile": missing})
        )
        .s3_code(),
        "NoSuchKey"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("missing") || n.ends_with(".part")),
        "{names:?}"
    );
    cleanup(s, &b);
});

#[test]
fn wrong_secret_is_refused_by_a_verifying_server() {
    let s = server("seaweedfs");
    assert!(s.verifies_signatures());
    let mut conn = s.connection();
    conn["secret_access_key"] = json!("not-the-right-secret");
    let r = run_raw(
        &json!({"operation": "list_buckets", "connection": conn}),
        &[],
    );
    assert_eq!(
        (r.code, r.s3_code(), r.error()["status"].as_u64()),
        (1, "SignatureDoesNotMatch".to_string(), Some(403))
    );
    assert!(!r.envelope.to_string().contains("not-the-right-secret"));
    // And the right one from the environment instead of the connection.
    let r = run_raw(
        &json!({"operation": "list_buckets", "connection": {"endpoint": s.endpoint, "addressing": "path"}}),
        &[
            ("AWS_ACCESS_KEY_ID", common::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", common::SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    r.output();
    let r = run_raw(
        &json!({"operation": "list_buckets"}),
        &[
            ("AWS_ENDPOINT_URL_S3", &s.endpoint),
            ("AWS_ACCESS_KEY_ID", common::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", common::SECRET_KEY),
        ],
    );
    r.output();
}

#[test]
fn network_failure_and_missing_credentials() {
    // A closed port on loopback: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = json!({"endpoint": format!("http://127.0.0.1:{port}"), "access_key_id": "AKIDEXAMPLE", "secret_access_key": "x", "connect_timeout_seconds": 2});
    let r = run_raw(
        &json!({"operation": "list_buckets", "connection": conn}),
        &[],
    );
    assert_eq!((r.code, r.error()["kind"].as_str()), (1, Some("network")));
    assert_eq!(r.error()["retryable"], true);
    let r = run_raw(
        &json!({"operation": "list_buckets", "connection": {"endpoint": format!("http://127.0.0.1:{port}")}}),
        &[],
    );
    assert_eq!(
        (r.code, r.error()["kind"].as_str(), r.s3_code().as_str()),
        (1, Some("credentials"), "NoCredentials")
    );
    assert_eq!(r.error()["retryable"], false);
    assert!(r.error()["message"]
        .as_str()
        .unwrap()
        .contains("no credentials"));
}

on_servers!(every_operation_succeeds, |s| {
    // One flow through every operation of the manifest, each of which must succeed; the set
    // of operations that did is compared with the manifest, so a new operation without a
    // scenario fails here.
    let mut done = std::collections::BTreeSet::new();
    let mut ok = |op: &str, input: Value| -> Value {
        let r = run(s, op, input);
        assert_eq!(r.code, 0, "{op} on {}: {}", s.kind, r.envelope);
        done.insert(op.to_string());
        r.output().clone()
    };
    let b = bucket("every");
    let b2 = bucket("everyr");
    let dir = tempfile::tempdir().unwrap();
    let six: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let six_path = dir.path().join("six.bin");
    std::fs::write(&six_path, &six).unwrap();
    let five_path = dir.path().join("five.bin");
    std::fs::write(&five_path, &six[..5 * 1024 * 1024]).unwrap();

    ok("list_buckets", json!({}));
    ok("create_bucket", json!({"Bucket": b}));
    ok(
        "create_bucket_in_region",
        json!({"Bucket": b2, "Region": "us-east-1"}),
    );
    ok(
        "put_object",
        json!({"Bucket": b, "Key": "a.txt", "Body": "every operation"}),
    );
    let got = ok("get_object", json!({"Bucket": b, "Key": "a.txt"}));
    assert_eq!(got["Body"], "every operation");
    ok(
        "copy_object",
        json!({"Bucket": b2, "Key": "copy.txt", "x-amz-copy-source": format!("{b}/a.txt")}),
    );
    let listed = ok("list_objects", json!({"Bucket": b}));
    assert_eq!(listed["Contents"][0]["Key"], "a.txt");

    let created = ok(
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "mp.bin"}),
    );
    let upload = created["UploadId"].as_str().unwrap().to_string();
    ok(
        "upload_part_in_multipart",
        json!({"Bucket": b, "Key": "mp.bin", "uploadId": upload, "partNumber": 1,
               "BodyFile": five_path}),
    );
    ok(
        "copy_part_in_multipart",
        json!({"Bucket": b, "Key": "mp.bin", "uploadId": upload, "partNumber": 2,
               "x-amz-copy-source": format!("{b}/a.txt")}),
    );
    let parts = ok(
        "list_parts_for_multipart_upload",
        json!({"Bucket": b, "Key": "mp.bin", "uploadId": upload}),
    );
    assert_eq!(parts["Parts"].as_array().unwrap().len(), 2);
    let uploads = ok("list_multipart_uploads", json!({"Bucket": b}));
    assert!(uploads["Uploads"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["UploadId"] == upload.as_str()));
    ok(
        "complete_multipart_upload",
        json!({"Bucket": b, "Key": "mp.bin", "uploadId": upload}),
    );
    let abandoned = ok(
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "gone.bin"}),
    );
    ok(
        "abort_multipart_upload",
        json!({"Bucket": b, "Key": "gone.bin", "uploadId": abandoned["UploadId"]}),
    );

    let up = ok(
        "upload_file",
        json!({"Bucket": b, "Key": "six.bin", "BodyFile": six_path,
               "PartSize": 5 * 1024 * 1024, "MultipartThreshold": 5 * 1024 * 1024}),
    );
    assert_eq!(up["Parts"], 2);
    let out = dir.path().join("six.out");
    ok(
        "download_file",
        json!({"Bucket": b, "Key": "six.bin", "OutputFile": out,
               "PartSize": 5 * 1024 * 1024, "MultipartThreshold": 5 * 1024 * 1024}),
    );
    assert!(std::fs::read(&out).unwrap() == six, "download_file bytes");

    // The workflow operations, once each (their own tests: tests/workflow.rs).
    let found = ok("object_exists", json!({"Bucket": b, "Key": "six.bin"}));
    assert_eq!(
        (&found["Exists"], &found["ContentLength"]),
        (&json!(true), &json!(six.len()))
    );
    let missing = ok("object_exists", json!({"Bucket": b, "Key": "no-such.bin"}));
    assert_eq!(missing, json!({"Exists": false}));
    let copied = ok(
        "copy_file",
        json!({"Bucket": b, "Key": "six.copy", "x-amz-copy-source": format!("{b}/six.bin"),
               "PartSize": 5 * 1024 * 1024, "MultipartThreshold": 5 * 1024 * 1024}),
    );
    assert_eq!(copied["Parts"], 2);
    for op in ["presign_get_object", "presign_put_object"] {
        let url = ok(op, json!({"Bucket": b, "Key": "six.bin"}));
        assert!(url["URL"].as_str().unwrap().contains("X-Amz-Signature="));
    }
    ok(
        "presign_upload_part",
        json!({"Bucket": b, "Key": "six.bin", "uploadId": "any", "partNumber": 1}),
    );
    let deleted = ok("delete_prefix", json!({"Bucket": b, "Prefix": "six."}));
    assert_eq!(
        (&deleted["Found"], &deleted["Deleted"]),
        (&json!(2), &json!(2))
    );

    for key in ["a.txt", "mp.bin"] {
        ok("delete_object", json!({"Bucket": b, "Key": key}));
    }
    ok("delete_object", json!({"Bucket": b2, "Key": "copy.txt"}));
    ok("delete_bucket", json!({"Bucket": b}));
    ok("delete_bucket", json!({"Bucket": b2}));

    // The docs page's operations and the connector's own; those generated from AWS's model run
    // in tests/every_operation.rs.
    let all: std::collections::BTreeSet<String> = s3_connector::manifest::Manifest::embedded()
        .operations
        .iter()
        .filter(|o| o.origin != s3_connector::manifest::Origin::Model)
        .map(|o| o.name.clone())
        .collect();
    assert_eq!(done, all, "operations that succeeded vs the manifest's");
});

on_servers!(list_multipart_uploads_lists_every_upload, |s| {
    // Five uploads in progress over three keys, each listed once. Paging itself is tested in
    // tests/replies.rs: neither server pages this listing as S3 does (moto ignores max-uploads;
    // SeaweedFS 4.48, asked for 2 a page, lists one key's uploads, says truncated without
    // NextKeyMarker/NextUploadIdMarker, and lists nothing after them).
    let b = common::new_bucket(s, "mpl");
    let mut ids = Vec::new();
    for key in ["u/a", "u/b", "u/b", "u/c", "u/c"] {
        let out = run(
            s,
            "create_multipart_upload",
            json!({"Bucket": b, "Key": key}),
        );
        ids.push((key, out.output()["UploadId"].as_str().unwrap().to_string()));
    }
    let out = run(
        s,
        "list_multipart_uploads",
        json!({"Bucket": b, "MaxItems": 100}),
    );
    let mut got: Vec<(String, String)> = out.output()["Uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["Key"].as_str().unwrap().to_string(),
                u["UploadId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = ids
        .iter()
        .map(|(k, id)| (k.to_string(), id.clone()))
        .collect();
    want.sort();
    assert_eq!(got, want, "every upload once");
    assert_eq!(out.output()["IsTruncated"], false);
    for (key, id) in &ids {
        run(
            s,
            "abort_multipart_upload",
            json!({"Bucket": b, "Key": key, "uploadId": id}),
        )
        .output();
    }
    cleanup(s, &b);
});
