//! The connection JSON Schema, derived from the runtime's [`Connection`] struct (its doc comments
//! and `schemars` attributes, compiled in by the lib's `schema` feature), so the two cannot drift.

use s3_connector::connection::Connection;

/// The connection JSON Schema (2020-12), as committed in `schemas/connection.json`.
pub(crate) fn connection_schema() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().for_deserialize();
    let schema = settings
        .into_generator()
        .into_root_schema_for::<Connection>();
    let mut value = serde_json::to_value(schema).expect("schema serialises");
    drop_null(&mut value);
    if let Some(obj) = value.as_object_mut() {
        let order: Vec<serde_json::Value> = obj
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| {
                p.keys()
                    .map(|k| serde_json::Value::String(k.clone()))
                    .collect()
            })
            .unwrap_or_default();
        obj.insert("x-propertyOrder".into(), serde_json::Value::Array(order));
    }
    value
}

/// Absent, not null (and unwrapped descriptions): hosts omit a field rather than send `null`, so `Option` adds no null type.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            // Doc comments wrap at 100 columns; descriptions are prose.
            if let Some(Value::String(d)) = m.get_mut("description") {
                *d = d.replace('\n', " ");
            }
            if let Some(Value::Array(types)) = m.get("type") {
                let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if rest.len() == 1 {
                    m.insert("type".into(), rest[0].clone());
                }
            }
            if let Some(Value::Array(arms)) = m.get("anyOf") {
                let rest: Vec<Value> = arms
                    .iter()
                    .filter(|a| a.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if rest.len() == 1 && arms.len() == 2 {
                    m.remove("anyOf");
                    if let Value::Object(arm) = &rest[0] {
                        for (k, val) in arm {
                            m.insert(k.clone(), val.clone());
                        }
                    }
                }
            }
            m.values_mut().for_each(drop_null);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_marks_secrets_and_refuses_unknown_fields() {
        let s = connection_schema();
        assert_eq!(s["additionalProperties"], false);
        for f in ["secret_access_key", "session_token"] {
            assert_eq!(s["properties"][f]["writeOnly"], true, "{f}");
            assert_eq!(s["properties"][f]["format"], "password", "{f}");
        }
        assert_eq!(s["properties"]["addressing"]["default"], "auto");
    }
}
