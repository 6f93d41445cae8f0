//! AWS's S3 model: botocore's `service-2.json` and `paginators-1.json`, read from the installed
//! botocore package at generation time (never copied into the repository), turned into
//! operations: HTTP bindings, parameters with their JSON Schemas, XML payload shapes, outputs
//! and paginators.
//!
//! The model's rest-xml rules are botocore's (`botocore/serialize.py`, `botocore/parsers.py`):
//! a member's wire name is its `locationName` (on the member, else on its shape); a list is a
//! wrapper element holding one element per item named by the list member's `locationName`
//! (default `member`), unless flattened, when the items repeat under the member's own name; an
//! `xmlAttribute` member is an attribute of its structure's element.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

mod text;

pub use text::{first_sentences, member_title, snake, title};

use s3_connector::manifest::{
    Encoding, Http, Location, Origin, PageToken, Pagination, Parameter, RequestBody, ResponseBody,
};

/// Where botocore keeps the model, inside the package (read through botocore's loader, which
/// merges `service-2.sdk-extras.json` over it).
pub const MODEL_PATH: &str = "botocore/data/s3/2006-03-01/service-2.json.gz";

/// The S3 model as the installed botocore has it.
pub struct Model {
    pub botocore: String,
    pub sha256: String,
    service: Value,
    paginators: Value,
}

/// Prints botocore's version, then the model and paginators as botocore's own loader reads them
/// (with its `sdk-extras` merged: `Expires` is a timestamp there), as one JSON object.
const LOADER: &str = r"
import json, sys, botocore, botocore.loaders
loader = botocore.loaders.Loader()
svc = loader.load_service_model('s3', 'service-2')
pag = loader.load_service_model('s3', 'paginators-1')
json.dump({'version': botocore.__version__, 'service': json.dumps(svc), 'paginators': json.dumps(pag)}, sys.stdout)
";

/// The operations that cannot work through this connector, with the reason.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "SelectObjectContent",
        "its reply is an event stream (binary frames), which a one-shot JSON result cannot carry; AWS also closed S3 Select to new customers in 2024",
    ),
    (
        "WriteGetObjectResponse",
        "only an S3 Object Lambda function calls it, answering a request S3 routed to it (`x-amz-request-route` on the `*.s3-object-lambda` host); a workflow step has no such request to answer",
    ),
];

impl Model {
    /// Runs `python` to read the model from its botocore.
    pub fn load(python: &Path) -> Result<Model, String> {
        let out = Command::new(python)
            .args(["-c", LOADER])
            .output()
            .map_err(|e| format!("cannot run {} to read botocore's model: {e} (run scripts/install-tools, or set S3_CONNECTOR_PYTHON)", python.display()))?;
        if !out.status.success() {
            return Err(format!(
                "reading botocore's model failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Model::from_texts(&text("version"), &text("service"), &text("paginators"))
    }

    pub fn from_texts(version: &str, service: &str, paginators: &str) -> Result<Model, String> {
        let service: Value = serde_json::from_str(service).map_err(|e| format!("S3 model: {e}"))?;
        let paginators: Value =
            serde_json::from_str(paginators).map_err(|e| format!("S3 paginators: {e}"))?;
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&service).expect("json"));
        let model = Model {
            botocore: version.to_string(),
            sha256: hex::encode(h.finalize()),
            service,
            paginators,
        };
        model.check_acyclic()?;
        Ok(model)
    }

    /// AWS's operation names, in the model's order.
    pub fn operation_names(&self) -> Vec<&str> {
        self.service["operations"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn shape(&self, name: &str) -> &Map<String, Value> {
        self.service["shapes"][name]
            .as_object()
            .unwrap_or_else(|| panic!("the model has no shape `{name}`"))
    }

    /// A member's shape with the member's own traits over it, as botocore resolves it.
    fn resolve(&self, member: &Value) -> Map<String, Value> {
        let name = member["shape"].as_str().unwrap_or_default();
        let mut s = self.shape(name).clone();
        s.insert("$shape".into(), json!(name));
        for (k, v) in member.as_object().into_iter().flatten() {
            if k != "shape" && k != "documentation" {
                s.insert(k.clone(), v.clone());
            }
        }
        if let Some(d) = member.get("documentation") {
            s.insert("documentation".into(), d.clone());
        }
        s
    }

    /// Shapes are inlined into schemas; the generator refuses a cycle rather than recurse.
    fn check_acyclic(&self) -> Result<(), String> {
        fn visit<'m>(m: &'m Model, name: &'m str, stack: &mut Vec<&'m str>) -> Result<(), String> {
            if stack.contains(&name) {
                return Err(format!("the S3 model has a recursive shape: {stack:?} → {name}; inlining it needs a depth limit"));
            }
            stack.push(name);
            let s = m.shape(name);
            let refs: Vec<&str> = match at(s, "type").as_str() {
                Some("structure") => at(s, "members")
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, r)| r["shape"].as_str())
                    .collect(),
                Some("list") => at(s, "member")["shape"].as_str().into_iter().collect(),
                Some("map") => [&at(s, "key"), &at(s, "value")]
                    .iter()
                    .filter_map(|r| r["shape"].as_str())
                    .collect(),
                _ => Vec::new(),
            };
            for r in refs {
                visit(m, r, stack)?;
            }
            stack.pop();
            Ok(())
        }
        for name in self.service["shapes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            visit(self, name, &mut Vec::new())?;
        }
        Ok(())
    }

    /// The get/put pairs whose get's reply body is the configuration the put sends: the body
    /// members of `GetX`'s output are exactly the members of `PutX`'s payload. As
    /// (get, put, payload member), by connector name.
    pub fn round_trips(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for put in self.operation_names() {
            let Some(rest) = put.strip_prefix("Put") else {
                continue;
            };
            let get = format!("Get{rest}");
            let (Ok(p), Ok(g)) = (self.op(put), self.op(&get)) else {
                continue;
            };
            let (Some(input), Some(output)) =
                (p["input"]["shape"].as_str(), g["output"]["shape"].as_str())
            else {
                continue;
            };
            let input = self.shape(input);
            let Some(payload) = input.get("payload").and_then(Value::as_str) else {
                continue;
            };
            let sent = self.resolve(&at(input, "members")[payload]);
            let body_members = |s: &Map<String, Value>| -> std::collections::BTreeSet<String> {
                at(s, "members")
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, m)| m.get("location").is_none())
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            let output = self.shape(output);
            let got = match output.get("payload").and_then(Value::as_str) {
                Some(op) => {
                    let s = self.resolve(&at(output, "members")[op]);
                    if at(&s, "type") == "structure" {
                        body_members(&s)
                    } else {
                        [payload.to_string()].into()
                    }
                }
                None => body_members(output),
            };
            let want = if at(&sent, "type") == "structure" {
                body_members(&sent)
            } else {
                [payload.to_string()].into()
            };
            if at(&sent, "streaming").as_bool() != Some(true) && got == want {
                out.push((snake(&get), snake(put), payload.to_string()));
            }
        }
        out
    }

    fn op(&self, aws: &str) -> Result<&Value, String> {
        self.service["operations"]
            .get(aws)
            .ok_or_else(|| format!("the S3 model has no operation `{aws}`"))
    }

    /// One operation of the model, in the manifest's terms.
    pub fn operation(&self, aws: &str, date_type: &Map<String, Value>) -> Result<ModelOp, String> {
        let op = self.op(aws)?;
        let ctx = |e: String| format!("{aws}: {e}");
        let http = http_binding(&op["http"]).map_err(ctx)?;
        let checksum_required = op["httpChecksumRequired"].as_bool() == Some(true)
            || op["httpChecksum"]["requestChecksumRequired"].as_bool() == Some(true);
        let mut parameters = Vec::new();
        let mut request_body = None;
        let mut payload_required = false;
        if let Some(input) = op["input"]["shape"].as_str() {
            let shape = self.shape(input);
            let payload = shape.get("payload").and_then(Value::as_str);
            let required = names(at(shape, "required"));
            payload_required = payload.is_some_and(|p| required.contains(&p));
            for (mname, mref) in at(shape, "members").as_object().into_iter().flatten() {
                let p = self
                    .parameter(
                        mname,
                        mref,
                        required.contains(&mname.as_str()),
                        payload,
                        date_type,
                    )
                    .map_err(ctx)?;
                if let Some(kind) = p.1 {
                    request_body = Some(kind);
                }
                parameters.extend(p.0);
            }
        }
        let (output, response_body) = match op["output"]["shape"].as_str() {
            Some(out) => self.output(self.shape(out)).map_err(ctx)?,
            None => (Map::new(), ResponseBody::None),
        };
        let pagination = self.pagination(aws, &parameters)?;
        Ok(ModelOp {
            aws: aws.to_string(),
            name: snake(aws),
            title: title(aws),
            description: first_sentences(op["documentation"].as_str().unwrap_or_default()),
            reference: format!("https://docs.aws.amazon.com/AmazonS3/latest/API/API_{aws}.html"),
            deprecated: op["deprecated"].as_bool() == Some(true),
            http,
            parameters,
            request_body,
            response_body,
            output,
            checksum_required,
            pagination,
            payload_required,
        })
    }

    /// The parameters one input member becomes (a streaming body becomes three body sources),
    /// and the request body kind when it is the payload.
    fn parameter(
        &self,
        mname: &str,
        mref: &Value,
        required: bool,
        payload: Option<&str>,
        date_type: &Map<String, Value>,
    ) -> Result<(Vec<Parameter>, Option<RequestBody>), String> {
        let s = self.resolve(mref);
        let ty = at(&s, "type").as_str().unwrap_or_default();
        let wire = s.get("locationName").and_then(Value::as_str);
        let base = |name: &str, location: Location, schema: Value| Parameter {
            name: name.to_string(),
            location,
            wire: None,
            required,
            origin: Origin::Model,
            secret: false,
            encoding: None,
            docs_type: None,
            departure: None,
            member: Some(mname.to_string()),
            schema,
        };
        let described = |mut schema: Value, name: &str| {
            schema["title"] = json!(crate::humanize(name));
            let d = first_sentences(s.get("documentation").and_then(Value::as_str).unwrap_or(""));
            if !d.is_empty() {
                schema["description"] = json!(d);
            }
            if s.get("deprecated").and_then(Value::as_bool) == Some(true) {
                schema["deprecated"] = json!(true);
            }
            schema
        };
        let location = s.get("location").and_then(Value::as_str);
        if Some(mname) == payload {
            return match ty {
                "structure" => {
                    let mut schema = self.xml_schema(&s)?;
                    let mut x = Map::new();
                    x.insert("xml".into(), json!(wire.unwrap_or(mname)));
                    if let Some(ns) = s.get("xmlNamespace") {
                        x.insert("xmlns".into(), namespace(ns)?);
                    }
                    schema["x-s3"] = Value::Object(x);
                    let mut p = base(mname, Location::Body, described(schema, mname));
                    p.encoding = Some(Encoding::Xml);
                    Ok((vec![p], Some(RequestBody::Xml)))
                }
                "blob" if s.get("streaming").and_then(Value::as_bool) == Some(true) => {
                    Ok((body_sources(mname), Some(RequestBody::Payload)))
                }
                "string" | "blob" => {
                    let mut p = base(
                        mname,
                        Location::Body,
                        described(json!({"type": "string"}), mname),
                    );
                    p.encoding = Some(Encoding::Text);
                    Ok((vec![p], Some(RequestBody::Payload)))
                }
                other => Err(format!("payload `{mname}` of type `{other}`")),
            };
        }
        let (name, loc) = match location {
            Some("uri") => (wire.unwrap_or(mname).trim_end_matches('+'), Location::Path),
            Some("header") => (wire.unwrap_or(mname), Location::Header),
            Some("querystring") => (wire.unwrap_or(mname), Location::Query),
            Some("headers") => (wire.unwrap_or(mname), Location::HeaderMap),
            other => return Err(format!("member `{mname}` at unknown location {other:?}")),
        };
        let mut p = base(name, loc, json!({}));
        if loc == Location::Path && !matches!(name, "Bucket" | "Key") {
            return Err(format!(
                "URI label `{name}`: only Bucket and Key are placed"
            ));
        }
        if matches!(
            loc,
            Location::Header | Location::Query | Location::HeaderMap
        ) {
            p.wire = Some(name.to_string());
        }
        let schema = match (ty, loc) {
            ("map", Location::HeaderMap) => {
                json!({"type": "object", "additionalProperties": {"type": "string"}})
            }
            ("timestamp", _) => {
                let format = s.get("timestampFormat").and_then(Value::as_str);
                p.encoding = Some(match (format, loc) {
                    (Some("iso8601"), _) | (None, Location::Query) => Encoding::Iso8601,
                    (Some("rfc822"), _) | (None, _) => Encoding::HttpDate,
                    (Some(f), _) => return Err(format!("`{mname}`: timestamp format `{f}`")),
                });
                Value::Object(date_type.clone())
            }
            ("list", Location::Header) => {
                let item = self.resolve(at(&s, "member"));
                json!({"type": "array", "items": scalar(&item)?, "uniqueItems": true})
            }
            (_, Location::HeaderMap) => return Err(format!("`{mname}`: a header map of {ty}")),
            _ => scalar(&s)?,
        };
        p.secret = s.get("sensitive").and_then(Value::as_bool) == Some(true);
        p.schema = described(schema, name);
        Ok((vec![p], None))
    }

    /// The JSON Schema of an XML payload shape, with `x-s3` saying what the XML names differ in.
    fn xml_schema(&self, s: &Map<String, Value>) -> Result<Value, String> {
        Ok(match at(s, "type").as_str().unwrap_or_default() {
            "structure" => {
                let mut props = Map::new();
                for (mname, mref) in at(s, "members").as_object().into_iter().flatten() {
                    let m = self.resolve(mref);
                    let mut schema = self.xml_schema(&m)?;
                    let mut x = Map::new();
                    let wire = m.get("locationName").and_then(Value::as_str);
                    if m.get("xmlAttribute").and_then(Value::as_bool) == Some(true) {
                        x.insert(
                            "attribute".into(),
                            json!(wire.ok_or("an attribute without a name")?),
                        );
                    } else if wire.is_some_and(|w| w != mname) {
                        x.insert("xml".into(), json!(wire));
                    }
                    if let Some(ns) = m.get("xmlNamespace") {
                        x.insert("xmlns".into(), namespace(ns)?);
                    }
                    if at(&m, "type") == "list" {
                        let list_x = schema.get_mut("x-s3").and_then(Value::as_object_mut);
                        if let Some(lx) = list_x {
                            x.extend(std::mem::take(lx));
                        }
                    }
                    if !x.is_empty() {
                        schema["x-s3"] = Value::Object(x);
                    }
                    schema["title"] = json!(member_title(mname));
                    let d = first_sentences(
                        m.get("documentation").and_then(Value::as_str).unwrap_or(""),
                    );
                    if !d.is_empty() {
                        schema["description"] = json!(d);
                    }
                    props.insert(mname.clone(), schema);
                }
                let mut out =
                    json!({"type": "object", "properties": props, "additionalProperties": false});
                let required = names(at(s, "required"));
                if !required.is_empty() {
                    out["required"] = json!(required);
                }
                if s.get("union").and_then(Value::as_bool) == Some(true) {
                    out["minProperties"] = json!(1);
                    out["maxProperties"] = json!(1);
                }
                out
            }
            "list" => {
                let item = self.resolve(at(s, "member"));
                let mut out = json!({"type": "array", "items": self.xml_schema(&item)?});
                out["x-s3"] = if s.get("flattened").and_then(Value::as_bool) == Some(true) {
                    json!({"flattened": true})
                } else {
                    json!({"member": item.get("locationName").and_then(Value::as_str).unwrap_or("member")})
                };
                out
            }
            "timestamp" => {
                let format = s
                    .get("timestampFormat")
                    .and_then(Value::as_str)
                    .unwrap_or("iso8601");
                if !matches!(format, "iso8601" | "rfc822") {
                    return Err(format!("an XML timestamp in `{format}`"));
                }
                json!({"type": "string", "format": "date-time", "x-s3": {"timestamp": format}})
            }
            _ => scalar(s)?,
        })
    }

    /// Output properties and the reply body kind.
    fn output(
        &self,
        shape: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, ResponseBody), String> {
        let payload = shape.get("payload").and_then(Value::as_str);
        let mut props = Map::new();
        let mut kind = ResponseBody::None;
        for (mname, mref) in at(shape, "members").as_object().into_iter().flatten() {
            let m = self.resolve(mref);
            let ty = at(&m, "type").as_str().unwrap_or_default();
            let wire = m.get("locationName").and_then(Value::as_str);
            let doc = first_sentences(m.get("documentation").and_then(Value::as_str).unwrap_or(""));
            let mut schema = match (
                m.get("location").and_then(Value::as_str),
                Some(mname.as_str()) == payload,
            ) {
                (Some("header"), _) => {
                    let mut s = out_scalar(&m)?;
                    s["x-s3"] = json!({"header": wire.unwrap_or(mname)});
                    s
                }
                (Some("headers"), _) => {
                    json!({"type": "object", "additionalProperties": {"type": "string"}, "x-s3": {"header_map": wire.unwrap_or(mname).to_ascii_lowercase()}})
                }
                (Some(other), _) => return Err(format!("output `{mname}` at `{other}`")),
                (None, true) if ty == "structure" => {
                    kind = ResponseBody::Xml;
                    let mut s = self.out_schema(&m)?;
                    s["x-s3"] = json!({"xml": "."});
                    s
                }
                (None, true) if m.get("streaming").and_then(Value::as_bool) == Some(true) => {
                    kind = ResponseBody::Payload;
                    props.extend(payload_outputs());
                    continue;
                }
                (None, true) => {
                    kind = ResponseBody::Text;
                    json!({"type": "string", "x-s3": {"body": "text"}})
                }
                (None, false) => {
                    kind = ResponseBody::Xml;
                    let mut s = self.out_schema(&m)?;
                    let path = self.out_path(mname, &m);
                    s["x-s3"] = json!({"xml": path});
                    s
                }
            };
            schema["title"] = json!(member_title(mname));
            if !doc.is_empty() {
                schema["description"] = json!(doc);
            }
            props.insert(mname.clone(), schema);
        }
        Ok((props, kind))
    }

    /// The element path of a reply member: its name, or for a list `Wrapper/Item`.
    fn out_path(&self, mname: &str, m: &Map<String, Value>) -> String {
        let wire = m
            .get("locationName")
            .and_then(Value::as_str)
            .unwrap_or(mname);
        if m.get("xmlAttribute").and_then(Value::as_bool) == Some(true) {
            return format!("@{}", wire.rsplit(':').next().unwrap_or(wire));
        }
        if at(m, "type") == "list" && m.get("flattened").and_then(Value::as_bool) != Some(true) {
            let item = self.resolve(at(m, "member"));
            let item_name = item
                .get("locationName")
                .and_then(Value::as_str)
                .unwrap_or("member");
            return format!("{wire}/{item_name}");
        }
        wire.to_string()
    }

    /// The output schema of a reply shape; nested properties carry `x-s3.xml` where their
    /// element path is not their own name.
    fn out_schema(&self, s: &Map<String, Value>) -> Result<Value, String> {
        Ok(match at(s, "type").as_str().unwrap_or_default() {
            "structure" => {
                let mut props = Map::new();
                for (mname, mref) in at(s, "members").as_object().into_iter().flatten() {
                    let m = self.resolve(mref);
                    let mut schema = self.out_schema(&m)?;
                    let path = self.out_path(mname, &m);
                    if path != *mname {
                        schema["x-s3"] = json!({"xml": path});
                    }
                    props.insert(mname.clone(), schema);
                }
                json!({"type": "object", "properties": props, "additionalProperties": false})
            }
            "list" => {
                json!({"type": "array", "items": self.out_schema(&self.resolve(at(s, "member")))?})
            }
            _ => out_scalar(s)?,
        })
    }

    /// botocore's paginator for the operation, when the reply says whether more follows.
    fn pagination(
        &self,
        aws: &str,
        parameters: &[Parameter],
    ) -> Result<Option<Pagination>, String> {
        let Some(p) = self.paginators["pagination"].get(aws) else {
            return Ok(None);
        };
        let Some(more) = p["more_results"].as_str() else {
            return Ok(None);
        };
        let wire_of = |member: &str| {
            parameters
                .iter()
                .find(|q| q.member.as_deref() == Some(member))
                .map(|q| q.name.clone())
                .ok_or_else(|| format!("{aws}: paginator names unknown input `{member}`"))
        };
        let list = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut tokens = Vec::new();
        for (input, output) in list(&p["input_token"]).iter().zip(list(&p["output_token"])) {
            let mut alts = output.split("||").map(str::trim);
            let first = alts.next().unwrap_or_default().to_string();
            let else_last_of = alts
                .map(|a| {
                    let (l, f) = a
                        .split_once("[-1].")
                        .ok_or_else(|| format!("{aws}: output token `{a}`"))?;
                    Ok(format!("{l}/{f}"))
                })
                .collect::<Result<Vec<String>, String>>()?;
            tokens.push(PageToken {
                input: wire_of(input)?,
                output: first,
                else_last_of,
            });
        }
        Ok(Some(Pagination {
            page_size: wire_of(p["limit_key"].as_str().unwrap_or_default())?,
            results: list(&p["result_key"]),
            more: more.to_string(),
            tokens,
        }))
    }
}

/// An operation as the model gives it.
pub struct ModelOp {
    pub aws: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub reference: String,
    pub deprecated: bool,
    pub http: Http,
    pub parameters: Vec<Parameter>,
    pub request_body: Option<RequestBody>,
    pub response_body: ResponseBody,
    pub output: Map<String, Value>,
    pub checksum_required: bool,
    pub pagination: Option<Pagination>,
    /// The model requires the payload member (for a streamed body: one of its sources).
    pub payload_required: bool,
}

/// A key of a shape, or null (indexing a `Map` would panic on a missing key).
fn at<'a>(m: &'a Map<String, Value>, key: &str) -> &'a Value {
    m.get(key).unwrap_or(&Value::Null)
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn namespace(ns: &Value) -> Result<Value, String> {
    match ns {
        Value::String(uri) => Ok(json!({"uri": uri})),
        Value::Object(o) => Ok(Value::Object(o.clone())),
        other => Err(format!("xmlNamespace {other}")),
    }
}

/// `GET /{Bucket}/{Key+}?uploads` → method, `/{Bucket}/{Key}`, `{"uploads": ""}`.
fn http_binding(h: &Value) -> Result<Http, String> {
    let uri = h["requestUri"].as_str().ok_or("no requestUri")?;
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut fixed = std::collections::BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        fixed.insert(k.to_string(), v.to_string());
    }
    Ok(Http {
        method: h["method"].as_str().ok_or("no method")?.to_string(),
        path: path.replace("{Key+}", "{Key}"),
        query: fixed,
    })
}

/// A scalar input shape's schema.
fn scalar(s: &Map<String, Value>) -> Result<Value, String> {
    let mut out = match at(s, "type").as_str().unwrap_or_default() {
        "string" => json!({"type": "string"}),
        "integer" | "long" => json!({"type": "integer"}),
        "boolean" => json!({"type": "boolean"}),
        other => {
            return Err(format!(
                "a `{other}` shape where a scalar was expected ({})",
                at(s, "$shape")
            ))
        }
    };
    if let Some(e) = s.get("enum") {
        out["enum"] = e.clone();
    }
    let (lo, hi) = if out["type"] == "string" {
        ("minLength", "maxLength")
    } else {
        ("minimum", "maximum")
    };
    for (from, to) in [("min", lo), ("max", hi)] {
        if let Some(v) = s.get(from) {
            out[to] = v.clone();
        }
    }
    if let Some(p) = s.get("pattern") {
        out["pattern"] = p.clone();
    }
    Ok(out)
}

/// A scalar output shape's schema (dates as RFC 3339 strings, blobs as base64).
fn out_scalar(s: &Map<String, Value>) -> Result<Value, String> {
    Ok(match at(s, "type").as_str().unwrap_or_default() {
        "string" => json!({"type": "string"}),
        "integer" | "long" => json!({"type": "integer"}),
        "boolean" => json!({"type": "boolean"}),
        "timestamp" => json!({"type": "string", "format": "date-time"}),
        "blob" => json!({"type": "string", "contentEncoding": "base64"}),
        "list" => json!({"type": "array", "items": {"type": "string"}}),
        other => return Err(format!("an output `{other}` in a header")),
    })
}

/// Body sources of a streaming upload: text, base64 or a local file.
pub fn body_sources(member: &str) -> Vec<Parameter> {
    let p = |name: &str, encoding: Encoding, schema: Value| Parameter {
        name: name.into(),
        location: Location::Body,
        wire: None,
        required: false,
        origin: Origin::Model,
        secret: false,
        encoding: Some(encoding),
        docs_type: None,
        departure: None,
        member: Some(member.into()),
        schema,
    };
    vec![
        p(
            "Body",
            Encoding::Text,
            json!({"type": "string", "title": "Body (text)", "description": "Body as UTF-8 text. Give at most one of Body, BodyBase64, BodyFile; none sends an empty body."}),
        ),
        p(
            "BodyBase64",
            Encoding::Base64,
            json!({"type": "string", "title": "Body (base64)", "contentEncoding": "base64", "pattern": "^[A-Za-z0-9+/]*={0,2}$", "description": "Body as standard base64."}),
        ),
        p(
            "BodyFile",
            Encoding::File,
            json!({"type": "string", "title": "Body (local file)", "minLength": 1, "examples": ["/data/report.csv"], "description": "Path of a local file to upload, streamed from disk."}),
        ),
    ]
}

/// Outputs of a streamed reply body: inline text or base64, or the file it went to.
fn payload_outputs() -> Map<String, Value> {
    let v = json!({
        "Body": {"type": "string", "title": "Body (text)", "description": "The body when it is valid UTF-8 and no OutputFile was given.", "x-s3": {"body": "text"}},
        "BodyBase64": {"type": "string", "title": "Body (base64)", "contentEncoding": "base64", "description": "The body, base64, when it is not valid UTF-8.", "x-s3": {"body": "base64"}},
        "OutputFile": {"type": "string", "title": "Output file", "description": "Where the body was written, when the input named a file.", "x-s3": {"local": "OutputFile"}}
    });
    v.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_shapes_are_resolved_as_botocore_resolves_them() {
        let m = Model::from_texts(
            "test",
            r#"{"operations": {}, "shapes": {
                "Tag": {"type": "structure", "members": {"Key": {"shape": "S"}}, "locationName": "Tag"},
                "S": {"type": "string"}}}"#,
            "{}",
        )
        .unwrap();
        let r = m.resolve(&json!({"shape": "Tag", "locationName": "Member"}));
        assert_eq!(r["locationName"], "Member", "the member's trait wins");
        assert_eq!(r["type"], "structure");
        let r = m.resolve(&json!({"shape": "Tag"}));
        assert_eq!(r["locationName"], "Tag", "else the shape's");
    }
}
