//! The loopback emulator of the AWS credential endpoints (`tests/creds/endpoints.py`: `IMDSv2`,
//! the ECS / EKS Pod Identity container endpoint, the IAM Identity Center portal), run by the
//! tools' Python for the life of an [`Endpoints`].
//!
//! Use from a test file with `#[path = "common/creds.rs"] mod creds;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The emulator of the credential endpoints, running until dropped.
pub(crate) struct Endpoints {
    port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Endpoints {
    pub(crate) fn start(config: &Value) -> Endpoints {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, config.to_string()).unwrap();
        let log = dir.path().join("log.jsonl");
        let mut child = Command::new(Path::new(ROOT).join(".tools/venv/bin/python"))
            .arg(Path::new(ROOT).join("tests/creds/endpoints.py"))
            .arg("--config")
            .arg(&cfg)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the endpoints emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = serde_json::from_str::<Value>(&line).expect("the emulator's port")["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("a port number");
        Endpoints {
            port,
            log,
            stdin: child.stdin.take(),
            child,
            dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The endpoints asked, in order.
    pub(crate) fn asked(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r["endpoint"].as_str().unwrap().to_string())
            .collect()
    }

    /// The access key of the `n`th credentials of the configuration.
    pub(crate) fn vended_key(&self, n: usize) -> String {
        let cfg: Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("config.json")).unwrap(),
        )
        .unwrap();
        cfg["credentials"][n]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// How many credentials were handed out.
    pub(crate) fn handed(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| !r["handed"].is_null())
            .count()
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
