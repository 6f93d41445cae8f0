//! The generator: docs page + overlay → `connector/manifest.json`, `schemas/`, `docs/operations.md`.
//!
//! Run it with `cargo run -p s3-connector-gen`; `tests/drift.rs` runs it on a copy of the inputs
//! and compares with the committed files. It stops with a message on anything it does not
//! understand. It is a package of its own, so the runtime neither ships it nor compiles its
//! dependencies.

mod connection_schema;
pub mod docs_page;
mod forms;
mod hints;
pub mod model;
pub mod operations_doc;
pub mod overlay;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use docs_page::{DocOperation, DocParameter};
use model::{Model, ModelOp};
use overlay::{OperationOverlay, Overlay, ParameterPatch};
use s3_connector::manifest::{
    Location, Manifest, Operation, Origin, Pagination, Parameter, ResponseBody, Sources,
};
use s3_connector::schemas::{self, GENERATED_NOTE};

pub const DOCS_PATH: &str = "connector/aws-s3-v2.md";
pub const OVERLAY_PATH: &str = "connector/overlay.json";

/// Standard HTTP headers S3 reads from a request. A capitalised name in this list goes to a header.
const STANDARD_HEADERS: &[&str] = &[
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-MD5",
    "Content-Type",
    "Expires",
    "If-Match",
    "If-Modified-Since",
    "If-None-Match",
    "If-Unmodified-Since",
    "Range",
];

/// Where a documented parameter goes, decided from its name alone. `None` means the name does not
/// say, and the overlay must.
pub fn locate(name: &str) -> Option<(Location, Option<String>)> {
    match name {
        "Bucket" | "Key" => Some((Location::Path, None)),
        n if n.starts_with("x-amz-") && n.ends_with('-') => {
            Some((Location::HeaderMap, Some(n.into())))
        }
        n if n.starts_with("x-amz-") || STANDARD_HEADERS.contains(&n) => {
            Some((Location::Header, Some(n.into())))
        }
        // S3's query parameters are all lower camel or kebab case (`uploadId`, `max-parts`).
        n if n.starts_with(|c: char| c.is_ascii_lowercase()) => {
            Some((Location::Query, Some(n.into())))
        }
        _ => None,
    }
}

/// Every generated file: repository-relative path → contents.
pub fn generate(
    docs_text: &str,
    overlay_text: &str,
    model: &Model,
    live: &operations_doc::Live,
) -> Result<BTreeMap<String, String>, String> {
    let manifest = build_manifest(docs_text, overlay_text, model)?;
    let mut files = BTreeMap::new();
    let text = pretty(&serde_json::to_value(&manifest).unwrap());
    files.insert(INDEX_PATH.to_string(), operation_index(&manifest, &text)?);
    files.insert("connector/manifest.json".to_string(), text);
    let connection = schemas::connection_file(&manifest);
    files.insert(
        "schemas/ui/connection.rjsf.json".to_string(),
        pretty(&forms::rjsf_connection_ui(&connection)),
    );
    files.insert(
        "schemas/ui/connection.jsonforms.json".to_string(),
        pretty(&forms::jsonforms_connection_ui(&connection)),
    );
    files.insert("schemas/connection.json".to_string(), pretty(&connection));
    for op in &manifest.operations {
        let input = schemas::input_schema(op);
        files.insert(
            format!("schemas/ui/{}.rjsf.json", op.name),
            pretty(&forms::rjsf_ui(op, &input)),
        );
        files.insert(
            format!("schemas/ui/{}.jsonforms.json", op.name),
            pretty(&forms::jsonforms_ui(op, &input)),
        );
        files.insert(format!("schemas/{}.input.json", op.name), pretty(&input));
        files.insert(
            format!("schemas/{}.output.json", op.name),
            pretty(&schemas::output_schema(op)),
        );
    }
    files.insert(
        "docs/operations.md".to_string(),
        operations_doc::render(&manifest, model::EXCLUDED, &model.round_trips(), live),
    );
    Ok(files)
}

/// The Python whose botocore holds the model: `S3_CONNECTOR_PYTHON`, else the project's tool
/// environment (`scripts/install-tools`).
pub fn default_python() -> std::path::PathBuf {
    std::env::var_os("S3_CONNECTOR_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"),
        std::path::PathBuf::from,
    )
}

/// Reads the inputs under `root`, and AWS's model from the botocore that `python` imports, and
/// generates.
pub fn generate_from(root: &Path, python: &Path) -> Result<BTreeMap<String, String>, String> {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}"));
    let model = Model::load(python)?;
    let live = live_results(&read(LIVE_PATH)?)?;
    generate(&read(DOCS_PATH)?, &read(OVERLAY_PATH)?, &model, &live)
}

/// The live scenarios of every operation, with the servers each passes on (checked by
/// `tests/every_operation.rs`, which runs them).
pub const LIVE_PATH: &str = "tests/ops/scenarios.json";

fn live_results(text: &str) -> Result<operations_doc::Live, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{LIVE_PATH}: {e}"))?;
    let mut out = operations_doc::Live::new();
    for (op, scenario) in v.as_object().into_iter().flatten() {
        let passed: Vec<String> = scenario
            .get("servers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, r)| r.as_str() == Some("pass"))
            .map(|(server, _)| match server.as_str() {
                "seaweedfs" => "SeaweedFS".to_string(),
                other => other.to_string(),
            })
            .collect();
        if !passed.is_empty() {
            out.insert(op.clone(), passed);
        }
    }
    Ok(out)
}

/// Where each operation and the connection schema sit in the manifest's text.
pub const INDEX_PATH: &str = "connector/operation_index.rs";

/// The byte range of each operation (under its name and each alias, sorted) and of the
/// connection schema in `text`, as Rust constants: the connector parses only the operation a
/// request names, so its start-up does not grow with the operation count.
fn operation_index(manifest: &Manifest, text: &str) -> Result<String, String> {
    // A value pretty-printed alone, as it appears `depth` levels down in the whole document.
    let nested = |v: &Value, depth: usize| {
        let s = serde_json::to_string_pretty(v).expect("json");
        s.replace('\n', &format!("\n{}", "  ".repeat(depth)))
    };
    let mut cursor = 0;
    let mut entries: Vec<(String, usize, usize)> = Vec::new();
    for op in &manifest.operations {
        let op_text = nested(&serde_json::to_value(op).expect("json"), 2);
        let start = cursor
            + text[cursor..]
                .find(&op_text)
                .ok_or_else(|| format!("index: `{}` not found in the manifest text", op.name))?;
        cursor = start + op_text.len();
        for name in std::iter::once(&op.name).chain(&op.aliases) {
            entries.push((name.clone(), start, cursor));
        }
    }
    entries.sort();
    let conn = nested(&manifest.connection, 1);
    let conn_start = text[cursor..]
        .find(&conn)
        .map(|i| i + cursor)
        .ok_or("index: the connection schema not found in the manifest text")?;
    let mut out = String::from(
        "// Generated by s3-connector-gen from connector/manifest.json; do not edit.\n\
         // Byte ranges in that file: each operation's object, under its name and each alias\n\
         // (sorted for binary search), and the connection schema.\n\n\
         #[allow(clippy::unreadable_literal)]\n\
         pub(crate) const OPERATION_INDEX: &[(&str, usize, usize)] = &[\n",
    );
    for (name, start, end) in &entries {
        out.push_str(&format!("    ({name:?}, {start}, {end}),\n"));
    }
    out.push_str("];\n\n");
    out.push_str(&format!(
        "#[allow(clippy::unreadable_literal)]\npub(crate) const CONNECTION_RANGE: (usize, usize) = ({conn_start}, {});\n",
        conn_start + conn.len()
    ));
    Ok(out)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("json");
    s.push('\n');
    s
}

pub fn build_manifest(
    docs_text: &str,
    overlay_text: &str,
    model: &Model,
) -> Result<Manifest, String> {
    let docs = docs_page::parse(docs_text).map_err(|e| e.to_string())?;
    let overlay = Overlay::parse(overlay_text)?;
    for d in &docs {
        match overlay.operations.iter().find(|o| o.name == d.name) {
            None => {
                return Err(format!(
                    "operation `{}` has no entry in the overlay",
                    d.name
                ))
            }
            Some(o) if o.new => {
                return Err(format!(
                    "overlay marks `{}` as new but the docs page has it",
                    d.name
                ))
            }
            Some(_) => {}
        }
    }
    let date_type = overlay
        .types
        .get("date")
        .and_then(Value::as_object)
        .ok_or("overlay: types.date is missing")?;
    let aws_names = model.operation_names();
    let mut operations: Vec<Operation> = Vec::new();
    for ov in &overlay.operations {
        if operations.iter().any(|o| o.name == ov.name) {
            return Err(format!("overlay lists operation `{}` twice", ov.name));
        }
        let doc = docs.iter().find(|d| d.name == ov.name);
        if doc.is_none() && !ov.new {
            return Err(format!(
                "overlay operation `{}` is not on the docs page and not marked `new`",
                ov.name
            ));
        }
        if ov.model.is_none() && aws_names.iter().any(|a| model::snake(a) == ov.name) {
            return Err(format!(
                "{}: the model has this operation; name it in `model`",
                ov.name
            ));
        }
        let mop = match &ov.model {
            Some(aws) => Some(model.operation(aws, date_type)?),
            None => None,
        };
        let sources = sources_from_model(&overlay, model, date_type, ov, &operations)?;
        let earlier: Vec<&Operation> = operations.iter().chain(&sources).collect();
        let op = build_operation(&overlay, ov, doc, mop.as_ref(), &earlier)?;
        operations.push(op);
    }
    for aws in &aws_names {
        if model::EXCLUDED.iter().any(|(n, _)| n == aws)
            || overlay
                .operations
                .iter()
                .any(|o| o.model.as_deref() == Some(aws))
        {
            continue;
        }
        let mop = model.operation(aws, date_type)?;
        if operations
            .iter()
            .any(|o| o.name == mop.name || o.aliases.contains(&mop.name))
        {
            return Err(format!(
                "`{}` ({aws}) is already the name of another operation",
                mop.name
            ));
        }
        operations.push(model_operation(&overlay, mop)?);
    }
    for name in overlay.model_operations.keys() {
        if !operations
            .iter()
            .any(|o| &o.name == name && o.origin == Origin::Model)
        {
            return Err(format!(
                "overlay model_operations.{name}: no such operation from the model"
            ));
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(docs_text.as_bytes());
    let mut connection = connection_schema::connection_schema();
    forms::connection(&mut connection).map_err(|e| format!("connection: {e}"))?;
    let mut manifest = Manifest {
        comment: GENERATED_NOTE.to_string(),
        connector_version: s3_connector::VERSION.to_string(),
        protocol_version: s3_connector::PROTOCOL_VERSION.to_string(),
        sources: Sources {
            docs: DOCS_PATH.to_string(),
            docs_sha256: hex::encode(hasher.finalize()),
            overlay: OVERLAY_PATH.to_string(),
            model: model::MODEL_PATH.to_string(),
            botocore: model.botocore.clone(),
            model_sha256: model.sha256.clone(),
        },
        operations,
        connection,
    };
    hints::check(&manifest.operations)?;
    forms::finish(&mut manifest, &overlay)?;
    Ok(manifest)
}

/// An operation generated from the model alone, with the by-name patches of the overlay (the
/// same form conventions as the docs page's operations) and its `model_operations` entry.
fn model_operation(overlay: &Overlay, mut mop: ModelOp) -> Result<Operation, String> {
    let mut corrections = Vec::new();
    let mut parameters = Vec::new();
    for mut p in std::mem::take(&mut mop.parameters) {
        patch_by_name(overlay, &mut p, &mut corrections)?;
        finish_parameter(&mop.name, &mut p)?;
        parameters.push(p);
    }
    let mut quirks = Vec::new();
    if let Some(extra) = overlay.model_operations.get(&mop.name) {
        corrections.push(format!("operation: {}", extra.reason));
        for q in &extra.quirks {
            corrections.push(format!("quirk {:?}: {}", q.is, q.reason));
            quirks.push(q.is);
        }
        for (name, patch) in &extra.output {
            let prop = mop
                .output
                .get_mut(name)
                .and_then(Value::as_object_mut)
                .ok_or_else(|| format!("model_operations.{}: no output `{name}`", mop.name))?;
            let patch = patch.as_object().ok_or("an output patch is an object")?;
            overlay.merge_schema(prop, patch)?;
        }
    }
    let pagination = match mop.pagination {
        Some(p) => {
            let patch = overlay
                .max_items
                .as_ref()
                .ok_or("overlay: `max_items` is missing")?;
            parameters.push(added_parameter(overlay, "MaxItems", patch)?);
            corrections.push(format!("MaxItems (added): {}", patch.reason));
            Some(p)
        }
        None => None,
    };
    // A streamed body comes from one source at most.
    let sources = ["Body", "BodyBase64", "BodyFile"];
    let rules = if sources
        .iter()
        .all(|n| parameters.iter().any(|p| p.name == *n))
    {
        let names = sources.iter().map(|n| (*n).to_string()).collect();
        vec![if mop.payload_required {
            s3_connector::manifest::Rule::OneOf(names)
        } else {
            s3_connector::manifest::Rule::AtMostOneOf(names)
        }]
    } else {
        Vec::new()
    };
    let (output, response_body) = build_output(&mop.name, &mop.output)?;
    if let Some(p) = &pagination {
        check_pagination(&mop.name, p, &parameters, &output)?;
    }
    let hints = hints::hints(&mop.name, &mop.http.method, None)?;
    Ok(Operation {
        name: mop.name,
        title: mop.title,
        description: mop.description,
        reference: mop.reference,
        docs_link: None,
        origin: Origin::Model,
        aws: Some(mop.aws),
        aliases: Vec::new(),
        deprecated: mop.deprecated,
        checksum_required: mop.checksum_required,
        hints,
        http: mop.http,
        request_body: mop.request_body,
        response_body,
        parameters,
        rules,
        pagination,
        runner: None,
        quirks,
        output,
        corrections,
        form: Vec::new(),
        xml_plan: Default::default(),
    })
}

/// The operations generated from the model alone that `ov` takes parameters or output from
/// (built here as they will be later), so that a workflow operation can start from one.
fn sources_from_model(
    overlay: &Overlay,
    model: &Model,
    date_type: &Map<String, Value>,
    ov: &OperationOverlay,
    built: &[Operation],
) -> Result<Vec<Operation>, String> {
    let names = ov
        .parameters_from
        .iter()
        .map(|f| &f.operation)
        .chain(ov.output_from.iter().map(|f| &f.is));
    let mut out = Vec::new();
    for name in names {
        if built.iter().any(|o| &o.name == name) || out.iter().any(|o: &Operation| &o.name == name)
        {
            continue;
        }
        let aws = model
            .operation_names()
            .into_iter()
            .find(|a| model::snake(a) == *name);
        let claimed = |a: &&str| {
            overlay
                .operations
                .iter()
                .any(|o| o.model.as_deref() == Some(*a))
        };
        if let Some(aws) = aws.filter(|a| !claimed(a)) {
            out.push(model_operation(overlay, model.operation(aws, date_type)?)?);
        }
    }
    Ok(out)
}

fn build_operation(
    overlay: &Overlay,
    ov: &OperationOverlay,
    doc: Option<&DocOperation>,
    mop: Option<&ModelOp>,
    earlier: &[&Operation],
) -> Result<Operation, String> {
    let mut corrections = vec![format!("operation: {}", ov.reason)];
    let mut parameters: Vec<Parameter> = Vec::new();
    let source = |name: &str, what: &str| {
        earlier
            .iter()
            .find(|o| o.name == name)
            .copied()
            .ok_or_else(|| {
                format!(
                    "{}: {what} `{name}` must come earlier in the overlay or from the model alone",
                    ov.name
                )
            })
    };
    if let Some(from) = &ov.parameters_from {
        let src = source(&from.operation, "parameters_from")?;
        for e in &from.except {
            if src.parameter(e).is_none() {
                return Err(format!(
                    "{}: parameters_from.except names unknown `{e}`",
                    ov.name
                ));
            }
        }
        // The source's members of the model stay behind: this operation gets those of its own.
        parameters.extend(
            src.parameters
                .iter()
                .filter(|p| {
                    !from.except.contains(&p.name)
                        && (from.model_members || p.origin != Origin::Model)
                })
                .cloned()
                .map(|mut p| {
                    // A copy of a page's parameter is the overlay's; a member of the model
                    // stays the model's.
                    if p.origin == Origin::Docs {
                        p.origin = Origin::Overlay;
                    }
                    p.departure = None;
                    p
                }),
        );
        corrections.push(format!(
            "parameters from {}: {}",
            from.operation, from.reason
        ));
    }
    for dp in doc.map(|d| d.parameters.as_slice()).unwrap_or_default() {
        parameters.push(doc_parameter(&ov.name, dp)?);
    }
    // Patches: by name everywhere, then this operation's own.
    for p in parameters.iter_mut() {
        patch_by_name(overlay, p, &mut corrections)?;
    }
    for (name, patch) in &ov.parameters {
        let patch = overlay.patch(patch)?;
        let p = parameters
            .iter_mut()
            .find(|p| &p.name == name)
            .ok_or_else(|| format!("{}: overlay patches unknown parameter `{name}`", ov.name))?;
        if patch.departure.is_some() && p.origin != Origin::Docs {
            return Err(format!(
                "{}.{name}: a departure is from the docs page, which does not have this parameter",
                ov.name
            ));
        }
        apply_patch(overlay, p, &patch)?;
        corrections.push(format!("{name}: {}", patch.reason));
    }
    for add in &ov.add_parameters {
        let name = add.name.clone().expect("checked in Overlay::parse");
        if add.departure.is_some() {
            return Err(format!(
                "{}.{name}: an added parameter has no page to depart from",
                ov.name
            ));
        }
        if parameters.iter().any(|p| p.name == name) {
            return Err(format!(
                "{}: added parameter `{name}` already exists",
                ov.name
            ));
        }
        let p = added_parameter(overlay, &name, add)?;
        corrections.push(format!("{name} (added): {}", add.reason));
        parameters.push(p);
    }
    if let Some(mop) = mop {
        merge_model_parameters(overlay, ov, mop, &mut parameters, &mut corrections)?;
    }
    for p in parameters.iter_mut() {
        // A documented name that does not say where it goes must be placed by the overlay.
        let placed = |patch: Option<&Value>| {
            patch
                .and_then(|v| overlay.patch(v).ok())
                .is_some_and(|p| p.location.is_some())
        };
        if p.origin == Origin::Docs
            && locate(&p.name).is_none()
            && !placed(overlay.parameters_by_name.get(&p.name))
            && !placed(ov.parameters.get(&p.name))
        {
            return Err(format!(
                "{}.{}: cannot decide the wire location from the name; set `location` in the overlay",
                ov.name, p.name
            ));
        }
        finish_parameter(&ov.name, p)?;
    }
    for rule in &ov.rules {
        let names: Vec<&String> = match rule {
            s3_connector::manifest::Rule::AtMostOneOf(names)
            | s3_connector::manifest::Rule::OneOf(names) => names.iter().collect(),
            s3_connector::manifest::Rule::Requires(r) => {
                std::iter::once(&r.given).chain(r.needs.keys()).collect()
            }
        };
        for n in names {
            if !parameters.iter().any(|p| &p.name == n) {
                return Err(format!("{}: rule names unknown parameter `{n}`", ov.name));
            }
        }
    }
    let description = match (&ov.description, doc) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if !d.description.is_empty() => d.description.clone(),
        _ => {
            return Err(format!(
                "{}: no description on the docs page; give one in the overlay",
                ov.name
            ))
        }
    };
    let mut output_props = Map::new();
    if let Some(from) = &ov.output_from {
        let src = source(&from.is, "output_from")?;
        output_props.extend(
            src.output
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        );
        corrections.push(format!("output from {}: {}", from.is, from.reason));
    }
    let model_output = mop.map(|m| &m.output);
    for (name, prop) in &ov.output {
        let mut expanded = Map::new();
        overlay.merge_schema(
            &mut expanded,
            prop.as_object()
                .ok_or_else(|| format!("{}: output `{name}` is not an object", ov.name))?,
        )?;
        output_props.insert(name.clone(), Value::Object(expanded));
    }
    // The model's members the overlay does not write (all of them once the overlay writes none);
    // one it writes must come from where the model says, as the same JSON type, and gains the
    // nested members it lacks.
    for (name, prop) in model_output.into_iter().flatten() {
        match output_props.get_mut(name) {
            None => {
                output_props.insert(name.clone(), prop.clone());
            }
            Some(ours) => {
                // Header names compare without case, as HTTP reads them.
                let facts = |s: &Value| {
                    let x = s.get("x-s3").map(|x| x.to_string().to_ascii_lowercase());
                    (x, s.get("type").cloned())
                };
                if facts(ours) != facts(prop) {
                    return Err(format!(
                        "{}: output `{name}` is {:?} in the overlay but {:?} in the model",
                        ov.name,
                        facts(ours),
                        facts(prop)
                    ));
                }
                add_missing_members(ours, prop);
            }
        }
    }
    let http = match (&ov.http, mop) {
        (Some(h), Some(m)) if *h != m.http => {
            return Err(format!(
                "{}: the overlay's HTTP binding {h:?} disagrees with the model's {:?}",
                ov.name, m.http
            ))
        }
        (Some(h), _) => h.clone(),
        (None, Some(m)) => m.http.clone(),
        (None, None) => return Err(format!("{}: no HTTP binding (not in the model)", ov.name)),
    };
    let (output, response_body) = build_output(&ov.name, &output_props)?;
    let pagination = match &ov.pagination {
        None => None,
        Some(p) => {
            let spec = Pagination {
                page_size: p.page_size.clone(),
                results: p.results.clone(),
                more: p.more.clone(),
                tokens: p.tokens.clone(),
            };
            check_pagination(&ov.name, &spec, &parameters, &output)?;
            corrections.push(format!("pagination: {}", p.reason));
            Some(spec)
        }
    };
    if let Some(r) = &ov.runner {
        corrections.push(format!("runner {:?}: {}", r.is, r.reason));
    }
    for q in &ov.quirks {
        corrections.push(format!("quirk {:?}: {}", q.is, q.reason));
    }
    Ok(Operation {
        name: ov.name.clone(),
        title: ov.title.clone(),
        description,
        reference: ov.reference.clone(),
        docs_link: doc.and_then(|d| d.link.clone()),
        origin: if doc.is_some() {
            Origin::Docs
        } else {
            Origin::Overlay
        },
        aws: mop.map(|m| m.aws.clone()),
        aliases: ov.aliases.clone(),
        deprecated: mop.is_some_and(|m| m.deprecated),
        checksum_required: mop.is_some_and(|m| m.checksum_required),
        hints: hints::hints(&ov.name, &http.method, ov.runner.as_ref().map(|r| r.is))?,
        http,
        request_body: ov.request_body.or(mop.and_then(|m| m.request_body)),
        response_body,
        parameters,
        rules: ov.rules.clone(),
        pagination,
        runner: ov.runner.as_ref().map(|r| r.is),
        quirks: ov.quirks.iter().map(|q| q.is).collect(),
        output,
        corrections,
        form: Vec::new(),
        xml_plan: Default::default(),
    })
}

/// The model's nested members an overlay-written output lacks (a listing's item written by hand
/// before S3 added checksums to it), added where they belong.
fn add_missing_members(ours: &mut Value, model: &Value) {
    if let (Some(o), Some(m)) = (ours.get_mut("items"), model.get("items")) {
        add_missing_members(o, m);
    }
    let Some(theirs) = model.get("properties").and_then(Value::as_object) else {
        return;
    };
    let Some(props) = ours.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, m) in theirs {
        match props.get_mut(name) {
            Some(o) => add_missing_members(o, m),
            None => {
                props.insert(name.clone(), m.clone());
            }
        }
    }
}

/// A parameter the overlay adds, all of it from `patch` (which names its location).
fn added_parameter(
    overlay: &Overlay,
    name: &str,
    patch: &ParameterPatch,
) -> Result<Parameter, String> {
    let location = patch
        .location
        .ok_or_else(|| format!("added parameter `{name}` needs `location`"))?;
    let mut p = overlay_parameter(name, location, None, json!({"title": humanize(name)}));
    apply_patch(overlay, &mut p, patch)?;
    Ok(p)
}

/// The overlay's patch for every parameter of this name, when it has one. For a member of the
/// model only the form conventions (schema, secret, date encoding) carry over: the model is
/// authoritative for where a member goes and whether it is required.
fn patch_by_name(
    overlay: &Overlay,
    p: &mut Parameter,
    corrections: &mut Vec<String>,
) -> Result<(), String> {
    let Some(patch) = overlay.parameters_by_name.get(&p.name) else {
        return Ok(());
    };
    let mut patch = overlay.patch(patch)?;
    if p.origin == Origin::Model {
        patch.required = None;
        patch.location = None;
        patch.wire = None;
    }
    apply_patch(overlay, p, &patch)?;
    corrections.push(format!("{}: {}", p.name, patch.reason));
    Ok(())
}

/// The model's members join the docs page's parameters: one the page has (by wire name or URI
/// label) is the same parameter and learns its member name; the others are added, unless the
/// overlay skips them with a reason. A member placed elsewhere than the page places it stops the
/// generator.
fn merge_model_parameters(
    overlay: &Overlay,
    ov: &OperationOverlay,
    mop: &ModelOp,
    parameters: &mut Vec<Parameter>,
    corrections: &mut Vec<String>,
) -> Result<(), String> {
    for member in ov.skip_members.keys() {
        if !mop
            .parameters
            .iter()
            .any(|p| p.member.as_deref() == Some(member))
        {
            return Err(format!(
                "{}: skip_members names unknown member `{member}`",
                ov.name
            ));
        }
    }
    for mp in &mop.parameters {
        let member = mp.member.clone().unwrap_or_default();
        if let Some(p) = parameters.iter_mut().find(|p| p.name == mp.name) {
            // The page copies some descriptions from other operations ("the copied object" on
            // put_object): the model's documentation of this operation's member wins, unless
            // the overlay writes one.
            let described = |patch: Option<&Value>| {
                patch
                    .and_then(|v| overlay.patch(v).ok())
                    .and_then(|p| p.schema)
                    .is_some_and(|s| s.contains_key("description"))
            };
            if p.origin == Origin::Docs
                && !described(overlay.parameters_by_name.get(&p.name))
                && !described(ov.parameters.get(&p.name))
            {
                if let Some(d) = mp.schema.get("description") {
                    p.schema["description"] = d.clone();
                }
            }
            if p.location != mp.location || (p.wire.is_some() && p.wire != mp.wire) {
                return Err(format!(
                    "{}.{}: placed at {:?} {:?}, but the model places member `{member}` at {:?} {:?}",
                    ov.name, p.name, p.location, p.wire, mp.location, mp.wire
                ));
            }
            p.member = Some(member);
            continue;
        }
        if let Some(reason) = ov.skip_members.get(&member) {
            corrections.push(format!("{member} (not taken): {reason}"));
            continue;
        }
        let mut p = mp.clone();
        patch_by_name(overlay, &mut p, corrections)?;
        parameters.push(p);
    }
    Ok(())
}

/// A pagination spec must name parameters and outputs the operation has: the page size and
/// each token's input among the parameters (and `MaxItems`, the total limit), the result lists
/// as arrays, `more` as a boolean, and each token's output among the outputs.
fn check_pagination(
    op: &str,
    p: &Pagination,
    parameters: &[Parameter],
    output: &Value,
) -> Result<(), String> {
    let has_param = |n: &str| parameters.iter().any(|q| q.name == n);
    let out_type = |n: &str| {
        output
            .pointer(&format!("/properties/{n}/type"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut missing = Vec::new();
    for n in [p.page_size.as_str(), "MaxItems"]
        .into_iter()
        .chain(p.tokens.iter().map(|t| t.input.as_str()))
    {
        if !has_param(n) {
            missing.push(format!("parameter `{n}`"));
        }
    }
    for r in &p.results {
        if out_type(r).as_deref() != Some("array") {
            missing.push(format!("array output `{r}`"));
        }
    }
    if out_type(&p.more).as_deref() != Some("boolean") {
        missing.push(format!("boolean output `{}`", p.more));
    }
    for t in &p.tokens {
        if out_type(&t.output).is_none() {
            missing.push(format!("output `{}`", t.output));
        }
        for path in &t.else_last_of {
            let field = path.split_once('/').and_then(|(list, field)| {
                output.pointer(&format!("/properties/{list}/items/properties/{field}"))
            });
            if field.is_none() {
                missing.push(format!("list item field `{path}`"));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{op}: pagination names what the operation lacks: {}",
            missing.join(", ")
        ))
    }
}

fn doc_parameter(op: &str, dp: &DocParameter) -> Result<Parameter, String> {
    let ty = match dp.docs_type.as_str() {
        "string" | "STRING" => "string",
        "integer" => "integer",
        other => return Err(format!("{op}.{}: unknown type `{other}`", dp.name)),
    };
    let mut schema = json!({"title": humanize(&dp.name), "type": ty});
    if let Some(d) = &dp.description {
        schema["description"] = json!(d);
    }
    let (location, wire) = match locate(&dp.name) {
        Some(l) => (l.0, l.1),
        // Decided later by an overlay patch, or refused in `finish_parameter`.
        None => (Location::Local, None),
    };
    Ok(Parameter {
        name: dp.name.clone(),
        location,
        wire,
        required: dp.required,
        origin: Origin::Docs,
        member: None,
        secret: false,
        encoding: None,
        docs_type: Some(dp.docs_type.clone()),
        departure: None,
        schema,
    })
}

fn apply_patch(overlay: &Overlay, p: &mut Parameter, patch: &ParameterPatch) -> Result<(), String> {
    if let Some(r) = patch.required {
        p.required = r;
    }
    if let Some(l) = patch.location {
        p.location = l;
        p.wire = None;
    }
    if let Some(w) = &patch.wire {
        p.wire = Some(w.clone());
    }
    if let Some(s) = patch.secret {
        p.secret = s;
    }
    if let Some(e) = patch.encoding {
        p.encoding = Some(e);
    }
    // Only where the page documents the parameter is there a page to depart from (a by-name
    // patch also reaches copies the overlay made; `build_operation` refuses the rest).
    if let (Some(d), Origin::Docs) = (&patch.departure, p.origin) {
        p.departure = Some(d.clone());
    }
    if let Some(s) = &patch.schema {
        let base = p.schema.as_object_mut().expect("schema object");
        overlay.merge_schema(base, s)?;
    }
    Ok(())
}

/// A parameter the overlay adds, optional, with nothing but its place and schema.
pub(crate) fn overlay_parameter(
    name: &str,
    location: Location,
    wire: Option<String>,
    schema: Value,
) -> Parameter {
    Parameter {
        name: name.to_string(),
        location,
        wire,
        required: false,
        origin: Origin::Overlay,
        member: None,
        secret: false,
        encoding: None,
        docs_type: None,
        departure: None,
        schema,
    }
}

/// Final checks and the rules every parameter gets from its location.
fn finish_parameter(op: &str, p: &mut Parameter) -> Result<(), String> {
    if matches!(p.location, Location::Header | Location::Query) && p.wire.is_none() {
        p.wire = Some(p.name.clone());
    }
    if p.location == Location::HeaderMap && p.wire.is_none() {
        return Err(format!(
            "{op}.{}: a header map needs its prefix in `wire`",
            p.name
        ));
    }
    let schema = p.schema.as_object_mut().expect("schema object");
    // Without a type, keywords such as minLength or pattern pass any number or object. A
    // `oneOf` whose every branch has its type is typed too.
    let typed = |s: &Map<String, Value>| s.contains_key("type");
    let branches_typed = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .is_some_and(|b| b.iter().all(|b| b.as_object().is_some_and(typed)));
    if !typed(schema) && !branches_typed {
        return Err(format!(
            "{op}.{}: the schema says no `type`; give one in the overlay",
            p.name
        ));
    }
    if p.secret {
        schema.insert("writeOnly".into(), json!(true));
        schema.insert("format".into(), json!("password"));
    }
    // Header values must be visible ASCII (RFC 9110 field values as S3 and SigV4 read them).
    if p.location == Location::Header
        && schema.get("type") == Some(&json!("string"))
        && !schema.contains_key("pattern")
        && !schema.contains_key("oneOf")
    {
        schema.insert("pattern".into(), json!("^[\\x20-\\x7E]*$"));
    }
    Ok(())
}

/// `x-amz-copy-source-if-match` → "Copy source if match"; `partNumber` → "Part number".
pub fn humanize(name: &str) -> String {
    let base = name
        .strip_prefix("x-amz-")
        .unwrap_or(name)
        .trim_end_matches('-');
    if STANDARD_HEADERS.contains(&name) || name == "Bucket" || name == "Key" {
        return name.to_string();
    }
    let mut words = String::new();
    let mut prev_lower = false;
    for c in base.chars() {
        if c == '-' || c == '_' {
            words.push(' ');
            prev_lower = false;
        } else if c.is_ascii_uppercase() && prev_lower {
            words.push(' ');
            words.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            words.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    // Acronyms stay capitalised.
    let words: Vec<String> = words
        .split(' ')
        .map(|w| match w {
            "acl" | "acp" | "md5" | "id" | "kms" | "mfa" | "aws" | "etag" | "sdk" | "sse"
            | "crc32" | "crc32c" | "crc64nvme" | "sha1" | "sha256" | "sha512" => {
                w.to_ascii_uppercase()
            }
            _ => w.to_string(),
        })
        .collect();
    let words = words.join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

fn build_output(op: &str, props: &Map<String, Value>) -> Result<(Value, ResponseBody), String> {
    let mut kind = ResponseBody::None;
    for (name, schema) in props {
        let s3 = schema
            .get("x-s3")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{op}: output `{name}` has no `x-s3` location"))?;
        let keys: Vec<&str> = s3.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["xml"] => {
                if kind == ResponseBody::Payload {
                    return Err(format!("{op}: output mixes an XML reply and a payload"));
                }
                kind = ResponseBody::Xml
            }
            ["body"] => {
                if kind == ResponseBody::Xml {
                    return Err(format!("{op}: output mixes an XML reply and a payload"));
                }
                kind = ResponseBody::Payload;
            }
            ["header"] | ["header_map"] | ["local"] => {}
            _ => {
                return Err(format!(
                    "{op}: output `{name}` has an unknown `x-s3` location {keys:?}"
                ))
            }
        }
    }
    // A text body without a base64 one is a document (a bucket policy), not an object's bytes.
    let base64 = props
        .values()
        .any(|s| s.pointer("/x-s3/body") == Some(&json!("base64")));
    if kind == ResponseBody::Payload && !base64 {
        kind = ResponseBody::Text;
    }
    let order: Vec<&String> = props.keys().collect();
    let output = json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
        "x-propertyOrder": order,
    });
    Ok((output, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_from_names() {
        assert_eq!(locate("Bucket").unwrap().0, Location::Path);
        assert_eq!(locate("x-amz-meta-").unwrap().0, Location::HeaderMap);
        assert_eq!(locate("x-amz-acl").unwrap().0, Location::Header);
        assert_eq!(locate("Content-MD5").unwrap().0, Location::Header);
        assert_eq!(locate("partNumber").unwrap().0, Location::Query);
        assert_eq!(locate("response-content-type").unwrap().0, Location::Query);
        assert!(locate("Region").is_none());
    }

    #[test]
    fn titles() {
        assert_eq!(
            humanize("x-amz-copy-source-if-match"),
            "Copy source if match"
        );
        assert_eq!(humanize("partNumber"), "Part number");
        assert_eq!(humanize("Content-Type"), "Content-Type");
        assert_eq!(humanize("x-amz-meta-"), "Meta");
        assert_eq!(humanize("x-amz-acl"), "ACL");
        assert_eq!(humanize("uploadId"), "Upload ID");
    }
}
