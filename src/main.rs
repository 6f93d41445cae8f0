//! `s3-connector`: thin entry point. Commands live in `cli.rs`; the contract is `docs/protocol.md`.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request's parsing, validation and signing, and a
/// listing's mapping, make many small short-lived allocations, which it serves in about half
/// the time of glibc's (docs/benchmarks.md, per-request and listing figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(s3_connector::main())
}
