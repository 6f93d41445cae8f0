//! The host contract's envelopes (see `docs/protocol.md`).
//!
//! Request: `{"operation": "put_object", "input": {...}, "connection": {...}, "id": ...}`
//! (`connection` optional, `id` echoed back, used by `serve`).
//! Response: `{"ok": true, "output": {...}}` or `{"ok": false, "error": {...}}`.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::execute::Executed;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Response {
    /// The request's `id`, echoed (serve mode); absent in one-shot mode when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<Value>,
    pub(crate) ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<Error>,
    /// The region that served the request, present only when S3 redirected to another one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) region: Option<String>,
}

impl Response {
    pub(crate) fn success(id: Option<Value>, output: Value) -> Self {
        Response {
            id,
            ok: true,
            output: Some(output),
            error: None,
            region: None,
        }
    }

    pub(crate) fn failure(id: Option<Value>, error: Error) -> Self {
        Response {
            id,
            ok: false,
            output: None,
            error: Some(error),
            region: None,
        }
    }

    /// The response to an executed request (`run` and `serve` alike); a failure is logged.
    pub(crate) fn answer(
        id: Option<Value>,
        operation: &str,
        result: Result<Executed, Error>,
    ) -> Self {
        match result {
            Ok(done) => Response {
                region: done.region,
                ..Response::success(id, done.output)
            },
            Err(e) => {
                tracing::warn!(operation, kind = ?e.kind, code = ?e.code, "request failed: {}", e.full_message());
                Response::failure(id, e)
            }
        }
    }

    pub(crate) fn to_line(&self) -> String {
        serde_json::to_string(self).expect("response serialises")
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, Error::exit_code)
    }
}

/// The envelope's top-level fields.
pub(crate) const ENVELOPE_FIELDS: &[&str] = &["operation", "input", "connection", "id"];
