//! s3-connector: the AWS S3 action step for workflow engines.
//!
//! Data flow, one module a stage:
//! request JSON → [`validate`] (schemas) → build (pure) → sign (pure, time passed in) → send →
//! parse → result JSON. The [`manifest`] says, for every operation, where each parameter goes.

// `Error` is the response envelope's error: built once per request on the cold path, so its
// size in `Result` does not matter more than keeping it one plain, serialisable struct.
#![allow(clippy::result_large_err)]

pub mod body;
mod classify;
pub mod cli;
mod connect;
pub mod connection;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod execute;
mod internal;
pub mod manifest;
pub mod multipart;
pub mod paginate;
pub mod prepare;
pub mod progress;
pub mod protocol;
pub mod quirks;
pub mod request;
pub mod response;
pub mod retry;
pub mod schemas;
pub mod serve;
pub mod signing;
pub mod strict_json;
pub mod timefmt;
pub mod transfer;
pub mod transport;
pub mod validate;
pub mod xml;
pub mod xml_stream;
