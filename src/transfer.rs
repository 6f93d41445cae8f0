//! High-level transfers between a local file and an object, built from the ordinary calls:
//!
//! - `upload_file`: one PUT up to the threshold, else a multipart upload whose parts stream from
//!   their file ranges in parallel; any failure aborts the upload, so no parts are left behind.
//! - `download_file`: ranged GETs in parallel (each pinned to the first reply's `ETag` with
//!   `If-Match`, so a concurrent overwrite cannot mix two versions) into a temporary file,
//!   renamed when complete and of the object's length.
//!
//! Memory stays bounded by the stream buffers: part size × concurrency is never held in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use crate::checksum::{Algorithm, Ranges, Stored};
use crate::error::{Error, Failure};
use crate::execute::{CallOpts, Ctx, Sink, CLEANUP};
use crate::manifest::{steps, Location, Operation};
use crate::request::Payload;
use crate::sink::{temp_path_for, OutFile, TempFile};

pub(crate) const MIB: u64 = 1024 * 1024;
/// S3's part limits (`API_UploadPart`, `API_UploadPartCopy`): at least 5 MiB but the last, at most
/// 5 GiB, at most 10,000 parts.
const MIN_PART: u64 = 5 * MIB;
pub(crate) const MAX_PART: u64 = 5 * 1024 * MIB;
const MAX_PARTS: u64 = 10_000;

/// How a transfer splits: from the input, else the defaults the operation's schema declares.
pub(crate) struct Plan {
    pub(crate) part_size: u64,
    pub(crate) threshold: u64,
    pub(crate) concurrency: usize,
}

impl Plan {
    pub(crate) fn of(op: &Operation, input: &Map<String, Value>, size: u64) -> Plan {
        let get = |k: &str| {
            input
                .get(k)
                .or_else(|| op.parameter(k)?.schema.get("default"))
                .and_then(Value::as_u64)
        };
        let mut part_size = get("PartSize").unwrap_or(8 * MIB).clamp(MIN_PART, MAX_PART);
        // Grow parts (in whole MiB) when the object would need more than 10,000 of them.
        if size.div_ceil(part_size) > MAX_PARTS {
            part_size = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        }
        Plan {
            part_size,
            threshold: get("MultipartThreshold").unwrap_or(16 * MIB),
            concurrency: usize::try_from(get("Concurrency").unwrap_or(4).max(1))
                .unwrap_or(usize::MAX),
        }
    }
}

/// The entries of `input` that `operation` takes on the wire (headers, query, path), so that a
/// transfer passes its caller's headers on to each request.
pub(crate) fn for_operation(o: &Operation, input: &Map<String, Value>) -> Map<String, Value> {
    input
        .iter()
        .filter(|(k, _)| {
            o.parameter(k).is_some_and(|p| {
                matches!(
                    p.location,
                    Location::Path | Location::Query | Location::Header | Location::HeaderMap
                )
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Ctx<'_> {
    pub(crate) async fn upload_file(
        &self,
        op: &Operation,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let path = PathBuf::from(
            input
                .get("BodyFile")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|e| Error::invalid_at("/input/BodyFile", format!("cannot be read: {e}")))?
            .len();
        let plan = Plan::of(op, &input, size);
        self.progress.set_total(size);
        if size <= plan.threshold {
            let mut put = for_operation(steps().put_object, &input);
            put.insert("BodyFile".into(), json!(path));
            let out = self.call(steps().put_object, &put).await?;
            return Ok(summary(&out, size, 1));
        }
        let mut create = for_operation(steps().create_multipart_upload, &input);
        if let Some(algorithm) = self.conn.checksums.crc() {
            // Each part carries its CRC; the completion the whole object's, from theirs.
            create.insert("x-amz-checksum-algorithm".into(), json!(algorithm.name()));
            create.insert("x-amz-checksum-type".into(), json!("FULL_OBJECT"));
        }
        self.within_upload(create, &input, async |upload_id| {
            self.upload_parts_and_complete(&input, &path, size, &plan, &upload_id)
                .await
        })
        .await
    }

    /// Creates a multipart upload from `create` and runs `parts` with its id (they upload the
    /// parts and complete it); when they fail, the upload is aborted.
    pub(crate) async fn within_upload(
        &self,
        create: Map<String, Value>,
        input: &Map<String, Value>,
        parts: impl AsyncFnOnce(String) -> Result<Map<String, Value>, Error>,
    ) -> Result<Map<String, Value>, Error> {
        let created = self.create_upload(create).await?;
        let upload_id = created
            .get("UploadId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                Error::of(
                    Failure::Unexpected,
                    "create_multipart_upload returned no UploadId",
                )
            })?
            .to_string();
        let result = parts(upload_id.clone()).await;
        if let Err(e) = &result {
            self.abort_after(input, &upload_id, e).await;
        }
        result
    }

    /// Completes the upload with `parts` (number, `ETag`), in order, of `size` bytes in all.
    pub(crate) async fn complete_with(
        &self,
        input: &Map<String, Value>,
        upload_id: &str,
        parts: Vec<(u64, Value)>,
        size: u64,
    ) -> Result<Map<String, Value>, Error> {
        let parts = parts
            .into_iter()
            .map(|(n, e)| Part {
                number: n,
                etag: e,
                crc: None,
            })
            .collect();
        self.complete_parts(input, upload_id, parts, size).await
    }

    /// Completes the upload with `parts`, in order, of `size` bytes in all; with the parts'
    /// CRCs, as a `FULL_OBJECT` checksum of the whole object made from them.
    async fn complete_parts(
        &self,
        input: &Map<String, Value>,
        upload_id: &str,
        mut parts: Vec<Part>,
        size: u64,
    ) -> Result<Map<String, Value>, Error> {
        parts.sort_by_key(|p| p.number);
        let mut complete = for_operation(steps().complete_multipart_upload, input);
        complete.insert("uploadId".into(), json!(upload_id));
        let mut whole: Option<(Algorithm, u64)> = None;
        let mut listed = Vec::with_capacity(parts.len());
        for p in &parts {
            let mut entry = json!({"PartNumber": p.number, "ETag": p.etag});
            if let Some((algorithm, crc, len)) = p.crc {
                entry[algorithm.member()] = json!(algorithm.encode(crc));
                whole = Some(match whole {
                    None => (algorithm, crc),
                    Some((a, w)) => (a, a.combine(w, crc, len)),
                });
            }
            listed.push(entry);
        }
        complete.insert("Parts".into(), Value::Array(listed));
        if let Some((algorithm, crc)) = whole.filter(|_| parts.iter().all(|p| p.crc.is_some())) {
            complete.insert(algorithm.header().into(), json!(algorithm.encode(crc)));
            complete.insert("x-amz-checksum-type".into(), json!("FULL_OBJECT"));
        }
        self.complete_upload(complete, Some(size)).await
    }

    /// Aborts the multipart upload a failed transfer started: parts of an unfinished upload are
    /// stored (and billed) until then.
    async fn abort_after(&self, input: &Map<String, Value>, upload_id: &str, e: &Error) {
        let mut abort = for_operation(steps().abort_multipart_upload, input);
        abort.insert("uploadId".into(), json!(upload_id));
        match self
            .call_with(steps().abort_multipart_upload, &abort, &CLEANUP)
            .await
        {
            Ok(_) => {
                tracing::warn!(upload_id = %upload_id, "the transfer failed and its upload was aborted: {}", e.full_message());
            }
            Err(a) => {
                tracing::error!(upload_id = %upload_id, "the transfer failed and its upload could not be aborted: {}", a.full_message());
            }
        }
    }

    async fn upload_parts_and_complete(
        &self,
        input: &Map<String, Value>,
        path: &Path,
        size: u64,
        plan: &Plan,
        upload_id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let count = size.div_ceil(plan.part_size);
        let mut part_input = for_operation(steps().upload_part, input);
        part_input.insert("uploadId".into(), json!(upload_id));
        let upload = steps().upload_part;
        let parts: Vec<Part> = futures_util::stream::iter(0..count)
            .map(|i| {
                let mut pi = part_input.clone();
                pi.insert("partNumber".into(), json!(i + 1));
                let offset = i * plan.part_size;
                let opts = CallOpts {
                    payload: Some(Payload::File {
                        path: path.to_path_buf(),
                        offset,
                        len: plan.part_size.min(size - offset),
                    }),
                    sink: Sink::Default,
                    repeat_safe: false,
                    text_lists: None,
                    cleanup: false,
                };
                let len = plan.part_size.min(size - offset);
                async move {
                    let out = self.call_with(upload, &pi, &opts).await?;
                    Ok::<_, Error>(Part {
                        number: i + 1,
                        etag: out.get("ETag").cloned().unwrap_or_else(|| json!("")),
                        crc: crc_of(&out, self.conn.checksums.crc(), len),
                    })
                }
            })
            .buffer_unordered(plan.concurrency)
            .try_collect()
            .await?;
        let out = self.complete_parts(input, upload_id, parts, size).await?;
        Ok(summary(&out, size, count))
    }

    pub(crate) async fn download_file(
        &self,
        op: &Operation,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let path = PathBuf::from(
            input
                .get("OutputFile")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        // Removed on any failure, and when the download is cut off mid-way.
        let mut tmp = TempFile::new(temp_path_for(&path));
        let result = self.download_checked(op, &input, tmp.path()).await;
        match result {
            Ok((out, total, parts)) => {
                let len = tokio::fs::metadata(tmp.path())
                    .await
                    .map_or(u64::MAX, |m| m.len());
                if len == total {
                    tmp.rename_to(&path)
                        .await
                        .map_err(|e| {
                            Error::of(Failure::Io, format!("writing {}", path.display()))
                                .caused_by(e)
                        })
                        .map(|()| {
                            let mut s = summary(&out, total, parts);
                            s.insert("OutputFile".into(), json!(path));
                            for k in ["ContentType", "LastModified", "Metadata"] {
                                if let Some(v) = out.get(k) {
                                    s.insert(k.into(), v.clone());
                                }
                            }
                            s
                        })
                } else {
                    Err(Error::of(
                        Failure::Lost,
                        format!("download incomplete: {len} of {total} bytes"),
                    ))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// [`Self::download_into`], again from the start when the bytes as a whole do not have the
    /// stored CRC (each request was already retried on its own failures), up to the
    /// connection's attempts.
    async fn download_checked(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        tmp: &Path,
    ) -> Result<(Map<String, Value>, u64, u64), Error> {
        let mut attempt = 1;
        loop {
            match self.download_into(op, input, tmp).await {
                Err(e) if e.failure == Failure::Corrupt && e.attempts.is_none() => {
                    if attempt >= self.conn.retry.max_attempts {
                        return Err(Error {
                            attempts: Some(attempt),
                            ..e
                        });
                    }
                    tracing::warn!(attempt, "downloading again after: {}", e.full_message());
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Downloads into `tmp`; returns the first reply's output, the object size and the parts.
    /// With CRC integrity, the object's stored CRC (a `HeadObject` pinned to the first range's
    /// `ETag`) must be the ranges' CRCs combined.
    async fn download_into(
        &self,
        op: &Operation,
        input: &Map<String, Value>,
        tmp: &Path,
    ) -> Result<(Map<String, Value>, u64, u64), Error> {
        // Past the page cache unless asked otherwise (`crate::direct`).
        let direct = input.get("PageCache").and_then(Value::as_bool) != Some(true);
        let file = OutFile::create(tmp, direct).await?;
        let get = steps().get_object;
        let base = for_operation(get, input);
        let plan = Plan::of(op, input, 0);
        let ranges = self.conn.checksums.crc().map(|a| Arc::new(Ranges::new(a)));
        let mut first_in = base.clone();
        first_in.insert(
            "Range".into(),
            json!(format!("bytes=0-{}", plan.part_size - 1)),
        );
        let first = match self
            .call_with(get, &first_in, &range_at(&file, 0, ranges.as_ref()))
            .await
        {
            // An empty object has no byte 0: fetch it whole.
            Err(e) if e.code.as_deref() == Some("InvalidRange") => {
                let out = self
                    .call_with(get, &base, &range_at(&file, 0, None))
                    .await?;
                return Ok((out, 0, 1));
            }
            other => other?,
        };
        let total = match first
            .get("ContentRange")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((_, t)) => t
                .parse::<u64>()
                .map_err(|_| Error::of(Failure::Unreadable, "unreadable Content-Range"))?,
            // No range support: the whole object came in this reply.
            None => {
                return Ok((
                    first.clone(),
                    first
                        .get("ContentLength")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    1,
                ))
            }
        };
        self.progress.set_total(total);
        let (check, ranges) = match ranges {
            Some(r) => self.stored_crc(input, &first, r, tmp).await?,
            None => (None, None),
        };
        let mut parts = 1;
        if total > plan.part_size {
            file.reserve(total).await?;
            let mut rest = base.clone();
            if let Some(etag) = first.get("ETag") {
                rest.insert("If-Match".into(), etag.clone());
            }
            parts = self
                .download_rest(&rest, &plan, total, &file, ranges.as_ref())
                .await?;
        }
        if let (Some(check), Some(ranges)) = (check, ranges) {
            let crc = ranges.whole(total).ok_or_else(|| {
                Error::of(Failure::Lost, "download incomplete: a range is missing")
            })?;
            check.verify(crc, total)?;
        }
        Ok((first, total, parts))
    }

    /// The ranges after the first: one part each in parallel above the threshold, else one GET.
    async fn download_rest(
        &self,
        rest: &Map<String, Value>,
        plan: &Plan,
        total: u64,
        file: &Arc<OutFile>,
        ranges: Option<&Arc<Ranges>>,
    ) -> Result<u64, Error> {
        let get = steps().get_object;
        let (step, concurrency) = if total > plan.threshold {
            (plan.part_size, plan.concurrency)
        } else {
            (total, 1)
        };
        let offsets: Vec<u64> = (plan.part_size..total)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .collect();
        let parts = 1 + offsets.len() as u64;
        futures_util::stream::iter(offsets)
            .map(|offset| {
                let mut ri = rest.clone();
                ri.insert(
                    "Range".into(),
                    json!(format!("bytes={offset}-{}", (offset + step).min(total) - 1)),
                );
                let opts = range_at(file, offset, ranges);
                async move { self.call_with(get, &ri, &opts).await.map(|_| ()) }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(parts)
    }

    /// The object's stored whole-object CRC (`HeadObject` with checksum mode, of the version
    /// the first range came from), and the ranges' CRCs to compare with it: those being taken
    /// when S3 stored the same algorithm, else anew, starting with the first range read back.
    /// No CRC stored (or a `COMPOSITE` one): nothing to compare.
    async fn stored_crc(
        &self,
        input: &Map<String, Value>,
        first: &Map<String, Value>,
        ranges: Arc<Ranges>,
        tmp: &Path,
    ) -> Result<(Option<Stored>, Option<Arc<Ranges>>), Error> {
        let mut head = for_operation(steps().head_object, input);
        head.remove("Range");
        if let Some(etag) = first.get("ETag") {
            head.insert("If-Match".into(), etag.clone());
        }
        head.insert("x-amz-checksum-mode".into(), json!("ENABLED"));
        let out = self.call(steps().head_object, &head).await?;
        let Some(stored) = Stored::from_output(&out) else {
            tracing::debug!("no whole-object CRC stored: the download is checked by length only");
            return Ok((None, None));
        };
        if stored.algorithm == ranges.algorithm {
            return Ok((Some(stored), Some(ranges)));
        }
        let first_len = first
            .get("ContentLength")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let (path, algorithm) = (tmp.to_path_buf(), stored.algorithm);
        let crc = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; usize::try_from(first_len).unwrap_or(0)];
            std::fs::File::open(path)?.read_exact_at(&mut buf, 0)?;
            Ok(algorithm.of(&buf))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| Error::of(Failure::Io, "reading back the first range").caused_by(e))?;
        let anew = Ranges::new(stored.algorithm);
        anew.record(0, crc, first_len);
        Ok((Some(stored), Some(Arc::new(anew))))
    }
}

/// Options for one range of a download into `file` at `offset`.
fn range_at(file: &Arc<OutFile>, offset: u64, ranges: Option<&Arc<Ranges>>) -> CallOpts {
    CallOpts {
        payload: None,
        sink: Sink::At {
            file: file.clone(),
            offset,
            crcs: ranges.cloned(),
        },
        repeat_safe: false,
        text_lists: None,
        cleanup: false,
    }
}

/// An uploaded part, for the completion.
struct Part {
    number: u64,
    etag: Value,
    /// The part's CRC and length, when it carried one.
    crc: Option<(Algorithm, u64, u64)>,
}

/// The CRC an uploaded part's output gives (what S3 verified; what was sent when S3 said
/// nothing, `execute::uploaded_crc`).
fn crc_of(
    out: &Map<String, Value>,
    algorithm: Option<Algorithm>,
    len: u64,
) -> Option<(Algorithm, u64, u64)> {
    let algorithm = algorithm?;
    let crc = algorithm.decode(out.get(algorithm.member())?.as_str()?)?;
    Some((algorithm, crc, len))
}

/// The transfer result: bytes, parts, and the `ETag` and `VersionId` S3 gave.
pub(crate) fn summary(out: &Map<String, Value>, bytes: u64, parts: u64) -> Map<String, Value> {
    let mut s = Map::new();
    for k in ["ETag", "VersionId"] {
        if let Some(v) = out.get(k) {
            s.insert(k.into(), v.clone());
        }
    }
    s.insert("Bytes".into(), json!(bytes));
    s.insert("Parts".into(), json!(parts));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_respect_s3_part_limits_and_the_schema_defaults() {
        let op = crate::manifest::operation("upload_file").unwrap();
        let input = Map::new();
        let p = Plan::of(op, &input, 100 * MIB);
        assert_eq!(
            (p.part_size, p.threshold, p.concurrency),
            (8 * MIB, 16 * MIB, 4)
        );
        let small: Map<String, Value> = serde_json::from_value(json!({"PartSize": 1})).unwrap();
        assert_eq!(Plan::of(op, &small, 100 * MIB).part_size, MIN_PART);
        let huge = Plan::of(op, &input, 200_000 * MIB);
        assert!(200_000 * MIB / huge.part_size <= MAX_PARTS);
        assert_eq!(huge.part_size % MIB, 0);
        let copy = crate::manifest::operation("copy_file").unwrap();
        let p = Plan::of(copy, &input, 100 * MIB);
        assert_eq!(
            (p.part_size, p.threshold, p.concurrency),
            (64 * MIB, 64 * MIB, 8)
        );
    }
}
