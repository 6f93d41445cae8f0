//! Every committed schema is a valid JSON Schema 2020-12 document, usable for forms.

use serde_json::Value;

fn schemas() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
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
