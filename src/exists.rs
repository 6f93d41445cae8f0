//! `object_exists`: a `HeadObject` whose 404 is an answer. S3 answers a `HEAD` with no body, so
//! a 404 does not say whether the key or the bucket is missing; a `HeadBucket` tells them apart,
//! and a missing bucket stays an error (a misspelt bucket is not "no such key"). Other failures
//! (403, network, timeouts) stay errors too.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::execute::Ctx;
use crate::manifest::{steps, Operation};
use crate::transfer::for_operation;

const NOT_FOUND: u16 = 404;
const FORBIDDEN: u16 = 403;

fn absent() -> Map<String, Value> {
    Map::from_iter([("Exists".to_string(), json!(false))])
}

impl Ctx<'_> {
    pub(crate) async fn object_exists(
        &self,
        op: &Operation,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        match self.call(op, &input).await {
            Ok(mut out) => {
                out.insert("Exists".into(), json!(true));
                Ok(out)
            }
            Err(e) if e.status == Some(NOT_FOUND) => {
                let bucket = for_operation(steps().head_bucket, &input);
                match self.call(steps().head_bucket, &bucket).await {
                    // The bucket is there (403: there, but its listing is not ours to see): the
                    // key is what is missing.
                    Ok(_) => Ok(absent()),
                    Err(b) if b.status == Some(FORBIDDEN) => Ok(absent()),
                    Err(b) if b.status == Some(NOT_FOUND) => Err(Error {
                        code: Some("NoSuchBucket".into()),
                        message: "the bucket does not exist".into(),
                        ..b
                    }),
                    // Anything else (a 503 after the retries, a network failure) cannot tell a
                    // missing key from a missing bucket: the failure is the answer.
                    Err(b) => Err(b),
                }
            }
            Err(e) => Err(e),
        }
    }
}
