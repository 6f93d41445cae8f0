//! Validation: the request envelope against the operation's input schema, the connection schema
//! and the manifest's cross-field rules. Every violation is collected, each with a JSON pointer;
//! nothing is sent unless the list is empty. Values are never echoed (they may be secrets).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use crate::connection::Connection;
use crate::error::{Detail, Error};
use crate::manifest::{self, Encoding, Operation, Parameter, Requires, Rule};
use crate::protocol::ENVELOPE_FIELDS;

/// A request that passed every check. `Debug` masks secret parameters (SSE-C keys).
#[derive(Clone)]
pub struct Request {
    pub(crate) id: Option<Value>,
    pub operation: &'static Operation,
    pub input: Map<String, Value>,
    pub connection: Connection,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut input = self.input.clone();
        for p in self.operation.parameters.iter().filter(|p| p.secret) {
            if let Some(v) = input.get_mut(&p.name) {
                *v = Value::String("******".into());
            }
        }
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation.name)
            .field("input", &input)
            .field("connection", &self.connection)
            .finish()
    }
}

/// Problems listed in one report; the rest are counted.
pub(crate) const MAX_DETAILS: usize = 100;

/// Longest object key S3 accepts, in UTF-8 bytes.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// A schema and its compiled validator.
struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

/// Compiled on first use, per operation name (the connection's in the last cell): a one-shot
/// `run` compiles only the schemas it needs.
fn compiled(operation: Option<&str>) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; manifest::NAMES + 1] =
        [const { OnceLock::new() }; manifest::NAMES + 1];
    let cell = match operation {
        Some(name) => manifest::slot(name).expect("known operation"),
        None => manifest::NAMES,
    };
    CELLS[cell].get_or_init(|| {
        let schema = match operation {
            Some(name) => manifest::operation(name)
                .expect("known operation")
                .input_schema(),
            None => manifest::connection_schema().clone(),
        };
        let validator = compile(&schema);
        Compiled { schema, validator }
    })
}

fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .expect("generated schemas compile (checked by tests)")
}

/// Like [`parse_request`], also returning the envelope's `id` when the text was readable JSON,
/// so that an invalid request's response still carries it.
pub(crate) fn parse_request_with_id(text: &str) -> (Option<Value>, Result<Request, Error>) {
    match crate::strict_json::parse(text) {
        Ok(value) => (value.get("id").cloned(), validate_envelope(value)),
        Err(_) => (None, parse_request(text)),
    }
}

/// Parses and validates one request envelope given as text.
pub fn parse_request(text: &str) -> Result<Request, Error> {
    let value = crate::strict_json::parse(text)
        .map_err(|e| Error::invalid_at("", format!("malformed JSON: {e}")))?;
    validate_envelope(value)
}

/// The operation the envelope names, or why it names none (added to `details`).
fn envelope_operation(
    operation: Option<&Value>,
    details: &mut Vec<Detail>,
) -> Option<&'static Operation> {
    match operation {
        None => {
            details.push(Detail {
                pointer: "/operation".into(),
                message: "is required".into(),
            });
            None
        }
        Some(Value::String(name)) => {
            if let Some(op) = manifest::operation(name) {
                Some(op)
            } else {
                details.push(Detail {
                    pointer: "/operation".into(),
                    message: unknown_operation(name),
                });
                None
            }
        }
        Some(_) => {
            details.push(Detail {
                pointer: "/operation".into(),
                message: "must be a string".into(),
            });
            None
        }
    }
}

/// Validates a parsed request envelope.
pub fn validate_envelope(value: Value) -> Result<Request, Error> {
    let Value::Object(env) = value else {
        return Err(Error::invalid_at("", "the request must be a JSON object"));
    };
    let mut details = Vec::new();
    // One pass over the envelope's members (no hashed look-up per field).
    let (mut id, mut operation, mut input, mut connection) = (None, None, None, None);
    for (key, value) in env {
        match key.as_str() {
            "id" => id = Some(value),
            "operation" => operation = Some(value),
            "input" => input = Some(value),
            "connection" => connection = Some(value),
            known if ENVELOPE_FIELDS.contains(&known) => {}
            _ => details.push(Detail {
                pointer: pointer(&["", &key]),
                message: format!(
                    "unknown field; the envelope has {}",
                    ENVELOPE_FIELDS.join(", ")
                ),
            }),
        }
    }
    let operation = envelope_operation(operation.as_ref(), &mut details);
    let input = match input {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            details.push(Detail {
                pointer: "/input".into(),
                message: "must be an object".into(),
            });
            Map::new()
        }
    };
    let connection_value = match connection {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            details.push(Detail {
                pointer: "/connection".into(),
                message: "must be an object".into(),
            });
            Value::Object(Map::new())
        }
    };
    // An empty connection is valid by construction: skip compiling its schema then.
    if connection_value.as_object().is_some_and(|c| !c.is_empty()) {
        let connection_schema = compiled(None);
        schema_errors(
            &connection_schema.validator,
            &connection_schema.schema,
            &connection_value,
            "/connection",
            &mut details,
        );
    }
    if let Some(op) = operation {
        let input_value = Value::Object(input);
        let c = compiled(Some(&op.name));
        schema_errors(
            &c.validator,
            &c.schema,
            &input_value,
            "/input",
            &mut details,
        );
        let Value::Object(input) = input_value else {
            unreachable!()
        };
        check_rules(op, &input, &mut details);
        if details.is_empty() {
            check_values(op, &input, &mut details);
        }
        if details.is_empty() {
            let connection: Connection = serde_json::from_value(connection_value)
                .map_err(|e| Error::invalid_at("/connection", format!("{e}")))?;
            return Ok(Request {
                id,
                operation: op,
                input,
                connection,
            });
        }
    }
    Err(refusal(details, operation))
}

/// The error for an invalid envelope: at most `MAX_DETAILS` problems listed.
fn refusal(mut details: Vec<Detail>, operation: Option<&Operation>) -> Error {
    if details.len() > MAX_DETAILS {
        let more = details.len() - MAX_DETAILS;
        details.truncate(MAX_DETAILS);
        details.push(Detail {
            pointer: String::new(),
            message: format!("and {more} more problems not listed"),
        });
    }
    let mut err = Error::invalid(details);
    if let Some(op) = operation {
        err.message = format!("{} ({})", err.message, op.name);
    }
    err
}

fn pointer(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.replace('~', "~0").replace('/', "~1"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The subschema at a JSON pointer of the instance (properties / items only).
fn schema_at<'a>(root: &'a Value, instance_pointer: &str) -> Option<&'a Value> {
    // Local `$ref`s (`#/$defs/...`, as schemars writes them) are followed.
    let deref = |s: &'a Value| match s.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(s),
        None => s,
    };
    let mut s = deref(root);
    for seg in instance_pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        // A property of `s`, or of one of its `oneOf` branches.
        let property = |s: &'a Value| s.get("properties").and_then(|p| p.get(&seg));
        let branches = s.get("oneOf").and_then(Value::as_array);
        s = match property(s).or_else(|| branches?.iter().find_map(property)) {
            Some(p) => p,
            None => s.get("items").or_else(|| s.get("additionalProperties"))?,
        };
        s = deref(s);
    }
    Some(s)
}

/// The nearest operation names (within 2 edits), else every name.
fn unknown_operation(name: &str) -> String {
    let near: Vec<&str> = manifest::operation_names()
        .filter(|k| k.len().abs_diff(name.len()) <= 2 && distance(k, name) <= 2)
        .collect();
    if near.is_empty() {
        let all: Vec<&str> = manifest::operation_names().collect();
        format!("unknown operation; known: {}", all.join(", "))
    } else {
        format!("unknown operation; did you mean `{}`?", near.join("` or `"))
    }
}

/// Edit distance, for "did you mean" on unknown fields and operations.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn schema_errors(
    validator: &jsonschema::Validator,
    schema: &Value,
    instance: &Value,
    prefix: &str,
    out: &mut Vec<Detail>,
) {
    // The common case, a valid instance, without collecting errors (a cheaper walk).
    if validator.is_valid(instance) {
        return;
    }
    let mut details = Details {
        schema,
        prefix,
        out,
        listed_known: false,
    };
    for e in validator.iter_errors(instance) {
        details.add(&e);
    }
}

/// Schema errors as details, with messages written for people.
struct Details<'a> {
    schema: &'a Value,
    prefix: &'a str,
    out: &'a mut Vec<Detail>,
    /// The known fields are listed once per report: many unknown fields must not multiply it.
    listed_known: bool,
}

impl Details<'_> {
    fn add(&mut self, e: &jsonschema::ValidationError<'_>) {
        let path = e.schema_path().as_str();
        if path.contains("/dependentSchemas/")
            || path.starts_with("/then")
            || path.starts_with("/allOf/")
        {
            return; // the manifest's rules: reported by `check_rules` with a clearer message
        }
        let at = e.instance_path().as_str().to_string();
        let here = format!("{}{at}", self.prefix);
        let sub = schema_at(self.schema, &at);
        let message = match e.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                self.out.push(Detail {
                    pointer: format!("{here}/{}", pointer(&[name])),
                    message: "is required".into(),
                });
                return;
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let sub = keyword_schema(self.schema, e).or(sub);
                for name in unexpected {
                    let message = self.unknown_field(sub, name);
                    self.out.push(Detail {
                        pointer: format!("{here}/{}", pointer(&[name])),
                        message,
                    });
                }
                return;
            }
            ValidationErrorKind::OneOfNotValid { context } => {
                if let Some(m) = one_of_message(sub) {
                    m
                } else {
                    // Branches of distinct types (a string or an object): the one of the value's
                    // type says what is wrong.
                    let of_its_type: Vec<_> = context
                        .iter()
                        .filter(|errors| !errors.iter().any(|b| is_type_error_at(b, &at)))
                        .collect();
                    if let [errors] = of_its_type.as_slice() {
                        for b in *errors {
                            self.add(b);
                        }
                        return;
                    }
                    one_of_types(sub).unwrap_or_else(|| e.masked().to_string())
                }
            }
            ValidationErrorKind::Pattern { pattern } => {
                pattern_message(keyword_schema(self.schema, e).or(sub), pattern)
            }
            ValidationErrorKind::PropertyNames { .. } => {
                match sub.and_then(|s| s.pointer("/propertyNames/errorMessage/pattern")) {
                    Some(Value::String(w)) => format!("has an invalid entry name: a name {w}"),
                    _ => "has an invalid entry name".to_string(),
                }
            }
            ValidationErrorKind::MinProperties { .. } => {
                own_words(keyword_schema(self.schema, e).or(sub), "minProperties")
                    .unwrap_or_else(|| "must not be empty".into())
            }
            ValidationErrorKind::Not { .. } => {
                own_words(keyword_schema(self.schema, e).or(sub), "not")
                    .unwrap_or_else(|| "is not allowed (see the field's description)".into())
            }
            kind @ (ValidationErrorKind::MinLength { .. }
            | ValidationErrorKind::Constant { .. }
            | ValidationErrorKind::Enum { .. }) => {
                let keyword = match kind {
                    ValidationErrorKind::MinLength { .. } => "minLength",
                    ValidationErrorKind::Enum { .. } => "enum",
                    _ => "const",
                };
                own_words(keyword_schema(self.schema, e).or(sub), keyword)
                    .or_else(|| describe(kind))
                    .unwrap_or_else(|| e.masked().to_string())
            }
            kind => describe(kind).unwrap_or_else(|| e.masked().to_string()),
        };
        self.out.push(Detail {
            pointer: here,
            message,
        });
    }

    fn unknown_field(&mut self, sub: Option<&Value>, name: &str) -> String {
        let known: Vec<&str> = sub
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut message = "unknown field".to_string();
        // Only near-equal lengths can be within 2 edits: skip the rest cheaply.
        let closest = known
            .iter()
            .filter(|k| k.len().abs_diff(name.len()) <= 2 && name.len() <= 128)
            .min_by_key(|k| distance(k, name))
            .filter(|k| distance(k, name) <= 2);
        if let Some(s) = closest {
            message.push_str(&format!("; did you mean `{s}`?"));
        } else if !known.is_empty() && !self.listed_known {
            self.listed_known = true;
            message.push_str(&format!("; expected one of: {}", known.join(", ")));
        }
        message
    }
}

/// The schema object holding the keyword that failed, when its path is a plain pointer (no
/// `$ref` on the way): a `oneOf` branch rather than the property around it.
fn keyword_schema<'a>(root: &'a Value, e: &jsonschema::ValidationError<'_>) -> Option<&'a Value> {
    let path = e.schema_path().as_str();
    root.pointer(&path[..path.rfind('/')?])
}

fn is_type_error_at(e: &jsonschema::ValidationError<'_>, at: &str) -> bool {
    matches!(e.kind(), ValidationErrorKind::Type { .. }) && e.instance_path().as_str() == at
}

/// A `oneOf` of constants: the values it allows.
fn one_of_message(sub: Option<&Value>) -> Option<String> {
    let consts: Vec<String> = sub?
        .get("oneOf")?
        .as_array()?
        .iter()
        .filter_map(|c| c.get("const"))
        .map(std::string::ToString::to_string)
        .collect();
    (!consts.is_empty()).then(|| format!("must be one of: {}", consts.join(", ")))
}

/// A `oneOf` of typed branches, none of the value's type: the types it takes.
fn one_of_types(sub: Option<&Value>) -> Option<String> {
    let types: Vec<&str> = sub?
        .get("oneOf")?
        .as_array()?
        .iter()
        .map(|b| b.get("type").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    Some(format!("must be of type {}", types.join(" or ")))
}

/// The schema's own words for a failed keyword (`errorMessage.<keyword>`, as ajv-errors reads it).
fn own_words(schema: Option<&Value>, keyword: &str) -> Option<String> {
    schema?
        .get("errorMessage")?
        .get(keyword)?
        .as_str()
        .map(str::to_string)
}

/// A pattern's own message where the schema gives one (`errorMessage.pattern`, the keyword
/// ajv-errors reads): a date's pattern says less to a person than its two forms. Else the
/// pattern itself.
fn pattern_message(sub: Option<&Value>, pattern: &str) -> String {
    sub.and_then(|s| s.pointer("/errorMessage/pattern"))
        .and_then(Value::as_str)
        .map_or_else(
            || format!("has an invalid format (must match {pattern})"),
            str::to_string,
        )
}

fn describe(kind: &ValidationErrorKind) -> Option<String> {
    Some(match kind {
        ValidationErrorKind::Type { kind } => format!("must be of type {}", type_name(kind)),
        ValidationErrorKind::Format { format } => format!("must be a valid {format}"),
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} items"),
        ValidationErrorKind::MaxItems { limit } => format!("must have at most {limit} items"),
        ValidationErrorKind::Enum { options } => format!(
            "must be one of: {}",
            options
                .as_array()
                .map(|a| crate::schemas::one_of_words(a).replace(" or ", ", "))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(ts) => format!("{ts:?}"),
    }
}

fn check_rules(op: &Operation, input: &Map<String, Value>, out: &mut Vec<Detail>) {
    for rule in &op.rules {
        let names = match rule {
            Rule::AtMostOneOf(names) | Rule::OneOf(names) => names,
            Rule::Requires(r) => {
                check_requires(r, input, out);
                continue;
            }
        };
        let given: Vec<&String> = names.iter().filter(|n| is_given(op, input, n)).collect();
        if given.is_empty() && matches!(rule, Rule::OneOf(_)) {
            out.push(Detail {
                pointer: format!("/input/{}", pointer(&[&names[0]])),
                message: format!("is required: give one of {}", names.join(", ")),
            });
        }
        if given.len() > 1 {
            for extra in &given[1..] {
                out.push(Detail {
                    pointer: format!("/input/{}", pointer(&[extra])),
                    message: format!(
                        "give at most one of {} (`{}` is given too)",
                        names.join(", "),
                        given[0]
                    ),
                });
            }
        }
    }
}

/// Whether `name` is given, for the rules: as `schemas::is_given` (present, and `true` if it is a
/// flag), found without hashing the name or building a JSON value per look-up.
fn is_given(op: &Operation, input: &Map<String, Value>, name: &str) -> bool {
    match member(input, name) {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(_) => op
            .parameter(name)
            .is_none_or(|p| p.schema.get("type").and_then(Value::as_str) != Some("boolean")),
    }
}

/// A parameter given without what it needs: the detail points at the field that is missing or
/// wrong, as a form marks it.
fn check_requires(r: &Requires, input: &Map<String, Value>, out: &mut Vec<Detail>) {
    if member(input, &r.given).is_none() {
        return;
    }
    for (need, values) in &r.needs {
        let message = match member(input, need) {
            None => format!("is required when `{}` is given: {}", r.given, r.reason),
            Some(v) if !values.is_empty() && !values.contains(v) => format!(
                "must be {} when `{}` is given: {}",
                crate::schemas::one_of_words(values),
                r.given,
                r.reason
            ),
            Some(_) => continue,
        };
        out.push(Detail {
            pointer: format!("/input/{}", pointer(&[need])),
            message,
        });
    }
}

/// Keys are at most `MAX_KEY_BYTES` of UTF-8 (a schema counts characters): the object's, and the
/// one a copy source's object form names.
fn check_key_lengths(op: &Operation, input: &Map<String, Value>, out: &mut Vec<Detail>) {
    let mut check = |key: Option<&Value>, at: &dyn Fn() -> String| {
        if let Some(Value::String(key)) = key {
            if key.len() > MAX_KEY_BYTES {
                out.push(Detail {
                    pointer: at(),
                    message: format!(
                        "is {} bytes of UTF-8; S3 allows at most {MAX_KEY_BYTES}",
                        key.len()
                    ),
                });
            }
        }
    };
    check(member(input, "Key"), &|| "/input/Key".into());
    // A copy source's object form names a key too.
    for p in op
        .parameters
        .iter()
        .filter(|p| p.encoding == Some(Encoding::CopySource))
    {
        let source = input.get(&p.name).and_then(|s| s.get("Key"));
        check(source, &|| format!("/input/{}/Key", pointer(&[&p.name])));
    }
}

/// `input[name]`. An input has a few members: comparing their names is cheaper than hashing
/// `name` (the checks look up dozens of names per request).
fn member<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if input.len() <= 16 {
        input.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    } else {
        input.get(name)
    }
}

/// Checks the schema cannot express: byte lengths, base64 payloads, local files, lengths.
fn check_values(op: &Operation, input: &Map<String, Value>, out: &mut Vec<Detail>) {
    check_key_lengths(op, input, out);
    // The parameters given, in the manifest's order (as every check below reports them).
    let given = op.given(input);
    check_header_maps(&given, out);
    let mut body_len: Option<u64> = None;
    for (p, v) in &given {
        let Value::String(v) = v else {
            continue;
        };
        let at = || format!("/input/{}", pointer(&[&p.name]));
        match p.encoding {
            Some(Encoding::Text) => body_len = Some(v.len() as u64),
            Some(Encoding::Base64) => match base64::engine::general_purpose::STANDARD.decode(v) {
                Ok(bytes) => body_len = Some(bytes.len() as u64),
                Err(e) => out.push(Detail {
                    pointer: at(),
                    message: crate::body::base64_problem(&e),
                }),
            },
            Some(Encoding::File) => match file_len(v) {
                Ok(len) => body_len = Some(len),
                Err(message) => out.push(Detail {
                    pointer: at(),
                    message,
                }),
            },
            _ => {}
        }
        if p.name == "OutputFile" {
            if let Some(message) = output_file_problem(v) {
                out.push(Detail {
                    pointer: at(),
                    message: message.into(),
                });
            }
        }
    }
    if op.request_body == Some(crate::manifest::RequestBody::Payload) {
        if let Some(declared) = member(input, "Content-Length").and_then(Value::as_u64) {
            let actual = body_len.unwrap_or(0);
            if declared != actual {
                out.push(Detail {
                    pointer: "/input/Content-Length".into(),
                    message: format!("is {declared} but the body is {actual} bytes"),
                });
            }
        }
    }
}

/// Header maps: S3 lowercases names, so two entries differing only in case would collide; and
/// a header map and its list twin add to the same headers.
fn check_header_maps(given: &[(&Parameter, &Value)], out: &mut Vec<Detail>) {
    let mut seen: HashMap<(Option<&str>, Cow<'_, str>), &str> = HashMap::new();
    for (p, v) in given
        .iter()
        .filter(|(p, _)| p.location == crate::manifest::Location::HeaderMap)
    {
        for (i, (k, _)) in crate::request::map_entries(v).into_iter().enumerate() {
            let lower = if k.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(k.to_ascii_lowercase())
            } else {
                Cow::Borrowed(k)
            };
            if let Some(first) = seen.insert((p.wire.as_deref(), lower), k) {
                let at = match v {
                    Value::Array(_) => format!("/input/{}/{i}/Name", pointer(&[&p.name])),
                    _ => format!("/input/{}/{}", pointer(&[&p.name]), pointer(&[k])),
                };
                let message = if first == k {
                    "is given twice".to_string()
                } else {
                    "differs from another entry only in case; S3 stores names in lowercase".into()
                };
                out.push(Detail {
                    pointer: at,
                    message,
                });
            }
        }
    }
}

/// The length of a body file, or why it cannot be sent. Stat before opening: opening a FIFO
/// would block until a writer appears.
fn file_len(path: &str) -> Result<u64, String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => match std::fs::File::open(path) {
            Ok(_) => Ok(m.len()),
            Err(e) => Err(format!("cannot be read: {}", io_reason(&e))),
        },
        Ok(_) => Err("is not a regular file".into()),
        Err(e) => Err(format!("cannot be read: {}", io_reason(&e))),
    }
}

/// Why a download cannot be written to `path`, if it cannot.
fn output_file_problem(path: &str) -> Option<&'static str> {
    let path = std::path::Path::new(path);
    let parent = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        Some("its directory does not exist")
    } else if path.is_dir() {
        Some("is a directory")
    } else {
        None
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_find_a_parameter_given_as_the_schemas_do() {
        let mut names = 0;
        for op in manifest::operation_names().filter_map(manifest::operation) {
            for rule in &op.rules {
                let (Rule::AtMostOneOf(list) | Rule::OneOf(list)) = rule else {
                    continue;
                };
                for name in list {
                    names += 1;
                    for value in [
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::String("x".into()),
                        Value::Null,
                    ] {
                        let mut input = Map::new();
                        input.insert(name.clone(), value);
                        assert_eq!(
                            is_given(op, &input, name),
                            crate::schemas::is_given(op, &input, name),
                            "{} {name} {input:?}",
                            op.name
                        );
                        input.clear();
                        assert!(!is_given(op, &input, name));
                    }
                }
            }
        }
        assert!(names > 10, "{names}");
    }

    #[test]
    fn members_are_found_in_small_and_large_inputs() {
        for size in [0, 3, 16, 17, 40] {
            let input: Map<String, Value> = (0..size)
                .map(|i| (format!("k{i}"), Value::from(i)))
                .collect();
            for i in 0..size {
                assert_eq!(member(&input, &format!("k{i}")), Some(&Value::from(i)));
            }
            assert_eq!(member(&input, "absent"), None);
        }
    }
}
