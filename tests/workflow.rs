//! The workflow operations against real servers, read back by code nobody here wrote: presigned
//! URLs used by Python's `urllib` with no credentials against `SeaweedFS`, which verifies
//! signatures; `delete_prefix`, `copy_file` and `object_exists` on `SeaweedFS` and moto, with
//! boto3 writing what they read and reading what they leave.

// Test scenarios: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines, clippy::cast_possible_truncation)]

mod common;

use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use common::{
    boto3, bucket, new_bucket, py, remove_bucket, run, run_cmd, run_command, server, Server,
};

const MIB: usize = 1024 * 1024;

/// Bytes that are not all alike (so that a misplaced part shows), from a seed.
fn bytes(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// What a plain HTTP client (Python's `urllib`, no credentials) gets for one request.
struct Http {
    status: u16,
    body: Vec<u8>,
    headers: Value,
}

fn http(method: &str, url: &str, headers: &Value, body: Option<&Path>) -> Http {
    let code = "import sys, json, base64, urllib.request, urllib.error\n\
        method, url, headers, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]\n\
        data = open(body, 'rb').read() if body else None\n\
        req = urllib.request.Request(url, data=data, method=method, headers=headers)\n\
        try:\n\
        \x20   r = urllib.request.urlopen(req, timeout=60)\n\
        \x20   status, got, hdrs = r.status, r.read(), r.headers\n\
        except urllib.error.HTTPError as e:\n\
        \x20   status, got, hdrs = e.code, e.read(), e.headers\n\
        print(json.dumps({'status': status, 'body': base64.b64encode(got).decode(),\n\
        \x20   'headers': {k.lower(): v for k, v in hdrs.items()}}))\n";
    let body = body
        .map(|p| p.to_str().unwrap().to_string())
        .unwrap_or_default();
    let out: Value = serde_json::from_str(&common::python(
        code,
        &[method, url, &headers.to_string(), &body],
    ))
    .unwrap();
    Http {
        status: u16::try_from(out["status"].as_u64().unwrap()).unwrap(),
        body: base64::engine::general_purpose::STANDARD
            .decode(out["body"].as_str().unwrap())
            .unwrap(),
        headers: out["headers"].clone(),
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// The object's bytes' MD5, content type, metadata and tags as boto3 reads them.
fn boto3_object(s: &Server, b: &str, key: &str) -> Value {
    let out = boto3(
        s,
        &format!(
            "import hashlib\n\
             o = s3.get_object(Bucket={b}, Key={k})\n\
             t = s3.get_object_tagging(Bucket={b}, Key={k})['TagSet']\n\
             print(json.dumps({{'md5': hashlib.md5(o['Body'].read()).hexdigest(),\n\
             \x20   'type': o.get('ContentType'), 'meta': o.get('Metadata', {{}}),\n\
             \x20   'cache': o.get('CacheControl'), 'disposition': o.get('ContentDisposition'),\n\
             \x20   'tags': sorted([[x['Key'], x['Value']] for x in t])}}))\n",
            b = py(b),
            k = py(key)
        ),
    );
    serde_json::from_str(&out).unwrap()
}

fn uploads_in_progress(s: &Server, b: &str) -> usize {
    boto3(
        s,
        &format!(
            "print(len(s3.list_multipart_uploads(Bucket={}).get('Uploads', [])))",
            py(b)
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Presigned URLs.

#[test]
fn presigned_urls_work_without_credentials_and_only_as_signed() {
    let s = server("seaweedfs");
    assert!(s.verifies_signatures());
    let b = new_bucket(s, "presign");
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(1, 300_000);
    let src = dir.path().join("data.bin");
    std::fs::write(&src, &data).unwrap();
    boto3(
        s,
        &format!(
            "s3.upload_file({}, {}, 'dir/data file.bin')",
            py(src.to_str().unwrap()),
            py(&b)
        ),
    );

    // A download URL: the bytes, with the response headers it asked for.
    let get = run(
        s,
        "presign_get_object",
        json!({"Bucket": b, "Key": "dir/data file.bin", "ExpiresIn": 300,
               "response-content-disposition": "attachment; filename=\"report.bin\""}),
    );
    let get = get.output();
    assert_eq!(get["Method"], "GET");
    assert_eq!(get["Headers"], json!({}));
    let url = get["URL"].as_str().unwrap();
    let got = http("GET", url, &json!({}), None);
    assert_eq!(got.status, 200);
    assert!(got.body == data, "the presigned GET's bytes");
    assert_eq!(
        got.headers["content-disposition"],
        "attachment; filename=\"report.bin\""
    );
    // Refused: another method, another key, a changed expiry, a changed signature.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(http("PUT", url, &json!({}), Some(&empty)).status, 403);
    assert_eq!(http("DELETE", url, &json!({}), None).status, 403);
    let other_key = url.replace("data%20file.bin", "data%20file.bim");
    assert_ne!(other_key, url);
    assert_eq!(http("GET", &other_key, &json!({}), None).status, 403);
    let longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    assert_ne!(longer, url);
    assert_eq!(http("GET", &longer, &json!({}), None).status, 403);
    let last = url.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_eq!(http("GET", &forged, &json!({}), None).status, 403);
    // An expired URL. `X-Amz-Date` is in whole seconds, so a URL valid for 3 s has at least 2 s
    // left when made (a busy machine takes a while to start Python), and none 3.5 s after its
    // first use.
    let short = run(
        s,
        "presign_get_object",
        json!({"Bucket": b, "Key": "dir/data file.bin", "ExpiresIn": 3}),
    );
    let short_url = short.output()["URL"].as_str().unwrap().to_string();
    assert_eq!(http("GET", &short_url, &json!({}), None).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let expired = http("GET", &short_url, &json!({}), None);
    assert_eq!(expired.status, 403, "an expired URL is refused");

    // An upload URL whose headers are signed: sent as `Headers` says, the object has them.
    let put = run(
        s,
        "presign_put_object",
        json!({"Bucket": b, "Key": "up/from browser.bin", "Content-Type": "application/x-demo",
               "x-amz-meta-": {"origin": "presigned"}}),
    );
    let put = put.output();
    assert_eq!(put["Method"], "PUT");
    assert_eq!(
        put["Headers"],
        json!({"content-type": "application/x-demo", "x-amz-meta-origin": "presigned"})
    );
    let up = bytes(2, 123_457);
    let up_path = dir.path().join("up.bin");
    std::fs::write(&up_path, &up).unwrap();
    let put_url = put["URL"].as_str().unwrap();
    // Without the signed headers: refused, and nothing written.
    assert_eq!(
        http(
            "PUT",
            put_url,
            &json!({"Content-Type": "application/octet-stream"}),
            Some(&up_path)
        )
        .status,
        403
    );
    let sent = http("PUT", put_url, &put["Headers"], Some(&up_path));
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    let read = boto3_object(s, &b, "up/from browser.bin");
    assert_eq!(read["md5"], md5_hex(&up));
    assert_eq!(read["type"], "application/x-demo");
    assert_eq!(read["meta"], json!({"origin": "presigned"}));

    // A multipart upload whose parts go up through presigned URLs.
    let created = run(
        s,
        "create_multipart_upload",
        json!({"Bucket": b, "Key": "big/parts.bin"}),
    );
    let upload = created.output()["UploadId"].as_str().unwrap().to_string();
    let whole = bytes(3, 5 * MIB + 777);
    let mut parts = Vec::new();
    for (n, chunk) in [(1, &whole[..5 * MIB]), (2, &whole[5 * MIB..])] {
        let part = dir.path().join(format!("part{n}"));
        std::fs::write(&part, chunk).unwrap();
        let signed = run(
            s,
            "presign_upload_part",
            json!({"Bucket": b, "Key": "big/parts.bin", "uploadId": upload, "partNumber": n}),
        );
        let signed = signed.output();
        let r = http(
            "PUT",
            signed["URL"].as_str().unwrap(),
            &signed["Headers"],
            Some(&part),
        );
        assert_eq!(r.status, 200);
        parts.push(json!({"PartNumber": n, "ETag": r.headers["etag"]}));
    }
    run(
        s,
        "complete_multipart_upload",
        json!({"Bucket": b, "Key": "big/parts.bin", "uploadId": upload, "Parts": parts}),
    )
    .output();
    assert_eq!(boto3_object(s, &b, "big/parts.bin")["md5"], md5_hex(&whole));
    remove_bucket(s, &b);
}

#[test]
fn presigned_urls_made_with_a_session_token_work() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_with_sts(dir.path());
    // Temporary credentials from the server's STS, asked for by boto3 with the static pair.
    let creds = common::sts_session(&s, "presign-test");
    let mut session = s.connection();
    session["access_key_id"] = creds["AccessKeyId"].clone();
    session["secret_access_key"] = creds["SecretAccessKey"].clone();
    session["session_token"] = creds["SessionToken"].clone();
    let with_session = |op: &str, input: Value| {
        common::run_raw(
            &json!({"operation": op, "input": input, "connection": session}),
            &[],
        )
    };
    let b = bucket("sts");
    with_session("create_bucket", json!({"Bucket": b})).output();
    let data = bytes(5, 70_001);
    let up = dir.path().join("up.bin");
    std::fs::write(&up, &data).unwrap();
    let put = with_session(
        "presign_put_object",
        json!({"Bucket": b, "Key": "via/token.bin"}),
    );
    let put_url = put.output()["URL"].as_str().unwrap().to_string();
    assert!(put_url.contains("X-Amz-Security-Token="));
    assert_eq!(http("PUT", &put_url, &json!({}), Some(&up)).status, 200);
    // Read back with the static pair, by boto3.
    assert_eq!(boto3_object(&s, &b, "via/token.bin")["md5"], md5_hex(&data));
    let get = with_session(
        "presign_get_object",
        json!({"Bucket": b, "Key": "via/token.bin"}),
    );
    let url = get.output()["URL"].as_str().unwrap().to_string();
    let got = http("GET", &url, &json!({}), None);
    assert_eq!(got.status, 200);
    assert!(got.body == data, "the presigned GET's bytes");
    // The token is checked: one character changed (the URL otherwise intact) is refused.
    let at = url.find("X-Amz-Security-Token=").unwrap() + "X-Amz-Security-Token=".len() + 10;
    let mut forged = url.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(http("GET", &forged, &json!({}), None).status, 403);
    remove_bucket(&s, &b);
}

// ---------------------------------------------------------------------------------------------
// delete_prefix.

/// Puts `n` one-byte objects named `prefix` + a number (and, every 250th, a name with a space, a
/// `+` and a non-ASCII letter), in parallel, by boto3.
fn put_many(s: &Server, b: &str, prefix: &str, n: usize) {
    boto3(
        s,
        &format!(
            "from concurrent.futures import ThreadPoolExecutor\n\
             def name(i):\n\
             \x20   return {p} + (f'odd name+{{i}} \u{fc}' if i % 250 == 0 else f'{{i:05}}')\n\
             with ThreadPoolExecutor(16) as pool:\n\
             \x20   list(pool.map(lambda i: s3.put_object(Bucket={b}, Key=name(i), Body=b'x'), range({n})))\n",
            p = py(prefix),
            b = py(b)
        ),
    );
}

/// How many keys (or, with `versions`, versions and delete markers) boto3 lists under `prefix`.
fn count(s: &Server, b: &str, prefix: &str, versions: bool) -> (usize, usize) {
    let out = boto3(
        s,
        &format!(
            "n = m = 0\n\
             if {versions}:\n\
             \x20   for page in s3.get_paginator('list_object_versions').paginate(Bucket={b}, Prefix={p}):\n\
             \x20       n += len(page.get('Versions', [])); m += len(page.get('DeleteMarkers', []))\n\
             else:\n\
             \x20   for page in s3.get_paginator('list_objects_v2').paginate(Bucket={b}, Prefix={p}):\n\
             \x20       n += len(page.get('Contents', []))\n\
             print(n, m)\n",
            versions = if versions { "True" } else { "False" },
            b = py(b),
            p = py(prefix)
        ),
    );
    let mut it = out.split_whitespace().map(|x| x.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

on_servers!(
    delete_prefix_deletes_every_key_under_it_and_nothing_else,
    |s| {
        let b = new_bucket(s, "delpre");
        put_many(s, &b, "logs/2026/", 2500);
        put_many(s, &b, "logs/2027/", 30);
        put_many(s, &b, "logs/2026x", 30);
        // A dry run counts and deletes nothing.
        let dry = run(
            s,
            "delete_prefix",
            json!({"Bucket": b, "Prefix": "logs/2026/", "DryRun": true}),
        );
        let dry = dry.output();
        assert_eq!(
            (
                &dry["Found"],
                &dry["Deleted"],
                &dry["Batches"],
                &dry["DryRun"]
            ),
            (&json!(2500), &json!(0), &json!(0), &json!(true))
        );
        assert_eq!(count(s, &b, "logs/2026/", false).0, 2500);
        // The run, with progress reported in keys.
        let mut cmd = run_command();
        cmd.arg("--progress");
        let done = run_cmd(
            cmd,
            &json!({"operation": "delete_prefix", "connection": s.connection(),
                "input": {"Bucket": b, "Prefix": "logs/2026/", "Concurrency": 3}}),
        );
        let out = done.output();
        assert_eq!(
            (
                &out["Found"],
                &out["Deleted"],
                &out["Batches"],
                &out["ErrorCount"]
            ),
            (&json!(2500), &json!(2500), &json!(3), &json!(0)),
            "{out}"
        );
        assert_eq!(out["Errors"], json!([]));
        // Progress is reported only for a run over 250 ms (usual here, not certain): when it
        // is, it counts keys, never more deleted than listed, and ends at 2,500 of 2,500.
        let events: Vec<Value> = done
            .stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "progress")
            .collect();
        for e in &events {
            assert!(e["bytes"].as_u64() <= e["total"].as_u64(), "{e}");
        }
        if let Some(last) = events.last() {
            assert_eq!(
                (&last["bytes"], &last["total"]),
                (&json!(2500), &json!(2500))
            );
        }
        // boto3 finds none left under the prefix, and the neighbours untouched.
        assert_eq!(count(s, &b, "logs/2026/", false).0, 0);
        assert_eq!(count(s, &b, "logs/2027/", false).0, 30);
        assert_eq!(count(s, &b, "logs/2026x", false).0, 30);
        // The whole bucket only when asked for.
        let refused = run(s, "delete_prefix", json!({"Bucket": b, "Prefix": ""}));
        assert_eq!(refused.code, 2);
        assert_eq!(refused.error()["details"][0]["pointer"], "/input/Prefix");
        let all = run(
            s,
            "delete_prefix",
            json!({"Bucket": b, "AllowWholeBucket": true}),
        );
        assert_eq!(all.output()["Deleted"], 60);
        assert_eq!(count(s, &b, "", false).0, 0);
        remove_bucket(s, &b);
    }
);

on_servers!(delete_prefix_with_all_versions_leaves_no_version, |s| {
    let b = new_bucket(s, "delver");
    boto3(
        s,
        &format!(
            "b = {}\n\
             s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={{'Status': 'Enabled'}})\n\
             for k, n in [('v/a', 3), ('v/b', 1), ('v/c/d', 2), ('w/keep', 2)]:\n\
             \x20   for i in range(n):\n\
             \x20       s3.put_object(Bucket=b, Key=k, Body=f'{{k}} {{i}}'.encode())\n\
             s3.delete_object(Bucket=b, Key='v/b')\n",
            py(&b)
        ),
    );
    assert_eq!(count(s, &b, "v/", true), (6, 1));
    // Without AllVersions: the current keys get delete markers; their versions stay.
    let keys = run(s, "delete_prefix", json!({"Bucket": b, "Prefix": "v/"}));
    let keys = keys.output();
    assert_eq!((&keys["Found"], &keys["Deleted"]), (&json!(2), &json!(2)));
    assert_eq!(count(s, &b, "v/", false).0, 0);
    assert_eq!(count(s, &b, "v/", true), (6, 3));
    // With it: every version and delete marker, for good.
    let all = run(
        s,
        "delete_prefix",
        json!({"Bucket": b, "Prefix": "v/", "AllVersions": true}),
    );
    let all = all.output();
    assert_eq!(
        (
            &all["Found"],
            &all["Deleted"],
            &all["DeleteMarkers"],
            &all["ErrorCount"]
        ),
        (&json!(9), &json!(9), &json!(3), &json!(0)),
        "{all}"
    );
    assert_eq!(count(s, &b, "v/", true), (0, 0));
    assert_eq!(count(s, &b, "w/", true), (2, 0));
    remove_bucket(s, &b);
});

// ---------------------------------------------------------------------------------------------
// copy_file.

on_servers!(
    copy_file_copies_any_size_with_what_copy_object_carries,
    |s| {
        let src = new_bucket(s, "cpsrc");
        let dst = new_bucket(s, "cpdst");
        let dir = tempfile::tempdir().unwrap();
        let big = bytes(4, 12 * MIB + 123);
        let path = dir.path().join("big.bin");
        std::fs::write(&path, &big).unwrap();
        boto3(
        s,
        &format!(
            "s3.put_object(Bucket={b}, Key='in/big file.bin', Body=open({p}, 'rb').read(),\n\
             \x20   ContentType='application/x-big', CacheControl='max-age=60',\n\
             \x20   ContentDisposition='attachment', Metadata={{'a': '1', 'b': 'two'}},\n\
             \x20   Tagging='t1=v1&t2=v%202')\n\
             s3.put_object(Bucket={b}, Key='in/small.txt', Body=b'small', ContentType='text/x-small',\n\
             \x20   Metadata={{'s': 'yes'}})\n",
            b = py(&src),
            p = py(path.to_str().unwrap())
        ),
    );
        let source = boto3_object(s, &src, "in/big file.bin");

        // Above the threshold: parts copied by S3, the source's headers, metadata and tags carried.
        let parts = run(
            s,
            "copy_file",
            json!({"Bucket": dst, "Key": "out/big.bin",
               "x-amz-copy-source": {"Bucket": src, "Key": "in/big file.bin"},
               "MultipartThreshold": 5 * MIB, "PartSize": 5 * MIB}),
        );
        let parts = parts.output();
        assert_eq!(
            (&parts["Parts"], &parts["Bytes"]),
            (&json!(3), &json!(big.len()))
        );
        assert_eq!(boto3_object(s, &dst, "out/big.bin"), source);

        // The same with the directives REPLACE: the input's, none of the source's.
        let replaced = run(
            s,
            "copy_file",
            json!({"Bucket": dst, "Key": "out/replaced.bin",
               "x-amz-copy-source": format!("{src}/in/big%20file.bin"),
               "x-amz-metadata-directive": "REPLACE", "Content-Type": "text/x-new",
               "x-amz-meta-": {"n": "new"},
               "x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "n=1",
               "MultipartThreshold": 5 * MIB, "PartSize": 6 * MIB}),
        );
        assert_eq!(replaced.output()["Parts"], 3);
        let got = boto3_object(s, &dst, "out/replaced.bin");
        assert_eq!(got["md5"], md5_hex(&big));
        assert_eq!(got["type"], "text/x-new");
        assert_eq!(got["meta"], json!({"n": "new"}));
        assert_eq!(got["tags"], json!([["n", "1"]]));

        // Below the threshold: one CopyObject.
        let one = run(
            s,
            "copy_file",
            json!({"Bucket": dst, "Key": "out/small.txt", "x-amz-copy-source": format!("{src}/in/small.txt")}),
        );
        assert_eq!(one.output()["Parts"], 1);
        assert_eq!(
            boto3_object(s, &dst, "out/small.txt"),
            boto3_object(s, &src, "in/small.txt")
        );

        // A missing source fails before anything is written.
        let missing = run(
            s,
            "copy_file",
            json!({"Bucket": dst, "Key": "out/none", "x-amz-copy-source": format!("{src}/in/none"),
               "MultipartThreshold": 0}),
        );
        assert_eq!(missing.error()["status"], 404);
        assert_eq!(uploads_in_progress(s, &dst), 0, "no upload left behind");
        remove_bucket(s, &src);
        remove_bucket(s, &dst);
    }
);

// ---------------------------------------------------------------------------------------------
// object_exists.

on_servers!(
    object_exists_answers_true_or_false_and_errors_stay_errors,
    |s| {
        let b = new_bucket(s, "exists");
        let etag = boto3(
            s,
            &format!(
                "print(s3.put_object(Bucket={}, Key='here.txt', Body=b'12345')['ETag'])",
                py(&b)
            ),
        );
        let here = run(s, "object_exists", json!({"Bucket": b, "Key": "here.txt"}));
        let here = here.output();
        assert_eq!(here["Exists"], true);
        assert_eq!(here["ContentLength"], 5);
        assert_eq!(here["ETag"], etag.trim());
        let gone = run(s, "object_exists", json!({"Bucket": b, "Key": "gone.txt"}));
        assert_eq!(gone.output(), &json!({"Exists": false}));
        // A missing bucket is an error, not "no such key".
        let no_bucket = run(
            s,
            "object_exists",
            json!({"Bucket": format!("{b}-none"), "Key": "here.txt"}),
        );
        assert_eq!(no_bucket.code, 1);
        assert_eq!(no_bucket.s3_code(), "NoSuchBucket");
        if s.verifies_signatures() {
            // A refusal stays an error.
            let mut conn = s.connection();
            conn["secret_access_key"] = json!("not/the/secret");
            let refused = common::run_raw(
                &json!({"operation": "object_exists", "connection": conn,
                    "input": {"Bucket": b, "Key": "here.txt"}}),
                &[],
            );
            assert_eq!(refused.code, 1);
            assert_eq!(refused.error()["status"], 403);
        }
        remove_bucket(s, &b);
    }
);
