//! s3-connector: the AWS S3 action step for workflow engines.
//!
//! Data flow, one module a stage:
//! request JSON → [`validate`] (schemas) → build (pure) → sign (pure, time passed in) → send →
//! parse → result JSON. The [`manifest`] says, for every operation, where each parameter goes.

pub mod cli;
pub mod connection;
pub mod error;
pub mod generate;
pub mod manifest;
pub mod protocol;
pub mod validate;
