//! The docs page's contract, taken to the letter, on two servers (`SeaweedFS`, which verifies
//! `SigV4`, and moto): `x-amz-copy-source` URL-encoded as the page says (and the object form the
//! connector encodes), and date inputs written as HTTP dates as well as RFC 3339. boto3 writes
//! the sources and reads the copies back, so neither end of a copy is checked by our own code.

mod common;

use base64::Engine as _;
use common::{boto3, py, python, run, Server};
use s3_connector::request::{Destination, Payload};
use s3_connector::{credentials, prepare, validate};
use serde_json::{json, Value};

/// Keys that break a copy source encoded twice, or not at all.
const AWKWARD_KEYS: &[&str] = &[
    "sp ace.txt",
    "plus+sign.txt",
    "per%cent.txt",
    "what?.txt",
    "hash#tag.txt",
    "ünï/cödé ñ.txt",
    "all of it/a b+c%d?e#f ü.bin",
];

/// Percent-encodes all but unreserved characters and `/`: the page's "URL-encoded", written
/// here rather than taken from the connector.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The bytes boto3 stores under `key`: every byte value, then the key.
fn content(key: &str) -> Vec<u8> {
    let mut v: Vec<u8> = (0..=255).collect();
    v.extend_from_slice(key.as_bytes());
    v
}

/// Puts each key's `content` with boto3.
fn put_sources(s: &Server, b: &str, keys: &[&str]) {
    boto3(
        s,
        &format!(
            "for k in json.loads({}):\n\
             \x20   s3.put_object(Bucket={}, Key=k, Body=bytes(range(256)) + k.encode())\n",
            py(&serde_json::to_string(keys).unwrap()),
            py(b)
        ),
    );
}

/// The bodies of `keys` as boto3 reads them back, in order.
fn read_back(s: &Server, b: &str, keys: &[String]) -> Vec<Vec<u8>> {
    let out = boto3(
        s,
        &format!(
            "print(json.dumps([base64.b64encode(s3.get_object(Bucket={}, Key=k)['Body'].read()).decode() \
             for k in json.loads({})]))",
            py(b),
            py(&serde_json::to_string(keys).unwrap())
        ),
    );
    let list: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    list.iter()
        .map(|x| base64::engine::general_purpose::STANDARD.decode(x).unwrap())
        .collect()
}

on_servers!(copy_object_takes_the_documented_and_the_object_form, |s| {
    let b = common::new_bucket(s, "cpsrc");
    put_sources(s, &b, AWKWARD_KEYS);
    let mut copies = Vec::new();
    for (i, key) in AWKWARD_KEYS.iter().enumerate() {
        // The page's form, URL-encoded; every other one with the leading slash S3 also takes.
        let slash = if i % 2 == 0 { "" } else { "/" };
        let as_string = format!("{slash}{b}/{}", url_encode(key));
        let as_object = json!({"Bucket": b, "Key": key});
        for (form, source) in [("string", json!(as_string)), ("object", as_object)] {
            let dest = format!("copy-{form}/{key}");
            let r = run(
                s,
                "copy_object",
                json!({"Bucket": b, "Key": dest, "x-amz-copy-source": source}),
            );
            assert!(
                r.output()["CopyObjectResult"]["ETag"].is_string(),
                "{form} form, key {key:?}"
            );
            copies.push(dest);
        }
    }
    let got = read_back(s, &b, &copies);
    for (dest, body) in copies.iter().zip(&got) {
        let key = dest.split_once('/').unwrap().1;
        assert!(body == &content(key), "{dest}: boto3 read back other bytes");
    }
    // A source encoded twice (what the connector used to do to a URL-encoded string) is another
    // key, which does not exist.
    let r = run(
        s,
        "copy_object",
        json!({"Bucket": b, "Key": "x", "x-amz-copy-source": format!("{b}/{}", url_encode(&url_encode("sp ace.txt")))}),
    );
    assert_eq!(r.s3_code(), "NoSuchKey");
    common::remove_bucket(s, &b);
});

on_servers!(copy_part_takes_both_forms, |s| {
    let b = common::new_bucket(s, "cppart");
    let key = "all of it/a b+c%d?e#f ü.bin";
    put_sources(s, &b, &[key]);
    let string = json!(format!("{b}/{}", url_encode(key)));
    let object = json!({"Bucket": b, "Key": key});
    let mut dests = Vec::new();
    for (form, source) in [("string", string), ("object", object)] {
        let dest = format!("part-{form}");
        let up = run(
            s,
            "create_multipart_upload",
            json!({"Bucket": b, "Key": dest}),
        );
        let upload_id = up.output()["UploadId"].clone();
        let part = run(
            s,
            "copy_part_in_multipart",
            json!({"Bucket": b, "Key": dest, "uploadId": upload_id, "partNumber": 1,
                   "x-amz-copy-source": source, "x-amz-copy-source-range": "bytes=0-99"}),
        );
        let etag = part.output()["CopyPartResult"]["ETag"].clone();
        assert!(etag.is_string(), "{form} form");
        run(
            s,
            "complete_multipart_upload",
            json!({"Bucket": b, "Key": dest, "uploadId": upload_id,
                   "Parts": [{"PartNumber": 1, "ETag": etag}]}),
        )
        .output();
        dests.push(dest);
    }
    for body in read_back(s, &b, &dests) {
        assert_eq!(body, content(key)[..100]);
    }
    common::remove_bucket(s, &b);
});

on_servers!(a_versioned_source_copies_the_named_version, |s| {
    let b = common::new_bucket(s, "cpver");
    let key = "v e+r%s?i#ö n.txt";
    let out = boto3(
        s,
        &format!(
            "b, k = {}, {}\n\
             s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={{'Status': 'Enabled'}})\n\
             v1 = s3.put_object(Bucket=b, Key=k, Body=b'first')['VersionId']\n\
             s3.put_object(Bucket=b, Key=k, Body=b'second')\n\
             print(v1)\n",
            py(&b),
            py(key)
        ),
    );
    let v1 = out.trim();
    let string = json!(format!("{b}/{}?versionId={v1}", url_encode(key)));
    let object = json!({"Bucket": b, "Key": key, "VersionId": v1});
    let mut dests = Vec::new();
    for (form, source) in [("string", string), ("object", object)] {
        let dest = format!("old-{form}");
        let r = run(
            s,
            "copy_object",
            json!({"Bucket": b, "Key": dest, "x-amz-copy-source": source}),
        );
        // moto names the version copied; SeaweedFS does not say (the bytes below do).
        let said = &r.output()["CopySourceVersionId"];
        assert!(said.is_null() || said == v1, "{form} form: {said}");
        dests.push(dest);
    }
    dests.push(key.to_string());
    let got = read_back(s, &b, &dests);
    assert_eq!(got, [&b"first"[..], b"first", b"second"]);
    common::remove_bucket(s, &b);
});

/// One instant in each form a date input takes.
fn forms(rfc3339: &str, imf: &str, rfc850: &str, asctime: &str) -> [String; 4] {
    [rfc3339, imf, rfc850, asctime].map(String::from)
}

on_servers!(conditional_requests_take_every_date_form, |s| {
    let b = common::new_bucket(s, "cond");
    run(
        s,
        "put_object",
        json!({"Bucket": b, "Key": "k", "Body": "0123456789"}),
    )
    .output();
    let past = forms(
        "2000-01-01T01:00:00+01:00",
        "Sat, 01 Jan 2000 00:00:00 GMT",
        "Saturday, 01-Jan-00 00:00:00 GMT",
        "Sat Jan  1 00:00:00 2000",
    );
    let future = forms(
        "2060-01-01T00:00:00Z",
        "Thu, 01 Jan 2060 00:00:00 GMT",
        "Thursday, 01-Jan-60 00:00:00 GMT",
        "Thu Jan  1 00:00:00 2060",
    );
    let get = |cond: &str, date: &str| {
        run(
            s,
            "get_object",
            json!({"Bucket": b, "Key": "k", cond: date}),
        )
    };
    for (p, f) in past.iter().zip(&future) {
        assert_eq!(get("If-Modified-Since", p).output()["Body"], "0123456789");
        let r = get("If-Modified-Since", f);
        assert_eq!(
            (r.s3_code(), r.error()["status"].as_u64()),
            ("NotModified".into(), Some(304)),
            "If-Modified-Since {f}"
        );
        let r = get("If-Unmodified-Since", p);
        assert_eq!(
            (r.s3_code(), r.error()["status"].as_u64()),
            ("PreconditionFailed".into(), Some(412)),
            "If-Unmodified-Since {p}"
        );
        assert_eq!(get("If-Unmodified-Since", f).output()["Body"], "0123456789");
    }
    // The copy-source conditions take the same forms. moto ignores them (it copies), SeaweedFS
    // applies them: either way the connector must get what boto3 gets from the same server.
    let copy = |cond: &str, date: &str| {
        run(
            s,
            "copy_object",
            json!({"Bucket": b, "Key": "copy", "x-amz-copy-source": format!("{b}/k"), cond: date}),
        )
    };
    let boto3_copy = |year: u32| {
        boto3(
            s,
            &format!(
                "import datetime\n\
                 try:\n\
                 \x20   s3.copy_object(Bucket={b}, Key='copy', CopySource={{'Bucket': {b}, 'Key': 'k'}}, \
                 CopySourceIfUnmodifiedSince=datetime.datetime({year}, 1, 1, tzinfo=datetime.timezone.utc))\n\
                 \x20   print('copied')\n\
                 except s3.exceptions.ClientError as e:\n\
                 \x20   print(e.response['Error']['Code'])\n",
                b = py(&b)
            ),
        )
        .trim()
        .to_string()
    };
    let outcome = |r: &common::Outcome| {
        if r.code == 0 {
            "copied".to_string()
        } else {
            r.s3_code()
        }
    };
    let peer_past = boto3_copy(2000);
    if s.kind == "seaweedfs" {
        assert_eq!(peer_past, "PreconditionFailed");
    }
    assert_eq!(
        outcome(&copy("x-amz-copy-source-if-unmodified-since", &past[2])),
        peer_past
    );
    assert_eq!(
        outcome(&copy("x-amz-copy-source-if-unmodified-since", &future[3])),
        "copied"
    );
    let listed = run(s, "list_objects", json!({"Bucket": b}));
    let keys: Vec<&Value> = listed.output()["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["Key"])
        .collect();
    assert_eq!(keys, [&json!("copy"), &json!("k")]);
    common::remove_bucket(s, &b);
});

/// The `x-amz-copy-source` header the connector builds for `source` (nothing is sent).
fn copy_source_header(source: &Value) -> String {
    let valid = validate::validate_envelope(json!({
        "operation": "copy_object",
        "input": {"Bucket": "dest", "Key": "k", "x-amz-copy-source": source},
        "connection": {"endpoint": "http://127.0.0.1:9", "region": "us-east-1",
                       "access_key_id": "AKIDEXAMPLETEST", "secret_access_key": "fake/secret"},
    }))
    .unwrap();
    let conn = credentials::resolve(&valid.connection, &|_| None).unwrap();
    let dest = Destination {
        endpoint: &conn.endpoint,
        addressing: conn.addressing,
        region: &conn.region,
    };
    let req = prepare::prepare(
        valid.operation,
        &valid.input,
        &dest,
        s3_connector::checksum::Integrity::default(),
        Payload::Empty,
    )
    .unwrap();
    req.header("x-amz-copy-source").unwrap().to_string()
}

/// The object form is encoded exactly as botocore encodes boto3's dict form
/// (`botocore.handlers.handle_copy_source_param`), AWS's own code for this header.
#[test]
fn the_object_form_is_encoded_as_botocore_encodes_it() {
    let mut sources: Vec<Value> = AWKWARD_KEYS
        .iter()
        .map(|k| json!({"Bucket": "src-bucket", "Key": k}))
        .collect();
    sources.push(json!({"Bucket": "src", "Key": "a b/~x.y_z-!*'()", "VersionId": "3/L4kq+ab"}));
    for (bucket, key) in [
        ("arn:aws:s3:us-west-2:123456789012:accesspoint/ap", "ü k"),
        ("arn:aws-cn:s3:cn-north-1:123456789012:accesspoint:my.ap", "k"),
        (
            "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/ap",
            "a/b c",
        ),
    ] {
        sources.push(json!({"Bucket": bucket, "Key": key}));
    }
    let script = "import json, sys\nfrom botocore.handlers import handle_copy_source_param\n\
         out = []\n\
         for src in json.loads(sys.argv[1]):\n\
         \x20   p = {'CopySource': src}\n\
         \x20   handle_copy_source_param(p)\n\
         \x20   out.append(p['CopySource'])\n\
         print(json.dumps(out))\n";
    let out = python(script, &[&serde_json::to_string(&sources).unwrap()]);
    let botocore: Vec<String> = serde_json::from_str(&out).unwrap();
    for (src, want) in sources.iter().zip(&botocore) {
        assert_eq!(&copy_source_header(src), want, "{src}");
    }
}

/// An ARN that is not an access point's (botocore's `VALID_S3_ARN` refuses it too) is not a
/// bucket for the object form: refused at the field, where encoding it as `ARN/object/KEY`
/// would name nothing.
#[test]
fn the_object_form_takes_only_access_point_arns() {
    for bucket in [
        "arn:aws:s3:::my-bucket",
        "arn:aws:s3:us-west-2:123456789012:bucket/b",
    ] {
        let e = validate::validate_envelope(json!({
            "operation": "copy_object",
            "input": {"Bucket": "dest", "Key": "k", "x-amz-copy-source": {"Bucket": bucket, "Key": "k"}},
        }))
        .unwrap_err();
        assert_eq!(
            e.details[0].pointer, "/input/x-amz-copy-source/Bucket",
            "{bucket}"
        );
    }
}

/// The page's string form is sent as given where botocore (which takes the string unencoded)
/// would encode it again: the string the page asks for reaches S3 unchanged.
#[test]
fn the_string_form_is_sent_as_given() {
    for given in [
        "my-bucket/%C3%BC/%C3%B1.txt",
        "/src/a%2Bb%20c%25d%3Fe%23f.txt?versionId=3/L4kq+ab",
    ] {
        assert_eq!(copy_source_header(&json!(given)), given);
    }
    // Only what cannot stand in a header is encoded.
    assert_eq!(
        copy_source_header(&json!("src/ü dir/a+b.txt")),
        "src/%C3%BC%20dir/a+b.txt"
    );
}
