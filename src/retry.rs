//! Retry policy: which failures are retried, and how long to wait between attempts.
//!
//! Modelled on the AWS SDKs' standard mode and `object_store`: bounded attempts (default 3),
//! exponential backoff with full jitter, capped. What is retried comes from what happened
//! (`classify.rs`): connection failures always; 429/500/502/503/504 and S3's `SlowDown`,
//! `InternalError`, `RequestTimeout`; a failure after the request may have been processed
//! (stall, reset while waiting, an unreadable or corrupt reply) only for idempotent requests.
//! `POST` (`create_multipart_upload`, `complete_multipart_upload`) is not idempotent unless the
//! caller has made a repeat harmless (`multipart`: a duplicate upload is aborted, a repeated
//! completion is verified).

use std::time::Duration;

use crate::error::Error;

pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const BASE_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) max_attempts: u32,
}

impl Policy {
    /// Whether `err` after attempt number `attempt` (1-based) is retried. `idempotent`: a repeat
    /// of the request cannot do harm (every method but `POST`, unless the caller says so).
    pub(crate) fn should_retry(self, err: &Error, idempotent: bool, attempt: u32) -> bool {
        attempt < self.max_attempts
            && err.retryable
            && (idempotent || err.failure.meaning().retry_unsafe)
    }

    /// Full-jitter exponential backoff before attempt `attempt + 1`: uniform in
    /// `0..=min(MAX_DELAY, BASE_DELAY * 2^(attempt-1))`. `unit` is a random number in [0, 1).
    pub(crate) fn delay(attempt: u32, unit: f64) -> Duration {
        let cap = BASE_DELAY
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16))
            .min(MAX_DELAY);
        cap.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A random number in [0, 1) for jitter (xorshift seeded from the clock and a counter; not
/// cryptographic, only to spread retries).
pub(crate) fn jitter_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| (d.as_secs() << 30) ^ u64::from(d.subsec_nanos()));
    let mut x = seed ^ STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;

    fn service(retryable: bool) -> Error {
        Error {
            retryable,
            ..Error::of(Failure::Service, "S3 said so")
        }
    }

    #[test]
    fn what_is_retried() {
        let p = Policy { max_attempts: 3 };
        assert!(p.should_retry(&service(true), true, 1));
        assert!(p.should_retry(&service(true), false, 2), "S3 did not act");
        assert!(!p.should_retry(&service(true), true, 3), "bounded");
        assert!(!p.should_retry(&service(false), true, 1));
        let stalled = Error::of(Failure::Stalled, "no reply");
        assert!(p.should_retry(&stalled, true, 1));
        assert!(
            !p.should_retry(&stalled, false, 1),
            "POST may have been applied"
        );
        // By what happened, whatever the message says.
        let refused = Error::of(Failure::Connect, "connection failed");
        assert!(p.should_retry(&refused, false, 1), "nothing was sent");
        let lost = Error::of(Failure::Lost, "cannot connect");
        assert!(!p.should_retry(&lost, false, 1), "sent, then lost");
        assert!(p.should_retry(&lost, true, 1));
        assert!(!p.should_retry(&Error::invalid_at("/input/Key", "bad"), true, 1));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(Policy::delay(1, 0.999_999).as_millis(), 99);
        assert_eq!(Policy::delay(3, 0.999_999).as_millis(), 399);
        assert_eq!(Policy::delay(30, 0.999_999), MAX_DELAY.mul_f64(0.999_999));
        assert_eq!(Policy::delay(2, 0.0), Duration::ZERO);
        let u = jitter_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
