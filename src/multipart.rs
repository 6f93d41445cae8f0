//! Making the two multipart `POST`s safe to repeat, so that they are retried like the rest.
//!
//! A `POST` whose reply is lost may have been applied, so the retry policy does not repeat it on
//! its own. Here each one is made harmless to repeat:
//!
//! - `create_multipart_upload`: the key's uploads in progress are listed first. When an attempt
//!   failed after its request may have been applied, a lost reply may have left an upload whose
//!   id nobody learned: the key's uploads are listed again and every new one but the one
//!   returned is aborted (all of them when no attempt succeeded). Without the first listing (no
//!   permission, say) the create is not repeated.
//! - `complete_multipart_upload`: completing the same parts again makes the same object. When a
//!   repeat gets `NoSuchUpload`, an earlier attempt completed the upload and its reply was lost:
//!   that is accepted when the object's `ETag` is the multipart `ETag` of exactly these parts (and,
//!   when known, its size is the expected one).
//!
//! The cleanup aborts uploads of the same key started in that short window by the same
//! initiator (when the listing names initiators); a concurrent writer of the same key with the
//! same credentials would lose its upload (docs/reliability.md).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::error::{Error, Failure};
use crate::execute::{CallOpts, Ctx, CLEANUP, REPEAT_SAFE};
use crate::manifest::{steps, Operation};

/// One key's uploads in progress: upload id → its initiator's id, when the listing says.
type Uploads = HashMap<String, Option<String>>;

/// Pages of 1,000 uploads read when listing one key's uploads in progress.
const MAX_UPLOAD_PAGES: usize = 10;

/// The input entries (of `from`) that the operation `to` takes, by the same names.
fn pick(from: &Map<String, Value>, to: &Operation) -> Map<String, Value> {
    from.iter()
        .filter(|(k, _)| to.parameter(k).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Ctx<'_> {
    /// `create_multipart_upload`, repeated on a lost reply, leaving no upload but the one returned.
    pub(crate) async fn create_upload(
        &self,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let create = steps().create_multipart_upload;
        let before = match self.uploads_of(&input, &CallOpts::default()).await {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::debug!("cannot list the key's uploads, so a lost create reply cannot be cleaned up and the create is not repeated: {}", e.full_message());
                None
            }
        };
        let opts = if before.is_some() {
            REPEAT_SAFE
        } else {
            CallOpts::default()
        };
        let applied = self.maybe_applied();
        let result = self.call_with(create, &input, &opts).await;
        // Only an attempt whose reply was lost after sending can have made an upload nobody
        // knows of; whatever the last attempt's outcome.
        if self.maybe_applied() > applied {
            if let Some(before) = &before {
                let keep = result
                    .as_ref()
                    .ok()
                    .and_then(|out| out.get("UploadId"))
                    .and_then(Value::as_str);
                self.abort_uploads_since(&input, before, keep).await;
            }
        }
        result
    }

    /// `complete_multipart_upload` as a caller asks for it: with the `Parts` given, or else
    /// with every part uploaded so far.
    pub(crate) async fn complete_given_or_all(
        &self,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        // An empty list is what a form sends for "none chosen": the same as leaving it out.
        if input
            .get("Parts")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            let parts = self.all_parts(&input).await?;
            if parts.is_empty() {
                return Err(Error::invalid_at(
                    "/input/Parts",
                    "the upload has no parts yet; upload at least one before completing",
                ));
            }
            input.insert("Parts".into(), Value::Array(parts));
        }
        self.complete_upload(input, None).await
    }

    /// `complete_multipart_upload` with `Parts` given, repeated on a lost reply; a repeat's
    /// `NoSuchUpload` is checked against the object. `size`: the object's expected length.
    pub(crate) async fn complete_upload(
        &self,
        input: Map<String, Value>,
        size: Option<u64>,
    ) -> Result<Map<String, Value>, Error> {
        let applied = self.maybe_applied();
        match self
            .call_with(steps().complete_multipart_upload, &input, &REPEAT_SAFE)
            .await
        {
            // NoSuchUpload after an attempt that may have been applied: that one completed it.
            Err(e)
                if e.code.as_deref() == Some("NoSuchUpload") && self.maybe_applied() > applied =>
            {
                self.completed_earlier(&input, size, e).await
            }
            other => other,
        }
    }

    /// After a repeated completion got `NoSuchUpload`: the object is in place when an earlier
    /// attempt completed it, which its `ETag` (the multipart `ETag` of exactly these parts) tells.
    async fn completed_earlier(
        &self,
        input: &Map<String, Value>,
        size: Option<u64>,
        err: Error,
    ) -> Result<Map<String, Value>, Error> {
        let etags = input
            .get("Parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.get("ETag").and_then(Value::as_str).unwrap_or_default());
        let Some(expected) = multipart_etag(etags) else {
            return Err(err);
        };
        let mut get = pick(input, steps().get_object);
        get.insert("Range".into(), json!("bytes=0-0"));
        let Ok(out) = self.call(steps().get_object, &get).await else {
            return Err(err);
        };
        let etag = out.get("ETag").and_then(Value::as_str).unwrap_or_default();
        let total = out
            .get("ContentRange")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, t)| t.parse::<u64>().ok());
        if etag.trim_matches('"') != expected || size.is_some_and(|s| total != Some(s)) {
            return Err(err);
        }
        tracing::warn!(etag = %expected, "the completion's reply was lost; the object it made is in place");
        let mut done = Map::new();
        for k in ["Bucket", "Key"] {
            if let Some(v) = input.get(k) {
                done.insert(k.into(), v.clone());
            }
        }
        for k in ["ETag", "VersionId", "ServerSideEncryption", "SSEKMSKeyId"] {
            if let Some(v) = out.get(k) {
                done.insert(k.into(), v.clone());
            }
        }
        Ok(done)
    }

    /// Upload ids of the multipart uploads in progress for exactly this key. Listed by the key
    /// as prefix, so the key's own uploads come first (it sorts before every longer key);
    /// further pages only while they are still this key's, at most `MAX_UPLOAD_PAGES`.
    pub(crate) async fn uploads_of(
        &self,
        input: &Map<String, Value>,
        opts: &CallOpts,
    ) -> Result<Uploads, Error> {
        let key = input.get("Key").cloned().unwrap_or_default();
        let mut list = pick(input, steps().list_multipart_uploads);
        list.insert("prefix".into(), key.clone());
        list.insert("max-uploads".into(), json!(1000));
        let mut ids = Uploads::new();
        for _ in 0..MAX_UPLOAD_PAGES {
            let out = self
                .call_with(steps().list_multipart_uploads, &list, opts)
                .await?;
            let uploads = out
                .get("Uploads")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            ids.extend(
                uploads
                    .iter()
                    .filter(|u| u.get("Key") == Some(&key))
                    .filter_map(|u| {
                        let id = u.get("UploadId").and_then(Value::as_str)?;
                        let initiator = u
                            .pointer("/Initiator/ID")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        Some((id.to_string(), initiator))
                    }),
            );
            let more = out.get("IsTruncated") == Some(&Value::Bool(true))
                && uploads.last().and_then(|u| u.get("Key")) == Some(&key);
            if !more {
                return Ok(ids);
            }
            for (marker, next) in [
                ("key-marker", "NextKeyMarker"),
                ("upload-id-marker", "NextUploadIdMarker"),
            ] {
                let value = out
                    .get(next)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Error::of(
                            Failure::Unexpected,
                            format!("the uploads listing is truncated without {next}"),
                        )
                    })?;
                list.insert(marker.into(), json!(value));
            }
        }
        Err(Error::of(
            Failure::Unexpected,
            format!(
                "more than {} multipart uploads in progress for this key",
                MAX_UPLOAD_PAGES * 1000
            ),
        ))
    }

    /// Aborts this key's uploads that were not there `before`, but `keep`. When `keep` is
    /// known, so is who we are (its initiator): uploads another initiator started meanwhile
    /// (a concurrent writer with other credentials) are left alone.
    async fn abort_uploads_since(
        &self,
        input: &Map<String, Value>,
        before: &Uploads,
        keep: Option<&str>,
    ) {
        let now = match self.uploads_of(input, &CLEANUP).await {
            Ok(now) => now,
            Err(e) => {
                tracing::error!("after a lost create_multipart_upload reply, the key's uploads cannot be listed, so an upload it made may remain: {}", e.full_message());
                return;
            }
        };
        let me = keep.and_then(|k| now.get(k)).cloned().flatten();
        for (id, initiator) in &now {
            if before.contains_key(id) || Some(id.as_str()) == keep {
                continue;
            }
            if let (Some(me), Some(them)) = (&me, initiator) {
                if me != them {
                    continue;
                }
            }
            let mut abort = pick(input, steps().abort_multipart_upload);
            abort.insert("uploadId".into(), json!(id));
            match self
                .call_with(steps().abort_multipart_upload, &abort, &CLEANUP)
                .await
            {
                Ok(_) => {
                    tracing::warn!(upload_id = %id, "aborted the upload a lost create_multipart_upload reply left behind");
                }
                Err(e) => {
                    tracing::error!(upload_id = %id, "could not abort an upload left by a lost reply: {}", e.full_message());
                }
            }
        }
    }
}

/// The `ETag` S3 gives an object assembled from parts with these `ETags`: the hex MD5 of the parts'
/// binary MD5s, `-`, and the number of parts. None when a part's `ETag` is not a plain MD5 (as
/// with SSE-KMS or SSE-C), since then the object's `ETag` cannot be predicted.
fn multipart_etag<'e>(part_etags: impl IntoIterator<Item = &'e str>) -> Option<String> {
    use md5::{Digest, Md5};
    let mut all = Md5::new();
    let mut n = 0;
    for e in part_etags {
        let mut md5 = [0u8; 16];
        hex::decode_to_slice(e.trim_matches('"'), &mut md5).ok()?;
        all.update(md5);
        n += 1;
    }
    (n > 0).then(|| format!("{}-{n}", hex::encode(all.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts, "a" × 5 MiB and "b": S3 gives md5(md5(p1) ++ md5(p2)) followed by "-2".
        use md5::{Digest, Md5};
        let p1 = Md5::digest(vec![b'a'; 5 * 1024 * 1024]);
        let p2 = Md5::digest(b"b");
        let want = format!("{}-2", hex::encode(Md5::digest([p1, p2].concat())));
        let quoted = [
            format!("\"{}\"", hex::encode(p1)),
            format!("\"{}\"", hex::encode(p2)),
        ];
        assert_eq!(
            multipart_etag(quoted.iter().map(String::as_str)),
            Some(want)
        );
        assert_eq!(multipart_etag(["\"not-an-md5\""]), None);
        assert_eq!(multipart_etag([]), None);
    }
}
