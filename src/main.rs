//! `s3-connector`: thin entry point. Commands live in `cli.rs`; the contract is `docs/protocol.md`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(s3_connector::main())
}
