//! HTTPS end to end: moto serving TLS on 127.0.0.1 with a certificate from a CA made for this
//! run (by Python's `cryptography`, which moto already depends on; nothing is kept).
//!
//! - The certificate is verified by default: an unknown CA, or a bundle with another CA, fails
//!   the request before anything is sent, as a `network` error that names the certificate.
//! - `AWS_CA_BUNDLE` naming the CA makes it work: objects written over TLS read back byte for
//!   byte, by the connector and by boto3 (verifying with the same CA).
//! - An `http://` endpoint to the TLS port is not upgraded behind the caller's back: it fails.
//! - `SeaweedFS` over TLS verifies every signature: a wrong secret is refused, a streamed file
//!   round-trips.

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::needless_pass_by_value, clippy::too_many_lines)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

use common::{python, tools_bin, Outcome, Server, ACCESS_KEY, SECRET_KEY};

/// Writes `ca.pem` (a CA), `other-ca.pem` (an unrelated CA), `leaf.pem` and `leaf.key` (a
/// server certificate for 127.0.0.1 and localhost, signed by the first CA) into `dir`.
fn make_certificates(dir: &Path) {
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
import ipaddress
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256()))
    return key, cert
def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)
ca_key, ca_cert = ca("s3-connector test CA")
_, other = ca("unrelated test CA")
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca_cert.subject)
    .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(hours=1))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost")]), critical=False)
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .sign(ca_key, hashes.SHA256()))
open(out + "/ca.pem", "wb").write(pem(ca_cert))
open(out + "/other-ca.pem", "wb").write(pem(other))
open(out + "/leaf.pem", "wb").write(pem(leaf))
open(out + "/leaf.key", "wb").write(leaf_key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    python(script, &[dir.to_str().unwrap()]);
}

fn connection(endpoint: &str) -> Value {
    json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": ACCESS_KEY,
           "secret_access_key": SECRET_KEY, "addressing": "path", "max_attempts": 1,
           "connect_timeout_seconds": 5, "read_timeout_seconds": 20})
}

/// One `run` against `endpoint`, with `AWS_CA_BUNDLE` set to `ca` or removed.
fn run(endpoint: &str, ca: Option<&Path>, operation: &str, input: Value) -> Outcome {
    let request =
        json!({"operation": operation, "input": input, "connection": connection(endpoint)});
    match ca {
        Some(ca) => common::run_raw(&request, &[("AWS_CA_BUNDLE", ca.to_str().unwrap())]),
        None => common::run_raw_without(&request, &["AWS_CA_BUNDLE"]),
    }
}

/// Starts `kind` serving TLS with the certificate in `dir`; ready when `list_buckets` over TLS,
/// trusting the run's CA, succeeds.
fn start_tls(kind: &'static str, dir: &Path) -> Server {
    let cert = dir.join("leaf.pem").to_str().unwrap().to_string();
    let key = dir.join("leaf.key").to_str().unwrap().to_string();
    let args: Vec<String> = match kind {
        "moto" => vec!["-c".into(), cert, "-k".into(), key],
        _ => vec![
            format!("-s3.cert.file={cert}"),
            format!("-s3.key.file={key}"),
        ],
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = dir.join("ca.pem");
    let ready = |endpoint: &str| {
        let r = run(endpoint, Some(&ca), "list_buckets", json!({}));
        if r.code == 0 {
            Ok(())
        } else {
            Err(format!("{}\n{}", r.envelope, r.stderr))
        }
    };
    common::start_with(kind, &args, Some(&ready))
}

#[test]
fn https_with_verified_certificates() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let ca = dir.path().join("ca.pem");
    let server = start_tls("moto", dir.path());
    let ep = server.endpoint.as_str();
    assert!(ep.starts_with("https://127.0.0.1:"), "{ep}");
    let bucket = common::bucket("tls");

    // With the CA: a bucket and an object, read back by the connector.
    assert_eq!(
        run(ep, Some(&ca), "create_bucket", json!({"Bucket": bucket})).code,
        0
    );
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    let put = run(
        ep,
        Some(&ca),
        "put_object",
        json!({"Bucket": bucket, "Key": "over/tls.bin", "BodyBase64": b64}),
    );
    assert_eq!(put.code, 0, "{}\n{}", put.envelope, put.stderr);
    let got = run(
        ep,
        Some(&ca),
        "get_object",
        json!({"Bucket": bucket, "Key": "over/tls.bin"}),
    );
    assert_eq!(got.code, 0, "{}\n{}", got.envelope, got.stderr);
    assert_eq!(got.output()["BodyBase64"], b64);

    // boto3, verifying with the same CA, reads the same bytes; and what it writes, we read.
    let py = format!(
        "import boto3, base64, sys\nfrom botocore.config import Config\n\
         s3 = boto3.client('s3', endpoint_url='{ep}', region_name='us-east-1', \
         aws_access_key_id='{ACCESS_KEY}', aws_secret_access_key='{SECRET_KEY}', verify=sys.argv[1], \
         config=Config(s3={{'addressing_style': 'path'}}))\n\
         body = s3.get_object(Bucket='{bucket}', Key='over/tls.bin')['Body'].read()\n\
         s3.put_object(Bucket='{bucket}', Key='from/boto3', Body=b'written by boto3 over TLS')\n\
         print(base64.b64encode(body).decode())\n"
    );
    let out = Command::new(tools_bin("python"))
        .arg("-c")
        .arg(py)
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 over TLS failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), b64);
    let got = run(
        ep,
        Some(&ca),
        "get_object",
        json!({"Bucket": bucket, "Key": "from/boto3"}),
    );
    assert_eq!(got.output()["Body"], "written by boto3 over TLS");

    // download_file reads its ranges over connections of its own (`raw_http`): over TLS too,
    // with the connection kept between ranges, and the same bytes come back.
    let big: Vec<u8> = (0..12 * 1024 * 1024 + 77u32)
        .map(|i| (i * 13 % 253) as u8)
        .collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();
    let up = run(
        ep,
        Some(&ca),
        "upload_file",
        json!({"Bucket": bucket, "Key": "over/big.bin", "BodyFile": src}),
    );
    assert_eq!(up.code, 0, "{}\n{}", up.envelope, up.stderr);
    let out = dir.path().join("big.out");
    let down = run(
        ep,
        Some(&ca),
        "download_file",
        json!({"Bucket": bucket, "Key": "over/big.bin", "OutputFile": out,
               "PartSize": 5 * 1024 * 1024, "Concurrency": 2, "MultipartThreshold": 0}),
    );
    assert_eq!(down.code, 0, "{}\n{}", down.envelope, down.stderr);
    assert!(
        std::fs::read(&out).unwrap() == big,
        "download_file over TLS: other bytes"
    );
    let untrusted = run(
        ep,
        Some(&dir.path().join("other-ca.pem")),
        "download_file",
        json!({"Bucket": bucket, "Key": "over/big.bin", "OutputFile": dir.path().join("no.out")}),
    );
    assert_eq!(
        untrusted.error()["kind"],
        "network",
        "{}",
        untrusted.envelope
    );
    let msg = untrusted.error()["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        msg.contains("certificate") || msg.contains("issuer"),
        "{msg}"
    );
    assert!(!dir.path().join("no.out").exists());

    // Without the CA (system roots only), or with an unrelated CA: refused, nothing written.
    for (label, bundle) in [
        ("system roots", None),
        ("another CA", Some(dir.path().join("other-ca.pem"))),
    ] {
        let r = run(
            ep,
            bundle.as_deref(),
            "put_object",
            json!({"Bucket": bucket, "Key": format!("untrusted/{label}"), "Body": "x"}),
        );
        assert_eq!(r.code, 1, "{label}: {}", r.envelope);
        let e = r.error();
        assert_eq!(e["kind"], "network", "{label}: {e}");
        println!("{label}: {}", e["message"]);
        let msg = e["message"].as_str().unwrap().to_lowercase();
        assert!(
            msg.contains("certificate") || msg.contains("issuer"),
            "{label}: the error should name the certificate: {e}"
        );
    }
    let listed = run(
        ep,
        Some(&ca),
        "list_objects",
        json!({"Bucket": bucket, "prefix": "untrusted/"}),
    );
    assert_eq!(
        listed.output()["Contents"],
        json!([]),
        "{}",
        listed.envelope
    );

    // Plain http:// to the TLS port: an error, not a silent upgrade.
    let plain = ep.replace("https://", "http://");
    let r = run(&plain, None, "list_buckets", json!({}));
    assert_ne!(r.code, 0, "{}", r.envelope);

    // Clean up.
    for key in ["over/tls.bin", "from/boto3", "over/big.bin"] {
        run(
            ep,
            Some(&ca),
            "delete_object",
            json!({"Bucket": bucket, "Key": key}),
        );
    }
    assert_eq!(
        run(ep, Some(&ca), "delete_bucket", json!({"Bucket": bucket})).code,
        0
    );
}

#[test]
fn signatures_verified_over_https() {
    // SeaweedFS over TLS checks every signature: the Host header the connector signs (with the
    // port) is the one that arrives. A wrong secret is refused; a file streamed up over TLS
    // comes back byte for byte.
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let ca = dir.path().join("ca.pem");
    let server = start_tls("seaweedfs", dir.path());
    let ep = server.endpoint.as_str();
    let bucket = common::bucket("tlssig");
    let mut wrong = connection(ep);
    wrong["secret_access_key"] = json!("wrong-secret-for-tests");
    let r = common::run_raw(
        &json!({"operation": "list_buckets", "input": {}, "connection": wrong}),
        &[("AWS_CA_BUNDLE", ca.to_str().unwrap())],
    );
    assert_eq!(r.error()["code"], "SignatureDoesNotMatch", "{}", r.envelope);

    assert_eq!(
        run(ep, Some(&ca), "create_bucket", json!({"Bucket": bucket})).code,
        0
    );
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let src = dir.path().join("up.bin");
    std::fs::write(&src, &data).unwrap();
    let put = run(
        ep,
        Some(&ca),
        "put_object",
        json!({"Bucket": bucket, "Key": "f.bin", "BodyFile": src}),
    );
    assert_eq!(put.code, 0, "{}\n{}", put.envelope, put.stderr);
    let out = dir.path().join("down.bin");
    let got = run(
        ep,
        Some(&ca),
        "get_object",
        json!({"Bucket": bucket, "Key": "f.bin", "OutputFile": out}),
    );
    assert_eq!(got.code, 0, "{}", got.envelope);
    assert!(std::fs::read(&out).unwrap() == data, "bytes over TLS");
    run(
        ep,
        Some(&ca),
        "delete_object",
        json!({"Bucket": bucket, "Key": "f.bin"}),
    );
    assert_eq!(
        run(ep, Some(&ca), "delete_bucket", json!({"Bucket": bucket})).code,
        0
    );
}
