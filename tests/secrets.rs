//! Canary secrets never reach our output: a representative set of operations (successes and
//! failures: put/get/list/multipart/copy with SSE-C keys, a wrong secret refused by `SeaweedFS`,
//! validation failures, a refused connection, a read timeout, credentials from the environment
//! and from a profile file) runs with `RUST_LOG=trace`, in both log formats, with a secret access
//! key, a session token and SSE-C keys that contain distinctive canary strings. stdout and stderr
//! of every run are searched for each canary and its derived forms (percent-encoded, base64 at
//! every alignment, hex, raw key bytes); none may appear.
//!
//! Every request goes through a recording proxy, which also proves the canaries were really used:
//! the session token and the SSE-C keys are on the wire where S3 expects them, and the secret
//! access key never is.

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines)]

mod common;
#[path = "common/creds.rs"]
mod creds;
#[path = "common/proxy.rs"]
mod proxy;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine as _;
use md5::{Digest, Md5};
use proxy::{Mode, Proxy};
use serde_json::{json, Map, Value};

/// Secret access key (any string signs); `/+=` make its percent-encoded form differ.
const SECRET: &str = "CANARYsecretKEY/7f3a+9c1e=wJalrXUtnFEMI";
/// Session token, sent as `x-amz-security-token`.
const TOKEN: &str = "CANARYsessionTOKEN/+=FwoGZXIvYXdzEBYaDH7f3a9c1e";
/// SSE-C keys: base64 of 32 bytes, chosen so that the base64 text itself carries the canary.
const SSEC_KEY: &str = "SSEC0CANARY0KEY0abcdefghijklmnopqrstuvwxyz0=";
const SSEC_COPY_KEY: &str = "COPY0CANARY0SSECabcdefghijklmnopqrstuvwxyz0=";
/// Present in every canary above: the simplest check.
const MARK: &str = "CANARY";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn key_md5(key_b64: &str) -> String {
    b64().encode(Md5::digest(b64().decode(key_b64).unwrap()))
}

fn ssec(key: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "x-amz-server-side-encryption-customer-algorithm".into(),
        json!("AES256"),
    );
    m.insert(
        "x-amz-server-side-encryption-customer-key".into(),
        json!(key),
    );
    m.insert(
        "x-amz-server-side-encryption-customer-key-MD5".into(),
        json!(key_md5(key)),
    );
    m
}

fn ssec_copy(key: &str) -> Map<String, Value> {
    ssec(key)
        .into_iter()
        .map(|(k, v)| (k.replacen("x-amz-", "x-amz-copy-source-", 1), v))
        .collect()
}

fn with(mut base: Value, extra: Map<String, Value>) -> Value {
    base.as_object_mut().unwrap().extend(extra);
    base
}

// ---------------------------------------------------------------------------------------------
// Needles: every form in which a canary could leak.

/// `text` with every byte but unreserved ones percent-encoded, in upper- or lower-case hex.
fn percent(bytes: &[u8], lower: bool) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The base64 text of `bytes` as it appears inside a longer encoded buffer, at each of the three
/// alignments (the chars that depend on neighbouring bytes are dropped).
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for pad in 0..3usize {
            let mut buf = vec![0u8; pad];
            buf.extend_from_slice(bytes);
            let enc = engine.encode(&buf);
            let start = (pad * 4).div_ceil(3);
            let end = enc.len().saturating_sub(2);
            if end > start + 8 {
                out.push(enc[start..end].to_string());
            }
        }
    }
    out
}

struct Needle {
    what: String,
    bytes: Vec<u8>,
}

fn needles_for(label: &str, secret: &[u8]) -> Vec<Needle> {
    let mut forms: Vec<(String, Vec<u8>)> = vec![
        ("raw".into(), secret.to_vec()),
        (
            "percent-encoded".into(),
            percent(secret, false).into_bytes(),
        ),
        (
            "percent-encoded, lower".into(),
            percent(secret, true).into_bytes(),
        ),
        ("hex".into(), hex::encode(secret).into_bytes()),
        ("HEX".into(), hex::encode_upper(secret).into_bytes()),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        forms.push((
            "JSON-escaped slashes".into(),
            text.replace('/', "\\/").into_bytes(),
        ));
        forms.push(("debug-escaped".into(), format!("{text:?}").into_bytes()));
    }
    for (i, f) in base64_forms(secret).into_iter().enumerate() {
        forms.push((format!("base64 form {i}"), f.into_bytes()));
    }
    let mut seen = std::collections::HashSet::new();
    forms
        .into_iter()
        .filter(|(_, b)| seen.insert(b.clone()))
        .map(|(form, bytes)| Needle {
            what: format!("{label} ({form})"),
            bytes,
        })
        .collect()
}

fn all_needles() -> Vec<Needle> {
    let mut n = vec![Needle {
        what: "the canary mark".into(),
        bytes: MARK.as_bytes().to_vec(),
    }];
    n.extend(needles_for("secret access key", SECRET.as_bytes()));
    n.extend(needles_for("session token", TOKEN.as_bytes()));
    n.extend(needles_for(
        "test-server secret",
        common::SECRET_KEY.as_bytes(),
    ));
    for (label, key) in [
        ("SSE-C key", SSEC_KEY),
        ("copy-source SSE-C key", SSEC_COPY_KEY),
    ] {
        n.extend(needles_for(&format!("{label} text"), key.as_bytes()));
        // The 32 key bytes themselves, in every form.
        n.extend(needles_for(
            &format!("{label} bytes"),
            &b64().decode(key).unwrap(),
        ));
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Running the binary with trace logs.

struct Run {
    label: String,
    code: i32,
    envelope: Value,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn run_logged(label: &str, request: &Value, format: &str, env: &[(&str, String)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3-connector"));
    cmd.args(["run", "--log-format", format])
        .current_dir(common::ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("RUST_LOG", "trace")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = common::run_output(cmd, request);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().count(),
        1,
        "{label}: one envelope line on stdout, got {text}"
    );
    Run {
        label: format!("{label} [{format}]"),
        code: out.status.code().unwrap_or(-1),
        envelope: serde_json::from_str(&text).unwrap_or(Value::Null),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// A log event that leaked before the fix; tolerated only with `SECRETS_STRICT=0`, so that
/// every other leak still fails the test. aws-sigv4's `sign` traces the whole `SignableRequest`
/// (its `Debug` prints every header value, SSE-C keys included) at TRACE level.
fn known_leak(line: &str) -> bool {
    line.contains("aws_sigv4::http_request::sign") && line.contains("signing request")
}

/// Strict by default since the connector caps aws-sigv4's logging (`cli::init_logs`);
/// `SECRETS_STRICT=0` tolerates the one known event again, for bisecting.
fn strict() -> bool {
    std::env::var("SECRETS_STRICT").map_or(true, |v| v != "0")
}

/// Drops ANSI escape sequences (colours in text logs), so that none can split a needle.
fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Leaks of any needle in the run's stdout or stderr: (unexpected, known). Known ones are only
/// set apart when `tolerate_known`.
fn leaks(run: &Run, needles: &[Needle], tolerate_known: bool) -> (Vec<String>, Vec<String>) {
    let (mut found, mut known) = (Vec::new(), Vec::new());
    let stderr = strip_ansi(&run.stderr);
    for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &stderr)] {
        for line in bytes.split(|b| *b == b'\n') {
            for n in needles {
                let Some(at) = line
                    .windows(n.bytes.len())
                    .position(|w| w == n.bytes.as_slice())
                else {
                    continue;
                };
                let text = String::from_utf8_lossy(line);
                let from = at.saturating_sub(100);
                let to = (at + n.bytes.len() + 40).min(line.len());
                let msg = format!(
                    "{}: {} in {stream}: ...{}...",
                    run.label,
                    n.what,
                    String::from_utf8_lossy(&line[from..to])
                );
                if tolerate_known && stream == "stderr" && known_leak(&text) {
                    known.push(msg);
                } else {
                    found.push(msg);
                }
            }
        }
    }
    (found, known)
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// What a scenario must end with (beyond leaking nothing).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Want {
    Ok,
    /// Exit 1 with this error kind (and S3 code, when given).
    Fail(&'static str, Option<&'static str>),
    Invalid,
    /// Server-dependent (SSE-C support): any exit code but a crash.
    Any,
}

struct Scenario {
    label: String,
    request: Value,
    env: Vec<(&'static str, String)>,
    want: Want,
}

fn scenario(label: &str, request: Value, want: Want) -> Scenario {
    Scenario {
        label: label.to_string(),
        request,
        env: Vec::new(),
        want,
    }
}

fn check_want(run: &Run, want: Want) -> Option<String> {
    let e = &run.envelope["error"];
    let ok = match want {
        Want::Ok => run.code == 0,
        Want::Invalid => run.code == 2 && e["kind"] == "invalid_request",
        Want::Fail(kind, code) => {
            run.code == 1 && e["kind"] == kind && code.is_none_or(|c| e["code"] == c)
        }
        Want::Any => matches!(run.code, 0..=2) && !run.envelope.is_null(),
    };
    (!ok).then(|| {
        format!(
            "{}: want {want:?}, got exit {} {}\n{}",
            run.label,
            run.code,
            run.envelope,
            String::from_utf8_lossy(&run.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// Operations on moto (which does not verify signatures, so the canary secret signs successful
/// requests), with the session token and SSE-C keys.
fn moto_scenarios(endpoint: &str, b: &str) -> Vec<Scenario> {
    let conn = json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
        "secret_access_key": SECRET, "session_token": TOKEN, "addressing": "path"});
    let req = |op: &str, input: Value| json!({"operation": op, "input": input, "connection": conn});
    vec![
        scenario(
            "create_bucket",
            req("create_bucket", json!({"Bucket": b})),
            Want::Ok,
        ),
        scenario(
            "put_object",
            req(
                "put_object",
                json!({"Bucket": b, "Key": "plain.txt", "Body": "plain"}),
            ),
            Want::Ok,
        ),
        scenario(
            "put_object with SSE-C",
            req(
                "put_object",
                with(
                    json!({"Bucket": b, "Key": "enc.txt", "Body": "encrypted"}),
                    ssec(SSEC_KEY),
                ),
            ),
            Want::Any,
        ),
        scenario(
            "get_object of the SSE-C object (get_object takes no SSE-C key)",
            req("get_object", json!({"Bucket": b, "Key": "enc.txt"})),
            Want::Any,
        ),
        scenario(
            "list_objects",
            req("list_objects", json!({"Bucket": b})),
            Want::Ok,
        ),
        scenario(
            "copy_object between SSE-C keys",
            req(
                "copy_object",
                with(
                    with(
                        json!({"Bucket": b, "Key": "copy.txt", "x-amz-copy-source": format!("{b}/enc.txt")}),
                        ssec(SSEC_COPY_KEY),
                    ),
                    ssec_copy(SSEC_KEY),
                ),
            ),
            Want::Any,
        ),
        scenario(
            "create_multipart_upload with SSE-C",
            req(
                "create_multipart_upload",
                with(json!({"Bucket": b, "Key": "mpu.bin"}), ssec(SSEC_KEY)),
            ),
            Want::Any,
        ),
        scenario(
            "copy_file in parts between SSE-C keys",
            req(
                "copy_file",
                with(
                    with(
                        json!({"Bucket": b, "Key": "copy-file.txt", "x-amz-copy-source": format!("{b}/enc.txt"),
                               "MultipartThreshold": 0}),
                        ssec(SSEC_COPY_KEY),
                    ),
                    ssec_copy(SSEC_KEY),
                ),
            ),
            Want::Any,
        ),
        scenario(
            "object_exists with an SSE-C key",
            req(
                "object_exists",
                with(json!({"Bucket": b, "Key": "enc.txt"}), ssec(SSEC_KEY)),
            ),
            Want::Any,
        ),
        scenario(
            "delete_prefix",
            req(
                "delete_prefix",
                json!({"Bucket": b, "Prefix": "copy", "AllVersions": true}),
            ),
            Want::Ok,
        ),
        scenario(
            "get_object missing",
            req("get_object", json!({"Bucket": b, "Key": "nope"})),
            Want::Fail("service", Some("NoSuchKey")),
        ),
        scenario("list_buckets", req("list_buckets", json!({})), Want::Ok),
    ]
}

/// The multipart flow needs the upload id from the previous step.
fn moto_multipart(endpoint: &str, b: &str, format: &str, runs: &mut Vec<Run>) {
    let conn = json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
        "secret_access_key": SECRET, "session_token": TOKEN, "addressing": "path"});
    let req = |op: &str, input: Value| json!({"operation": op, "input": input, "connection": conn});
    let created = run_logged(
        "create_multipart_upload (flow)",
        &req(
            "create_multipart_upload",
            with(json!({"Bucket": b, "Key": "flow.bin"}), ssec(SSEC_KEY)),
        ),
        format,
        &[],
    );
    let upload_id = created.envelope["output"]["UploadId"]
        .as_str()
        .map(str::to_string);
    runs.push(created);
    let Some(upload_id) = upload_id else { return };
    let part = run_logged(
        "upload_part_in_multipart with SSE-C",
        &req(
            "upload_part_in_multipart",
            with(
                json!({"Bucket": b, "Key": "flow.bin", "uploadId": upload_id, "partNumber": 1, "Body": "part one"}),
                ssec(SSEC_KEY),
            ),
        ),
        format,
        &[],
    );
    runs.push(part);
    runs.push(run_logged(
        "list_parts_for_multipart_upload",
        &req(
            "list_parts_for_multipart_upload",
            json!({"Bucket": b, "Key": "flow.bin", "uploadId": upload_id}),
        ),
        format,
        &[],
    ));
    runs.push(run_logged(
        "complete_multipart_upload (parts listed by the connector)",
        &req(
            "complete_multipart_upload",
            json!({"Bucket": b, "Key": "flow.bin", "uploadId": upload_id}),
        ),
        format,
        &[],
    ));
}

/// `SeaweedFS` verifies signatures: the canary secret is refused; the real one with SSE-C keys.
fn seaweed_scenarios(endpoint: &str, b: &str, profile_dir: &Path) -> Vec<Scenario> {
    let good = json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
        "secret_access_key": common::SECRET_KEY, "addressing": "path"});
    let wrong = json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
        "secret_access_key": SECRET, "addressing": "path"});
    let wrong_token = json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
        "secret_access_key": SECRET, "session_token": TOKEN, "addressing": "path"});
    let creds_file = profile_dir.join("credentials");
    std::fs::write(
        &creds_file,
        format!(
            "[canary]\naws_access_key_id = {}\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n",
            common::ACCESS_KEY
        ),
    )
    .unwrap();
    let mut v = vec![
        scenario(
            "wrong secret is refused (403)",
            json!({"operation": "list_buckets", "connection": wrong}),
            Want::Fail("service", Some("SignatureDoesNotMatch")),
        ),
        scenario(
            "wrong secret with a session token, put_object with SSE-C",
            json!({"operation": "put_object", "input": with(json!({"Bucket": b, "Key": "x", "Body": "x"}), ssec(SSEC_KEY)), "connection": wrong_token}),
            Want::Fail("service", None),
        ),
        scenario(
            "create_bucket",
            json!({"operation": "create_bucket", "input": {"Bucket": b}, "connection": good}),
            Want::Ok,
        ),
        scenario(
            "put_object with SSE-C (right secret)",
            json!({"operation": "put_object", "input": with(json!({"Bucket": b, "Key": "enc", "Body": "secret body"}), ssec(SSEC_KEY)), "connection": good}),
            Want::Any,
        ),
        scenario(
            "get_object of the SSE-C object (right secret)",
            json!({"operation": "get_object", "input": {"Bucket": b, "Key": "enc"}, "connection": good}),
            Want::Any,
        ),
        scenario(
            "copy_object with SSE-C keys (right secret)",
            json!({"operation": "copy_object", "input": with(with(json!({"Bucket": b, "Key": "enc2", "x-amz-copy-source": format!("{b}/enc")}), ssec(SSEC_COPY_KEY)), ssec_copy(SSEC_KEY)), "connection": good}),
            Want::Any,
        ),
    ];
    let mut env_creds = scenario(
        "credentials from the environment, wrong secret",
        json!({"operation": "list_buckets", "connection": {"endpoint": endpoint, "addressing": "path", "region": "us-east-1"}}),
        Want::Fail("service", None),
    );
    env_creds.env = vec![
        ("AWS_ACCESS_KEY_ID", common::ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_SESSION_TOKEN", TOKEN.to_string()),
    ];
    v.push(env_creds);
    let mut profile = scenario(
        "credentials from a profile file, wrong secret",
        json!({"operation": "list_buckets", "connection": {"endpoint": endpoint, "addressing": "path", "region": "us-east-1", "profile": "canary"}}),
        Want::Fail("service", None),
    );
    profile.env = vec![(
        "AWS_SHARED_CREDENTIALS_FILE",
        creds_file.to_string_lossy().into_owned(),
    )];
    v.push(profile);
    v
}

/// Refused before sending, or failing at the network: nothing but the connector's own words.
fn offline_scenarios(closed_port: u16, blackhole: &str) -> Vec<Scenario> {
    let canary_conn = |endpoint: String| {
        json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": common::ACCESS_KEY,
               "secret_access_key": SECRET, "session_token": TOKEN, "addressing": "path",
               "connect_timeout_seconds": 2, "read_timeout_seconds": 1, "timeout_seconds": 6})
    };
    let closed = canary_conn(format!("http://127.0.0.1:{closed_port}"));
    let mut v = vec![
        scenario(
            "bad SSE-C key (not base64) is refused",
            json!({"operation": "put_object", "input": {"Bucket": "my-bucket", "Key": "k",
                "x-amz-server-side-encryption-customer-key": "CANARY-not-base64-SSEC-key!"}, "connection": closed}),
            Want::Invalid,
        ),
        scenario(
            "bad SSE-C key of the wrong length is refused",
            json!({"operation": "put_object", "input": {"Bucket": "my-bucket", "Key": "k",
                "x-amz-server-side-encryption-customer-key": &SSEC_KEY[..40]}, "connection": closed}),
            Want::Invalid,
        ),
        scenario(
            "good SSE-C keys, bad input elsewhere",
            json!({"operation": "copy_object", "input": with(with(json!({"Bucket": "my bucket", "Key": "k", "x-amz-copy-source": "b/k"}), ssec(SSEC_KEY)), ssec_copy(SSEC_COPY_KEY)), "connection": closed}),
            Want::Invalid,
        ),
        scenario(
            "secret in a misspelt connection field",
            json!({"operation": "list_buckets", "connection": {"access_key_id": "AKID", "secret_acess_key": SECRET, "session_tokn": TOKEN}}),
            Want::Invalid,
        ),
        scenario(
            "secret of the wrong type",
            json!({"operation": "list_buckets", "connection": {"access_key_id": "AKID", "secret_access_key": [SECRET], "session_token": {"t": TOKEN}}}),
            Want::Invalid,
        ),
        scenario(
            "only the secret half of the key pair",
            json!({"operation": "list_buckets", "connection": {"secret_access_key": SECRET, "session_token": TOKEN}}),
            Want::Invalid,
        ),
        scenario(
            "refused connection (closed port)",
            json!({"operation": "put_object", "input": with(json!({"Bucket": "my-bucket", "Key": "k", "Body": "x"}), ssec(SSEC_KEY)), "connection": closed}),
            Want::Fail("network", None),
        ),
        scenario(
            "read timeout (server never answers)",
            json!({"operation": "put_object", "input": with(json!({"Bucket": "my-bucket", "Key": "k", "Body": "x"}), ssec(SSEC_KEY)), "connection": canary_conn(blackhole.to_string())}),
            Want::Fail("timeout", None),
        ),
    ];
    let mut token_only = scenario(
        "session token in the environment without keys",
        json!({"operation": "list_buckets", "connection": {"endpoint": format!("http://127.0.0.1:{closed_port}")}}),
        Want::Fail("credentials", Some("NoCredentials")),
    );
    token_only.env = vec![("AWS_SESSION_TOKEN", TOKEN.to_string())];
    v.push(token_only);
    v
}

#[test]
fn canary_secrets_never_appear_in_output_or_logs() {
    let started = Instant::now();
    let needles = all_needles();
    let moto = common::server("moto");
    let seaweed = common::server("seaweedfs");
    let moto_proxy = Proxy::start(Mode::Forward(
        format!("127.0.0.1:{}", moto.port).parse().unwrap(),
    ));
    let seaweed_proxy = Proxy::start(Mode::Forward(
        format!("127.0.0.1:{}", seaweed.port).parse().unwrap(),
    ));
    let blackhole = Proxy::start(Mode::Blackhole);
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let profile_dir = tempfile::tempdir().unwrap();

    let mut runs = Vec::new();
    let mut wrong_outcomes = Vec::new();
    for format in ["text", "json"] {
        let b = common::bucket(&format!("canary-{format}"));
        let mut all = moto_scenarios(&moto_proxy.endpoint(), &b);
        all.extend(seaweed_scenarios(
            &seaweed_proxy.endpoint(),
            &b,
            profile_dir.path(),
        ));
        all.extend(offline_scenarios(closed_port, &blackhole.endpoint()));
        for s in &all {
            let env: Vec<(&str, String)> = s.env.iter().map(|(k, v)| (*k, v.clone())).collect();
            let run = run_logged(&s.label, &s.request, format, &env);
            if let Some(w) = check_want(&run, s.want) {
                wrong_outcomes.push(w);
            }
            runs.push(run);
        }
        moto_multipart(&moto_proxy.endpoint(), &b, format, &mut runs);
    }

    // Trace logging was on: TRACE events in both formats, from most runs that sent something.
    let traced = runs
        .iter()
        .filter(|r| {
            let e = String::from_utf8_lossy(&strip_ansi(&r.stderr)).into_owned();
            e.contains(" TRACE ") || e.contains("\"level\":\"TRACE\"")
        })
        .count();
    assert!(
        traced >= runs.len() / 2,
        "only {traced} of {} runs logged at TRACE level; is RUST_LOG honoured?",
        runs.len()
    );
    let json_lines_ok = runs
        .iter()
        .filter(|r| r.label.ends_with("[json]"))
        .flat_map(|r| {
            String::from_utf8_lossy(&r.stderr)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .all(|l| l.trim().is_empty() || serde_json::from_str::<Value>(&l).is_ok());
    assert!(json_lines_ok, "--log-format json writes JSON lines only");

    let (mut found, mut known) = (Vec::new(), Vec::new());
    for r in &runs {
        let (f, k) = leaks(r, &needles, !strict());
        found.extend(f);
        known.extend(k);
    }

    // The canaries were really used: on the wire where S3 expects them, and the secret never.
    let moto_wire = moto_proxy.stop();
    let seaweed_wire = seaweed_proxy.stop();
    let blackhole_wire = blackhole.stop();
    let wires = [&moto_wire, &seaweed_wire, &blackhole_wire];
    let sent = |needle: &[u8]| wires.iter().any(|w| w.client_sent(needle));
    assert!(sent(TOKEN.as_bytes()), "the session token was never sent");
    assert!(sent(SSEC_KEY.as_bytes()), "the SSE-C key was never sent");
    assert!(
        sent(SSEC_COPY_KEY.as_bytes()),
        "the copy-source SSE-C key was never sent"
    );
    assert!(
        sent(
            format!(
                "x-amz-server-side-encryption-customer-key-md5: {}",
                key_md5(SSEC_KEY)
            )
            .as_bytes()
        ),
        "the SSE-C key MD5 header was sent"
    );
    let secret_on_wire: Vec<String> = needles_for("secret access key", SECRET.as_bytes())
        .into_iter()
        .filter(|n| sent(&n.bytes))
        .map(|n| n.what)
        .collect();
    assert!(
        secret_on_wire.is_empty(),
        "the secret access key went on the wire: {secret_on_wire:?}"
    );

    eprintln!(
        "{} runs ({} with TRACE events), {} needles, {} connections through the proxies, {:.1}s",
        runs.len(),
        traced,
        needles.len(),
        moto_wire.connections + seaweed_wire.connections + blackhole_wire.connections,
        started.elapsed().as_secs_f64()
    );
    for r in &runs {
        let e = &r.envelope["error"];
        eprintln!(
            "  exit {} {:<62} {} {}",
            r.code,
            r.label,
            e["code"].as_str().or(e["kind"].as_str()).unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        );
    }
    if !known.is_empty() {
        eprintln!(
            "KNOWN ISSUE still present: {} SSE-C key leaks in aws_sigv4's TRACE `signing request` event, e.g.\n  {}",
            known.len(),
            known[0]
        );
    }
    let mut report = Vec::new();
    if !found.is_empty() {
        report.push(format!("canaries leaked:\n{}", found.join("\n")));
    }
    if !wrong_outcomes.is_empty() {
        report.push(format!(
            "unexpected outcomes:\n{}",
            wrong_outcomes.join("\n\n")
        ));
    }
    assert!(report.is_empty(), "{}", report.join("\n\n"));
}

/// `Debug` of what the executor holds after resolution: the credentials' `Debug` is redacted in
/// `src` (tested there); this checks the composite `Resolved`, which is what a `?resolved` log
/// field would print.
#[test]
fn debug_of_resolved_connection_shows_no_secret() {
    let conn: s3_connector::connection::Connection = serde_json::from_value(json!({
        "endpoint": "http://127.0.0.1:9", "access_key_id": "AKIDDEBUG",
        "secret_access_key": SECRET, "session_token": TOKEN}))
    .unwrap();
    let resolved = s3_connector::credentials::resolve(&conn, &|_| None).unwrap();
    for printed in [
        format!("{resolved:?}"),
        format!("{resolved:#?}"),
        format!("{conn:?}"),
    ] {
        assert!(!printed.contains(MARK), "{printed}");
        assert!(
            printed.contains("AKIDDEBUG"),
            "the key id is not secret: {printed}"
        );
    }
}

/// `validate::Request` derives `Debug` and holds the input map, SSE-C keys included, in clear:
/// `tracing::debug!(?request)` anywhere would log them. Kept as a regression case for when the
/// input's secret parameters get redacted; run with `--ignored`.
#[test]
fn debug_of_validated_request_shows_no_sse_c_key() {
    let text = json!({"operation": "put_object",
        "input": with(json!({"Bucket": "my-bucket", "Key": "k"}), ssec(SSEC_KEY)),
        "connection": {"secret_access_key": SECRET, "access_key_id": "AKID", "session_token": TOKEN}})
    .to_string();
    let req = s3_connector::validate::parse_request(&text).unwrap();
    let printed = format!("{req:?}");
    assert!(!printed.contains(MARK), "{printed}");
}

/// Credentials embedded in an endpoint URL are refused, but the URL is echoed verbatim in
/// `error.message`, `error.details` and the WARN log (`credentials::resolve`:
/// `format!("endpoint `{url}` {m}")`). Kept as a regression case; run with `--ignored`.
#[test]
fn endpoint_user_info_is_not_echoed() {
    let run = run_logged(
        "endpoint with user info",
        &json!({"operation": "list_buckets", "connection": {
            "endpoint": format!("http://AKID:{}@127.0.0.1:9", "CANARYendpointPASSWORD"),
            "access_key_id": "AKID", "secret_access_key": "x"}}),
        "text",
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.envelope);
    let (found, _) = leaks(
        &run,
        &[Needle {
            what: "endpoint password".into(),
            bytes: b"CANARYendpointPASSWORD".to_vec(),
        }],
        false,
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// aws-sigv4 0.x/1.x `sign()` emits `trace!(request = ?signable_request, "signing request")`,
/// whose `Debug` lists every header value: at `RUST_LOG=trace` the SSE-C keys (and copy-source
/// SSE-C keys) are written to stderr in clear. A fix in `cli::init_logs` is to cap that target,
/// e.g. `filter.add_directive("aws_sigv4=debug".parse()?)` (a target directive wins over the
/// global level from `RUST_LOG`). Kept as a regression case; run with `--ignored`.
#[test]
fn sse_c_key_is_not_logged_at_trace_level() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let request = json!({"operation": "put_object",
        "input": with(json!({"Bucket": "my-bucket", "Key": "k", "Body": "x"}), ssec(SSEC_KEY)),
        "connection": {"endpoint": format!("http://127.0.0.1:{port}"), "access_key_id": "AKID",
            "secret_access_key": SECRET, "connect_timeout_seconds": 1, "timeout_seconds": 3}});
    for format in ["text", "json"] {
        let run = run_logged("SSE-C at trace", &request, format, &[]);
        let (found, _) = leaks(&run, &all_needles(), false);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}

/// A presigned URL must carry the session token (S3 reads it from the query) and hand back the
/// SSE-C key the holder must send; it must never carry the secret access key, and the logs carry
/// none of them.
#[test]
fn presigned_urls_carry_the_token_and_never_the_secret() {
    let conn = json!({"endpoint": "http://127.0.0.1:9", "region": "us-east-1", "addressing": "path",
        "access_key_id": common::ACCESS_KEY, "secret_access_key": SECRET, "session_token": TOKEN});
    let mut secret = needles_for("secret access key", SECRET.as_bytes());
    secret.push(Needle {
        what: "the canary mark outside the URL and Headers".into(),
        bytes: b"CANARYsecret".to_vec(),
    });
    let mut all = all_needles();
    all.retain(|n| !n.what.starts_with("test-server secret"));
    for format in ["text", "json"] {
        let run = run_logged(
            "presign_put_object with SSE-C and a session token",
            &json!({"operation": "presign_put_object", "connection": conn,
                    "input": with(json!({"Bucket": "my-bucket", "Key": "k"}), ssec(SSEC_KEY))}),
            format,
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.envelope);
        let out = &run.envelope["output"];
        let url = out["URL"].as_str().unwrap();
        assert!(
            url.contains(&format!(
                "X-Amz-Security-Token={}",
                percent(TOKEN.as_bytes(), false)
            )),
            "the token is in the URL: {url}"
        );
        assert_eq!(
            out["Headers"]["x-amz-server-side-encryption-customer-key"],
            SSEC_KEY
        );
        let (found, _) = leaks(&run, &secret, false);
        assert!(found.is_empty(), "{found:#?}");
        let logs = Run {
            stdout: Vec::new(),
            ..run
        };
        let (found, _) = leaks(&logs, &all, false);
        assert!(found.is_empty(), "{found:#?}");
    }
}

/// A web identity token, an ECS / EKS agent token and an SSO access token.
const WEB_TOKEN: &str = "eyJCANARYwebIDENTITY.payload+/=.sig";
const AGENT_TOKEN: &str = "CANARYagentTOKEN/+=pod-identity";
const SSO_TOKEN: &str = "aoaCANARYssoACCESStoken/+=";
/// Credentials the sources hand out: their secret and session token are canaries too.
const VENDED_SECRET: &str = "CANARYvendedSECRET/+=9c1e7f3a";
const VENDED_TOKEN: &str = "CANARYvendedSESSIONtoken/+=IQoJb3JpZ2lu";

/// A credential-source scenario: label, request, environment, outcome.
type Case<'a> = (&'a str, Value, Vec<(&'a str, String)>, Want);

/// An HTTP reply, then close.
fn reply(status: &str, content_type: &str, body: &str) -> Mode {
    Mode::Reply(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// Every new credential source, in success and failure, at TRACE level in both log formats:
/// web identity and an assumed role (STS answering with canary credentials, or refusing),
/// container credentials (with the agent's token), instance metadata, SSO (a cached token, then
/// the portal; and an expired login), `credential_process` (succeeding, and failing after
/// printing a canary). No canary is in any output or log, and each was used where it belongs.
#[test]
fn canaries_of_credential_sources_never_appear() {
    let moto = common::server("moto");
    let s3 = Proxy::start(Mode::Forward(
        format!("127.0.0.1:{}", moto.port).parse().unwrap(),
    ));
    let sts_xml = format!(
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAVENDEDKEY</AccessKeyId>\
         <SecretAccessKey>{VENDED_SECRET}</SecretAccessKey><SessionToken>{VENDED_TOKEN}</SessionToken>\
         <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
    );
    let sts = Proxy::start(reply("200 OK", "text/xml", &sts_xml));
    let sts_refusing = Proxy::start(reply(
        "403 Forbidden",
        "text/xml",
        "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error></ErrorResponse>",
    ));
    let vended = json!({"AccessKeyId": "ASIAVENDEDKEY", "SecretAccessKey": VENDED_SECRET, "Token": VENDED_TOKEN});
    let endpoints = creds::Endpoints::start(
        &json!({"credentials": [vended], "container_token": AGENT_TOKEN,
                                                     "sso_token": SSO_TOKEN}),
    );
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    let process = home.path().join("process.sh");
    let failing = home.path().join("failing.sh");
    std::fs::write(
        &process,
        format!("#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"{VENDED_SECRET}\", \"SessionToken\": \"{VENDED_TOKEN}\"}}'\n"),
    )
    .unwrap();
    std::fs::write(
        &failing,
        format!("#!/bin/sh\necho '{VENDED_SECRET}'\necho '{VENDED_TOKEN}' >&2\nexit 1\n"),
    )
    .unwrap();
    for f in [&process, &failing] {
        Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
    let config = aws.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile proc]\ncredential_process = {}\n[profile broken]\ncredential_process = {}\n\
             [profile sso]\nsso_session = s\nsso_account_id = 123456789012\nsso_role_name = ReadWrite\n\
             [profile late]\nsso_session = late\nsso_account_id = 123456789012\nsso_role_name = ReadWrite\n\
             [sso-session s]\nsso_start_url = https://x.example/start\nsso_region = us-east-1\n\
             [sso-session late]\nsso_start_url = https://y.example/start\nsso_region = us-east-1\n",
            process.display(),
            failing.display()
        ),
    )
    .unwrap();
    let token_file = |name: &str, expires: &str| {
        let sha1 = common::python(
            &format!("import hashlib; print(hashlib.sha1(b'{name}').hexdigest(), end='')"),
            &[],
        );
        std::fs::write(
            aws.join(format!("sso/cache/{sha1}.json")),
            json!({"accessToken": SSO_TOKEN, "expiresAt": expires}).to_string(),
        )
        .unwrap();
    };
    token_file("s", "2099-01-01T00:00:00Z");
    token_file("late", "2020-01-01T00:00:00Z");
    let web_token = home.path().join("web-token");
    std::fs::write(&web_token, WEB_TOKEN).unwrap();
    let agent_file = home.path().join("agent-token");
    std::fs::write(&agent_file, AGENT_TOKEN).unwrap();
    let wrong_agent_file = home.path().join("wrong-agent-token");
    std::fs::write(&wrong_agent_file, format!("{AGENT_TOKEN}-wrong")).unwrap();

    let b = common::bucket("canary-sources");
    let keyless = json!({"endpoint": s3.endpoint(), "region": "us-east-1", "addressing": "path"});
    let put = |conn: &Value| {
        json!({"operation": "put_object", "connection": conn,
               "input": {"Bucket": b, "Key": "k", "Body": "canary sources"}})
    };
    let h = home.path().display().to_string();
    let e = endpoints.url();
    let with_role = |sts: &Proxy| {
        let mut c = keyless.clone();
        c["access_key_id"] = json!("AKIDBASE");
        c["secret_access_key"] = json!(SECRET);
        c["session_token"] = json!(TOKEN);
        c["role_arn"] = json!("arn:aws:iam::123456789012:role/canary");
        c["sts_endpoint"] = json!(sts.endpoint());
        c
    };
    let web = |sts: &Proxy| {
        vec![
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                web_token.display().to_string(),
            ),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/canary".into(),
            ),
            ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
        ]
    };
    let profile = |name: &str| {
        vec![
            ("HOME", h.clone()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_PROFILE", name.to_string()),
        ]
    };
    let mut cases: Vec<Case> = vec![
        (
            "create bucket",
            json!({"operation": "create_bucket", "connection": with_role(&sts), "input": {"Bucket": b}}),
            vec![],
            Want::Ok,
        ),
        ("assume role", put(&with_role(&sts)), vec![], Want::Ok),
        (
            "assume role refused",
            put(&with_role(&sts_refusing)),
            vec![],
            Want::Fail("credentials", Some("CredentialsRefused")),
        ),
        ("web identity", put(&keyless), web(&sts), Want::Ok),
        (
            "web identity refused",
            put(&keyless),
            web(&sts_refusing),
            Want::Fail("credentials", Some("CredentialsRefused")),
        ),
        (
            "container, token file",
            put(&keyless),
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{e}/creds")),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    agent_file.display().to_string(),
                ),
            ],
            Want::Ok,
        ),
        (
            "container, token",
            put(&keyless),
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{e}/creds")),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", AGENT_TOKEN.into()),
            ],
            Want::Ok,
        ),
        (
            "container, wrong token",
            put(&keyless),
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{e}/creds")),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    wrong_agent_file.display().to_string(),
                ),
            ],
            Want::Fail("credentials", Some("CredentialsRefused")),
        ),
        (
            "instance metadata",
            put(&keyless),
            vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", e.clone())],
            Want::Ok,
        ),
        (
            "credential_process",
            put(&keyless),
            profile("proc"),
            Want::Ok,
        ),
        (
            "credential_process failing",
            put(&keyless),
            profile("broken"),
            Want::Fail("credentials", Some("CredentialsInvalid")),
        ),
        (
            "SSO",
            put(&keyless),
            [profile("sso"), vec![("AWS_ENDPOINT_URL_SSO", e.clone())]].concat(),
            Want::Ok,
        ),
        (
            "SSO expired",
            put(&keyless),
            [profile("late"), vec![("AWS_ENDPOINT_URL_SSO", e.clone())]].concat(),
            Want::Fail("credentials", Some("SsoTokenExpired")),
        ),
    ];
    let mut needles = all_needles();
    for (label, secret) in [
        ("web identity token", WEB_TOKEN),
        ("agent token", AGENT_TOKEN),
        ("SSO token", SSO_TOKEN),
        ("vended secret", VENDED_SECRET),
        ("vended session token", VENDED_TOKEN),
    ] {
        needles.extend(needles_for(label, secret.as_bytes()));
    }
    let (mut found, mut wrong) = (Vec::new(), Vec::new());
    for format in ["text", "json"] {
        for (label, request, env, want) in &mut cases {
            env.dedup();
            // Instance metadata is off (`run_logged`) unless a case names its endpoint.
            if env
                .iter()
                .any(|(k, _)| *k == "AWS_EC2_METADATA_SERVICE_ENDPOINT")
            {
                env.push(("AWS_EC2_METADATA_DISABLED", "false".into()));
            }
            let run = run_logged(label, request, format, env);
            wrong.extend(check_want(&run, *want));
            found.extend(leaks(&run, &needles, !strict()).0);
        }
    }
    assert!(found.is_empty(), "canaries leaked:\n{}", found.join("\n"));
    assert!(
        wrong.is_empty(),
        "unexpected outcomes:\n{}",
        wrong.join("\n\n")
    );
    // Each canary was used where it belongs, and the vended credentials signed S3 requests.
    let s3_wire = s3.stop();
    let sts_wire = sts.stop();
    let _ = sts_refusing.stop();
    // (The canned STS records request heads only: the web identity token is in the form body.)
    assert!(sts_wire.client_sent(b"POST / HTTP/1.1"), "STS was asked");
    assert!(
        sts_wire.client_sent(TOKEN.as_bytes()),
        "the base session token signed AssumeRole"
    );
    assert!(
        s3_wire.client_sent(VENDED_TOKEN.as_bytes()),
        "the vended session token reached S3"
    );
    assert!(
        !s3_wire.client_sent(VENDED_SECRET.as_bytes()) && !sts_wire.client_sent(SECRET.as_bytes())
    );
    let asked = endpoints.asked();
    for endpoint in ["container", "imds_creds", "sso"] {
        assert!(
            asked.iter().any(|a| a == endpoint),
            "{endpoint} never asked: {asked:?}"
        );
    }
}
