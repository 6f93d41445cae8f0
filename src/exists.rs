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
                    Err(b) if b.status == Some(NOT_FOUND) => Err(Error {
                        code: Some("NoSuchBucket".into()),
                        message: "the bucket does not exist".into(),
                        ..b
                    }),
                    // The bucket is there (or cannot be looked at): the key is what is missing.
                    _ => Ok(Map::from_iter([("Exists".to_string(), json!(false))])),
                }
            }
            Err(e) => Err(e),
        }
    }
}
