//! What forms need from the manifest, made in one pass over the built operations ([`finish`]):
//! closed lists as `enum` (a form leaves an optional `enum` unset, where rjsf fills in the first
//! branch of a `oneOf` of constants), every pattern's rule in words, the overlay's rules by name,
//! and the order and groups a form shows the fields in. From the result come the UI schemas that
//! hosts hand to rjsf and JSON Forms ([`rjsf_ui`], [`jsonforms_ui`]).

use serde_json::{json, Map, Value};

use crate::overlay::Overlay;
use s3_connector::manifest::{
    Encoding, FormSection, Location, Manifest, Operation, Parameter, Rule,
};

/// Each pattern the schemas use, and what it asks for in words: the message a form shows
/// (`errorMessage.pattern`, read by ajv-errors) and the connector's own refusal. A new pattern
/// stops the generator until it has a line here.
const PATTERN_WORDS: &[(&str, &str)] = &[
    (r"^[\x20-\x7E]*$", "may contain only printable ASCII: letters, digits, spaces and punctuation (no line breaks, no accented letters)"),
    (r"^[\x20-\x7E]+$", "must be printable ASCII (letters, digits, spaces and punctuation), at least one character"),
    (r"^[\x21-\x7E]+$", "must be printable ASCII without spaces"),
    (r"^[A-Za-z0-9._-]+$", "may contain only letters, digits, '.', '_' and '-'"),
    (r"^[A-Za-z0-9_-]+$", "may contain only letters, digits, '_' and '-'"),
    (r"^[a-z0-9-]+$", "may contain only lowercase letters, digits and '-'"),
    (r"^[a-z0-9]+(?:(?:-+|\.)[a-z0-9]+)*$", "may contain only lowercase letters, digits, '.' and '-', must start and end with a letter or digit, and may not have a '.' next to a '.' or '-'"),
    (r"^[A-Za-z0-9+/]{22}==$", "must be the base64 of 16 bytes: 22 letters, digits, '+' or '/', then '=='"),
    (r"^[A-Za-z0-9+/]{43}=$", "must be the base64 of 32 bytes: 43 letters, digits, '+' or '/', then '='"),
    (r"^[A-Za-z0-9+/]{6}==$", "must be the base64 of 4 bytes (a CRC32 or CRC32C): 6 letters, digits, '+' or '/', then '=='"),
    (r"^[A-Za-z0-9+/]{11}=$", "must be the base64 of 8 bytes (a CRC64NVME): 11 letters, digits, '+' or '/', then '='"),
    (r"^[A-Za-z0-9+/]*={0,2}$", "must be base64: letters, digits, '+' and '/', padded with '='"),
    (r"^[^\u0000]+$", "must not be empty or contain the NUL character"),
    (r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", "may contain only letters, digits and ! # $ % & ' * + . ^ _ ` | ~ -"),
    (r"^bytes=([0-9]+-[0-9]*|-[0-9]+)$", "must be a byte range: `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-LENGTH`"),
    (r"^bytes=[0-9]+-[0-9]+$", "must be a byte range `bytes=FIRST-LAST`"),
    (r"^(?:[A-Za-z0-9._-]+|arn:aws[a-z-]*:(?:s3|s3-object-lambda):[a-z0-9-]*:[0-9]{12}:accesspoint[/:][A-Za-z0-9.-]{1,63}|arn:aws[a-z-]*:s3-outposts:[a-z0-9-]+:[0-9]{12}:outpost[/:][A-Za-z0-9-]{1,63}[/:]accesspoint[/:][A-Za-z0-9-]{1,63})$", "must be a bucket name (letters, digits, '.', '_' and '-') or an access point or Outposts access point ARN"),
    (r"\/?.+\/.+", "must be `bucket/key`"),
    (r"arn:aws[a-zA-Z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+", "must be a KMS key ARN: `arn:aws:kms:REGION:ACCOUNT:key/ID`"),
    (r"^https?://", "must start with http:// or https://"),
    (r"^arn:[A-Za-z0-9_+=/,.@:-]+$", "must be an ARN: `arn:` then letters, digits and _ + = / , . @ : -"),
    (r"^[A-Za-z0-9_+=,.@:/-]+$", "may contain only letters, digits and _ + = , . @ : / -"),
    (r"^[A-Za-z0-9_+=,.@-]+$", "may contain only letters, digits and _ + = , . @ -"),
];

/// Patterns a value must not match (`not: {pattern}`), in words.
const NOT_PATTERN_WORDS: &[(&str, &str)] = &[(
    r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
    "must not be formatted as an IP address",
)];

/// The named groups a form shows after the fields people fill first, in order, each with the
/// parameter names it takes (`*` ends a prefix). A parameter no group names goes to "Other
/// options"; the paging and transfer settings are placed by what they are, not their names.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Headers and metadata",
        &[
            "Cache-Control",
            "Content-Disposition",
            "Content-Encoding",
            "Content-Language",
            "Content-Type",
            "Content-Length",
            "Expires",
            "x-amz-meta-",
            "MetadataEntries",
            "x-amz-metadata-directive",
            "x-amz-tagging",
            "x-amz-tagging-directive",
            "x-amz-storage-class",
            "x-amz-website-redirect-location",
            "response-*",
        ],
    ),
    (
        "Encryption",
        &[
            "x-amz-server-side-encryption*",
            "x-amz-copy-source-server-side-encryption-*",
        ],
    ),
    (
        "Access control",
        &[
            "x-amz-acl",
            "x-amz-grant-*",
            "x-amz-request-payer",
            "x-amz-expected-bucket-owner",
            "x-amz-source-expected-bucket-owner",
            "x-amz-object-ownership",
        ],
    ),
    (
        "Object lock",
        &[
            "x-amz-object-lock-*",
            "x-amz-bypass-governance-retention",
            "x-amz-bucket-object-lock-*",
        ],
    ),
    (
        "Conditions",
        &[
            "If-*",
            "x-amz-copy-source-if-*",
            "x-amz-if-*",
            "x-amz-rename-source-if-*",
        ],
    ),
    (
        "Checksums",
        &[
            "Content-MD5",
            "x-amz-checksum-*",
            "x-amz-sdk-checksum-algorithm",
        ],
    ),
];

/// Fields that come first when an operation has them, in this order; then its other required
/// fields and its XML payload.
const FIRST: &[&str] = &[
    "Bucket",
    "Key",
    "x-amz-copy-source",
    "uploadId",
    "partNumber",
    "Body",
    "BodyBase64",
    "BodyFile",
    "OutputFile",
    "prefix",
    "Prefix",
    "delimiter",
    "versionId",
];

/// The pass over every built operation: metadata twins and rules by name added, each parameter's
/// schema made drawable (enums, words, descriptions, required containers), the rules said in
/// the descriptions, the form sections laid out. Stops on a `default` sent to S3, a pattern
/// without words and a field without a description.
pub(crate) fn finish(manifest: &mut Manifest, overlay: &Overlay) -> Result<(), String> {
    for op in &mut manifest.operations {
        add_entry_lists(op, overlay)?;
        for r in &overlay.rules_by_name {
            let has = |n: &str| op.parameters.iter().any(|p| p.name == n);
            if has(&r.given) && r.needs.keys().all(|n| has(n)) {
                op.rules.push(Rule::Requires(r.clone()));
            }
        }
        for p in &mut op.parameters {
            let at = format!("{}.{}", op.name, p.name);
            if p.location != Location::Local && p.schema.get("default").is_some() {
                return Err(format!(
                    "{at}: a `default` is only for what the connector itself applies; say S3's default in the description"
                ));
            }
            enums(&mut p.schema);
            words(&mut p.schema).map_err(|e| format!("{at}: {e}"))?;
            if p.schema.get("description").is_none() {
                let d = overlay.member_descriptions.get(&p.name).ok_or_else(|| {
                    format!("{at}: no description; add one to `member_descriptions`")
                })?;
                p.schema["description"] = json!(d);
            }
            describe_members(&mut p.schema, overlay).map_err(|e| format!("{at}: {e}"))?;
            required_when_given(&mut p.schema);
        }
        describe_rules(op);
        op.form = sections(op);
    }
    Ok(())
}

/// An object's required members that are objects or lists, required only once the object is
/// given (`if: {minProperties: 1}, then: {required}`), and the object then not empty: the same
/// rule, in a form rjsf does not fill in. rjsf's default `populateAllDefaults` otherwise writes
/// `{}` and `[]` for them into an optional object nobody touched (`LifecycleConfiguration:
/// {Rules: []}`), which blocks the form or sends a payload nobody asked for.
fn required_when_given(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(required_when_given);
    }
    if let Some(items) = obj.get_mut("items").and_then(|i| i.get_mut("properties")) {
        items
            .as_object_mut()
            .into_iter()
            .flat_map(|p| p.values_mut())
            .for_each(required_when_given);
    }
    let container = |name: &Value| {
        let ty = name
            .as_str()
            .and_then(|n| obj.get("properties")?.get(n)?.get("type")?.as_str());
        matches!(ty, Some("object" | "array"))
    };
    let Some(required) = obj.get("required").and_then(Value::as_array) else {
        return;
    };
    let (later, now): (Vec<Value>, Vec<Value>) = required.iter().cloned().partition(container);
    if later.is_empty() {
        return;
    }
    if now.is_empty() {
        obj.remove("required");
        obj.insert("minProperties".into(), json!(1));
        let names: Vec<String> = later
            .iter()
            .map(|n| format!("`{}`", n.as_str().unwrap_or_default()))
            .collect();
        message_entry(obj).insert(
            "minProperties".into(),
            json!(format!("needs {}", names.join(" and "))),
        );
    } else {
        obj.insert("required".into(), Value::Array(now));
    }
    obj.insert("if".into(), json!({"minProperties": 1}));
    obj.insert("then".into(), json!({"required": later}));
}

/// Every property of a payload is described: from the model, else from the overlay's
/// `member_descriptions`.
fn describe_members(schema: &mut Value, overlay: &Overlay) -> Result<(), String> {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            if prop.get("description").is_none() {
                let d = overlay.member_descriptions.get(name).ok_or_else(|| {
                    format!("member `{name}` has no description; add one to `member_descriptions`")
                })?;
                prop["description"] = json!(d);
            }
            describe_members(prop, overlay)?;
        }
    }
    if let Some(items) = schema.get_mut("items") {
        describe_members(items, overlay)?;
    }
    Ok(())
}

/// Beside each header map the overlay names, its twin taking a list of entries (at most one of
/// the two).
fn add_entry_lists(op: &mut Operation, overlay: &Overlay) -> Result<(), String> {
    for e in &overlay.entry_lists {
        let Some(map) = op.parameter(&e.map) else {
            continue;
        };
        if map.location != Location::HeaderMap {
            return Err(format!(
                "entry_lists: `{}` is no header map in {}",
                e.map, op.name
            ));
        }
        let twin = crate::overlay_parameter(
            &e.name,
            Location::HeaderMap,
            map.wire.clone(),
            e.schema.clone(),
        );
        let at = op
            .parameters
            .iter()
            .position(|p| p.name == e.map)
            .expect("found")
            + 1;
        op.parameters.insert(at, twin);
        op.rules
            .push(Rule::AtMostOneOf(vec![e.map.clone(), e.name.clone()]));
        op.corrections
            .push(format!("{} (added): {}", e.name, e.reason));
    }
    Ok(())
}

/// The connection schema as forms need it: typed enums, no formats a validator does not know
/// (secrets are `writeOnly`; a UI schema masks them), rules in words.
pub(crate) fn connection(schema: &mut Value) -> Result<(), String> {
    inline_defs(schema);
    strip_unknown_formats(schema);
    enums(schema);
    words(schema)
}

/// A `oneOf` of constants becomes an `enum`, its titles `x-enumNames` (rjsf's `ui:enumNames`
/// and other hosts read them), its branches' descriptions a line each in the description.
fn enums(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let constants = m.get("oneOf").and_then(Value::as_array).filter(|b| {
                !b.is_empty()
                    && b.iter().all(|b| {
                        b.get("const").is_some()
                            && b.as_object().is_some_and(|o| {
                                o.keys().all(|k| {
                                    ["const", "title", "description", "type"].contains(&k.as_str())
                                })
                            })
                    })
            });
            if let Some(branches) = constants.cloned() {
                m.remove("oneOf");
                let values: Vec<Value> = branches.iter().map(|b| b["const"].clone()).collect();
                let titles: Option<Vec<Value>> =
                    branches.iter().map(|b| b.get("title").cloned()).collect();
                let notes: Vec<String> = branches
                    .iter()
                    .filter_map(|b| {
                        let d = b.get("description")?.as_str()?;
                        let name = b.get("title").and_then(Value::as_str).unwrap_or_default();
                        Some(format!(
                            "{name} (`{}`): {d}",
                            b["const"].as_str().unwrap_or_default()
                        ))
                    })
                    .collect();
                if !m.contains_key("type") {
                    let ty = match &values[0] {
                        Value::Bool(_) => "boolean",
                        Value::Number(_) => "integer",
                        _ => "string",
                    };
                    m.insert("type".into(), json!(ty));
                }
                m.insert("enum".into(), Value::Array(values));
                if let Some(t) = titles {
                    m.insert("x-enumNames".into(), Value::Array(t));
                }
                if !notes.is_empty() {
                    let d = m
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let d = format!("{d} {}", notes.join(" ")).trim().to_string();
                    m.insert("description".into(), json!(d));
                }
            }
            m.values_mut().for_each(enums);
        }
        Value::Array(a) => a.iter_mut().for_each(enums),
        _ => {}
    }
}

/// `errorMessage` in words for every pattern (and every `not: {pattern}`) that has none.
fn words(v: &mut Value) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            let lookup = |table: &[(&str, &str)], p: &str| {
                table
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, w)| (*w).to_string())
            };
            if let Some(p) = m.get("pattern").and_then(Value::as_str).map(str::to_string) {
                if m.get("errorMessage")
                    .and_then(|e| e.get("pattern"))
                    .is_none()
                {
                    let w = lookup(PATTERN_WORDS, &p)
                        .ok_or_else(|| format!("pattern `{p}` has no words in gen/src/forms.rs"))?;
                    message_entry(m).insert("pattern".into(), json!(w));
                }
            }
            if let Some(p) = m
                .get("not")
                .and_then(|n| n.get("pattern"))
                .and_then(Value::as_str)
                .map(str::to_string)
            {
                let w = lookup(NOT_PATTERN_WORDS, &p).ok_or_else(|| {
                    format!("`not` pattern `{p}` has no words in gen/src/forms.rs")
                })?;
                message_entry(m).insert("not".into(), json!(w));
            }
            for (k, c) in m.iter_mut() {
                if k != "errorMessage" && k != "not" {
                    words(c)?;
                }
            }
            Ok(())
        }
        Value::Array(a) => a.iter_mut().try_for_each(words),
        _ => Ok(()),
    }
}

fn message_entry(m: &mut Map<String, Value>) -> &mut Map<String, Value> {
    m.entry("errorMessage")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("errorMessage is an object")
}

/// A `$ref` to `$defs` (schemars writes enums so) replaced by the definition, keywords beside
/// the `$ref` kept: some form libraries draw no field for a bare `$ref` with a `default`.
fn inline_defs(schema: &mut Value) {
    let Some(defs) = schema.as_object_mut().and_then(|o| o.remove("$defs")) else {
        return;
    };
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            let Some(name) = prop
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .map(str::to_string)
            else {
                continue;
            };
            let obj = prop.as_object_mut().expect("object");
            obj.remove("$ref");
            for (k, v) in defs[&name].as_object().expect("definition object") {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// `format`s that neither JSON Schema nor ajv-formats defines (schemars' `double`, `uint32`):
/// validators warn about them and check nothing. `password` stays: ajv-formats knows it, and
/// rjsf masks such a field by itself.
fn strip_unknown_formats(v: &mut Value) {
    const KNOWN: &[&str] = &[
        "date-time",
        "date",
        "time",
        "uri",
        "email",
        "uuid",
        "password",
    ];
    match v {
        Value::Object(m) => {
            if m.get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !KNOWN.contains(&f))
            {
                m.remove("format");
            }
            m.values_mut().for_each(strip_unknown_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_unknown_formats),
        _ => {}
    }
}

/// Each field a rule concerns says so in its description, where a form shows it.
fn describe_rules(op: &mut Operation) {
    let mut notes: Vec<(String, String, String)> = Vec::new();
    for rule in &op.rules {
        match rule {
            Rule::AtMostOneOf(names) | Rule::OneOf(names) => {
                let list = names.join(", ");
                for n in names {
                    notes.push((n.clone(), format!("Give only one of {list}."), list.clone()));
                }
            }
            Rule::Requires(r) => {
                let note = format!("Needs {}.", s3_connector::schemas::needs_words(r));
                notes.push((r.given.clone(), note.clone(), note));
            }
        }
    }
    for (name, note, names) in notes {
        if let Some(p) = op.parameters.iter_mut().find(|p| p.name == name) {
            let d = p
                .schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // A description that already names the others says it.
            if !d.contains(&note) && !d.contains(&names) {
                p.schema["description"] = json!(format!("{d} {note}").trim());
            }
        }
    }
}

fn group_of(name: &str) -> Option<&'static str> {
    GROUPS.iter().find_map(|(title, names)| {
        names
            .iter()
            .any(|n| match n.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => *n == name,
            })
            .then_some(*title)
    })
}

/// The fields people fill first, then the named groups, then paging, transfer and the rest.
fn sections(op: &Operation) -> Vec<FormSection> {
    let paging: Vec<&str> = op
        .pagination
        .iter()
        .flat_map(|p| {
            std::iter::once(p.page_size.as_str())
                .chain(p.tokens.iter().map(|t| t.input.as_str()))
                .chain(["MaxItems"])
        })
        .collect();
    let mut first: Vec<&str> = FIRST
        .iter()
        .copied()
        .filter(|n| op.parameter(n).is_some())
        .collect();
    for p in &op.parameters {
        if (p.required || p.location == Location::Body) && !first.contains(&p.name.as_str()) {
            first.push(&p.name);
        }
    }
    // A required choice (`delete_prefix`'s `Prefix` or `AllowWholeBucket`) is shown together.
    for rule in &op.rules {
        if let Rule::OneOf(names) = rule {
            for n in names {
                if !first.contains(&n.as_str()) {
                    first.push(n);
                }
            }
        }
    }
    let mut sections = vec![FormSection {
        title: None,
        fields: first.iter().map(|n| (*n).to_string()).collect(),
    }];
    let titles = GROUPS
        .iter()
        .map(|(t, _)| *t)
        .chain(["Paging", "Transfer", "Other options"]);
    for title in titles {
        let fields: Vec<String> = op
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| !first.contains(n))
            .filter(|n| {
                let local = op
                    .parameter(n)
                    .is_some_and(|p| p.location == Location::Local);
                let group = if paging.contains(n) {
                    "Paging"
                } else if let Some(g) = group_of(n) {
                    g
                } else if local {
                    "Transfer"
                } else {
                    "Other options"
                };
                group == title
            })
            .map(str::to_string)
            .collect();
        if !fields.is_empty() {
            sections.push(FormSection {
                title: Some(title.to_string()),
                fields,
            });
        }
    }
    sections
}

/// rjsf's UI schema: `ui:order` by sections, `ui:groups` naming them (for an object field
/// template that draws them as fieldsets), and per field its widget: secrets masked, text
/// bodies as text areas, enum titles, "Not set" for an optional choice.
pub(crate) fn rjsf_ui(op: &Operation, input: &Value) -> Value {
    let order: Vec<&String> = op.form.iter().flat_map(|s| &s.fields).collect();
    let mut ui = json!({
        "ui:order": order,
        "ui:groups": op.form,
    });
    for p in &op.parameters {
        let mut field = rjsf_field(&input["properties"][&p.name], !p.required);
        if p.encoding == Some(Encoding::Text) {
            field["ui:widget"] = json!("textarea");
        }
        // rjsf edits a map: the list twin of a header map is not shown.
        if is_entry_list(p) {
            field = json!({"ui:widget": "hidden"});
        }
        if field.as_object().is_some_and(|f| !f.is_empty()) {
            ui[&p.name] = field;
        }
    }
    ui
}

/// rjsf's UI schema for the connection: its order, and its secrets masked.
pub(crate) fn rjsf_connection_ui(schema: &Value) -> Value {
    let mut ui = json!({"ui:order": schema["x-propertyOrder"]});
    for (name, prop) in schema["properties"].as_object().expect("properties") {
        let field = rjsf_field(prop, true);
        if field.as_object().is_some_and(|f| !f.is_empty()) {
            ui[name] = field;
        }
    }
    ui
}

fn rjsf_field(schema: &Value, optional: bool) -> Value {
    let mut ui = json!({});
    if schema.get("writeOnly") == Some(&json!(true)) {
        ui["ui:widget"] = json!("password");
    }
    if schema.get("enum").is_some() {
        if let Some(names) = schema.get("x-enumNames") {
            ui["ui:enumNames"] = names.clone();
        }
        if optional {
            ui["ui:placeholder"] = json!("Not set");
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let required = schema.get("required").and_then(Value::as_array);
        for (name, sub) in props {
            let is_required = required.is_some_and(|r| r.contains(&json!(name)));
            let field = rjsf_field(sub, !is_required);
            if field.as_object().is_some_and(|f| !f.is_empty()) {
                ui[name] = field;
            }
        }
    }
    if let Some(items) = schema.get("items") {
        let field = rjsf_field(items, false);
        if field.as_object().is_some_and(|f| !f.is_empty()) {
            ui["items"] = field;
        }
    }
    ui
}

/// JSON Forms' UI schema: the first section's controls, then a `Group` per named section;
/// secrets masked, text bodies multi-line.
pub(crate) fn jsonforms_ui(op: &Operation, input: &Value) -> Value {
    let control = |name: &str| {
        let mut c = json!({"type": "Control", "scope": format!("#/properties/{}", escape(name))});
        let p = op.parameter(name).expect("form names parameters");
        if input["properties"][name].get("writeOnly") == Some(&json!(true)) {
            c["options"] = json!({"format": "password"});
        }
        if p.encoding == Some(Encoding::Text) {
            c["options"] = json!({"multi": true});
        }
        c
    };
    let mut elements = Vec::new();
    // JSON Forms draws no map: a header map's list twin stands in for it.
    let has_twin = |n: &str| {
        op.parameters
            .iter()
            .any(|p| is_entry_list(p) && p.wire == op.parameter(n).and_then(|m| m.wire.clone()))
    };
    for s in &op.form {
        let controls: Vec<Value> = s
            .fields
            .iter()
            .filter(|n| {
                let p = op.parameter(n).expect("form names parameters");
                !(p.location == Location::HeaderMap && !is_entry_list(p) && has_twin(n))
            })
            .map(|n| control(n))
            .collect();
        match &s.title {
            None => elements.extend(controls),
            Some(t) => elements.push(json!({"type": "Group", "label": t, "elements": controls})),
        }
    }
    json!({"type": "VerticalLayout", "elements": elements})
}

/// JSON Forms' UI schema for the connection: one control each, secrets masked.
pub(crate) fn jsonforms_connection_ui(schema: &Value) -> Value {
    let elements: Vec<Value> = schema["x-propertyOrder"]
        .as_array()
        .expect("order")
        .iter()
        .map(|n| {
            let n = n.as_str().expect("name");
            let mut c = json!({"type": "Control", "scope": format!("#/properties/{}", escape(n))});
            if schema["properties"][n].get("writeOnly") == Some(&json!(true)) {
                c["options"] = json!({"format": "password"});
            }
            c
        })
        .collect();
    json!({"type": "VerticalLayout", "elements": elements})
}

/// A header map taking a list of entries (`entry_lists` in the overlay).
fn is_entry_list(p: &Parameter) -> bool {
    p.location == Location::HeaderMap && p.schema.get("type") == Some(&json!("array"))
}

/// A JSON Pointer token.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_become_an_enum_with_names() {
        let mut s = json!({"type": "string", "oneOf": [
            {"const": "ON", "title": "On"}, {"const": "OFF", "title": "Off"}]});
        enums(&mut s);
        assert_eq!(
            s,
            json!({"type": "string", "enum": ["ON", "OFF"], "x-enumNames": ["On", "Off"]})
        );
        // Typed branches are not constants: left alone.
        let mut s = json!({"oneOf": [{"type": "string"}, {"type": "object"}]});
        let before = s.clone();
        enums(&mut s);
        assert_eq!(s, before);
    }

    #[test]
    fn patterns_get_words_and_an_unknown_one_stops() {
        let mut s = json!({"type": "string", "pattern": "^[A-Za-z0-9._-]+$"});
        words(&mut s).unwrap();
        assert_eq!(
            s["errorMessage"]["pattern"],
            "may contain only letters, digits, '.', '_' and '-'"
        );
        let mut s = json!({"items": {"pattern": "^x$"}});
        assert!(words(&mut s).unwrap_err().contains("^x$"));
    }

    #[test]
    fn groups_by_name() {
        assert_eq!(group_of("x-amz-grant-read"), Some("Access control"));
        assert_eq!(group_of("If-None-Match"), Some("Conditions"));
        assert_eq!(
            group_of("x-amz-server-side-encryption-customer-key"),
            Some("Encryption")
        );
        assert_eq!(group_of("x-amz-meta-"), Some("Headers and metadata"));
        assert_eq!(group_of("versionId"), None);
    }
}
