//! The Dagster example (`examples/dagster/`) against `SeaweedFS`: real Dagster jobs (the
//! `dagster` package, in the tools' Python) whose ops run this binary with `s3-connector run`, one
//! process per S3 call, on an ephemeral instance (`execute_in_process`, no server, nothing
//! written to `DAGSTER_HOME`).
//!
//! The driver `examples/dagster/test_job.py` runs three scenarios and prints every run's events
//! to stderr (shown here) and a JSON summary to stdout, which this test reads:
//!
//! - `round_trip`: upload, list, download and verify each run once and succeed.
//! - `missing_key`: the download of a missing key is a failed step whose failure metadata is the
//!   connector's error (`kind` service, `code` `NoSuchKey`, `status` 404, `retryable` false),
//!   and Dagster does not retry it.
//! - `transient`: the upload goes through a loopback proxy answering its first two requests with
//!   `503 SlowDown`, with the connection's `max_attempts` 1 so that the connector gives up at
//!   once; the op raises a retryable `Failure` and Dagster's `RetryPolicy` recovers
//!   (`STEP_UP_FOR_RETRY` twice, then `STEP_SUCCESS`).
//!
//! The 503 proxy lives in the Python driver (`examples/dagster/slowdown_proxy.py`) rather than
//! in `tests/common/proxy.rs`: neither of the Rust proxies answers "the first N requests, then
//! forward", and in Python the example stays runnable on its own, against any endpoint,
//! without this harness. It listens on 127.0.0.1 only and is stopped when its scenario ends.
//!
//! Afterwards boto3, talking to `SeaweedFS` directly, reads both uploaded objects back.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{boto3, py, ACCESS_KEY, ROOT, SECRET_KEY};
use serde_json::{json, Value};

/// A generous bound on the driver (it takes seconds); past it the driver is killed.
const DRIVER_LIMIT: Duration = Duration::from_mins(10);

fn scratch() -> PathBuf {
    let dir = Path::new(ROOT).join("target/test-dagster");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["home", "dagster-home", "work"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir
}

/// Runs `cmd` to its end or to `limit`, whichever is first: (exit status, stdout, stderr).
fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Dagster driver");
    // Read both pipes from threads, so a full pipe never blocks the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status,
        out.join().unwrap().unwrap(),
        err.join().unwrap().unwrap(),
    )
}

fn scenario<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name} in {summary:#}"))
}

#[test]
fn dagster_ops_run_the_connector_and_retry_only_what_is_retryable() {
    let s = common::server("seaweedfs");
    let bucket = common::new_bucket(s, "dagster");
    let dir = scratch();

    let mut cmd = Command::new(common::tools_bin("python"));
    cmd.arg(Path::new(ROOT).join("examples/dagster/test_job.py"))
        .args(["--endpoint", &s.endpoint, "--bucket", &bucket])
        .args(["--region", "us-east-1", "--addressing", "path", "--keep"])
        .arg("--work-dir")
        .arg(dir.join("work"));
    // Isolated as the harness isolates the binary: no AWS settings of the developer's, a HOME
    // and a DAGSTER_HOME under target/ (the ephemeral instance writes to neither), no bytecode
    // written into examples/.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("DAGSTER_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("S3_CONNECTOR", env!("CARGO_BIN_EXE_s3-connector"))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.join("home"))
        .env("DAGSTER_HOME", dir.join("dagster-home"))
        .env("PYTHONDONTWRITEBYTECODE", "1");

    let (status, stdout, stderr) = run_bounded(cmd, DRIVER_LIMIT);
    eprintln!("{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the driver (exit {status:?}) printed no JSON summary ({e}):\n{stdout}\n{stderr}")
    });
    assert_eq!(
        summary["unmet"],
        json!([]),
        "unmet expectations: {summary:#}"
    );
    assert_eq!(summary["ok"], true);
    assert_eq!(status, Some(0), "{summary:#}");

    let ran_once = json!(["STEP_START", "STEP_SUCCESS"]);

    let rt = scenario(&summary, "round_trip");
    assert_eq!(rt["success"], true, "{rt:#}");
    for step in ["upload", "list_prefix", "download", "verify"] {
        assert_eq!(rt["steps"][step], ran_once, "round_trip {step}: {rt:#}");
    }

    let missing = scenario(&summary, "missing_key");
    assert_eq!(missing["success"], false, "{missing:#}");
    assert_eq!(
        missing["steps"]["download"],
        json!(["STEP_START", "STEP_FAILURE"]),
        "failed once, never up for retry: {missing:#}"
    );
    let md = &missing["failures"]["download"]["metadata"];
    assert_eq!(md["kind"], "service", "{md:#}");
    assert_eq!(md["code"], "NoSuchKey", "{md:#}");
    assert_eq!(md["status"], 404, "{md:#}");
    assert_eq!(md["retryable"], false, "{md:#}");
    assert_eq!(md["operation"], "download_file", "{md:#}");
    assert_eq!(md["exit_code"], 1, "{md:#}");

    let transient = scenario(&summary, "transient");
    assert_eq!(transient["success"], true, "{transient:#}");
    assert_eq!(transient["proxy"]["refused_with_503"], 2, "{transient:#}");
    assert_eq!(
        transient["steps"]["upload"],
        json!([
            "STEP_START",
            "STEP_UP_FOR_RETRY",
            "STEP_RESTARTED",
            "STEP_UP_FOR_RETRY",
            "STEP_RESTARTED",
            "STEP_SUCCESS"
        ]),
        "{transient:#}"
    );
    let causes = transient["retry_errors"]["upload"].as_array().unwrap();
    assert_eq!(causes.len(), 2, "{transient:#}");
    for cause in causes {
        assert!(
            cause.as_str().unwrap().contains("SlowDown"),
            "retried for something else than the 503: {cause}"
        );
    }
    for step in ["list_prefix", "download", "verify"] {
        assert_eq!(transient["steps"][step], ran_once, "transient {step}");
    }

    // Independently of the driver: boto3 at the server itself finds both objects, of the sizes
    // uploaded, with the bytes whose SHA-256 the driver recorded.
    for sc in [rt, transient] {
        let out = boto3(
            s,
            &format!(
                "import hashlib\n\
                 body = s3.get_object(Bucket={}, Key={})['Body'].read()\n\
                 print(json.dumps({{'bytes': len(body), 'sha256': hashlib.sha256(body).hexdigest()}}))\n",
                py(&bucket),
                py(sc["key"].as_str().unwrap())
            ),
        );
        let got: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(got["bytes"], sc["bytes"], "{}", sc["key"]);
        assert_eq!(got["sha256"], sc["stored_sha256"], "{}", sc["key"]);
    }
    common::remove_bucket(s, &bucket);
}
