//! Composite listings: the operations whose manifest entry has a `pagination` spec are paged
//! automatically up to an item limit (`MaxItems`), one ordinary call a page, driven by the spec
//! alone (page size, result lists, `more` flag, tokens); and the full parts list that
//! `CompleteMultipartUpload` needs when the caller gives none.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::execute::{CallOpts, Ctx};
use crate::manifest::{steps, Operation, Pagination};
use crate::output::Output;
use crate::quirks;

/// One page after another of a listing, as its `pagination` spec says: the next page starts
/// where the last one's tokens say, and a listing that gives the same tokens twice is refused
/// (it would never end).
pub(crate) struct Pages {
    op: &'static Operation,
    input: Map<String, Value>,
    /// The connector asked for URL-encoded keys (`quirks::auto_encoding_type`), so decodes them.
    auto: bool,
    /// Result lists kept as JSON text (`xml_text`): for output printed as it is.
    text: bool,
    /// The tokens the last page gave, sent for this one.
    sent: Option<Vec<Value>>,
    ended: bool,
}

/// One page of a listing: its output (keys decoded), and where the next starts when the
/// listing goes on.
pub(crate) struct Page {
    pub(crate) output: Output,
    pub(crate) next: Option<Vec<Value>>,
}

impl Pages {
    /// The pages of a listing, their result lists as values.
    pub(crate) fn new(op: &'static Operation, input: Map<String, Value>) -> Self {
        Self::with_text(op, input, false)
    }

    /// The pages of a listing, their result lists as JSON text when `text`.
    fn with_text(op: &'static Operation, mut input: Map<String, Value>, text: bool) -> Self {
        input.remove("MaxItems");
        let auto = quirks::auto_encoding_type(op, &mut input);
        Pages {
            op,
            input,
            auto,
            text,
            sent: None,
            ended: false,
        }
    }

    fn spec(&self) -> &'static Pagination {
        self.op.pagination.as_ref().expect("a paginated operation")
    }

    /// The next page, of at most `want` items; `None` once the last page was read.
    pub(crate) async fn next(&mut self, ctx: &Ctx<'_>, want: u64) -> Result<Option<Page>, Error> {
        if self.ended {
            return Ok(None);
        }
        let spec = self.spec();
        self.input.insert(spec.page_size.clone(), json!(want));
        let opts = CallOpts {
            text_lists: self.text.then_some(self.auto),
            ..CallOpts::default()
        };
        let mut output = ctx.call_output(self.op, &self.input, &opts).await?;
        if self.auto {
            output.decode_listing();
        }
        let more = output.get(&spec.more).and_then(Value::as_bool) == Some(true);
        let next: Option<Vec<Value>> = spec.tokens.iter().map(|t| next_token(t, &output)).collect();
        match next {
            Some(values) if more => {
                if self.sent.as_ref() == Some(&values) {
                    return Err(stuck(self.op, "it gave the same continuation marker twice"));
                }
                for (t, v) in spec.tokens.iter().zip(values.iter().cloned()) {
                    let wire = if self.auto {
                        v
                    } else {
                        wire_token(&self.input, v)
                    };
                    self.input.insert(t.input.clone(), wire);
                }
                self.sent = Some(values.clone());
                Ok(Some(Page {
                    output,
                    next: Some(values),
                }))
            }
            _ => {
                self.ended = true;
                Ok(Some(Page { output, next: None }))
            }
        }
    }
}

impl Ctx<'_> {
    /// A listing with automatic pagination up to `MaxItems` result items (all `results` lists
    /// together). The merged output is the first page's, with every page's result lists, the
    /// last page's `more` flag, and the tokens to continue from when stopped at the limit.
    pub(crate) async fn paginate(
        &self,
        op: &'static Operation,
        input: Map<String, Value>,
    ) -> Result<Output, Error> {
        self.paginate_as(op, input, true).await
    }

    /// [`Self::paginate`], the result lists as values unless `text`.
    async fn paginate_as(
        &self,
        op: &'static Operation,
        input: Map<String, Value>,
        text: bool,
    ) -> Result<Output, Error> {
        let spec = op.pagination.as_ref().expect("a paginated operation");
        let limit = item_limit(&input, &spec.page_size);
        let page_size = input.get(&spec.page_size).and_then(Value::as_u64);
        let mut pages = Pages::with_text(op, input, text);
        let mut merged: Option<Output> = None;
        // Every page but the last adds at least one item, or the listing is not advancing.
        for page_number in 1.. {
            if page_number > limit + 1 {
                return Err(stuck(op, "it returned pages without items"));
            }
            let collected = merged.as_ref().map_or(0, |m| count(spec, m));
            let want = page_size.unwrap_or(1000).min(limit - collected).min(1000);
            let Some(Page { mut output, next }) = pages.next(self, want).await? else {
                break;
            };
            let more = output.get(&spec.more).cloned().unwrap_or(json!(false));
            let m = match merged.as_mut() {
                None => merged.insert(output),
                Some(m) => {
                    for list in &spec.results {
                        m.append_list(list, output.take_list(list));
                    }
                    m.insert(spec.more.clone(), more);
                    m
                }
            };
            let Some(values) = next else {
                for t in &spec.tokens {
                    m.remove(&t.output);
                }
                break;
            };
            for (t, v) in spec.tokens.iter().zip(values) {
                m.insert(t.output.clone(), v);
            }
            if count(spec, m) >= limit {
                break;
            }
        }
        // The input markers stay the first page's: where the caller started.
        Ok(merged.unwrap_or_default())
    }

    /// Every uploaded part of an upload, as `Parts` for `CompleteMultipartUpload`.
    pub(crate) async fn all_parts(&self, input: &Map<String, Value>) -> Result<Vec<Value>, Error> {
        let mut list_input = Map::new();
        for k in ["Bucket", "Key", "uploadId"] {
            if let Some(v) = input.get(k) {
                list_input.insert(k.into(), v.clone());
            }
        }
        list_input.insert("MaxItems".into(), json!(10000));
        let listed = self
            .paginate_as(steps().list_parts, list_input, false)
            .await?
            .into_map();
        Ok(listed
            .get("Parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                // The part's CRC, which an upload created with a checksum algorithm needs.
                let mut part = json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]});
                for m in ["ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME"] {
                    if let Some(v) = p.get(m) {
                        part[m] = v.clone();
                    }
                }
                part
            })
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

/// The error for a listing that says it is truncated but does not advance.
fn stuck(op: &Operation, why: &str) -> Error {
    Error::of(
        crate::error::Failure::Unexpected,
        format!("{}: the listing does not advance: {why}", op.name),
    )
}

/// Result items collected so far: every `results` list together.
fn count(spec: &Pagination, m: &Output) -> u64 {
    spec.results.iter().map(|l| m.count(l)).sum()
}

/// A token's value for the next page: its output field, else the greatest of the
/// `else_last_of` values (`List/Field`, the last item of each list) on the page.
fn next_token(t: &crate::manifest::PageToken, page: &Output) -> Option<Value> {
    if let Some(v) = page.get(&t.output).filter(|v| !v.is_null() && *v != "") {
        return Some(v.clone());
    }
    t.else_last_of
        .iter()
        .filter_map(|path| {
            let (list, field) = path.split_once('/')?;
            match page.last_item(list)?.get(field)? {
                Value::String(s) => Some(s.clone()),
                _ => None,
            }
        })
        .max()
        .map(Value::String)
}

/// A token taken from a reply the caller asked to be URL-encoded must be decoded to send again.
fn wire_token(input: &Map<String, Value>, v: Value) -> Value {
    match v {
        Value::String(s) if input.get("encoding-type").and_then(Value::as_str) == Some("url") => {
            Value::String(crate::endpoint::decode_url(&s))
        }
        other => other,
    }
}
