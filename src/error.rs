//! Errors by stage, as hosts see them in the response envelope.
//!
//! `kind` is stable and tells hosts what to do; `code` is S3's own error code when S3 gave one.
//! What happened (`Failure`, see `classify.rs`) decides `kind`, `retryable` and the retry
//! policy; the cause below (a transport or file error) is kept as a chain, not formatted early.
//! Messages never contain secrets: values are described, not echoed, wherever they could be one.

use std::sync::Arc;

use serde::{Serialize, Serializer};

pub(crate) use crate::classify::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was refused before anything was sent: fix the input (exit code 2).
    InvalidRequest,
    /// S3 answered with an error.
    Service,
    /// The connection failed (refused, reset, DNS, TLS).
    Network,
    /// No reply within the idle (read) timeout, or the overall deadline passed. (A connect
    /// timeout is a `network` error: nothing was sent.)
    Timeout,
    /// No usable credentials: none configured anywhere, a credential source that cannot be
    /// reached, a role or token refused, an expired SSO session (`code` says which).
    Credentials,
    /// A local file could not be read or written after the request started.
    Io,
    /// The host cancelled the request, or the process was told to stop before it ended; what
    /// it started was cleaned up (its multipart upload aborted, its temporary file removed).
    Cancelled,
    /// A bug in the connector.
    Internal,
}

/// One violation of the request, located by a JSON pointer into the request envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub pointer: String,
    pub message: String,
}

/// The error below an `Error`: kept whole, so that its own causes can be walked.
pub(crate) type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// The error envelope (`docs/protocol.md`); serialised with the cause chain in `message`.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// What failed, in the connector's words; the envelope's `message` adds the cause chain.
    pub message: String,
    pub details: Vec<Detail>,
    /// S3's error code (`NoSuchKey`), or a status-derived one when the reply had no body.
    pub code: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) request_id: Option<String>,
    pub(crate) retryable: bool,
    pub(crate) attempts: Option<u32>,
    /// What happened: decides the retry policy and whether S3 may have applied the request.
    pub(crate) failure: Failure,
    /// The error below this one (transport, TLS, file system), when there is one.
    pub(crate) cause: Option<Cause>,
    /// The region S3 named in a redirect (`x-amz-bucket-region` or the error's `<Region>`).
    pub(crate) redirect_region: Option<String>,
}

/// The envelope's fields, in the contract's order.
#[derive(Serialize)]
struct Envelope<'a> {
    kind: ErrorKind,
    message: String,
    #[serde(skip_serializing_if = "<[Detail]>::is_empty")]
    details: &'a [Detail],
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Envelope {
            kind: self.kind,
            message: self.full_message(),
            details: &self.details,
            code: self.code.as_deref(),
            status: self.status,
            request_id: self.request_id.as_deref(),
            retryable: self.retryable,
            attempts: self.attempts,
        }
        .serialize(s)
    }
}

impl Error {
    /// An error of what happened, with that failure's kind and retryability (`classify.rs`).
    pub(crate) fn of(failure: Failure, message: impl Into<String>) -> Self {
        let meaning = failure.meaning();
        Error {
            kind: meaning.kind,
            message: message.into(),
            details: Vec::new(),
            code: None,
            status: None,
            request_id: None,
            retryable: meaning.retryable,
            attempts: None,
            failure,
            cause: None,
            redirect_region: None,
        }
    }

    /// Keeps `cause` below this error.
    pub(crate) fn caused_by(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// The message followed by each cause's (`cannot connect: …: Connection refused`), with
    /// repeats of the same text left out.
    pub(crate) fn full_message(&self) -> String {
        let mut out = self.message.clone();
        let mut next: Option<&(dyn std::error::Error + 'static)> =
            self.cause.as_deref().map(|c| c as _);
        while let Some(e) = next {
            let text = e.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }

    pub(crate) fn invalid(details: Vec<Detail>) -> Self {
        let message = match details.as_slice() {
            [one] if one.pointer.is_empty() => format!("invalid request: {}", one.message),
            [one] => format!("invalid request: {} {}", one.pointer, one.message),
            many => format!("invalid request: {} problems, see details", many.len()),
        };
        Error {
            details,
            ..Error::of(Failure::Invalid, message)
        }
    }

    pub(crate) fn invalid_at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::invalid(vec![Detail {
            pointer: pointer.into(),
            message: message.into(),
        }])
    }

    /// Whether S3 may have applied the request although this attempt failed.
    pub(crate) fn maybe_applied(&self) -> bool {
        self.failure.meaning().maybe_applied
    }

    /// Process exit code: 2 when nothing was sent because the request was invalid, else 1.
    pub(crate) fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::InvalidRequest => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|c| c as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_message_carries_the_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::of(Failure::Connect, "cannot connect to 127.0.0.1:9").caused_by(io);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["message"], "cannot connect to 127.0.0.1:9: refused");
        assert_eq!(v["kind"], "network");
        assert_eq!(v["retryable"], true);
        assert!(v.get("details").is_none() && v.get("code").is_none());
        assert!(std::error::Error::source(&e).is_some());
    }
}
