//! `cargo run -p s3-connector-gen [-- --check] [--root DIR]`: regenerate connector/manifest.json,
//! schemas/ and docs/operations.md from connector/aws-s3-v2.md + connector/overlay.json. `DIR`
//! defaults to the repository root.

use std::path::PathBuf;
use std::process::ExitCode;

/// This package sits one level below the repository root.
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut root = PathBuf::from(REPO_ROOT);
    let mut check = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--root" => root = PathBuf::from(args.next().unwrap_or_default()),
            _ => {
                eprintln!("usage: gen [--check] [--root DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let files = match s3_connector_gen::generate_from(&root, &s3_connector_gen::default_python()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stale = 0;
    for (path, text) in &files {
        let target = root.join(path);
        if std::fs::read_to_string(&target).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        stale += 1;
        if check {
            eprintln!("gen: {path} differs from the generator's output");
        } else {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).expect("create dir");
            }
            std::fs::write(&target, text).expect("write");
            eprintln!("gen: wrote {path}");
        }
    }
    if check && stale > 0 {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "gen: {} files, {} {}",
        files.len(),
        stale,
        if check { "stale" } else { "updated" }
    );
    ExitCode::SUCCESS
}
