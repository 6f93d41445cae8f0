//! Composite listings: ListObjects and ListParts paged automatically up to an item limit, and
//! the full parts list CompleteMultipartUpload needs when the caller gives none. Each page is
//! one ordinary call.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::execute::{op_named as op, Ctx};
use crate::manifest::Operation;
use crate::quirks;

impl Ctx<'_> {
    /// ListObjects with automatic pagination up to `MaxItems` (objects plus common prefixes).
    pub(crate) async fn list_objects(
        &self,
        op: &'static Operation,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let limit = item_limit(&input, "max-keys");
        let page_size = input.get("max-keys").and_then(Value::as_u64);
        input.remove("MaxItems");
        let auto = quirks::auto_encoding_type(op, &mut input);
        let mut merged: Option<Map<String, Value>> = None;
        loop {
            let collected = merged.as_ref().map_or(0, count_listing);
            let remaining = limit - collected;
            let want = page_size.unwrap_or(1000).min(remaining).min(1000);
            input.insert("max-keys".into(), json!(want));
            let mut page = self.call(op, &input).await?;
            if auto {
                quirks::decode_listing(&mut page);
            }
            let truncated = page
                .get("IsTruncated")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            // S3 sends NextMarker only with a delimiter; otherwise the last key is the marker.
            let next = page
                .get("NextMarker")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| last_listed(&page));
            let m = match merged.as_mut() {
                None => {
                    merged = Some(page);
                    merged.as_mut().expect("just set")
                }
                Some(m) => {
                    for list in ["Contents", "CommonPrefixes"] {
                        let more = page
                            .get(list)
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        if let Some(Value::Array(a)) = m.get_mut(list) {
                            a.extend(more);
                        }
                    }
                    m.insert("IsTruncated".into(), json!(truncated));
                    m
                }
            };
            match (&next, truncated) {
                (Some(marker), true) => {
                    m.insert("NextMarker".into(), json!(marker));
                    if count_listing(m) >= limit {
                        break;
                    }
                    let sent = if auto {
                        marker.clone()
                    } else {
                        wire_marker(&input, marker)
                    };
                    input.insert("marker".into(), json!(sent));
                }
                _ => {
                    m.remove("NextMarker");
                    break;
                }
            }
        }
        // `Marker` stays the first page's: where the caller started.
        Ok(merged.unwrap_or_default())
    }

    /// ListParts with automatic pagination up to `MaxItems`.
    pub(crate) async fn list_parts(
        &self,
        op: &'static Operation,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let limit = item_limit(&input, "max-parts");
        let page_size = input.get("max-parts").and_then(Value::as_u64);
        input.remove("MaxItems");
        let mut merged: Option<Map<String, Value>> = None;
        loop {
            let have = merged.as_ref().map_or(0, |m| list_len(m, "Parts"));
            let want = page_size.unwrap_or(1000).min(limit - have).min(1000);
            input.insert("max-parts".into(), json!(want));
            let page = self.call(op, &input).await?;
            let truncated = page
                .get("IsTruncated")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let next = page.get("NextPartNumberMarker").and_then(Value::as_u64);
            let m = match merged.as_mut() {
                None => {
                    merged = Some(page);
                    merged.as_mut().expect("just set")
                }
                Some(m) => {
                    let more = page
                        .get("Parts")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Array(a)) = m.get_mut("Parts") {
                        a.extend(more);
                    }
                    m.insert("IsTruncated".into(), json!(truncated));
                    match next {
                        Some(n) => m.insert("NextPartNumberMarker".into(), json!(n)),
                        None => m.remove("NextPartNumberMarker"),
                    };
                    m
                }
            };
            match next {
                Some(n) if truncated && list_len(m, "Parts") < limit => {
                    input.insert("part-number-marker".into(), json!(n));
                }
                _ => break,
            }
        }
        Ok(merged.unwrap_or_default())
    }

    /// Every uploaded part of an upload, as `Parts` for CompleteMultipartUpload.
    pub(crate) async fn all_parts(&self, input: &Map<String, Value>) -> Result<Vec<Value>, Error> {
        let mut list_input = Map::new();
        for k in ["Bucket", "Key", "uploadId"] {
            if let Some(v) = input.get(k) {
                list_input.insert(k.into(), v.clone());
            }
        }
        list_input.insert("MaxItems".into(), json!(10000));
        let listed = self
            .list_parts(op("list_parts_for_multipart_upload"), list_input)
            .await?;
        Ok(listed
            .get("Parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]}))
            .collect())
    }
}

/// The total item limit: `MaxItems`, else the page size when only that is given (manual paging
/// gets one page, as from S3), else 1,000.
fn item_limit(input: &Map<String, Value>, page_param: &str) -> u64 {
    input
        .get("MaxItems")
        .and_then(Value::as_u64)
        .or_else(|| input.get(page_param).and_then(Value::as_u64))
        .unwrap_or(1000)
}

fn list_len(m: &Map<String, Value>, list: &str) -> u64 {
    m.get(list)
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

fn count_listing(m: &Map<String, Value>) -> u64 {
    list_len(m, "Contents") + list_len(m, "CommonPrefixes")
}

fn last_listed(page: &Map<String, Value>) -> Option<String> {
    let last = |list: &str, field: &str| {
        page.get(list)
            .and_then(Value::as_array)
            .and_then(|a| a.last())
            .and_then(|v| v.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (last("Contents", "Key"), last("CommonPrefixes", "Prefix")) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A marker taken from a reply the caller asked to be URL-encoded must be decoded to send again.
fn wire_marker(input: &Map<String, Value>, marker: &str) -> String {
    if input.get("encoding-type").and_then(Value::as_str) == Some("url") {
        crate::endpoint::decode_url(marker)
    } else {
        marker.to_string()
    }
}
