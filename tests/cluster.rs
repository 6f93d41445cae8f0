//! The Dask example (`examples/dask/`) against `SeaweedFS`: 10,000 server-side copies spread by
//! Dask's distributed scheduler over a local cluster of two worker processes, each holding one
//! warm `s3-connector serve` (a worker plugin), then the same copies through one serve alone.
//! The driver (`examples/dask/test_cluster.py`) prints the transcript on stderr (shown here)
//! and a JSON summary, asserted on below: every id answered once, every copy ok, both workers
//! used, and boto3 finding 10,000 copies whose `ETag`s equal their sources'. Throughputs are
//! reported, not asserted.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{new_bucket, server, tools_bin, ACCESS_KEY, ROOT, SECRET_KEY};
use serde_json::{json, Value};

const COUNT: u64 = 10_000;

#[test]
fn ten_thousand_copies_over_a_dask_cluster_each_answered_once_and_exact() {
    let s = server("seaweedfs");
    let b = new_bucket(s, "dask");
    let work = Path::new(ROOT).join("target/test-cluster");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("home")).unwrap();
    let input = json!({
        "bin": env!("CARGO_BIN_EXE_s3-connector"),
        "endpoint": s.endpoint,
        "bucket": b,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "count": COUNT,
        "workdir": work,
    });
    let mut child = Command::new(tools_bin("python"))
        .arg(Path::new(ROOT).join("examples/dask/test_cluster.py"))
        .env("HOME", work.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DASK_TEMPORARY_DIRECTORY", &work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        input.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the driver failed (its stderr is above)"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{summary}");

    let cluster = &summary["cluster"];
    assert_eq!(cluster["answered"], COUNT, "{summary}");
    assert_eq!(cluster["each_once"], true, "{summary}");
    assert_eq!(cluster["failed"], json!([]), "{summary}");
    assert_eq!(cluster["workers"], 2);
    let per_worker: Vec<u64> = cluster["per_worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(per_worker.len(), 2, "both workers did some: {summary}");
    assert!(per_worker.iter().all(|n| *n > 0));
    assert_eq!(per_worker.iter().sum::<u64>(), COUNT);

    let single = &summary["single"];
    assert_eq!(
        (&single["answered"], &single["each_once"]),
        (&json!(COUNT), &json!(true))
    );
    assert_eq!(summary["serve_exit"], 0);
    let exact = &summary["exact"];
    assert_eq!(
        exact,
        &json!({"sources": COUNT, "cluster": COUNT, "single": COUNT,
                "cluster_etags_equal": true, "single_etags_equal": true})
    );
}
