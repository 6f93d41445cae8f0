//! `s3-connector check`: the answer to a host's "test connection" button.
//!
//! Reads `{"connection": {...}, "input": {"Bucket": "..."}, "id": ...}` (every member
//! optional), resolves the credentials as `run` would, and makes one cheap signed call:
//! `HeadBucket` when a bucket is given, else `ListBuckets` asking for one bucket. The answer
//! names where the credentials came from (never their values), the region and endpoint used,
//! and what the call said; a failure is `run`'s error envelope, with `run`'s exit codes.

use serde_json::{json, Map, Value};

use crate::credentials;
use crate::error::Error;
use crate::execute::Executor;
use crate::protocol::Response;

/// The check envelope's members, and those of its `input`.
const FIELDS: &[&str] = &["connection", "input", "id"];
const INPUT_FIELDS: &[&str] = &["Bucket"];

/// The response to a check request given as text.
pub(crate) async fn check(text: &str) -> Response {
    let (id, call) = match request(text) {
        Ok(parts) => parts,
        Err((id, e)) => return Response::failure(id, e),
    };
    let req = match crate::validate::validate_envelope(call) {
        Ok(req) => req,
        Err(e) => return Response::failure(id, e),
    };
    let conn = match credentials::resolve(&req.connection, &credentials::process_env) {
        Ok(conn) => conn,
        Err(e) => return Response::failure(id, e),
    };
    let operation = req.operation.name.clone();
    let result = Executor::new()
        .execute_with_progress(&req, &crate::progress::Progress::none())
        .await;
    let (redirected, output) = match result {
        Ok(done) => (done.region, done.output.into_map()),
        Err(e) => return Response::answer(id, &operation, Err(e)),
    };
    let mut out = Map::new();
    out.insert("CredentialSource".into(), json!(conn.credentials.label()));
    let region = redirected.clone().unwrap_or(conn.region.clone());
    out.insert("Region".into(), json!(region));
    out.insert("Endpoint".into(), json!(conn.endpoint.url()));
    out.insert("Operation".into(), json!(operation));
    if let Some(bucket) = req.input.get("Bucket") {
        out.insert("Bucket".into(), bucket.clone());
        if let Some(r) = output.get("BucketRegion") {
            out.insert("BucketRegion".into(), r.clone());
        }
    } else if let Some(buckets) = output.get("Buckets").and_then(Value::as_array) {
        // One asked for: says whether the account has any bucket at all.
        out.insert("BucketsVisible".into(), json!(!buckets.is_empty()));
    }
    Response {
        region: redirected,
        ..Response::success(id, out.into())
    }
}

/// The request envelope of the call a check envelope asks for, and the check's `id`.
#[allow(clippy::type_complexity)]
fn request(text: &str) -> Result<(Option<Value>, Value), (Option<Value>, Error)> {
    let value = crate::strict_json::parse(text)
        .map_err(|e| (None, Error::invalid_at("", format!("malformed JSON: {e}"))))?;
    let Value::Object(mut envelope) = value else {
        return Err((None, Error::invalid_at("", "must be a JSON object")));
    };
    let id = envelope.get("id").cloned();
    let refuse = |pointer: String, message: &str| (id.clone(), Error::invalid_at(pointer, message));
    if let Some(extra) = envelope.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(refuse(
            format!("/{extra}"),
            "is not a member of a check request (connection, input, id)",
        ));
    }
    let input = match envelope.remove("input") {
        None => Map::new(),
        Some(Value::Object(input)) => input,
        Some(_) => return Err(refuse("/input".into(), "must be an object")),
    };
    if let Some(extra) = input.keys().find(|k| !INPUT_FIELDS.contains(&k.as_str())) {
        return Err(refuse(
            format!("/input/{extra}"),
            "is not a member of a check's input (Bucket)",
        ));
    }
    let (operation, input) = if input.contains_key("Bucket") {
        ("head_bucket", input)
    } else {
        (
            "list_buckets",
            json!({"max-buckets": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
    };
    envelope.insert("operation".into(), json!(operation));
    envelope.insert("input".into(), Value::Object(input));
    Ok((id, Value::Object(envelope)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_asks_for_head_bucket_else_one_bucket_listed() {
        let (id, call) = request(r#"{"input": {"Bucket": "b"}, "id": 3}"#).unwrap();
        assert_eq!(id, Some(json!(3)));
        assert_eq!(call["operation"], "head_bucket");
        assert_eq!(call["input"], json!({"Bucket": "b"}));
        let (_, call) = request("{}").unwrap();
        assert_eq!(call["operation"], "list_buckets");
        assert_eq!(call["input"], json!({"max-buckets": 1}));
    }

    #[test]
    fn other_members_are_refused_by_name() {
        let (id, e) = request(r#"{"id": "x", "input": {"Key": "k"}}"#).unwrap_err();
        assert_eq!(id, Some(json!("x")));
        assert_eq!(e.details[0].pointer, "/input/Key");
        let (_, e) = request(r#"{"operation": "put_object"}"#).unwrap_err();
        assert_eq!(e.details[0].pointer, "/operation");
        let (_, e) = request("[1]").unwrap_err();
        assert_eq!(e.details[0].pointer, "");
    }
}
