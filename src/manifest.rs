//! The manifest: every operation, its parameters and where each goes on the wire.
//!
//! `connector/manifest.json` is generated (see `gen/`) and embedded in the binary, so
//! the executor, the validator and the `manifest` command all read the same facts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The committed, generated manifest, embedded at build time.
pub const MANIFEST_JSON: &str = include_str!("../connector/manifest.json");

// `OPERATION_INDEX` and `CONNECTION_RANGE`: where each operation sits in `MANIFEST_JSON`.
include!("../connector/operation_index.rs");

/// The operation named (or aliased) `name`, parsed from its own part of the embedded manifest
/// on first use: a request costs the parse of the one operation it names, however many the
/// manifest holds.
pub fn operation(name: &str) -> Option<&'static Operation> {
    static CELLS: [OnceLock<Operation>; NAMES] = [const { OnceLock::new() }; NAMES];
    let slot = slot(name)?;
    let (_, start, end) = OPERATION_INDEX[slot];
    Some(CELLS[slot].get_or_init(|| {
        serde_json::from_str(&MANIFEST_JSON[start..end]).expect("the operation index is current")
    }))
}

/// How many names operations answer to, aliases included.
pub(crate) const NAMES: usize = OPERATION_INDEX.len();

/// The position of `name` among [`operation_names`], for per-operation caches.
pub(crate) fn slot(name: &str) -> Option<usize> {
    OPERATION_INDEX
        .binary_search_by(|(n, _, _)| (*n).cmp(name))
        .ok()
}

/// Every name an operation answers to, aliases included, sorted.
pub fn operation_names() -> impl Iterator<Item = &'static str> {
    OPERATION_INDEX.iter().map(|(n, _, _)| *n)
}

/// The connection object's JSON Schema, parsed on first use.
pub fn connection_schema() -> &'static Value {
    static CELL: OnceLock<Value> = OnceLock::new();
    CELL.get_or_init(|| {
        let (start, end) = CONNECTION_RANGE;
        serde_json::from_str(&MANIFEST_JSON[start..end]).expect("the connection index is current")
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "$comment")]
    pub comment: String,
    /// This connector's version (`Cargo.toml`), which generated this manifest.
    pub connector_version: String,
    /// The version of the host contract (`docs/protocol.md`) this connector speaks.
    pub protocol_version: String,
    pub sources: Sources,
    pub operations: Vec<Operation>,
    /// JSON Schema of the connection object.
    pub connection: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Repository path of the vendor docs page the operations were parsed from.
    pub docs: String,
    /// SHA-256 of that page, so a changed input is visible in review.
    pub docs_sha256: String,
    pub overlay: String,
    /// AWS's S3 model, as the botocore package holds it (read from the installed package).
    pub model: String,
    /// The botocore release the model came from.
    pub botocore: String,
    /// SHA-256 of the model as botocore's loader reads it (its `sdk-extras` merged), written
    /// compactly in the loader's key order.
    pub model_sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Docs,
    Overlay,
    /// AWS's S3 model.
    Model,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub name: String,
    pub title: String,
    pub description: String,
    /// The AWS API reference page for this operation.
    pub reference: String,
    /// The link the vendor docs page gives, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_link: Option<String>,
    pub origin: Origin,
    /// AWS's name of the operation in its S3 model (`PutBucketLifecycleConfiguration`); absent
    /// for the connector's own workflow operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<String>,
    /// Other names the operation answers to (botocore's, where the docs page names it
    /// otherwise). A host may hide them in a picker: they run this same operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// AWS marks the operation deprecated (a newer one does the same).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// The model says the request must carry an integrity checksum: `Content-MD5` is computed
    /// for the body when the caller gave none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checksum_required: bool,
    /// What the operation does to the storage, for hosts that ask before acting.
    pub hints: Hints,
    pub http: Http,
    /// How the request body is made, when the operation sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// What the reply body holds.
    pub response_body: ResponseBody,
    pub parameters: Vec<Parameter>,
    /// Cross-field rules that JSON Schema alone reports poorly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// How the listing is paged, when the connector pages it automatically (up to `MaxItems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// How the executor carries the operation out when it is more than one plain request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// What the operation does beyond the generic request and reply (see `quirks.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<Quirk>,
    /// Output JSON Schema; each property carries `x-s3` saying where in the reply it comes from.
    pub output: Value,
    /// Every correction the overlay made to this operation, with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<String>,
    /// How a form lays the input out: sections in order (see [`FormSection`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<FormSection>,
    /// `output` compiled for mapping XML replies from their events, on first use.
    #[serde(skip)]
    pub xml_plan: XmlPlanCache,
}

/// Where an operation keeps its XML plan once compiled; empty by `Default` (the generator builds
/// operations with it empty).
#[derive(Debug, Clone, Default)]
pub struct XmlPlanCache(OnceLock<Option<crate::xml_stream::Plan>>);

/// Automatic pagination, as botocore's paginators describe it: pages are requested until the
/// reply is no longer truncated or `MaxItems` result items are collected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    /// The page-size input parameter (S3 gives at most 1,000 a page).
    pub page_size: String,
    /// Output lists concatenated across pages; together they count against `MaxItems`.
    pub results: Vec<String>,
    /// The boolean output that says another page follows.
    pub more: String,
    /// Where the next page starts: each input parameter takes an output field of the last page.
    pub tokens: Vec<PageToken>,
}

/// What an operation does to what is stored in S3, for hosts that ask before acting (MCP's tool
/// annotations, a UI's confirmation). Local files an operation writes (`OutputFile`) are not
/// counted: they are the caller's own choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hints {
    /// Changes nothing in S3 (it reads, or signs a URL locally without sending anything).
    pub read_only: bool,
    /// May replace or remove what is there (an object, a configuration), not only add to it.
    pub destructive: bool,
    /// Repeating it with the same input has no further effect on what is stored.
    pub idempotent: bool,
}

/// Operations that are more than one plain request, and the code that runs each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runner {
    /// A local file, in one PUT or as a parallel multipart upload aborted on failure
    /// (`transfer.rs`).
    UploadFile,
    /// An object into a local file by parallel ranged GETs, through a temporary name
    /// (`transfer.rs`).
    DownloadFile,
    /// `CreateMultipartUpload` made safe to repeat: the key's uploads are listed first, and one
    /// made by an attempt whose reply was lost is aborted (`multipart.rs`).
    CreateMultipartUpload,
    /// `CompleteMultipartUpload` made safe to repeat, with every uploaded part listed when
    /// `Parts` is not given (`multipart.rs`).
    CompleteMultipartUpload,
    /// A `SigV4` query-string URL for this operation's own request, signed and not sent
    /// (`presign.rs`).
    Presign,
    /// Every key (or version) under a prefix listed and deleted in batches of 1,000
    /// (`delete_prefix.rs`).
    DeletePrefix,
    /// A server-side copy of any size: `CopyObject`, or parallel `UploadPartCopy` parts aborted
    /// on failure (`copy_file.rs`).
    CopyFile,
    /// This operation's own `HEAD`, with a missing key an answer (`Exists: false`), not an
    /// error (`exists.rs`).
    ObjectExists,
}

/// Behaviour beyond the generic request and reply; each is explained where it is done, in
/// `quirks.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// A `200 OK` reply may carry an `<Error>` document.
    ErrorInSuccess,
    /// The listing is requested with `encoding-type=url` unless the caller chose one, and its
    /// keys and prefixes are decoded.
    UrlEncodedListing,
    /// When the bytes reached S3 altered (`BadDigest`) on every attempt, the object written is
    /// deleted.
    DeleteCorruptObject,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PageToken {
    pub input: String,
    pub output: String,
    /// When a truncated reply lacks `output` (`ListObjects` sends `NextMarker` only with a
    /// delimiter): the greatest of these `List/Field` values on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub else_last_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub method: String,
    /// `/{Bucket}/{Key}`, `/{Bucket}` or `/`.
    pub path: String,
    /// Fixed query parameters, e.g. `uploads` for `CreateMultipartUpload` (empty value = bare name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestBody {
    /// Raw bytes from one of the body-source parameters (text, base64 or a local file).
    Payload,
    /// `<CreateBucketConfiguration>` with the location constraint (see `quirks.rs`).
    CreateBucketConfiguration,
    /// `<CompleteMultipartUpload>` listing the parts (see `quirks.rs`).
    CompleteMultipartUpload,
    /// The XML document of the parameter with `Encoding::Xml`, written from its value as its
    /// schema's `x-s3` annotations say (`xml_write.rs`); empty when it is not given.
    Xml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseBody {
    /// Nothing to read but headers.
    None,
    /// An XML document mapped to the output by the `x-s3.xml` paths.
    Xml,
    /// The object's bytes.
    Payload,
    /// A text document returned whole as the output property marked `x-s3.body` (a bucket
    /// policy).
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// `Bucket` (host or first path segment) and `Key` (rest of the path).
    Path,
    Query,
    Header,
    /// A string map sent as one header per entry, `wire` being the name prefix (`x-amz-meta-`).
    HeaderMap,
    /// Request body content.
    Body,
    /// Used by the connector itself, never sent (output file, pagination limit).
    Local,
}

/// How a value is turned into its wire form when that is not the plain string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// A date (RFC 3339 or an HTTP date, `timefmt::parse_date`) sent as an IMF-fixdate HTTP
    /// date (RFC 9110).
    HttpDate,
    /// A date (as for `HttpDate`) sent as ISO 8601 UTC (`2030-01-01T00:00:00Z`).
    Iso8601,
    /// `x-amz-copy-source`: a URL-encoded string sent as given, or `{Bucket, Key, VersionId}`
    /// encoded by the connector (`quirks::copy_source`).
    CopySource,
    /// Body source: UTF-8 text.
    Text,
    /// Body source: base64.
    Base64,
    /// Body source: a local file path, streamed.
    File,
    /// The request's XML document, from a JSON object (`RequestBody::Xml`).
    Xml,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// The name hosts use, exactly as documented.
    pub name: String,
    pub location: Location,
    /// Wire name (header, query key, or header prefix); absent for path, body and local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<String>,
    pub required: bool,
    pub origin: Origin,
    /// The member of AWS's model this parameter is (`ACL` for `x-amz-acl`), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The value is a secret: never printed, masked in errors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The type the docs page gave (`string`, `STRING`, `integer`), absent for added parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_type: Option<String>,
    /// How the connector departs from what the docs page says this parameter is, and why
    /// (listed in `docs/operations.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departure: Option<String>,
    pub schema: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Rule {
    /// At most one of these parameters may be given.
    AtMostOneOf(Vec<String>),
    /// Exactly one of these parameters must be given (the body sources of a required body).
    OneOf(Vec<String>),
    /// A parameter that needs others with it (an SSE-C key its algorithm, new metadata on a copy
    /// the REPLACE directive).
    Requires(Requires),
}

/// When `given` is in the input, each parameter of `needs` must be too, with one of the values it
/// lists (any value when it lists none). `reason` is said to whoever breaks it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    pub given: String,
    pub needs: BTreeMap<String, Vec<Value>>,
    pub reason: String,
}

/// A run of fields a form shows together: the first (untitled) holds what people fill first,
/// the rest are named groups. Every input parameter is in exactly one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FormSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub fields: Vec<String>,
}

impl Manifest {
    /// The embedded manifest, parsed once.
    pub fn embedded() -> &'static Manifest {
        static CELL: OnceLock<Manifest> = OnceLock::new();
        CELL.get_or_init(|| {
            serde_json::from_str(MANIFEST_JSON).expect("embedded connector/manifest.json is valid")
        })
    }

    /// The operation by its name or an alias.
    #[must_use]
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.name == name || o.aliases.iter().any(|a| a == name))
    }

    #[must_use]
    pub fn operation_names(&self) -> Vec<&str> {
        self.operations.iter().map(|o| o.name.as_str()).collect()
    }
}

/// The operations the executor builds others from (`transfer.rs`, `multipart.rs`, the
/// cleanup after a corrupt upload), looked up once: the one place that names them.
pub struct Steps {
    pub put_object: &'static Operation,
    pub get_object: &'static Operation,
    pub delete_object: &'static Operation,
    pub create_multipart_upload: &'static Operation,
    pub upload_part: &'static Operation,
    pub complete_multipart_upload: &'static Operation,
    pub abort_multipart_upload: &'static Operation,
    pub list_multipart_uploads: &'static Operation,
    pub list_parts: &'static Operation,
    pub head_object: &'static Operation,
    pub head_bucket: &'static Operation,
    pub copy_object: &'static Operation,
    pub upload_part_copy: &'static Operation,
    pub get_object_tagging: &'static Operation,
    pub delete_objects: &'static Operation,
    pub list_objects_v2: &'static Operation,
    pub list_object_versions: &'static Operation,
}

/// The building blocks, from the embedded manifest (a unit test checks they are all there).
pub fn steps() -> &'static Steps {
    static CELL: OnceLock<Steps> = OnceLock::new();
    CELL.get_or_init(|| {
        let op = |name: &str| {
            operation(name).unwrap_or_else(|| panic!("the embedded manifest lacks `{name}`"))
        };
        Steps {
            put_object: op("put_object"),
            get_object: op("get_object"),
            delete_object: op("delete_object"),
            create_multipart_upload: op("create_multipart_upload"),
            upload_part: op("upload_part_in_multipart"),
            complete_multipart_upload: op("complete_multipart_upload"),
            abort_multipart_upload: op("abort_multipart_upload"),
            list_multipart_uploads: op("list_multipart_uploads"),
            list_parts: op("list_parts_for_multipart_upload"),
            head_object: op("head_object"),
            head_bucket: op("head_bucket"),
            copy_object: op("copy_object"),
            upload_part_copy: op("copy_part_in_multipart"),
            get_object_tagging: op("get_object_tagging"),
            delete_objects: op("delete_objects"),
            list_objects_v2: op("list_objects_v2"),
            list_object_versions: op("list_object_versions"),
        }
    })
}

impl Operation {
    /// The streaming plan for this operation's XML replies, when its output schema has one.
    pub fn xml_plan(&self) -> Option<&crate::xml_stream::Plan> {
        self.xml_plan
            .0
            .get_or_init(|| crate::xml_stream::Plan::compile(&self.output))
            .as_ref()
    }

    pub fn has_quirk(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// The parameters `input` gives, with their values, in the manifest's order. Found from the
    /// input's few members rather than by looking up each of the operation's parameters (a
    /// hashed lookup each, with dozens of parameters).
    pub(crate) fn given<'o, 'i>(
        &'o self,
        input: &'i serde_json::Map<String, Value>,
    ) -> Vec<(&'o Parameter, &'i Value)> {
        let mut found: Vec<(usize, &'i Value)> = input
            .iter()
            .filter_map(|(k, v)| Some((self.parameters.iter().position(|p| p.name == *k)?, v)))
            .collect();
        found.sort_unstable_by_key(|(i, _)| *i);
        found
            .into_iter()
            .map(|(i, v)| (&self.parameters[i], v))
            .collect()
    }

    /// The input JSON Schema (what `schemas/<op>.input.json` holds).
    pub fn input_schema(&self) -> Value {
        crate::schemas::input_schema(self)
    }

    /// The output JSON Schema without the `x-s3` wire annotations.
    pub fn output_schema(&self) -> Value {
        crate::schemas::output_schema(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_building_blocks_are_in_the_manifest() {
        let s = steps();
        assert_eq!(s.upload_part.name, "upload_part_in_multipart");
        assert_eq!(
            operation("upload_part").unwrap().name,
            "upload_part_in_multipart"
        );
        let all = Manifest::embedded();
        for name in operation_names() {
            let lazy = operation(name).unwrap();
            let full = all.operation(name).unwrap();
            assert_eq!(
                serde_json::to_value(lazy).unwrap(),
                serde_json::to_value(full).unwrap()
            );
        }
        assert_eq!(connection_schema(), &all.connection);
        assert_eq!(s.list_parts.http.method, "GET");
        assert!(s.put_object.has_quirk(Quirk::DeleteCorruptObject));
        assert_eq!(
            s.complete_multipart_upload.runner,
            Some(Runner::CompleteMultipartUpload)
        );
    }
}
