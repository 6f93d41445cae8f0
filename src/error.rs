//! Errors by stage, as hosts see them in the response envelope.
//!
//! `kind` is stable and tells hosts what to do; `code` is S3's own error code when S3 gave one.
//! Messages never contain secrets: values are described, not echoed, wherever they could be one.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was refused before anything was sent: fix the input (exit code 2).
    InvalidRequest,
    /// S3 answered with an error.
    Service,
    /// The connection failed (refused, reset, DNS, TLS).
    Network,
    /// A connect, idle or overall deadline passed.
    Timeout,
    /// A local file could not be read or written after the request started.
    Io,
    /// A bug in the connector.
    Internal,
}

/// One violation of the request, located by a JSON pointer into the request envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    /// S3's error code (`NoSuchKey`), or a status-derived one when the reply had no body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The region S3 named in a redirect (`x-amz-bucket-region` or the error's `<Region>`).
    #[serde(skip)]
    pub redirect_region: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            details: Vec::new(),
            code: None,
            status: None,
            request_id: None,
            retryable: false,
            attempts: None,
            redirect_region: None,
        }
    }

    pub fn invalid(details: Vec<Detail>) -> Self {
        let message = match details.as_slice() {
            [one] if one.pointer.is_empty() => format!("invalid request: {}", one.message),
            [one] => format!("invalid request: {} {}", one.pointer, one.message),
            many => format!("invalid request: {} problems, see details", many.len()),
        };
        Error {
            details,
            ..Error::new(ErrorKind::InvalidRequest, message)
        }
    }

    pub fn invalid_at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::invalid(vec![Detail {
            pointer: pointer.into(),
            message: message.into(),
        }])
    }

    pub fn retryable(mut self, yes: bool) -> Self {
        self.retryable = yes;
        self
    }

    /// Process exit code: 2 when nothing was sent because the request was invalid, else 1.
    pub fn exit_code(&self) -> u8 {
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

impl std::error::Error for Error {}
