//! One attempt's request from a validated input: the XML body an operation makes, the integrity
//! headers (`Content-MD5`, the SSE-C key MD5), then the build. Pure: a body file was stat'ed by
//! the caller (`body::input_payload`). `run`, `validate`, the golden tests and the benches all
//! prepare through here, so a golden fixture is what goes on the wire.

use serde_json::{Map, Value};

use crate::body::{with_content_md5, with_required_md5, with_sse_c_key_md5};
use crate::error::Error;
use crate::manifest::Operation;
use crate::quirks;
use crate::request::{self, Destination, HttpRequest, Payload};

/// The unsigned request for `op`. `body` is the input's body source, or the part of a file an
/// upload sends; operations whose body the connector writes (XML) take theirs instead.
/// `checksums`: compute `Content-MD5` for in-memory bodies when the caller gave none.
pub fn prepare(
    op: &Operation,
    input: &Map<String, Value>,
    dest: &Destination<'_>,
    checksums: bool,
    body: Payload,
) -> Result<HttpRequest, Error> {
    let payload = quirks::xml_body(op, input, dest.region)?.unwrap_or(body);
    let input = with_content_md5(op, input, &payload, checksums)?;
    let input = with_sse_c_key_md5(op, &input)?;
    let mut request = request::build(op, &input, dest, payload)?;
    if op.checksum_required {
        with_required_md5(&mut request);
    }
    Ok(request)
}
