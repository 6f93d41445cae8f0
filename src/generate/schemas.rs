//! JSON Schemas (2020-12) for hosts: one input and one output schema per operation, and the
//! connection schema. Built from the manifest, so they say exactly what the executor accepts.

use serde_json::{json, Map, Value};

use super::GENERATED_NOTE;
use crate::manifest::{Manifest, Operation, Rule};

pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

fn id(op: &str, kind: &str) -> String {
    format!("urn:s3-connector:schema:{op}:{kind}")
}

pub fn input_schema(op: &Operation) -> Value {
    let mut props = Map::new();
    // Property order hint: required first, then as the manifest lists them.
    let mut order: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    order.extend(
        op.parameters
            .iter()
            .filter(|p| !p.required)
            .map(|p| p.name.as_str()),
    );
    for name in &order {
        let p = op.parameter(name).expect("listed");
        props.insert(p.name.clone(), p.schema.clone());
    }
    let required: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    let mut schema = json!({
        "$schema": DIALECT,
        "$id": id(&op.name, "input"),
        "$comment": GENERATED_NOTE,
        "title": op.title,
        "description": op.description,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
        "x-propertyOrder": order,
    });
    // "At most one of" as JSON Schema, for hosts that validate with the schema alone.
    let mut dependent = Map::new();
    for rule in &op.rules {
        let Rule::AtMostOneOf(names) = rule;
        for n in names {
            let others: Vec<Value> = names
                .iter()
                .filter(|o| *o != n)
                .map(|o| json!({"required": [o]}))
                .collect();
            dependent.insert(n.clone(), json!({"not": {"anyOf": others}}));
        }
    }
    if !dependent.is_empty() {
        schema["dependentSchemas"] = Value::Object(dependent);
    }
    schema
}

pub fn output_schema(op: &Operation) -> Value {
    let mut body = op.output.clone();
    strip_wire_annotations(&mut body);
    let mut schema = json!({
        "$schema": DIALECT,
        "$id": id(&op.name, "output"),
        "$comment": GENERATED_NOTE,
        "title": format!("{} — result", op.title),
    });
    for (k, v) in body.as_object().expect("object") {
        schema[k] = v.clone();
    }
    schema
}

pub fn connection_file(manifest: &Manifest) -> Value {
    let mut schema = manifest.connection.clone();
    let obj = schema.as_object_mut().expect("object");
    obj.insert("$id".into(), json!("urn:s3-connector:schema:connection"));
    obj.insert("$comment".into(), json!(GENERATED_NOTE));
    schema
}

fn strip_wire_annotations(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("x-s3");
            for (_, c) in m.iter_mut() {
                strip_wire_annotations(c);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_wire_annotations),
        _ => {}
    }
}
