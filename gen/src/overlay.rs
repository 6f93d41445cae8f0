//! The overlay (`connector/overlay.json`): what the docs page gets wrong or leaves out.
//!
//! Every entry carries a one-line `reason`; the generator refuses an entry without one, and
//! copies each applied reason into the operation's `corrections` list in the manifest.

use serde::Deserialize;
use serde_json::{Map, Value};

use s3_connector::manifest::{
    Encoding, Http, Location, Quirk, RequestBody, Requires, Rule, Runner,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    #[serde(rename = "$comment", default)]
    pub comment: Vec<String>,
    /// Named schema fragments, used from a parameter schema as `{"$use": "name", ...}`.
    #[serde(default)]
    pub types: Map<String, Value>,
    /// Patches applied to a parameter of this name in every operation that has it.
    #[serde(default)]
    pub parameters_by_name: Map<String, Value>,
    /// One entry per operation, in the order the manifest lists them.
    pub operations: Vec<OperationOverlay>,
    /// The `MaxItems` parameter every operation paged automatically by the model's paginator
    /// gets (the total limit across pages).
    #[serde(default)]
    pub max_items: Option<ParameterPatch>,
    /// What the model does not say about operations generated from it alone, by their name.
    #[serde(default)]
    pub model_operations: std::collections::BTreeMap<String, ModelOperationOverlay>,
    /// Descriptions, by name, of the fields the model leaves undocumented.
    #[serde(default)]
    pub member_descriptions: std::collections::BTreeMap<String, String>,
    /// A header map's twin taking the same entries as a list, added beside the map everywhere.
    #[serde(default)]
    pub entry_lists: Vec<EntryList>,
    /// A parameter that needs others with it, applied to every operation that has them all.
    #[serde(default)]
    pub rules_by_name: Vec<Requires>,
}

/// A parameter that takes a header map's entries as a list of `{"Name", "Value"}` objects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryList {
    /// The header map's parameter name.
    #[serde(rename = "for")]
    pub map: String,
    pub name: String,
    pub reason: String,
    pub schema: Value,
}

/// Additions to an operation generated from the model alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOperationOverlay {
    pub reason: String,
    /// Behaviour beyond the generic request and reply.
    #[serde(default)]
    pub quirks: Vec<Reasoned<Quirk>>,
    /// Keys merged over output properties the model describes wrongly (the entry's reason says
    /// why).
    #[serde(default)]
    pub output: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationOverlay {
    pub name: String,
    pub reason: String,
    /// The operation is not on the docs page; `description` is then required.
    #[serde(default)]
    pub new: bool,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub reference: String,
    /// The operation of AWS's model this one is (its HTTP binding, members and output come
    /// from there); absent for the connector's own workflow operations.
    #[serde(default)]
    pub model: Option<String>,
    /// Other names the operation answers to.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Model members this operation does not take, each with the reason.
    #[serde(default)]
    pub skip_members: std::collections::BTreeMap<String, String>,
    /// The binding, where the model gives none; where it does, the two must agree.
    #[serde(default)]
    pub http: Option<Http>,
    #[serde(default)]
    pub request_body: Option<RequestBody>,
    /// Start from the (patched) parameters of another operation.
    #[serde(default)]
    pub parameters_from: Option<ParametersFrom>,
    /// Start the output from another operation's (a workflow operation that answers with what
    /// that one answers, and more).
    #[serde(default)]
    pub output_from: Option<Reasoned<String>>,
    /// Patches to documented parameters, by name.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub add_parameters: Vec<ParameterPatch>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Automatic pagination of a listing.
    #[serde(default)]
    pub pagination: Option<PaginationOverlay>,
    /// The code that runs an operation of more than one plain request.
    #[serde(default)]
    pub runner: Option<Reasoned<Runner>>,
    /// Behaviour beyond the generic request and reply.
    #[serde(default)]
    pub quirks: Vec<Reasoned<Quirk>>,
    /// Output properties, each with `x-s3` saying where it comes from: those the model lacks,
    /// or all of them for an operation not in the model.
    #[serde(default)]
    pub output: Map<String, Value>,
}

/// A fact about an operation that neither source gives, with why it holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasoned<T> {
    pub is: T,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationOverlay {
    pub reason: String,
    pub page_size: String,
    pub results: Vec<String>,
    pub more: String,
    pub tokens: Vec<s3_connector::manifest::PageToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParametersFrom {
    /// An operation earlier in the overlay, or one generated from the model alone.
    pub operation: String,
    pub reason: String,
    #[serde(default)]
    pub except: Vec<String>,
    /// Take the source's members of the model too (a workflow operation with no model operation
    /// of its own, sending the source's requests); otherwise they stay behind.
    #[serde(default)]
    pub model_members: bool,
}

/// A correction to a parameter, or (in `add_parameters`) a whole new one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterPatch {
    #[serde(default)]
    pub name: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub wire: Option<String>,
    #[serde(default)]
    pub secret: Option<bool>,
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// Where the patch changes what the page says the parameter is (a different JSON type, or
    /// another meaning), not only narrows it: said to callers in `docs/operations.md`.
    #[serde(default)]
    pub departure: Option<String>,
    /// Keys merged over the parameter's schema (`$use` expands a named type first; `null`
    /// removes a key).
    #[serde(default)]
    pub schema: Option<Map<String, Value>>,
}

impl Overlay {
    pub fn parse(text: &str) -> Result<Overlay, String> {
        let overlay: Overlay =
            serde_json::from_str(text).map_err(|e| format!("connector/overlay.json: {e}"))?;
        let check = |what: &str, reason: &str| -> Result<(), String> {
            if reason.trim().is_empty() || reason.contains('\n') {
                Err(format!("overlay: {what} needs a one-line `reason`"))
            } else {
                Ok(())
            }
        };
        for (name, patch) in &overlay.parameters_by_name {
            check(
                &format!("parameters_by_name.{name}"),
                &overlay.patch(patch)?.reason,
            )?;
        }
        for op in &overlay.operations {
            check(&format!("operation {}", op.name), &op.reason)?;
            for (name, patch) in &op.parameters {
                check(
                    &format!("{}.parameters.{name}", op.name),
                    &overlay.patch(patch)?.reason,
                )?;
            }
            for p in &op.add_parameters {
                let name = p.name.as_deref().unwrap_or("?");
                check(&format!("{}.add_parameters.{name}", op.name), &p.reason)?;
                if p.name.is_none() || p.location.is_none() || p.schema.is_none() {
                    return Err(format!(
                        "overlay: {}.add_parameters.{name} needs `name`, `location` and `schema`",
                        op.name
                    ));
                }
            }
            if let Some(r) = &op.runner {
                check(&format!("{}.runner", op.name), &r.reason)?;
            }
            for q in &op.quirks {
                check(&format!("{}.quirks", op.name), &q.reason)?;
            }
            if let Some(p) = &op.pagination {
                check(&format!("{}.pagination", op.name), &p.reason)?;
            }
            for (member, reason) in &op.skip_members {
                check(&format!("{}.skip_members.{member}", op.name), reason)?;
            }
            if let Some(from) = &op.output_from {
                check(&format!("{}.output_from", op.name), &from.reason)?;
            }
            if let Some(from) = &op.parameters_from {
                check(&format!("{}.parameters_from", op.name), &from.reason)?;
            }
        }
        for e in &overlay.entry_lists {
            check(&format!("entry_lists.{}", e.name), &e.reason)?;
        }
        for r in &overlay.rules_by_name {
            check(&format!("rules_by_name.{}", r.given), &r.reason)?;
        }
        for (name, op) in &overlay.model_operations {
            check(&format!("model_operations.{name}"), &op.reason)?;
            for q in &op.quirks {
                check(&format!("model_operations.{name}.quirks"), &q.reason)?;
            }
        }
        Ok(overlay)
    }

    pub fn patch(&self, value: &Value) -> Result<ParameterPatch, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("overlay patch {value}: {e}"))
    }

    /// Expands `$use` in a schema patch and merges it over `base`; a `null` removes the key.
    pub fn merge_schema(
        &self,
        base: &mut Map<String, Value>,
        patch: &Map<String, Value>,
    ) -> Result<(), String> {
        if let Some(name) = patch.get("$use") {
            let name = name.as_str().ok_or("`$use` must name a type")?;
            let ty = self
                .types
                .get(name)
                .and_then(Value::as_object)
                .ok_or_else(|| format!("overlay: unknown type `{name}` in `$use`"))?;
            for (k, v) in ty {
                base.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in patch {
            match (k.as_str(), v) {
                ("$use", _) => {}
                (_, Value::Null) => {
                    base.remove(k);
                }
                _ => {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(())
    }
}
