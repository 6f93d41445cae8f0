//! `docs/operations.md`: the operations reference, rendered from the manifest.

use std::fmt::Write;

use serde_json::Value;

use s3_connector::manifest::{Encoding, Location, Manifest, Origin, Parameter};
use s3_connector::schemas::GENERATED_NOTE;

/// Where each operation ran live: operation → the servers it passed on (`tests/ops/`).
pub type Live = std::collections::BTreeMap<String, Vec<String>>;

pub fn render(
    m: &Manifest,
    excluded: &[(&str, &str)],
    round_trips: &[(String, String, String)],
    live: &Live,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "<!-- {} -->\n", GENERATED_NOTE);
    let _ = writeln!(s, "# Operations reference\n");
    let from = |o: Origin| m.operations.iter().filter(|op| op.origin == o).count();
    let _ = writeln!(
        s,
        "{} operations: {} from the vendor docs page (`{}`), {} from AWS's S3 model (botocore {}, \
         `{}`), {} the connector's own. Parameter names are exactly as hosts send them in `input`: \
         header and query members by their wire name, URI members by their label (`Bucket`, `Key`), \
         an XML body as one parameter named as the model names it, whose JSON is what `aws s3api` \
         takes. Where: the wire location (`path`, `query`, `header`, `header map` = one header per \
         map entry, `body`, `local` = used by the connector, not sent). Origin: `docs` = the docs \
         page, `model` = AWS's model, `overlay` = added or corrected in `connector/overlay.json`. \
         Live: the servers on which the operation ran in the tests (`tests/every_operation.rs`); \
         every operation with an AWS name is also checked against botocore's serializer (`tests/oracle.rs`) and, where it has an output, its parser (`tests/reply_oracle.rs`).\n",
        m.operations.len(),
        from(Origin::Docs),
        m.sources.docs,
        from(Origin::Model),
        m.sources.botocore,
        m.sources.model,
        from(Origin::Overlay),
    );
    for op in &m.operations {
        let aliases: Vec<String> = op.aliases.iter().map(|a| format!("`{a}`")).collect();
        let also = if aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", aliases.join(", "))
        };
        let _ = writeln!(s, "- [`{}`](#{}){also} — {}", op.name, op.name, op.title);
    }
    let covered: std::collections::BTreeSet<&str> = m
        .operations
        .iter()
        .filter_map(|o| o.aws.as_deref())
        .collect();
    let _ = writeln!(
        s,
        "\n## Coverage of AWS's model\n\n{} of the model's {} operations are here. These are not, \
         because they cannot work through this connector:\n",
        covered.len(),
        covered.len() + excluded.len()
    );
    for (name, why) in excluded {
        let _ = writeln!(s, "- `{name}`: {why}.");
    }
    let _ = writeln!(
        s,
        "\n## Round trips\n\nEach get returns the configuration its put takes, as `aws s3api` \
         prints and takes it. Where S3's reply is the configuration document itself, the output \
         holds it under the put's body parameter name (`{{\"OwnershipControls\": {{...}}}}`), so \
         the output joins the put's input as is; otherwise the output's body members are the \
         body parameter's value (`get_bucket_tagging`'s `{{\"TagSet\": [...]}}` is \
         `put_bucket_tagging`'s `Tagging`). Members read from reply headers (`RequestCharged`, \
         a version ID, a default size) are not part of the configuration. Putting it back \
         restores the same configuration (`tests/every_operation.rs` does so on the servers \
         that implement both).\n"
    );
    let _ = writeln!(s, "| Get | Put | The get's output is |");
    let _ = writeln!(s, "|---|---|---|");
    for (get, put, payload) in round_trips {
        let whole = m.operation(get).is_some_and(|g| {
            let p = g.output.pointer(&format!("/properties/{payload}"));
            p.and_then(|p| p.pointer("/x-s3/xml")) == Some(&Value::from("."))
                || p.and_then(|p| p.pointer("/x-s3/body")).is_some()
        });
        let how = if whole {
            format!("part of the put's input (`{payload}`)")
        } else {
            format!("the put's `{payload}`")
        };
        let _ = writeln!(s, "| `{get}` | `{put}` | {how} |");
    }
    departures(&mut s, m);
    for op in &m.operations {
        let _ = writeln!(s, "\n## {}\n", op.name);
        let _ = writeln!(
            s,
            "**{}**. {}\n",
            op.title,
            op.description.replace('\n', " ")
        );
        let query: Vec<String> = op.http.query.keys().cloned().collect();
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let h = op.hints;
        let hints = [
            (h.read_only, "read-only"),
            (h.destructive, "destructive"),
            (h.idempotent, "idempotent"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>();
        let hints = if hints.is_empty() {
            "adds, not repeatable".to_string()
        } else {
            hints.join(", ")
        };
        let _ = writeln!(
            s,
            "`{} {}{}` · [AWS reference]({}) · Hints: {hints}\n",
            op.http.method, op.http.path, q, op.reference
        );
        if op.origin == Origin::Overlay {
            let _ = writeln!(s, "Not on the vendor docs page: added by the overlay.\n");
        }
        if let Some(aws) = &op.aws {
            // The docs page's operations run on both servers in tests/e2e.rs; the others where
            // their scenario passes (by name or alias).
            let scenario = std::iter::once(&op.name)
                .chain(&op.aliases)
                .find_map(|n| live.get(n));
            let servers = match (op.origin, scenario) {
                (Origin::Docs | Origin::Overlay, _) => {
                    "moto, SeaweedFS (`tests/e2e.rs`)".to_string()
                }
                (Origin::Model, Some(l)) => l.join(", "),
                (Origin::Model, None) => {
                    "neither server implements it; checked against botocore (`tests/oracle.rs`, `tests/reply_oracle.rs`)"
                        .to_string()
                }
            };
            let deprecated = if op.deprecated {
                " · deprecated by AWS"
            } else {
                ""
            };
            let _ = writeln!(s, "AWS: `{aws}`{deprecated} · Live: {servers}\n");
        }
        if let Some(p) = &op.pagination {
            let tokens: Vec<String> = p
                .tokens
                .iter()
                .map(|t| {
                    let mut m = format!("`{}` from `{}`", t.input, t.output);
                    if !t.else_last_of.is_empty() {
                        let last: Vec<String> =
                            t.else_last_of.iter().map(|l| format!("`{l}`")).collect();
                        m.push_str(&format!(" (else the greatest last {})", last.join(", ")));
                    }
                    m
                })
                .collect();
            let results: Vec<String> = p.results.iter().map(|r| format!("`{r}`")).collect();
            let _ = writeln!(
                s,
                "Pages automatically up to `MaxItems` items of {} (`{}` per page; `{}` alone means \
                 one page), continuing with {}.\n",
                results.join(" and "),
                p.page_size,
                p.page_size,
                tokens.join(" and ")
            );
        }
        if op.parameters.is_empty() {
            let _ = writeln!(s, "No parameters.\n");
        } else {
            let _ = writeln!(
                s,
                "| Parameter | Req. | Type | Where | Origin | Description |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for p in &op.parameters {
                let where_ = match (p.location, &p.wire) {
                    (Location::Path, _) => "path".to_string(),
                    (Location::Query, Some(w)) => format!("query `{w}`"),
                    (Location::Header, Some(w)) => format!("header `{w}`"),
                    (Location::HeaderMap, Some(w)) => format!("header map `{w}*`"),
                    (Location::Body, _) => "body".to_string(),
                    (Location::Local, _) => "local".to_string(),
                    (_, None) => "?".to_string(),
                };
                let desc = p
                    .schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    p.name,
                    if p.required { "yes" } else { "" },
                    type_label(p),
                    where_,
                    match p.origin {
                        Origin::Docs => "docs",
                        Origin::Model => "model",
                        Origin::Overlay => "overlay",
                    },
                    desc.replace('|', "\\|").replace('\n', " ")
                );
            }
            let _ = writeln!(s);
        }
        for rule in &op.rules {
            let (how, names) = match rule {
                s3_connector::manifest::Rule::AtMostOneOf(n) => ("At most one", n),
                s3_connector::manifest::Rule::OneOf(n) => ("Exactly one", n),
                s3_connector::manifest::Rule::Requires(r) => {
                    let _ = writeln!(
                        s,
                        "`{}` needs {}: {}\n",
                        r.given,
                        s3_connector::schemas::needs_words(r),
                        r.reason
                    );
                    continue;
                }
            };
            let _ = writeln!(
                s,
                "{how} of: {}.\n",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let props = op.output.get("properties").and_then(Value::as_object);
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            let names: Vec<String> = props.keys().map(|k| format!("`{k}`")).collect();
            let _ = writeln!(s, "Output: {}.", names.join(", "));
        } else {
            let _ = writeln!(s, "Output: `{{}}`.");
        }
    }
    s
}

/// Where the connector takes a documented parameter differently from the page: one row per
/// departure, with the operations that have it.
fn departures(s: &mut String, m: &Manifest) {
    let mut rows: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for op in &m.operations {
        for p in &op.parameters {
            let Some(d) = p.departure.as_deref() else {
                continue;
            };
            match rows.iter_mut().find(|(n, t, _)| *n == p.name && *t == d) {
                Some(row) => row.2.push(&op.name),
                None => rows.push((&p.name, d, vec![&op.name])),
            }
        }
    }
    let _ = writeln!(s, "\n## Departures from the docs page\n");
    let _ = writeln!(
        s,
        "Everywhere else a documented parameter takes the JSON type the page gives and means \
         what the page says. The connector narrows it to what S3 accepts (enums, patterns, \
         ranges, required where S3 requires it) or widens it (dates also as HTTP dates, the copy \
         source also as an object), and the page's form keeps working. These parameters take \
         another JSON type or mean something else, each for the reason given.\n"
    );
    let _ = writeln!(s, "| Parameter | Operations | How and why |");
    let _ = writeln!(s, "|---|---|---|");
    for (name, text, ops) in rows {
        let ops: Vec<String> = ops.iter().map(|o| format!("`{o}`")).collect();
        let _ = writeln!(
            s,
            "| `{name}` | {} | {} |",
            ops.join(", "),
            text.replace('|', "\\|")
        );
    }
}

fn type_label(p: &Parameter) -> String {
    let schema = &p.schema;
    let mut t = match schema.get("type").and_then(Value::as_str) {
        Some("object") if p.encoding == Some(Encoding::Xml) => "object (the XML body)".to_string(),
        Some("object") => "map".to_string(),
        Some(t) => t.to_string(),
        None => "any".to_string(),
    };
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let consts: Vec<String> = one
            .iter()
            .filter_map(|c| c.get("const").and_then(Value::as_str))
            .map(|c| format!("`{c}`"))
            .collect();
        let types: Vec<&str> = one
            .iter()
            .filter_map(|c| c.get("type").and_then(Value::as_str))
            .collect();
        t = if consts.is_empty() {
            types.join(" or ")
        } else {
            format!("one of {}", consts.join(", "))
        };
    }
    if let Some(f) = schema.get("format").and_then(Value::as_str) {
        if f != "password" {
            t.push_str(&format!(" ({f})"));
        }
    }
    if matches!(p.encoding, Some(Encoding::HttpDate | Encoding::Iso8601)) {
        t.push_str(" (date: RFC 3339 or HTTP date)");
    }
    if p.secret {
        t.push_str(", secret");
    }
    t
}
