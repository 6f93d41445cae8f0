//! Generated files must be exactly what the generator writes today.

use std::path::{Path, PathBuf};
use std::process::Command;

use s3_connector::schemas::GENERATED_NOTE;

/// The repository root: this package sits one level below it.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn copy_inputs(to: &Path) {
    for f in [
        "connector/aws-s3-v2.md",
        "connector/overlay.json",
        "tests/ops/scenarios.json",
    ] {
        std::fs::create_dir_all(to.join(f).parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(f), to.join(f)).unwrap();
    }
}

/// Every file under `dir` (the UI schemas are one level down), relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_files_match_a_fresh_generation_in_a_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    copy_inputs(tmp.path());
    let status = Command::new(env!("CARGO_BIN_EXE_gen"))
        .args(["--root"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    let fresh_schemas = files_under(&tmp.path().join("schemas"));
    let committed_schemas = files_under(&Path::new(ROOT).join("schemas"));
    assert_eq!(
        fresh_schemas, committed_schemas,
        "schemas/ holds files the generator does not write, or misses some"
    );
    let mut compared = 0;
    for rel in [
        "connector/manifest.json",
        "connector/operation_index.rs",
        "docs/operations.md",
    ]
    .into_iter()
    .map(String::from)
    .chain(
        fresh_schemas
            .iter()
            .map(|p| format!("schemas/{}", p.display())),
    ) {
        let fresh = std::fs::read_to_string(tmp.path().join(&rel)).unwrap();
        let committed = std::fs::read_to_string(Path::new(ROOT).join(&rel)).unwrap_or_default();
        assert!(
            fresh == committed,
            "{rel} drifted from the generator: run `cargo run -p s3-connector-gen`"
        );
        compared += 1;
    }
    // The manifest, its index, the operations reference, and every schema (two per operation and
    // the connection's, and a UI schema of each for rjsf and JSON Forms).
    assert_eq!(compared, fresh_schemas.len() + 3);
    assert!(
        fresh_schemas.len() > 4 * 108,
        "{} schemas",
        fresh_schemas.len()
    );
}

#[test]
fn a_hand_edit_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    copy_inputs(tmp.path());
    let gen = |check: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gen"));
        c.arg("--root").arg(tmp.path());
        if check {
            c.arg("--check");
        }
        c.output().unwrap()
    };
    assert!(gen(false).status.success());
    assert!(gen(true).status.success(), "fresh output must pass --check");
    let target = tmp.path().join("schemas/put_object.input.json");
    let edited = std::fs::read_to_string(&target)
        .unwrap()
        .replacen("\"Bucket\"", "\"Bucket2\"", 1);
    std::fs::write(&target, edited).unwrap();
    let out = gen(true);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("schemas/put_object.input.json"));
}

#[test]
fn generated_files_say_they_are_generated() {
    for rel in [
        "connector/manifest.json",
        "schemas/put_object.input.json",
        "schemas/connection.json",
        "docs/operations.md",
    ] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap();
        assert!(text.contains(GENERATED_NOTE), "{rel}");
    }
}
