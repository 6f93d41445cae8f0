//! Every committed schema is a valid JSON Schema 2020-12 document, usable for forms.

use serde_json::Value;

fn schemas() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            continue; // ui/: UI schemas, checked below
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn all_schemas_are_valid_2020_12() {
    let all = schemas();
    // Input and output for every operation, and the connection's.
    let ops = s3_connector::manifest::Manifest::embedded()
        .operations
        .len();
    assert_eq!(all.len(), 2 * ops + 1);
    for (name, s) in &all {
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Err(e) = jsonschema::meta::validate(s) {
            panic!("{name}: {e}");
        }
        jsonschema::draft202012::new(s).unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
        assert_eq!(s["additionalProperties"], false, "{name}");
        assert!(s["title"].is_string(), "{name}");
    }
}

#[test]
fn input_properties_carry_titles_and_order() {
    for (name, s) in schemas().iter().filter(|(n, _)| n.ends_with(".input.json")) {
        let props = s["properties"].as_object().unwrap();
        for (p, ps) in props {
            assert!(ps["title"].is_string(), "{name}: {p} has no title");
        }
        let order: Vec<&str> = s["x-propertyOrder"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(order.len(), props.len(), "{name}");
    }
}

#[test]
fn secrets_are_write_only_passwords() {
    let mut secrets = 0;
    for (name, s) in schemas() {
        for (p, ps) in s["properties"].as_object().unwrap() {
            if p.contains("customer-key") && !p.ends_with("MD5")
                || p == "secret_access_key"
                || p == "session_token"
            {
                assert_eq!(ps["writeOnly"], true, "{name}: {p}");
                assert_eq!(ps["format"], "password", "{name}: {p}");
                secrets += 1;
            }
        }
    }
    assert!(secrets >= 8, "{secrets}");
}

/// Each property at every depth of an input schema (and the connection's), with its path.
fn fields<'a>(s: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let at = format!("{path}/{k}");
            out.push((at.clone(), v));
            fields(v, &at, out);
        }
    }
    if let Some(items) = s.get("items") {
        fields(items, &format!("{path}/items"), out);
    }
}

fn input_and_connection() -> Vec<(String, Value)> {
    schemas()
        .into_iter()
        .filter(|(n, _)| n.ends_with(".input.json") || n == "connection.json")
        .collect()
}

#[test]
fn every_field_at_every_depth_has_a_title_and_a_description() {
    let mut count = 0;
    for (name, s) in input_and_connection() {
        let mut all = Vec::new();
        fields(&s, "", &mut all);
        for (at, f) in all {
            let described = |k: &str| f[k].as_str().is_some_and(|t| !t.trim().is_empty());
            assert!(described("description"), "{name}{at}: no description");
            if !at.ends_with("/items") {
                assert!(described("title"), "{name}{at}: no title");
            }
            count += 1;
        }
    }
    assert!(count > 1000, "{count}");
}

/// A description copied from another operation says what is not so: `put_object`'s fields once
/// spoke of "the copied object".
#[test]
fn descriptions_speak_of_their_own_operation() {
    for (name, s) in input_and_connection() {
        if name.contains("copy") || name.contains("rename") {
            continue;
        }
        let mut all = Vec::new();
        fields(&s, "", &mut all);
        for (at, f) in all {
            let d = f["description"].as_str().unwrap_or_default();
            assert!(
                !d.contains("copied object") && !d.contains("TaggingDirective"),
                "{name}{at}: {d}"
            );
        }
    }
}

/// rjsf fills an optional `oneOf` of constants with its first branch: closed lists are `enum`s,
/// and a `default` stands only where the connector itself applies it (a local setting).
#[test]
fn an_untouched_form_has_nothing_to_fill_in() {
    let walk_no_constant_branches = |name: &str, s: &Value| {
        let mut all = Vec::new();
        fields(s, "", &mut all);
        for (at, f) in all {
            if let Some(branches) = f["oneOf"].as_array() {
                assert!(
                    !branches.iter().all(|b| b.get("const").is_some()),
                    "{name}{at}: a oneOf of constants"
                );
            }
        }
    };
    for (name, s) in input_and_connection() {
        walk_no_constant_branches(&name, &s);
    }
    let mut defaults = 0;
    for op in &s3_connector::manifest::Manifest::embedded().operations {
        for p in &op.parameters {
            if p.schema.get("default").is_some() {
                assert_eq!(
                    p.location,
                    s3_connector::manifest::Location::Local,
                    "{}.{}: a default on a parameter sent to S3",
                    op.name,
                    p.name
                );
                defaults += 1;
            }
        }
    }
    assert!(defaults > 0);
}

/// Validators warn about formats they do not know, and check nothing; every pattern has its rule
/// in words for the form's message.
#[test]
fn formats_are_known_and_patterns_have_words() {
    fn walk(name: &str, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(f) = m.get("format").and_then(Value::as_str) {
                    assert!(
                        ["date-time", "uri", "password"].contains(&f),
                        "{name}: format {f}"
                    );
                }
                if m.get("pattern").is_some_and(Value::is_string) {
                    assert!(
                        m.get("errorMessage")
                            .and_then(|e| e.get("pattern"))
                            .is_some(),
                        "{name}: pattern {} without words",
                        m["pattern"]
                    );
                }
                for (k, c) in m {
                    // A `not: {pattern}` has its words beside the `not` (`errorMessage.not`).
                    if k == "not" && c.get("pattern").is_some() {
                        assert!(
                            m.get("errorMessage").and_then(|e| e.get("not")).is_some(),
                            "{name}: not without words"
                        );
                    } else if k != "errorMessage" {
                        walk(name, c);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(name, c)),
            _ => {}
        }
    }
    for (name, s) in input_and_connection() {
        walk(&name, &s);
    }
}

/// The fields a JSON Forms UI schema places, in order.
fn scopes(v: &Value, out: &mut Vec<String>) {
    if let Some(s) = v["scope"].as_str() {
        out.push(
            s.trim_start_matches("#/properties/")
                .replace("~1", "/")
                .replace("~0", "~"),
        );
    }
    for e in v["elements"].as_array().into_iter().flatten() {
        scopes(e, out);
    }
}

/// Both UI schemas place every field of the operation exactly once (JSON Forms shows a header
/// map's list twin instead of the map, rjsf hides the twin), in the manifest's sections.
#[test]
fn ui_schemas_place_every_field_once() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/ui");
    let read = |f: String| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{f}")).unwrap()).unwrap()
    };
    let manifest = s3_connector::manifest::Manifest::embedded();
    for op in &manifest.operations {
        let names: Vec<&str> = op.parameters.iter().map(|p| p.name.as_str()).collect();
        let sections: Vec<&str> = op
            .form
            .iter()
            .flat_map(|s| s.fields.iter().map(String::as_str))
            .collect();
        let mut sorted = sections.clone();
        sorted.sort_unstable();
        let mut want = names.clone();
        want.sort_unstable();
        assert_eq!(sorted, want, "{}: form sections", op.name);
        let rjsf = read(format!("{}.rjsf.json", op.name));
        let order: Vec<&str> = rjsf["ui:order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(order, sections, "{}: rjsf order", op.name);
        let mut controls = Vec::new();
        scopes(&read(format!("{}.jsonforms.json", op.name)), &mut controls);
        let twins = names.contains(&"MetadataEntries");
        let expected: Vec<&str> = sections
            .iter()
            .copied()
            .filter(|n| !(twins && *n == "x-amz-meta-"))
            .collect();
        assert_eq!(controls, expected, "{}: JSON Forms controls", op.name);
        if twins {
            assert_eq!(
                rjsf["MetadataEntries"]["ui:widget"], "hidden",
                "{}",
                op.name
            );
        }
        // The fields people fill first open the form.
        let first = &op.form[0];
        assert!(first.title.is_none(), "{}", op.name);
        for p in op.parameters.iter().filter(|p| p.required) {
            assert!(first.fields.contains(&p.name), "{}.{}", op.name, p.name);
        }
    }
}
