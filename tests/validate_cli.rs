//! `s3-connector validate`, driven by `tests/fixtures/validate_cases.json`: good requests for every
//! operation pass; bad ones exit 2 and name every offending place.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn validate(raw: &str) -> (i32, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3-connector"));
    // validate checks what run would refuse, with the same fallbacks (environment, profile
    // files): none of the developer's AWS settings, a HOME without `.aws`.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env(
            "HOME",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-home"),
        )
        .arg("validate")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout must be exactly one envelope line: {stdout}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    (
        out.status.code().unwrap(),
        v,
        stdout + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The operations of the docs page and the connector's own, whose cases are written by hand
/// here. Those generated from AWS's model get theirs generated: a valid input of every
/// parameter in `tests/oracle.rs` (which must pass validation), and a missing required field in
/// `tests/bad_input.rs`.
fn hand_written_operations() -> std::collections::BTreeSet<String> {
    s3_connector::manifest::Manifest::embedded()
        .operations
        .iter()
        .filter(|o| o.origin != s3_connector::manifest::Origin::Model)
        .map(|o| o.name.clone())
        .collect()
}

fn cases() -> Value {
    serde_json::from_str(include_str!("fixtures/validate_cases.json")).unwrap()
}

#[test]
fn good_requests_for_every_operation_pass() {
    let cases = cases();
    let mut seen = std::collections::BTreeSet::new();
    for req in cases["good"].as_array().unwrap() {
        let (code, v, _) = validate(&req.to_string());
        assert_eq!(code, 0, "{req} -> {v}");
        assert_eq!(v["ok"], true);
        assert_eq!(
            v["id"],
            req.get("id").cloned().unwrap_or(Value::Null).clone(),
            "id echoed"
        );
        seen.insert(req["operation"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen,
        hand_written_operations(),
        "a good case for every operation"
    );
}

#[test]
fn bad_requests_are_refused_with_the_place_named() {
    let cases = cases();
    let bad = cases["bad"].as_array().unwrap();
    assert!(bad.len() >= 40);
    // Every operation has at least one bad case.
    let covered: std::collections::BTreeSet<&str> = bad
        .iter()
        .filter_map(|c| c["request"]["operation"].as_str())
        .collect();
    for op in hand_written_operations() {
        assert!(covered.contains(op.as_str()), "no bad case for {op}");
    }
    for case in bad {
        let name = case["name"].as_str().unwrap();
        let raw = match case.get("raw") {
            Some(r) => r.as_str().unwrap().to_string(),
            None => case["request"].to_string(),
        };
        let (code, v, all_output) = validate(&raw);
        assert_eq!(code, 2, "{name}: {v}");
        assert_eq!(v["ok"], false, "{name}");
        assert_eq!(v["error"]["kind"], "invalid_request", "{name}");
        if let Some(id) = case["request"].get("id") {
            assert_eq!(&v["id"], id, "{name}: the id is echoed");
        }
        let pointers: Vec<&str> = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["pointer"].as_str().unwrap())
            .collect();
        for want in case["pointers"].as_array().unwrap() {
            assert!(
                pointers.contains(&want.as_str().unwrap()),
                "{name}: {want} not in {pointers:?}"
            );
        }
        if let Some(c) = case.get("contains") {
            assert!(
                v["error"].to_string().contains(c.as_str().unwrap()),
                "{name}: {v}"
            );
        }
        if let Some(a) = case.get("absent") {
            assert!(
                !all_output.contains(a.as_str().unwrap()),
                "{name}: value echoed: {all_output}"
            );
        }
    }
}

#[test]
fn example_from_the_issue() {
    let (code, v, _) = validate(r#"{"operation":"delete_bucket","input":{}}"#);
    assert_eq!(code, 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("Bucket"));
}

#[test]
fn schema_and_manifest_commands() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, text) = run(&["manifest"]);
    assert_eq!(code, 0);
    let m: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        m["operations"].as_array().unwrap().len(),
        s3_connector::manifest::Manifest::embedded()
            .operations
            .len()
    );
    let (code, text) = run(&["schema", "put_object"]);
    assert_eq!(code, 0);
    let s: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["$id"], "urn:s3-connector:schema:put_object:input");
    let committed: Value =
        serde_json::from_str(include_str!("../schemas/put_object.input.json")).unwrap();
    assert_eq!(s, committed);
    let (_, text) = run(&["schema", "get_object", "--output"]);
    let s: Value = serde_json::from_str(&text).unwrap();
    assert!(s["properties"]["ContentLength"].is_object());
    assert!(
        !text.contains("x-s3"),
        "wire annotations stay in the manifest"
    );
    let (_, text) = run(&["schema", "--connection"]);
    let s: Value = serde_json::from_str(&text).unwrap();
    assert!(s["properties"]["addressing"].is_object());
    let (code, _) = run(&["schema", "nope"]);
    assert_eq!(code, 2);
    for sub in ["manifest", "schema", "validate"] {
        let (code, text) = run(&[sub, "--help"]);
        assert_eq!(code, 0);
        assert!(text.contains("Usage"), "{sub}");
    }
}
