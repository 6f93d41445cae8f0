//! A bug must not cost the host its reply: a panic while handling a request becomes one
//! `internal` error response for that request, in `run` and in `serve` alike. The panic itself
//! is reported on stderr by Rust's panic hook; the response says only that it happened, since
//! a panic message may quote the request.

use serde_json::Value;

use crate::error::{Error, Failure};

/// The error a request gets when handling it panicked.
pub(crate) fn panicked() -> Error {
    Error::of(
        Failure::Internal,
        "internal error: the connector panicked while handling this request (details on \
         stderr); this is a bug in the connector, not a problem with the request",
    )
}

/// The request's `id` (null counts as none), read again from its text after a panic: the
/// parsed request went down with the code that panicked. `None` when that panics too.
pub(crate) fn id_in(text: &str) -> Option<Value> {
    std::panic::catch_unwind(|| {
        crate::strict_json::parse(text)
            .ok()?
            .get("id")
            .filter(|id| !id.is_null())
            .cloned()
    })
    .ok()
    .flatten()
}

/// Where a request can be made to panic by the test hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Once the request is parsed and valid, still in validation.
    Validate,
    /// At the start of execution.
    Execute,
}

/// Test hook, compiled into debug builds only: `S3_CONNECTOR_TEST_PANIC` lists operations
/// (comma-separated) whose requests panic at the start of execution, or, written
/// `validate:OPERATION`, at the end of validation. No input can make the connector panic on
/// purpose otherwise, and the response to a panic must still be tested.
pub(crate) fn test_panic(stage: Stage, operation: &str) {
    #[cfg(debug_assertions)]
    if let Some(list) = std::env::var_os("S3_CONNECTOR_TEST_PANIC") {
        let list = list.to_string_lossy();
        let wanted = |entry: &str| match entry.trim().split_once(':') {
            Some(("validate", op)) => stage == Stage::Validate && op == operation,
            Some(_) => false,
            None => stage == Stage::Execute && entry.trim() == operation,
        };
        assert!(
            !list.split(',').any(wanted),
            "S3_CONNECTOR_TEST_PANIC: {operation} at {stage:?}"
        );
    }
    #[cfg(not(debug_assertions))]
    let _ = (stage, operation);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_found_again_in_the_text() {
        assert_eq!(
            id_in(r#"{"id": "a-1", "operation": "x"}"#),
            Some(Value::from("a-1"))
        );
        assert_eq!(id_in(r#"{"id": 7}"#), Some(Value::from(7)));
        assert_eq!(id_in(r#"{"id": null}"#), None);
        assert_eq!(id_in(r#"{"operation": "x"}"#), None);
        assert_eq!(id_in("{not json"), None);
        assert_eq!(id_in("[1]"), None);
    }

    #[test]
    fn the_error_is_internal_and_says_it_is_a_bug() {
        let e = panicked();
        assert_eq!(e.kind, crate::error::ErrorKind::Internal);
        assert_eq!(e.exit_code(), 1);
        assert!(e.message.contains("bug in the connector"), "{}", e.message);
        assert!(!e.retryable);
    }
}
