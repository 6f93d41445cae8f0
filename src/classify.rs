//! One table of what a failure means: what happened (`Failure`) gives the stable `kind` hosts
//! see, whether a retry may help, whether a non-idempotent request may be repeated after it, and
//! whether S3 may have applied the request even so. S3's error codes and statuses are classified
//! here too. Retries (`retry.rs`), cleanup after lost replies (`execute.rs`, `multipart.rs`) and
//! the error envelope (`response.rs`) all read these tables, never message text.

use crate::error::ErrorKind;

/// What happened, by stage. Not serialised: hosts see `kind`, `code` and `retryable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Refused before anything was sent: the input is wrong.
    Invalid,
    /// No connection could be made (refused, DNS, TLS handshake, connect timeout): nothing sent.
    Connect,
    /// The connection failed once the request was (partly) sent, or the reply was cut short.
    Lost,
    /// Sent, then no byte for the idle timeout.
    Stalled,
    /// The operation's overall deadline (`timeout_seconds`) passed.
    Deadline,
    /// A reply came but cannot be read as S3's (malformed XML, an unusable `Content-Range`).
    Unreadable,
    /// A readable reply without what the operation needs (a truncated listing with no marker to
    /// go on from, no `UploadId`, a reply over the size limit): asking again will not help.
    Unexpected,
    /// The bytes arrived altered: the `ETag` of an upload is not the MD5 of what was sent.
    Corrupt,
    /// S3 answered with an error status or an `<Error>` document.
    Service,
    /// Credentials could not be had: `reachable` false when their source could not be reached
    /// (or answered 5xx), so that asking again later may help.
    Credentials { reachable: bool },
    /// A local file could not be read or written.
    Io,
    /// The host cancelled the operation, or the process is stopping (`shutdown`: another
    /// process may run it again).
    Cancelled { shutdown: bool },
    /// A bug in the connector.
    Internal,
}

/// What a failure means for hosts, retries and cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meaning {
    pub(crate) kind: ErrorKind,
    /// Another attempt may succeed (for `Service`, S3's code decides: [`retryable_reply`]).
    pub(crate) retryable: bool,
    /// Retried even when the request is not idempotent: S3 cannot have acted on it.
    pub(crate) retry_unsafe: bool,
    /// S3 may have applied the request although the attempt failed (the reply was lost).
    pub(crate) maybe_applied: bool,
}

const fn m(kind: ErrorKind, retryable: bool, retry_unsafe: bool, maybe_applied: bool) -> Meaning {
    Meaning {
        kind,
        retryable,
        retry_unsafe,
        maybe_applied,
    }
}

impl Failure {
    /// The table. Modelled on `object_store`'s retry policy and the AWS SDKs' standard mode:
    /// connection failures are always retried (nothing was sent); failures after sending only
    /// when a repeat is harmless; S3's own transient errors always (S3 did not act on them).
    pub(crate) const fn meaning(self) -> Meaning {
        use ErrorKind as K;
        match self {
            Failure::Invalid => m(K::InvalidRequest, false, false, false),
            Failure::Connect => m(K::Network, true, true, false),
            Failure::Lost => m(K::Network, true, false, true),
            Failure::Stalled => m(K::Timeout, true, false, true),
            Failure::Deadline => m(K::Timeout, true, false, true),
            Failure::Unreadable => m(K::Service, true, false, true),
            Failure::Unexpected => m(K::Service, false, false, false),
            Failure::Corrupt => m(K::Network, true, false, true),
            Failure::Service => m(K::Service, false, true, false),
            // Nothing reached S3: safe to retry when the credential source was only unreachable.
            Failure::Credentials { reachable } => m(K::Credentials, !reachable, !reachable, false),
            Failure::Io => m(K::Io, false, false, false),
            // Cut off in flight: a request may have been applied.
            Failure::Cancelled { shutdown } => m(K::Cancelled, shutdown, false, true),
            Failure::Internal => m(K::Internal, false, false, false),
        }
    }
}

/// S3 error codes worth retrying (AWS SDK standard retry mode: transient and throttling errors).
const RETRYABLE_CODES: &[&str] = &[
    "InternalError",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
];

/// S3's codes for temporary credentials that stopped working before their stated expiry (a
/// clock ahead of the source's, revoked sessions): fetched again, then the request retried.
pub(crate) fn credentials_expired(code: &str) -> bool {
    matches!(code, "ExpiredToken" | "TokenRefreshRequired")
}

/// Whether S3's error reply is transient: by its code, or by a status that means "try again".
pub(crate) fn retryable_reply(status: u16, code: &str) -> bool {
    RETRYABLE_CODES.contains(&code) || matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Codes after which S3 names the bucket's region, so the request is sent again there
/// (`x-amz-bucket-region` or the error's `<Region>`; `API_Error`, "Redirects").
pub(crate) fn is_redirect(status: u16, code: &str) -> bool {
    matches!(
        code,
        "PermanentRedirect"
            | "TemporaryRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException"
    ) || matches!(status, 301 | 307)
}

/// The code S3 uses when a body reached it altered (a `Content-MD5` mismatch); the connector
/// uses it too when an upload's `ETag` is not the MD5 of the bytes sent.
pub(crate) const BAD_DIGEST: &str = "BadDigest";

/// S3 refusing a body that reached it altered: its `Content-MD5` or checksum did not match
/// (`BadDigest`; `SeaweedFS` says `InvalidDigest`), or its signed SHA-256 did not
/// (`XAmzContentSHA256Mismatch`). Nothing was stored.
pub(crate) fn body_refused_as_altered(code: &str) -> bool {
    matches!(
        code,
        BAD_DIGEST | "InvalidDigest" | "XAmzContentSHA256Mismatch"
    )
}

/// The code used when the reply has no XML error body (HEAD replies, 304, proxies).
pub(crate) fn code_for_status(status: u16) -> &'static str {
    match status {
        301 => "PermanentRedirect",
        304 => "NotModified",
        307 => "TemporaryRedirect",
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        429 => "TooManyRequests",
        500 => "InternalError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "HttpError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_sent_is_safe_to_repeat_and_lost_replies_may_have_applied() {
        let connect = Failure::Connect.meaning();
        assert!(connect.retryable && connect.retry_unsafe && !connect.maybe_applied);
        for f in [
            Failure::Lost,
            Failure::Stalled,
            Failure::Unreadable,
            Failure::Corrupt,
        ] {
            let m = f.meaning();
            assert!(m.retryable && !m.retry_unsafe && m.maybe_applied, "{f:?}");
        }
        assert_eq!(Failure::Stalled.meaning().kind, ErrorKind::Timeout);
        assert!(!Failure::Invalid.meaning().retryable);
        assert!(!Failure::Service.meaning().maybe_applied);
    }

    #[test]
    fn s3_codes_and_statuses() {
        assert!(retryable_reply(503, "SlowDown"));
        assert!(retryable_reply(400, "RequestTimeout"));
        assert!(retryable_reply(502, "HttpError"));
        assert!(!retryable_reply(404, "NoSuchKey"));
        assert!(is_redirect(400, "AuthorizationHeaderMalformed"));
        assert!(is_redirect(301, "HttpError"));
        assert!(!is_redirect(404, "NoSuchKey"));
        assert_eq!(code_for_status(412), "PreconditionFailed");
        assert_eq!(code_for_status(307), "TemporaryRedirect");
        assert_eq!(code_for_status(599), "HttpError");
    }
}
