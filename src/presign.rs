//! Presigned URLs: the operation's own request (`presign_get_object` is `get_object`'s), built
//! as it would be sent, then signed in its query string and handed out, not sent. Pure: the
//! time is an argument.
//!
//! Every header the input sets (`Content-Type`, SSE-C, checksums, metadata) is signed, as
//! botocore signs them, so whoever holds the URL must send each with the same value: the output
//! lists them. The request's length is the holder's, so no `Content-Length` is signed.

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Map, Value};

use crate::checksum::Integrity;
use crate::credentials::{Credentials, Resolved};
use crate::error::{Error, Failure};
use crate::manifest::Operation;
use crate::prepare::prepare;
use crate::request::{Destination, Payload};
use crate::signing;

/// `ExpiresIn` when not given: one hour, as botocore's `generate_presigned_url`.
const DEFAULT_EXPIRES: u64 = 3600;

/// The URL for `op`'s request from `input`, signed at `now` with the connection's credentials.
pub fn presign(
    op: &Operation,
    input: &Map<String, Value>,
    conn: &Resolved,
    creds: &Credentials,
    now: SystemTime,
) -> Result<Map<String, Value>, Error> {
    let expires = input
        .get("ExpiresIn")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_EXPIRES);
    let dest = Destination {
        endpoint: &conn.endpoint,
        addressing: conn.addressing,
        region: &conn.region,
    };
    let mut req = prepare(op, input, &dest, Integrity::Off, Payload::Empty)?;
    req.headers.retain(|(name, _)| name != "content-length");
    let signed = signing::presign(
        &mut req,
        creds,
        &conn.region,
        now,
        Duration::from_secs(expires),
    )?;
    let headers: Map<String, Value> = req
        .headers
        .iter()
        .filter(|(name, _)| name != "host" && signed.contains(name))
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    // The URL's time is `X-Amz-Date`, in whole seconds; it expires `expires` after that.
    let signed = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Error::of(Failure::Internal, "the clock is before 1970").caused_by(e))?
        .as_secs();
    let expires_at = DateTime::from_secs(i64::try_from(signed + expires).unwrap_or(i64::MAX))
        .fmt(Format::DateTime)
        .map_err(|e| Error::of(Failure::Internal, "formatting the expiry").caused_by(e))?;
    let mut out = Map::new();
    out.insert("URL".into(), json!(req.uri));
    out.insert("Method".into(), json!(req.method));
    out.insert("Expires".into(), json!(expires_at));
    out.insert("Headers".into(), Value::Object(headers));
    Ok(out)
}
