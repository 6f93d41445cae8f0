//! `validate` refuses what the input schema refuses, and the reverse, as the validator hosts draw
//! forms with judges it: Ajv (2020-12, ajv-formats, ajv-errors; `forms/ajv-judge.mjs`). For every
//! operation: a valid minimal input, each of its rules broken and kept, and each top-level field
//! given values of the wrong shape. Both must agree on every case, and where a rule is broken the
//! field the connector names must be one the form marks.
//!
//! The few checks no schema can say (a file that must exist, a body's real length, key bytes) are
//! out of these cases: no file body or output file is mutated, and `Content-Length` is left alone.

#![allow(clippy::too_many_lines)]

mod common;
#[path = "common/examples.rs"]
mod examples;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use s3_connector::manifest::{Encoding, Location, Manifest, Operation, Rule};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Case {
    op: &'static Operation,
    what: String,
    input: Map<String, Value>,
    /// A rule broken on purpose: both must refuse.
    broken: bool,
}

fn judge(cases: &[Case]) -> Vec<Value> {
    let node_modules = format!("{ROOT}/forms/node_modules/ajv-errors");
    assert!(
        std::path::Path::new(&node_modules).exists(),
        "forms/node_modules is missing: run scripts/install-tools"
    );
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({"schema": format!("{}.input", c.op.name), "data": c.input}))
        .collect();
    let mut child = Command::new("node")
        .arg(format!("{ROOT}/forms/ajv-judge.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/install-tools installs what the forms need)");
    let text = serde_json::to_vec(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&text));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "ajv-judge failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The connector's verdict: `Ok`, or the fields its details name (`/input/...`).
fn connector(op: &Operation, input: &Map<String, Value>) -> Result<(), BTreeSet<String>> {
    let env = json!({
        "operation": op.name,
        "input": input,
        "connection": {"region": "us-east-1", "endpoint": "http://127.0.0.1:9",
                       "access_key_id": "AKIDPARITY", "secret_access_key": "parity-secret"},
    });
    match s3_connector::validate::validate_envelope(env) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.details.iter().map(|d| d.pointer.clone()).collect()),
    }
}

/// The fields an Ajv verdict marks, as a form marks them: an error's instance path, a missing
/// property under its object.
fn marked(verdict: &Value) -> BTreeSet<String> {
    verdict["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let path = e["instancePath"].as_str().unwrap_or_default();
            match e["params"]["missingProperty"].as_str() {
                Some(p) => format!("/input{path}/{}", p.replace('~', "~0").replace('/', "~1")),
                None => format!("/input{path}"),
            }
        })
        .collect()
}

/// A value of the parameter's own kind, for a rule's case: the full example's, else a body
/// source's or a file's.
fn donor(op: &Operation, full: &Map<String, Value>, name: &str, file: &str) -> Value {
    if let Some(v) = full.get(name) {
        return v.clone();
    }
    let p = op.parameter(name);
    match p.and_then(|p| p.encoding) {
        Some(Encoding::Base64) => json!("aGVsbG8="),
        Some(Encoding::File) => json!(file),
        // The connector's own parameters (`delete_prefix`'s `Prefix`): from their schema.
        _ => p
            .filter(|p| p.location == Location::Local)
            .and_then(|p| examples::value_for(&p.schema, true, "header", 0).ok())
            .unwrap_or_else(|| panic!("{}: no example for `{name}`", op.name)),
    }
}

/// Values of the wrong shape for a schema's type.
fn wrong_values(schema: &Value) -> Vec<Value> {
    match schema["type"].as_str() {
        Some("string") => vec![
            json!(""),
            json!("\n"),
            json!("x\u{0}y"),
            json!(7),
            json!("NOT-A-VALUE"),
        ],
        Some("integer") => vec![json!(-1), json!(1.5), json!("7"), json!(1e12)],
        Some("boolean") => vec![json!("yes"), json!(1)],
        Some("array") => vec![json!("x"), json!([7])],
        Some("object") => vec![json!("x"), json!({"Bad Name": 7})],
        _ => vec![json!(null)],
    }
}

fn cases(file: &str, out_file: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for op in &Manifest::embedded().operations {
        let full = examples::example(op, true, true).unwrap();
        let mut base = examples::example(op, false, true).unwrap();
        examples::with_required_body(op, &mut base);
        for p in op.parameters.iter().filter(|p| p.required) {
            if !base.contains_key(&p.name) {
                let v = if p.name == "OutputFile" {
                    json!(out_file)
                } else {
                    donor(op, &full, &p.name, file)
                };
                base.insert(p.name.clone(), v);
            }
        }
        let case = |what: String, input: Map<String, Value>, broken: bool| Case {
            op,
            what,
            input,
            broken,
        };
        out.push(case("minimal".into(), base.clone(), false));
        for rule in &op.rules {
            match rule {
                Rule::AtMostOneOf(names) | Rule::OneOf(names) => {
                    let mut input = base.clone();
                    for n in &names[..2] {
                        input.insert(n.clone(), donor(op, &full, n, file));
                    }
                    out.push(case(format!("{} and {}", names[0], names[1]), input, true));
                }
                Rule::Requires(r) => {
                    let mut input = base.clone();
                    for n in r.needs.keys() {
                        input.remove(n);
                    }
                    input.insert(r.given.clone(), donor(op, &full, &r.given, file));
                    out.push(case(format!("{} alone", r.given), input.clone(), true));
                    for (n, values) in &r.needs {
                        if values.is_empty() {
                            continue;
                        }
                        // A value the rule does not list, when the field has another.
                        let other = op
                            .parameter(n)
                            .and_then(|p| p.schema["enum"].as_array())
                            .and_then(|e| e.iter().find(|v| !values.contains(v)).cloned());
                        if let Some(other) = other {
                            let mut wrong = input.clone();
                            wrong.insert(n.clone(), other);
                            out.push(case(format!("{} with {n} unlisted", r.given), wrong, true));
                        }
                    }
                    // Kept: what it needs, and what that needs in turn.
                    let mut kept = input;
                    for _ in 0..4 {
                        for rule in &op.rules {
                            if let Rule::Requires(r) = rule {
                                if kept.contains_key(&r.given) {
                                    for (n, values) in &r.needs {
                                        let v = values
                                            .first()
                                            .cloned()
                                            .unwrap_or_else(|| donor(op, &full, n, file));
                                        kept.insert(n.clone(), v);
                                    }
                                }
                            }
                        }
                    }
                    out.push(case(format!("{} kept", r.given), kept, false));
                }
            }
        }
        for p in &op.parameters {
            let machine_checked = matches!(p.encoding, Some(Encoding::File))
                || p.name == "OutputFile"
                || p.name == "Content-Length";
            if machine_checked {
                continue;
            }
            for (i, v) in wrong_values(&p.schema).into_iter().enumerate() {
                let mut input = base.clone();
                input.insert(p.name.clone(), v);
                out.push(case(format!("{} wrong #{i}", p.name), input, false));
            }
        }
    }
    out
}

#[test]
fn validate_and_the_schema_agree_on_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.txt");
    std::fs::write(&file, "parity body").unwrap();
    let out_file = dir.path().join("out.bin");
    let cases = cases(file.to_str().unwrap(), out_file.to_str().unwrap());
    let verdicts = judge(&cases);
    assert_eq!(verdicts.len(), cases.len());
    let mut disagreements = Vec::new();
    let (mut refused, mut accepted, mut rules_broken) = (0, 0, 0);
    for (c, v) in cases.iter().zip(&verdicts) {
        let ajv_ok = v["valid"] == json!(true);
        let ours = connector(c.op, &c.input);
        if ajv_ok != ours.is_ok() {
            disagreements.push(format!(
                "{} [{}]: Ajv {}, validate {:?}; Ajv errors {}",
                c.op.name,
                c.what,
                if ajv_ok { "accepts" } else { "refuses" },
                ours,
                v["errors"]
            ));
            continue;
        }
        if ajv_ok {
            accepted += 1;
        } else {
            refused += 1;
        }
        if c.broken {
            rules_broken += 1;
            assert!(
                !ajv_ok,
                "{} [{}]: a broken rule is accepted",
                c.op.name, c.what
            );
            let ours = ours.unwrap_err();
            let form = marked(v);
            assert!(
                ours.is_subset(&form),
                "{} [{}]: validate names {ours:?}, the form marks {form:?}",
                c.op.name,
                c.what
            );
        }
        if c.what == "minimal" {
            assert!(
                ajv_ok,
                "{}: the minimal example is refused: {}",
                c.op.name, v["errors"]
            );
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    eprintln!("{} cases: {accepted} accepted and {refused} refused by both; {rules_broken} broken rules marked on the field", cases.len());
    assert!(
        rules_broken > 80 && refused > 1000,
        "{rules_broken} {refused}"
    );
}
