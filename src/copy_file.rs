//! `copy_file`: a server-side copy of any size. The source's `HeadObject` decides: up to the
//! threshold (and `CopyObject`'s 5 GiB), one `CopyObject`, which applies the directives itself;
//! above it, a multipart upload whose parts S3 copies in parallel (`UploadPartCopy`), each
//! pinned to the source's `ETag` so that an overwrite during the copy fails it rather than mixing
//! two objects. A multipart upload starts with nothing of the source's, so what `CopyObject`
//! would carry over (content headers, metadata, tags) is given to it from the source, unless a
//! directive says `REPLACE`. Any failure aborts the upload.
//!
//! Requests about the source go through their own context (`Ctx::elsewhere`): following the
//! source bucket to another region must not move the destination's requests.

use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use crate::endpoint::{encode_query, percent_decode};
use crate::error::{Error, Failure};
use crate::execute::Ctx;
use crate::manifest::{steps, Operation};
use crate::transfer::{for_operation, summary, Plan, MAX_PART};

/// The copy's parameters about its source, and the `HeadObject` parameters that ask the same:
/// the `HEAD` that sizes the copy sees the object the copy will, or fails as the copy would.
const SOURCE_HEAD: &[(&str, &str)] = &[
    ("x-amz-copy-source-if-match", "If-Match"),
    ("x-amz-copy-source-if-none-match", "If-None-Match"),
    ("x-amz-copy-source-if-modified-since", "If-Modified-Since"),
    (
        "x-amz-copy-source-if-unmodified-since",
        "If-Unmodified-Since",
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-algorithm",
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-key",
        "x-amz-server-side-encryption-customer-key",
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-key-MD5",
        "x-amz-server-side-encryption-customer-key-MD5",
    ),
    (
        "x-amz-source-expected-bucket-owner",
        "x-amz-expected-bucket-owner",
    ),
    ("x-amz-request-payer", "x-amz-request-payer"),
];

/// What `CopyObject` carries over under `x-amz-metadata-directive: COPY` (its default): the
/// source's `HeadObject` fields, and the `CreateMultipartUpload` parameters that set them.
const CARRIED: &[(&str, &str)] = &[
    ("CacheControl", "Cache-Control"),
    ("ContentDisposition", "Content-Disposition"),
    ("ContentEncoding", "Content-Encoding"),
    ("ContentLanguage", "Content-Language"),
    ("ContentType", "Content-Type"),
    ("Expires", "Expires"),
    ("Metadata", "x-amz-meta-"),
];

/// The most `CopyObject` copies in one request (`API_CopyObject`).
const MAX_COPY_OBJECT: u64 = MAX_PART;

/// The source object: bucket, key and version, from `x-amz-copy-source` in either form.
struct Source {
    bucket: String,
    key: String,
    version: Option<String>,
}

impl Ctx<'_> {
    pub(crate) async fn copy_file(
        &self,
        op: &Operation,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let source = source_of(input.get("x-amz-copy-source"))?;
        let there = self.elsewhere();
        let found = there
            .call(steps().head_object, &head_input(&input, &source))
            .await?;
        let size = found
            .get("ContentLength")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::of(Failure::Unexpected, "the source's HEAD gave no length"))?;
        let plan = Plan::of(op, &input, size);
        self.progress.set_total(size);
        if size == 0 || (size <= plan.threshold && size <= MAX_COPY_OBJECT) {
            let out = self
                .call(
                    steps().copy_object,
                    &for_operation(steps().copy_object, &input),
                )
                .await?;
            self.progress.add(size);
            let mut done = summary(&out, size, 1);
            if let Some(etag) = out.get("CopyObjectResult").and_then(|r| r.get("ETag")) {
                done.insert("ETag".into(), etag.clone());
            }
            if let Some(v) = out.get("CopySourceVersionId") {
                done.insert("CopySourceVersionId".into(), v.clone());
            }
            return Ok(done);
        }
        let mut create = for_operation(steps().create_multipart_upload, &input);
        if !replaces(&input, "x-amz-metadata-directive") {
            carry_over(&found, &mut create);
        }
        if !replaces(&input, "x-amz-tagging-directive") {
            if let Some(tags) = self.source_tags(&there, &input, &source, &found).await? {
                create.insert("x-amz-tagging".into(), json!(tags));
            }
        }
        self.within_upload(create, &input, async |upload_id| {
            self.copy_parts(&input, &found, size, &plan, &upload_id)
                .await
        })
        .await
    }

    /// Copies the parts in parallel and completes the upload.
    async fn copy_parts(
        &self,
        input: &Map<String, Value>,
        found: &Map<String, Value>,
        size: u64,
        plan: &Plan,
        upload_id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let copy = steps().upload_part_copy;
        let mut part = for_operation(copy, input);
        part.insert("uploadId".into(), json!(upload_id));
        if let (None, Some(etag)) = (part.get("x-amz-copy-source-if-match"), found.get("ETag")) {
            part.insert("x-amz-copy-source-if-match".into(), etag.clone());
        }
        let count = size.div_ceil(plan.part_size);
        let parts: Vec<(u64, Value)> = futures_util::stream::iter(0..count)
            .map(|i| {
                let start = i * plan.part_size;
                let end = (start + plan.part_size).min(size);
                let mut pi = part.clone();
                pi.insert("partNumber".into(), json!(i + 1));
                pi.insert(
                    "x-amz-copy-source-range".into(),
                    json!(format!("bytes={start}-{}", end - 1)),
                );
                async move {
                    let out = self.call(copy, &pi).await?;
                    let etag = out
                        .get("CopyPartResult")
                        .and_then(|r| r.get("ETag"))
                        .cloned()
                        .ok_or_else(|| {
                            Error::of(Failure::Unexpected, "a copied part has no ETag")
                        })?;
                    self.progress.add(end - start);
                    Ok::<_, Error>((i + 1, etag))
                }
            })
            .buffer_unordered(plan.concurrency)
            .try_collect()
            .await?;
        let out = self.complete_with(input, upload_id, parts, size).await?;
        let mut done = summary(&out, size, count);
        if let Some(v) = found.get("VersionId") {
            done.insert("CopySourceVersionId".into(), v.clone());
        }
        Ok(done)
    }

    /// The source's tags as `x-amz-tagging` takes them (`k=v&k2=v2`, URL-encoded), when it has
    /// any (`HeadObject` counts them).
    async fn source_tags(
        &self,
        there: &Ctx<'_>,
        input: &Map<String, Value>,
        source: &Source,
        found: &Map<String, Value>,
    ) -> Result<Option<String>, Error> {
        if found.get("TagCount").and_then(Value::as_u64).unwrap_or(0) == 0 {
            return Ok(None);
        }
        let mut get = Map::new();
        get.insert("Bucket".into(), json!(source.bucket));
        get.insert("Key".into(), json!(source.key));
        // The version the HEAD saw, so that the tags are that object's.
        let version = found
            .get("VersionId")
            .and_then(Value::as_str)
            .or(source.version.as_deref());
        if let Some(v) = version {
            get.insert("versionId".into(), json!(v));
        }
        for (from, to) in SOURCE_HEAD {
            if let (Some(v), Some(_)) = (input.get(*from), steps().get_object_tagging.parameter(to))
            {
                get.insert((*to).into(), v.clone());
            }
        }
        let out = there.call(steps().get_object_tagging, &get).await?;
        let tags: Vec<String> = out
            .get("TagSet")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let k = t.get("Key")?.as_str()?;
                let v = t.get("Value").and_then(Value::as_str).unwrap_or_default();
                Some(format!("{}={}", encode_query(k), encode_query(v)))
            })
            .collect();
        Ok((!tags.is_empty()).then(|| tags.join("&")))
    }
}

/// Whether the directive named is `REPLACE` (`COPY` is the default).
fn replaces(input: &Map<String, Value>, directive: &str) -> bool {
    input.get(directive).and_then(Value::as_str) == Some("REPLACE")
}

/// The source's content headers and metadata, onto the upload that will hold the copy.
fn carry_over(found: &Map<String, Value>, create: &mut Map<String, Value>) {
    for (field, param) in CARRIED {
        let Some(v) = found.get(*field) else { continue };
        // An `Expires` S3 could not read as a date (it stores any text) cannot be set again.
        if *field == "Expires" && v.as_str().and_then(crate::timefmt::parse_date).is_none() {
            continue;
        }
        create.insert((*param).into(), v.clone());
    }
}

/// The `HeadObject` input for the source.
fn head_input(input: &Map<String, Value>, source: &Source) -> Map<String, Value> {
    let mut head = Map::new();
    head.insert("Bucket".into(), json!(source.bucket));
    head.insert("Key".into(), json!(source.key));
    if let Some(v) = &source.version {
        head.insert("versionId".into(), json!(v));
    }
    for (from, to) in SOURCE_HEAD {
        if let Some(v) = input.get(*from) {
            head.insert((*to).into(), v.clone());
        }
    }
    head
}

/// Why an access point is refused as the source: its `HeadObject` would need the access point's
/// own endpoint, which the connector does not derive.
const ARN: &str =
    "copy_file takes a bucket name as the source, not an access point ARN (copy_object takes one)";

/// The source from `x-amz-copy-source`: `{Bucket, Key, VersionId}`, or the URL-encoded
/// `bucket/key[?versionId=…]` string (a leading `/` allowed).
fn source_of(value: Option<&Value>) -> Result<Source, Error> {
    let bad = |why: &str| Error::invalid_at("/input/x-amz-copy-source", why.to_string());
    match value {
        Some(Value::Object(m)) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            let bucket = text("Bucket").ok_or_else(|| bad("needs `Bucket`"))?;
            if bucket.starts_with("arn:") {
                return Err(bad(ARN));
            }
            Ok(Source {
                bucket,
                key: text("Key").ok_or_else(|| bad("needs `Key`"))?,
                version: text("VersionId"),
            })
        }
        Some(Value::String(s)) => {
            let s = s.strip_prefix('/').unwrap_or(s);
            let (path, version) = match s.split_once("?versionId=") {
                Some((p, v)) => (p, Some(percent_decode(v))),
                None => (s, None),
            };
            let (bucket, key) = path
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| bad("must be `bucket/key`"))?;
            if bucket.starts_with("arn:") {
                return Err(bad(ARN));
            }
            Ok(Source {
                bucket: percent_decode(bucket),
                key: percent_decode(key),
                version,
            })
        }
        _ => Err(bad("is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_read_from_either_form() {
        let s = source_of(Some(&json!("/b/a%20dir/k%2Bx+y.txt?versionId=v%2B1"))).unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.key.as_str()),
            ("b", "a dir/k+x+y.txt")
        );
        assert_eq!(s.version.as_deref(), Some("v+1"));
        let s = source_of(Some(&json!({"Bucket": "b", "Key": "k", "VersionId": "3"}))).unwrap();
        assert_eq!(
            (s.bucket, s.key, s.version),
            ("b".into(), "k".into(), Some("3".into()))
        );
        for bad in [json!("nokey"), json!("/b/"), json!(7)] {
            let e = source_of(Some(&bad)).err().unwrap();
            assert_eq!(e.details[0].pointer, "/input/x-amz-copy-source");
        }
    }
}
