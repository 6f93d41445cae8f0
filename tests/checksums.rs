//! CRC checksums end to end, on both servers, with boto3 (botocore with awscrt) as the oracle
//! nobody here wrote:
//!
//! - what the connector uploads (in memory or a small file: a header; a file above 16 MiB: an
//!   `aws-chunked` trailer; a multipart `upload_file`: part CRCs and a `FULL_OBJECT` CRC made
//!   from them) is stored with
//!   the CRC botocore computes over the same bytes, and boto3 reads it back with its own
//!   checksum validation;
//! - what boto3 uploads with its default CRC32 is checked by the connector's downloads;
//! - a stored checksum that does not match the bytes (moto stores a checksum header without
//!   checking it, which stands in for bytes altered at rest or on the way back) fails the
//!   download, leaves no file, and is retried;
//! - `checksum_algorithm: MD5` sends `Content-MD5` and no CRC, and `checksums: false` neither.
//!
//! Which servers check an upload's CRC is the table in docs/reliability.md; `SeaweedFS` refuses
//! a wrong one (`corrupted_uploads_are_refused_or_detected` in tests/faults.rs).

mod common;

use common::{boto3, py, run_raw, server, Server};
use serde_json::{json, Value};

fn run_with(s: &Server, conn_extra: &Value, operation: &str, input: &Value) -> common::Outcome {
    let mut conn = s.connection();
    for (k, v) in conn_extra.as_object().unwrap() {
        conn[k] = v.clone();
    }
    run_raw(
        &json!({"operation": operation, "input": input, "connection": conn}),
        &[],
    )
}

fn ok(s: &Server, operation: &str, input: &Value) -> Value {
    run_with(s, &json!({}), operation, input).output().clone()
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// boto3's view of an object: its stored CRC64NVME and checksum type (HEAD with checksum
/// mode), awscrt's CRC64NVME of the local file, and whether a validated GET returned exactly
/// the file's bytes.
fn boto_view(s: &Server, bucket: &str, key: &str, file: &std::path::Path) -> Value {
    let out = boto3(
        s,
        &format!(
            "from awscrt import checksums\n\
             from botocore.config import Config as C\n\
             v = boto3.client('s3', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1', \
               aws_access_key_id={ak}, aws_secret_access_key={sk}, \
               config=C(s3={{'addressing_style': 'path'}}, response_checksum_validation='when_supported'))\n\
             h = v.head_object(Bucket={b}, Key={k}, ChecksumMode='ENABLED')\n\
             data = open({f}, 'rb').read()\n\
             body = v.get_object(Bucket={b}, Key={k}, ChecksumMode='ENABLED')['Body'].read()\n\
             crc = base64.b64encode(checksums.crc64nvme(data).to_bytes(8, 'big')).decode()\n\
             print(json.dumps({{'stored': h.get('ChecksumCRC64NVME'), 'type': h.get('ChecksumType'), \
               'local': crc, 'same': body == data}}))",
            b = py(bucket),
            k = py(key),
            f = py(file.to_str().unwrap()),
            ak = py(common::ACCESS_KEY),
            sk = py(common::SECRET_KEY)
        ),
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn uploads_carry_crcs_that_botocore_agrees_with(kind: &'static str) {
    let s = server(kind);
    let b = common::new_bucket(s, "crc");
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.bin");
    std::fs::write(&small, data(1, 700_000)).unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, data(2, 12 * 1024 * 1024 + 17)).unwrap();
    // Above `prepare::PREREAD_MAX`: read once, its CRC in an aws-chunked trailer.
    let stream = dir.path().join("stream.bin");
    std::fs::write(&stream, data(5, 17 * 1024 * 1024 + 3)).unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "checked on receipt\n").unwrap();

    let mem = ok(
        s,
        "put_object",
        &json!({"Bucket": b, "Key": "mem", "Body": "checked on receipt\n"}),
    );
    let file = ok(
        s,
        "put_object",
        &json!({"Bucket": b, "Key": "file", "BodyFile": small}),
    );
    let streamed = ok(
        s,
        "put_object",
        &json!({"Bucket": b, "Key": "stream", "BodyFile": stream}),
    );
    let multi = ok(
        s,
        "upload_file",
        &json!({"Bucket": b, "Key": "multi", "BodyFile": big, "PartSize": 5_242_880,
                "MultipartThreshold": 5_242_880}),
    );
    assert_eq!(multi["Parts"], 3, "{multi}");
    for (key, path, out) in [
        ("mem", &text, &mem),
        ("file", &small, &file),
        ("stream", &stream, &streamed),
        ("multi", &big, &multi),
    ] {
        let v = boto_view(s, &b, key, path);
        assert_eq!(v["same"], true, "{key}: {v}");
        assert_eq!(
            v["stored"], v["local"],
            "{key}: the stored CRC is botocore's: {v}"
        );
        if key != "multi" {
            assert_eq!(out["ChecksumCRC64NVME"], v["local"], "{key}: {out}");
        }
    }
    let v = boto_view(s, &b, "multi", &big);
    assert_eq!(v["type"], "FULL_OBJECT", "{v}");

    // The connector's downloads check the same CRCs, whole and in ranges.
    let got = dir.path().join("got.bin");
    let out = ok(
        s,
        "download_file",
        &json!({"Bucket": b, "Key": "multi", "OutputFile": got, "PartSize": 5_242_880,
                "MultipartThreshold": 5_242_880}),
    );
    assert_eq!(out["Parts"], 3, "{out}");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&big).unwrap());
    let out = ok(
        s,
        "get_object",
        &json!({"Bucket": b, "Key": "file", "OutputFile": got}),
    );
    assert_eq!(out["ChecksumCRC64NVME"], file["ChecksumCRC64NVME"], "{out}");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&small).unwrap());
    common::remove_bucket(s, &b);
}

#[test]
fn uploads_carry_crcs_that_botocore_agrees_with_seaweedfs() {
    uploads_carry_crcs_that_botocore_agrees_with("seaweedfs");
}

#[test]
fn uploads_carry_crcs_that_botocore_agrees_with_moto() {
    uploads_carry_crcs_that_botocore_agrees_with("moto");
}

#[test]
fn downloads_check_what_boto3_uploaded_with_its_default_crc32() {
    let s = server("seaweedfs");
    let b = common::new_bucket(s, "crc32");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data(3, 9 * 1024 * 1024 + 5)).unwrap();
    boto3(
        s,
        &format!(
            "s3.put_object(Bucket={b}, Key='k', Body=open({f}, 'rb').read(), ChecksumAlgorithm='CRC32')\n",
            b = py(&b),
            f = py(src.to_str().unwrap())
        ),
    );
    let head = ok(
        s,
        "head_object",
        &json!({"Bucket": b, "Key": "k", "x-amz-checksum-mode": "ENABLED"}),
    );
    assert!(head["ChecksumCRC32"].is_string(), "{head}");
    // In ranges of another algorithm than the connection's: the first range is read back.
    let got = dir.path().join("got.bin");
    ok(
        s,
        "download_file",
        &json!({"Bucket": b, "Key": "k", "OutputFile": got, "PartSize": 5_242_880,
                "MultipartThreshold": 5_242_880}),
    );
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&src).unwrap());
    common::remove_bucket(s, &b);
}

#[test]
fn a_stored_checksum_the_bytes_do_not_have_fails_the_download() {
    // moto stores the checksum header it is given without checking it.
    let s = server("moto");
    let b = common::new_bucket(s, "badcrc");
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(4, 6 * 1024 * 1024);
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &bytes).unwrap();
    boto3(
        s,
        &format!(
            "from botocore.config import Config as C\n\
             raw = boto3.client('s3', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1', \
               aws_access_key_id='AKIDEXAMPLETEST', aws_secret_access_key='moto-takes-any', \
               config=C(s3={{'addressing_style': 'path'}}, request_checksum_calculation='when_required'))\n\
             raw.put_object(Bucket={b}, Key='k', Body=open({f}, 'rb').read(), \
               ChecksumAlgorithm='CRC64NVME', ChecksumCRC64NVME='AAAAAAAAAAA=')\n",
            b = py(&b),
            f = py(src.to_str().unwrap())
        ),
    );
    let out = dir.path().join("out.bin");
    for (operation, input) in [
        (
            "get_object",
            json!({"Bucket": b, "Key": "k", "OutputFile": out}),
        ),
        ("get_object", json!({"Bucket": b, "Key": "k"})),
        (
            "download_file",
            json!({"Bucket": b, "Key": "k", "OutputFile": out, "PartSize": 5_242_880}),
        ),
    ] {
        let r = run_with(s, &json!({"max_attempts": 2}), operation, &input);
        let e = r.error();
        assert_eq!(e["kind"], "network", "{operation}: {}", r.envelope);
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("download corrupted"),
            "{operation}: {}",
            r.envelope
        );
        assert_eq!(e["retryable"], true, "{}", r.envelope);
        // download_file checks once all its ranges are in, and then downloads again.
        assert_eq!(e["attempts"], 2, "retried: {}", r.envelope);
        assert!(!out.exists(), "{operation} left a file");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{operation} left a temporary file: {left:?}");
    }
    // With checksums off, the same object downloads (nothing to compare).
    run_with(
        s,
        &json!({"checksums": false}),
        "get_object",
        &json!({"Bucket": b, "Key": "k", "OutputFile": out}),
    )
    .output();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    common::remove_bucket(s, &b);
}

#[test]
fn md5_integrity_and_none_are_still_there() {
    use s3_connector::checksum::Integrity;
    let valid = s3_connector::validate::parse_request(
        &json!({"operation": "put_object", "input": {"Bucket": "bkt", "Key": "k", "Body": "abc"},
                "connection": {"region": "us-east-1", "endpoint": "http://127.0.0.1:1",
                               "access_key_id": "AKIDEXAMPLE", "secret_access_key": "x"}})
        .to_string(),
    )
    .unwrap();
    let endpoint = s3_connector::endpoint::Endpoint::parse("http://127.0.0.1:1").unwrap();
    let dest = s3_connector::request::Destination {
        endpoint: &endpoint,
        addressing: s3_connector::connection::Addressing::Path,
        region: "us-east-1",
    };
    let names = |i: Integrity| -> Vec<String> {
        let body = s3_connector::request::Payload::Bytes("abc".into());
        s3_connector::prepare::prepare(valid.operation, &valid.input, &dest, i, body)
            .unwrap()
            .headers
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| {
                n == "content-md5" || n.starts_with("x-amz-checksum") || n.starts_with("x-amz-sdk")
            })
            .collect()
    };
    assert_eq!(
        names(Integrity::default()),
        ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-crc64nvme"]
    );
    assert_eq!(names(Integrity::Md5), ["content-md5"]);
    assert!(names(Integrity::Off).is_empty());
    // The MD5 option on a live server: Content-MD5 checked by the server, no CRC stored.
    let s = server("seaweedfs");
    let b = common::new_bucket(s, "md5");
    let r = run_with(
        s,
        &json!({"checksum_algorithm": "MD5"}),
        "put_object",
        &json!({"Bucket": b, "Key": "k", "Body": "abc"}),
    );
    assert!(
        r.output().get("ChecksumCRC64NVME").is_none(),
        "{}",
        r.envelope
    );
    let r = run_with(
        s,
        &json!({"checksum_algorithm": "SHA1"}),
        "put_object",
        &json!({"Bucket": b, "Key": "k", "Body": "abc"}),
    );
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("checksum_algorithm"),
        "{}",
        r.envelope
    );
    common::remove_bucket(s, &b);
}
