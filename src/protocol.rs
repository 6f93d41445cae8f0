//! The host contract's envelopes (see `docs/protocol.md`).
//!
//! Request: `{"operation": "put_object", "input": {...}, "connection": {...}, "id": ...}`
//! (`connection` optional, `id` echoed back, used by `serve`).
//! Response: `{"ok": true, "output": {...}}` or `{"ok": false, "error": {...}}`.

use serde_json::Value;

use crate::error::Error;
use crate::execute::Executed;
use crate::output::Output;

/// One response; printed by [`Response::to_line`], its fields in this order, absent ones left
/// out.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// The request's `id`, echoed (serve mode); absent in one-shot mode when none was given.
    pub(crate) id: Option<Value>,
    pub(crate) ok: bool,
    pub(crate) output: Option<Output>,
    pub(crate) error: Option<Error>,
    /// The region that served the request, present only when S3 redirected to another one.
    pub(crate) region: Option<String>,
}

impl Response {
    pub(crate) fn success(id: Option<Value>, output: Output) -> Self {
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

    /// The response as one line of JSON, without its newline.
    pub(crate) fn to_line(&self) -> String {
        let mut line = Vec::new();
        self.write_line(&mut line).expect("writing to memory");
        String::from_utf8(line).expect("JSON is UTF-8")
    }

    /// The response as one line of JSON written to `out`, without its newline: a listing's
    /// items as they were written (`output.rs`), not copied into one string first.
    pub(crate) fn write_line(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{")?;
        if let Some(id) = &self.id {
            out.write_all(b"\"id\":")?;
            serde_json::to_writer(&mut *out, id)?;
            out.write_all(b",")?;
        }
        out.write_all(if self.ok {
            b"\"ok\":true"
        } else {
            b"\"ok\":false"
        })?;
        if let Some(output) = &self.output {
            out.write_all(b",\"output\":")?;
            output.write_json(out)?;
        }
        if let Some(error) = &self.error {
            out.write_all(b",\"error\":")?;
            serde_json::to_writer(&mut *out, error)?;
        }
        if let Some(region) = &self.region {
            out.write_all(b",\"region\":")?;
            serde_json::to_writer(&mut *out, region)?;
        }
        out.write_all(b"}")
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, Error::exit_code)
    }
}

/// The envelope's top-level fields.
pub(crate) const ENVELOPE_FIELDS: &[&str] = &["operation", "input", "connection", "id"];

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::error::Failure;
    use crate::xml_text::RawList;

    /// A line written in pieces is the compact JSON of the envelope, fields in contract order,
    /// absent ones left out, a text list printed as its items.
    #[test]
    fn lines_are_the_envelope_as_compact_json() {
        let mut map = Map::new();
        map.insert("Name".into(), json!("b"));
        map.insert("Contents".into(), Value::Null);
        map.insert("IsTruncated".into(), json!(false));
        let raw = RawList {
            text: r#"{"Key":"a"},{"Key":"é\"b"}"#.into(),
            count: 2,
            last: 12..27,
        };
        let output = Output::with_lists(map, vec![("Contents".into(), raw)]);
        let ok = Response {
            region: Some("eu-west-1".into()),
            ..Response::success(Some(json!(7)), output.clone())
        };
        let want = json!({"id": 7, "ok": true, "output": output.to_value(), "region": "eu-west-1"});
        assert_eq!(ok.to_line(), want.to_string());
        assert!(ok
            .to_line()
            .starts_with(r#"{"id":7,"ok":true,"output":{"Name":"b","Contents":[{"#));

        let err = Error::of(Failure::Unreadable, "unreadable reply: x");
        let failed = Response::failure(None, err.clone());
        let want = json!({"ok": false, "error": serde_json::to_value(&err).unwrap()});
        assert_eq!(failed.to_line(), want.to_string());
    }
}
