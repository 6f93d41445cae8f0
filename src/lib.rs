//! s3-connector: the AWS S3 action step for workflow engines.
//!
//! Data flow, one module a stage:
//! request JSON → [`validate`] (schemas) → [`prepare`] (body, integrity headers, build; pure) →
//! sign (pure, time passed in) → send → parse → result JSON. The [`manifest`] says, for every
//! operation, where each parameter goes.

// `Error` is the response envelope's error: built once per request on the cold path, so its
// size in `Result` does not matter more than keeping it one plain, serialisable struct.
#![allow(clippy::result_large_err)]

// Modules are public where the generator (`gen/`), the integration tests or the benches use
// them; everything else is private, and items are `pub(crate)` unless used from outside.
pub use cli::main;

/// The host contract's version as a literal, for [`PROTOCOL_VERSION`] and the version line.
macro_rules! protocol_version {
    () => {
        "1.1"
    };
}

/// This connector's version (`s3-connector --version`, the manifest's `connector_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The host contract's version (`docs/protocol.md`, "Versions"): the minor number grows with
/// what is added, the major one only if something a host relies on changes.
pub const PROTOCOL_VERSION: &str = protocol_version!();
/// What `s3-connector --version` prints after the name: both versions.
const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (protocol ",
    protocol_version!(),
    ")"
);

pub mod body;
mod cancel;
mod check;
pub mod checksum;
mod classify;
mod cli;
mod connect;
pub mod connection;
mod copy_file;
mod cred_cache;
pub mod credentials;
mod delete_prefix;
mod direct;
pub mod endpoint;
pub mod error;
mod execute;
mod exists;
mod internal;
pub mod manifest;
mod mcp;
mod mcp_log;
mod multipart;
pub mod output;
mod paginate;
pub mod prepare;
pub mod presign;
mod profile;
mod progress;
mod protocol;
mod providers;
pub mod quirks;
mod raw_http;
pub mod request;
pub mod response;
mod retry;
pub mod schemas;
mod serve;
mod sign_key;
mod signals;
pub mod signing;
mod sink;
mod sso;
mod strict_json;
mod sts;
pub mod timefmt;
mod transfer;
mod transport;
pub mod validate;
pub mod xml;
pub mod xml_stream;
pub mod xml_text;
mod xml_write;
