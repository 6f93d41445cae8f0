//! `delete_prefix`: every key under a prefix (with `AllVersions`, every version and delete
//! marker) listed page by page and deleted a page at a time with `DeleteObjects` (1,000 keys, S3's
//! limit per request), several batches in flight while the listing goes on.
//!
//! - A listing continues after the last key it gave (a token or markers), so deleting what it
//!   gave does not disturb it.
//! - `DeleteObjects` is repeat-safe here: deleting a deleted key (or version) succeeds. (Without
//!   `AllVersions` a repeat in a versioned bucket adds a second delete marker, which hides
//!   nothing more.)
//! - Keys S3 refuses with a transient code (`InternalError`, `SlowDown`) are sent again in a
//!   batch of their own, at most `PASSES` times; the rest of the refusals are reported per key.

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::execute::{Ctx, REPEAT_SAFE};
use crate::manifest::steps;
use crate::paginate::Pages;
use crate::retry;
use crate::transfer::for_operation;

/// Keys per `DeleteObjects` request: S3's maximum.
const BATCH: u64 = 1000;
/// Attempts at keys S3 refused with a transient code, the first included.
const PASSES: u32 = 3;
/// Per-key errors kept in the output; `ErrorCount` counts them all.
const MAX_ERRORS: usize = 1000;
const DEFAULT_CONCURRENCY: u64 = 4;

/// What the batches did.
#[derive(Default)]
struct Tally {
    deleted: u64,
    batches: u64,
    error_count: u64,
    errors: Vec<Value>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.deleted += other.deleted;
        self.batches += other.batches;
        self.error_count += other.error_count;
        let room = MAX_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
    }
}

impl Ctx<'_> {
    pub(crate) async fn delete_prefix(
        &self,
        input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let flag = |k: &str| input.get(k).and_then(Value::as_bool) == Some(true);
        let (all_versions, dry_run) = (flag("AllVersions"), flag("DryRun"));
        let concurrency = input
            .get("Concurrency")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_CONCURRENCY)
            .max(1);
        let list_op = if all_versions {
            steps().list_object_versions
        } else {
            steps().list_objects_v2
        };
        let mut list = for_operation(list_op, &input);
        if let Some(prefix) = input.get("Prefix") {
            list.insert("prefix".into(), prefix.clone());
        }
        let mut pages = Pages::new(list_op, list);
        let base = for_operation(steps().delete_objects, &input);
        let (mut found, mut markers) = (0u64, 0u64);
        let mut tally = Tally::default();
        let mut in_flight = FuturesUnordered::new();
        while let Some(page) = pages.next(self, BATCH).await? {
            let (objects, page_markers) = to_delete(&page.output.into_map(), all_versions);
            found += objects.len() as u64;
            markers += page_markers;
            self.progress.set_total(found);
            if dry_run || objects.is_empty() {
                continue;
            }
            while in_flight.len() as u64 >= concurrency {
                if let Some(done) = in_flight.next().await {
                    tally.add(done?);
                }
            }
            in_flight.push(self.delete_batch(&base, objects));
        }
        while let Some(done) = in_flight.next().await {
            tally.add(done?);
        }
        let mut out = Map::new();
        out.insert("Found".into(), json!(found));
        out.insert("Deleted".into(), json!(tally.deleted));
        if all_versions {
            out.insert("DeleteMarkers".into(), json!(markers));
        }
        out.insert("Batches".into(), json!(tally.batches));
        out.insert("DryRun".into(), json!(dry_run));
        out.insert("ErrorCount".into(), json!(tally.error_count));
        out.insert("Errors".into(), Value::Array(tally.errors));
        Ok(out)
    }

    /// Deletes one batch; keys refused with a transient code go again, at most `PASSES` times.
    async fn delete_batch(
        &self,
        base: &Map<String, Value>,
        mut objects: Vec<Value>,
    ) -> Result<Tally, Error> {
        let mut tally = Tally::default();
        for pass in 1..=PASSES {
            let mut input = base.clone();
            input.insert("Delete".into(), json!({"Objects": objects, "Quiet": true}));
            let out = self
                .call_with(steps().delete_objects, &input, &REPEAT_SAFE)
                .await?;
            tally.batches += 1;
            let refused = out
                .get("Errors")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let sent = objects.len() as u64;
            let (again, lasting): (Vec<Value>, Vec<Value>) = refused.into_iter().partition(|e| {
                pass < PASSES
                    && e.get("Code")
                        .and_then(Value::as_str)
                        .is_some_and(|c| crate::classify::retryable_reply(200, c))
            });
            tally.deleted += sent - (again.len() + lasting.len()) as u64;
            self.progress
                .add(sent - (again.len() + lasting.len()) as u64);
            tally.error_count += lasting.len() as u64;
            tally.errors.extend(lasting.into_iter().take(MAX_ERRORS));
            if again.is_empty() {
                break;
            }
            tracing::warn!(
                keys = again.len(),
                pass,
                "S3 refused keys with a transient error; deleting them again"
            );
            tokio::time::sleep(retry::Policy::delay(pass, retry::jitter_unit())).await;
            objects = again
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    for k in ["Key", "VersionId"] {
                        if let Some(v) = e.get(k) {
                            o.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(o)
                })
                .collect();
        }
        Ok(tally)
    }
}

/// The objects a listing page names, as `DeleteObjects` takes them, and how many are delete
/// markers: keys (`Contents`), or with versions every version and delete marker.
fn to_delete(page: &Map<String, Value>, all_versions: bool) -> (Vec<Value>, u64) {
    let items = |list: &str| {
        page.get(list)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let entry = |item: &Value| {
        let mut o = Map::new();
        if let Some(k) = item.get("Key") {
            o.insert("Key".into(), k.clone());
        }
        if all_versions {
            // `null` is the version of an object stored before versioning was turned on.
            if let Some(v) = item.get("VersionId") {
                o.insert("VersionId".into(), v.clone());
            }
        }
        Value::Object(o)
    };
    if !all_versions {
        return (items("Contents").iter().map(entry).collect(), 0);
    }
    let markers = items("DeleteMarkers");
    let objects = items("Versions").iter().chain(markers).map(entry).collect();
    (objects, markers.len() as u64)
}
