//! Forms: every `schemas/*.input.json` and `schemas/connection.json` drawn in rjsf 6 and JSON
//! Forms 3 (Material renderers) in headless Chromium with the generated UI schemas; what a
//! person sees on `put_object` and the connection form (order, groups, errors at the field,
//! masked secrets); and six forms filled in through the UI (put, get, copy, upload, `delete_prefix`,
//! `presign_get_object`) whose submitted input is then run through `s3-connector` against
//! `SeaweedFS` on 127.0.0.1.
//!
//! The work is done by `node --test forms/test/` (see `forms/test/forms.test.mjs`); this driver
//! starts the server, hands node the binary and the connection, streams node's output and
//! asserts it passed. Node, `forms/node_modules` and `/usr/bin/chromium` come from
//! `scripts/install-forms`; without them this test fails (it never skips).

mod common;

use std::path::Path;
use std::process::Command;

use common::{server, ROOT};

const CHROMIUM: &str = "/usr/bin/chromium";

fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => missing.push(format!("node (`node --version` exited {})", out.status)),
        Err(e) => missing.push(format!("node ({e})")),
    }
    let modules = Path::new(ROOT).join("forms/node_modules");
    for dep in [
        "@rjsf/core",
        "@jsonforms/react",
        "@jsonforms/material-renderers",
        "@mui/material",
        "playwright-core",
        "esbuild",
    ] {
        if !modules.join(dep).join("package.json").exists() {
            missing.push(format!("{}", modules.join(dep).display()));
        }
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_string());
    }
    missing
}

#[test]
fn forms_draw_and_submit_in_rjsf_and_json_forms() {
    let missing = missing_tools();
    assert!(
        missing.is_empty(),
        "the forms test needs node, forms/node_modules and {CHROMIUM}; missing: {}.\n\
         Run scripts/install-tools (it runs scripts/install-forms) first.",
        missing.join(", ")
    );

    let s = server("seaweedfs");
    let status = Command::new("node")
        .args(["--test", "--test-reporter=spec", "forms/test/"])
        .current_dir(ROOT)
        .env("S3_CONNECTOR_BIN", env!("CARGO_BIN_EXE_s3-connector"))
        .env("S3_CONNECTOR_TEST_CONNECTION", s.connection().to_string())
        // node's output goes straight to ours (inherited), so it streams as it runs.
        .status()
        .expect("run `node --test forms/test/`");
    assert!(
        status.success(),
        "`node --test forms/test/` failed ({status}); its output is above, the per-schema \
         results are in target/forms/report.json"
    );
}
