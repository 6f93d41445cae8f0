//! An independent oracle for the requests the connector builds: for every operation of the
//! manifest that is an AWS operation (`aws` set), examples generated from its input schema are
//! prepared by the connector (`prepare::prepare`, path-style addressing, nothing sent) and
//! serialized by botocore's own rest-xml serializer from the same parameters
//! (`tests/oracle/botocore_requests.py`, one Python process for all cases; botocore's parameter
//! validation runs too). Method, encoded path, query, headers and body must agree.
//!
//! The examples are generated, not written: each operation gets a full example (every parameter
//! but connector-local ones and the base64/file body sources, every member of an XML payload
//! filled, lists of two items) and a minimal one (required parameters, and the XML payload with
//! its required members only), plus one without the payload where the payload is optional. Every
//! example must pass the connector's validation: one that does not is a bug of the generator
//! here, and fails the test naming the operation.
//!
//! What botocore's serializer does not do is not asked of the connector, and the reverse: its
//! event handlers add checksums, `Content-MD5`, `Expect` and the user agent, and move the bucket
//! into the host name; the connector adds `Host` and `Content-Length` when it builds a request,
//! and the signing headers later ([`compare_headers`]). The CRC header the connector adds to an
//! upload must hold the value botocore's checksum classes compute over the same body.
//!
//! `ORACLE_DUMP=<operation> cargo test --test oracle -- --nocapture` prints both requests of
//! that operation's examples.

// Test scenarios: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(clippy::too_many_lines)]

mod common;
#[path = "common/examples.rs"]
mod examples;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use s3_connector::checksum::Integrity;
use s3_connector::connection::Addressing;
use s3_connector::endpoint::Endpoint;
use s3_connector::manifest::{Encoding, Location, Manifest, Operation, RequestBody, Rule, Runner};
use s3_connector::request::{Destination, HttpRequest, Payload};
use s3_connector::{body, prepare, validate};

use examples::{b64, example, with_required_body};

/// Differences found by this oracle that are connector bugs not fixed yet, each `Known`: the
/// operation, the example (`*` for any), the fields that differ, and why. A listed difference
/// is reported but does not fail the test; a listed field that no longer differs fails it, so
/// that the list empties as the fixes land.
const KNOWN_DIFFERENCES: &[Known] = &[];

struct Known {
    operation: &'static str,
    example: &'static str,
    fields: &'static [&'static str],
    why: &'static str,
}

/// The region of every case but those that name their own (`create_bucket_in_region`).
const REGION: &str = "us-east-1";

/// Headers botocore may set that the connector need not: its handlers' work or the
/// transport's. Only the serializer runs here, which sets none of them on its own: one set from
/// a parameter of the example must be sent all the same, and when both send one, the values
/// must agree.
const BOTOCORE_ONLY_ALLOWED: &[&str] = &[
    "user-agent",
    "content-md5",
    "content-length",
    "host",
    "expect",
];
/// Headers the connector sends that botocore's serializer does not: the transport's and
/// signing's (`content-md5` for checksum-required operations and a connector-chosen
/// `x-amz-sdk-checksum-algorithm` are handled in [`compare_headers`]).
const OURS_ONLY_ALLOWED: &[&str] = &[
    "host",
    "content-length",
    "x-amz-content-sha256",
    "x-amz-date",
    "authorization",
];

/// One example, prepared by the connector.
struct Case {
    op: &'static Operation,
    example: String,
    input: Map<String, Value>,
    request: HttpRequest,
    /// The same parameters as boto3 takes them.
    params: Map<String, Value>,
}

/// A difference between the two requests of one case.
struct Mismatch {
    operation: String,
    example: String,
    field: String,
    ours: String,
    botocore: String,
}

/// A named example input.
type Example = (String, Map<String, Value>);

/// Every example of `op`, named. A rule allowing at most one of several parameters keeps the
/// first in the full example, and each of the others gets a full example of its own.
fn examples(op: &Operation) -> Result<Vec<Example>, String> {
    let full = example(op, true, true)?;
    let mut out = Vec::new();
    let mut base = full.clone();
    let mut variants = Vec::new();
    for rule in &op.rules {
        let (Rule::AtMostOneOf(names) | Rule::OneOf(names)) = rule else {
            continue; // `Rule::Requires`: the example already gives what is needed
        };
        let given: Vec<&String> = names.iter().filter(|n| full.contains_key(*n)).collect();
        for extra in given.iter().skip(1) {
            base.remove(*extra);
        }
        for extra in given.iter().skip(1) {
            let mut v = base.clone();
            for other in &given {
                v.remove(*other);
            }
            v.insert((*extra).clone(), full[*extra].clone());
            variants.push((format!("full+{extra}"), v));
        }
    }
    out.push(("full".to_string(), base));
    out.extend(variants);
    // `CompleteMultipartUpload`'s runner lists the parts a minimal input leaves out before it
    // prepares the request (`multipart.rs`): only its full example is one request as it is sent.
    if op.runner != Some(Runner::CompleteMultipartUpload) {
        let mut minimal = example(op, false, true)?;
        with_required_body(op, &mut minimal);
        out.push(("minimal".to_string(), minimal));
    }
    // An optional XML payload left out: no body, as botocore sends none.
    let optional_payload = op
        .parameters
        .iter()
        .any(|p| p.encoding == Some(Encoding::Xml) && !p.required);
    if optional_payload {
        out.push(("no payload".to_string(), example(op, false, false)?));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The connector's request and botocore's parameters.

/// The request the connector prepares for `input`, as `run` prepares it (validation, body
/// source, `prepare`), path-style so that the path is botocore's.
fn prepare_case(op: &Operation, input: &Map<String, Value>) -> Result<HttpRequest, String> {
    let valid = validate::validate_envelope(json!({"operation": op.name, "input": input}))
        .map_err(|e| format!("refused by validation: {e} {:?}", e.details))?;
    let region = input
        .get("Region")
        .filter(|_| op.parameter("Region").is_some_and(|p| p.member.is_none()))
        .and_then(Value::as_str)
        .unwrap_or(REGION);
    let endpoint = Endpoint::parse(&format!("https://s3.{region}.amazonaws.com")).unwrap();
    let dest = Destination {
        endpoint: &endpoint,
        addressing: Addressing::Path,
        region,
    };
    let payload = body::input_payload_blocking(valid.operation, &valid.input)
        .map_err(|e| format!("body: {e}"))?;
    prepare::prepare(
        valid.operation,
        &valid.input,
        &dest,
        Integrity::default(),
        payload,
    )
    .map_err(|e| format!("prepare: {e} {:?}", e.details))
}

/// The same input as boto3 parameters: each parameter that is a member of AWS's model under the
/// member's name, unchanged (dates as RFC 3339 text, which botocore parses; XML payloads are
/// already in boto3's form; `Body` text botocore encodes as UTF-8). Connector-only parameters are
/// left out, but for the two that stand for a member botocore takes whole: `Parts` is
/// `MultipartUpload.Parts`, and `Region` the `CreateBucketConfiguration` location constraint the
/// connector writes for it (none for us-east-1, `quirks::xml_body`).
///
/// Two parameters of one example that are the same member are returned as well, `(member,
/// names)`: botocore can take only one of them, and S3 reads only one header.
/// A member given by several parameters: the member, their names.
type SameMember = (String, Vec<String>);

fn botocore_params(
    op: &Operation,
    input: &Map<String, Value>,
) -> (Map<String, Value>, Vec<SameMember>) {
    let mut out = Map::new();
    let mut given_as: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &op.parameters {
        let Some(v) = input.get(&p.name) else {
            continue;
        };
        match (&p.member, op.request_body) {
            (Some(m), _) => {
                given_as.entry(m).or_default().push(p.name.clone());
                out.insert(m.clone(), v.clone());
            }
            // A header map's list twin (`MetadataEntries`): the map's member, as a map.
            (None, _) if p.location == Location::HeaderMap => {
                let member = op
                    .parameters
                    .iter()
                    .find(|q| q.wire == p.wire && q.member.is_some())
                    .and_then(|q| q.member.as_deref());
                if let Some(m) = member {
                    let map: Map<String, Value> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| (e["Name"].as_str().unwrap().to_string(), e["Value"].clone()))
                        .collect();
                    given_as.entry(m).or_default().push(p.name.clone());
                    out.insert(m.to_string(), Value::Object(map));
                }
            }
            (None, Some(RequestBody::CompleteMultipartUpload)) if p.name == "Parts" => {
                out.insert("MultipartUpload".into(), json!({ "Parts": v }));
            }
            (None, Some(RequestBody::CreateBucketConfiguration))
                if p.name == "Region" && v != "us-east-1" =>
            {
                out.insert(
                    "CreateBucketConfiguration".into(),
                    json!({ "LocationConstraint": v }),
                );
            }
            _ => {}
        }
    }
    let twice = given_as
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(m, names)| (m.to_string(), names))
        .collect();
    (out, twice)
}

fn body_json(payload: &Payload) -> Value {
    match payload {
        Payload::Empty => json!({"text": ""}),
        Payload::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => json!({ "text": text }),
            Err(_) => json!({ "base64": b64(b) }),
        },
        Payload::File { .. } => panic!("an example streams a file"),
    }
}

/// botocore's request for every case, from one Python process.
fn botocore_requests(cases: &[Case]) -> Vec<Value> {
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "operation": c.op.aws.as_deref().unwrap(),
                "params": c.params,
                "ours_body": body_json(&c.request.payload),
            })
        })
        .collect();
    let results = common::python_json("tests/oracle/botocore_requests.py", &json!(input));
    assert_eq!(results.len(), cases.len(), "one result a case");
    results
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// The encoded path and query of a URI.
fn path_and_query(uri: &str) -> (&str, &str) {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, r)| r);
    let target = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    target.split_once('?').unwrap_or((target, ""))
}

/// Whether the two encoded strings name the same bytes, written with different escapes.
fn same_but_escapes(a: &str, b: &str) -> bool {
    a != b && common::percent_decode(a) == common::percent_decode(b)
}

fn compare(case: &Case, boto: &Value, out: &mut Vec<Mismatch>, notes: &mut Vec<String>) {
    let mut differ = |field: &str, ours: String, botocore: String| {
        out.push(Mismatch {
            operation: case.op.name.clone(),
            example: case.example.clone(),
            field: field.to_string(),
            ours,
            botocore,
        });
    };
    if let Some(e) = boto.get("error") {
        differ(
            "botocore cannot serialize the parameters",
            Value::Object(case.params.clone()).to_string(),
            e.to_string(),
        );
        return;
    }
    // Parameters boto3 would refuse (a member the model lacks, a required one missing): the
    // rest of the request is compared all the same, without the members the model lacks.
    if let Some(why) = boto["refused"].as_str() {
        differ("botocore validation", "(accepted)".into(), why.to_string());
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if case.request.method != text(&boto["method"]) {
        differ("method", case.request.method.clone(), text(&boto["method"]));
    }
    // The path as sent: encoded forms compared, an escape more or less is a difference.
    let (path, query) = path_and_query(&case.request.uri);
    let boto_path = text(&boto["url_path"]);
    if path != boto_path {
        let field = if same_but_escapes(path, &boto_path) {
            "path (only escapes of the same characters differ)"
        } else {
            "path"
        };
        differ(field, path.to_string(), boto_path);
    }
    let ours_query = common::query_pairs(query);
    let mut boto_query: Vec<(String, String)> = boto["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (text(&kv[0]), text(&kv[1])))
        .collect();
    boto_query.sort();
    if ours_query == boto_query {
        // Same pairs: any difference left is in which characters are escaped. S3 decodes both
        // alike, but it is worth knowing.
        let mut ours_items: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
        let boto_encoded = text(&boto["query_encoded"]);
        let mut boto_items: Vec<&str> = boto_encoded.split('&').filter(|s| !s.is_empty()).collect();
        ours_items.sort_unstable();
        boto_items.sort_unstable();
        if ours_items != boto_items {
            notes.push(format!(
                "{} [{}] query escapes differ: ours {query:?}, botocore {boto_encoded:?}",
                case.op.name, case.example
            ));
        }
    } else {
        differ(
            "query",
            format!("{ours_query:?}"),
            format!("{boto_query:?}"),
        );
    }
    compare_headers(case, boto, &mut differ);
    // Bodies: XML documents by their canonical form (both canonicalised by the Python script),
    // anything else byte for byte.
    let xml = matches!(
        case.op.request_body,
        Some(
            RequestBody::Xml
                | RequestBody::CreateBucketConfiguration
                | RequestBody::CompleteMultipartUpload
        )
    );
    if xml {
        if boto["body_c14n"] != boto["ours_c14n"] {
            differ(
                "body (canonical XML)",
                boto["ours_c14n"].to_string(),
                boto["body_c14n"].to_string(),
            );
        }
    } else {
        let ours = body_json(&case.request.payload);
        if ours != boto["body"] {
            differ("body", ours.to_string(), boto["body"].to_string());
        }
    }
}

/// Every header botocore's serializer sets must be sent with the same value (but for
/// `BOTOCORE_ONLY_ALLOWED` and `x-amz-checksum-*`, which its handlers compute, and which
/// must agree only when both send them); the connector must send no other header than those
/// `OURS_ONLY_ALLOWED`, a `content-md5` the model requires, or an
/// `x-amz-sdk-checksum-algorithm` it chose itself.
fn compare_headers(case: &Case, result: &Value, differ: &mut dyn FnMut(&str, String, String)) {
    let mut ours: BTreeMap<&str, &str> = BTreeMap::new();
    for (n, v) in &case.request.headers {
        if ours.insert(n.as_str(), v.as_str()).is_some() {
            differ(&format!("header {n}"), "sent twice".into(), String::new());
        }
    }
    let from_params: Vec<&str> = result["header_params"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let boto: BTreeMap<&str, &str> = result["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
        .collect();
    let missing_allowed = |n: &str| {
        (BOTOCORE_ONLY_ALLOWED.contains(&n) || n.starts_with("x-amz-checksum-"))
            && !from_params.iter().any(|p| n.starts_with(p))
    };
    for (n, bv) in &boto {
        match ours.get(n) {
            Some(ov) if ov == bv => {}
            Some(ov) => differ(&format!("header {n}"), (*ov).to_string(), (*bv).to_string()),
            None if missing_allowed(n) => {}
            None => differ(&format!("header {n}"), "(absent)".into(), (*bv).to_string()),
        }
    }
    // Whether the example gave the header itself.
    let given = |wire: &str| {
        case.op.parameters.iter().any(|p| {
            p.wire
                .as_deref()
                .is_some_and(|w| w.eq_ignore_ascii_case(wire))
                && case.input.contains_key(&p.name)
        })
    };
    for (n, ov) in &ours {
        let allowed = boto.contains_key(n)
            || OURS_ONLY_ALLOWED.contains(n)
            || (*n == "content-md5" && (case.op.checksum_required || md5_of_body(case, ov)))
            || (*n == "x-amz-sdk-checksum-algorithm" && !given(n))
            || (n.starts_with("x-amz-checksum-") && result["checksums"][n].as_str() == Some(ov))
            || (*n == "x-amz-checksum-mode" && *ov == "ENABLED" && !given(n));
        if !allowed {
            differ(&format!("header {n}"), (*ov).to_string(), "(absent)".into());
        }
    }
}

/// Whether `value` is the MD5 of the body the connector sends: the integrity header it adds to
/// an in-memory upload body (`connection.checksums`, docs/reliability.md), which botocore's
/// serializer leaves to its handlers (a CRC32 there).
fn md5_of_body(case: &Case, value: &str) -> bool {
    use base64::Engine as _;
    use md5::Digest as _;
    let Payload::Bytes(b) = &case.request.payload else {
        return false;
    };
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b)) == value
}

/// The known difference `m` is, as (index in `KNOWN_DIFFERENCES`, index in its `fields`).
fn known(m: &Mismatch) -> Option<(usize, usize)> {
    KNOWN_DIFFERENCES.iter().enumerate().find_map(|(i, k)| {
        let here = k.operation == m.operation && (k.example == "*" || k.example == m.example);
        let f = k.fields.iter().position(|f| *f == m.field)?;
        here.then_some((i, f))
    })
}

#[test]
fn every_aws_operation_builds_the_request_botocore_builds() {
    let manifest = Manifest::embedded();
    let ops: Vec<&'static Operation> = manifest
        .operations
        .iter()
        .filter(|o| o.aws.is_some())
        .map(|o| s3_connector::manifest::operation(&o.name).expect("in the index"))
        .collect();

    // Every example must be valid input: one refused is the generator's bug, reported by name.
    let mut cases = Vec::new();
    let mut refused = Vec::new();
    let mut same_member = Vec::new();
    for op in &ops {
        let examples = match examples(op) {
            Ok(e) => e,
            Err(e) => {
                refused.push(format!("{}: no example: {e}", op.name));
                continue;
            }
        };
        for (example, input) in examples {
            match prepare_case(op, &input) {
                Ok(request) => {
                    let (params, twice) = botocore_params(op, &input);
                    for (member, names) in twice {
                        same_member.push(Mismatch {
                            operation: op.name.clone(),
                            example: example.clone(),
                            field: format!(
                                "parameters {} (same member {member})",
                                names.join(", ")
                            ),
                            ours: "all sent".into(),
                            botocore: "one member, one header".into(),
                        });
                    }
                    cases.push(Case {
                        op,
                        example,
                        input,
                        request,
                        params,
                    });
                }
                Err(e) => refused.push(format!(
                    "{} [{example}]: {e}\n  input: {}",
                    op.name,
                    Value::Object(input)
                )),
            }
        }
    }
    assert!(
        refused.is_empty(),
        "generated examples the connector refuses (fix the generator in tests/oracle.rs):\n{}",
        refused.join("\n")
    );

    // Coverage: every AWS operation, and two examples (minimal, full) of each XML payload.
    let mut per_op: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &cases {
        *per_op.entry(c.op.name.as_str()).or_default() += 1;
    }
    for op in &ops {
        let n = per_op.get(op.name.as_str()).copied().unwrap_or(0);
        let xml = op
            .parameters
            .iter()
            .any(|p| p.encoding == Some(Encoding::Xml));
        assert!(n >= if xml { 2 } else { 1 }, "{}: {n} cases", op.name);
    }

    let results = botocore_requests(&cases);
    // Bodies were compared, not two empty ones: every XML payload is written by both in its
    // full and minimal examples.
    for (case, boto) in cases.iter().zip(&results) {
        let has_payload = case
            .op
            .parameters
            .iter()
            .any(|p| p.encoding == Some(Encoding::Xml));
        if has_payload && matches!(case.example.as_str(), "full" | "minimal") {
            assert!(
                boto["body_c14n"].is_string(),
                "{} [{}]: botocore wrote no XML document: {}",
                case.op.name,
                case.example,
                boto["body_c14n"]
            );
        }
    }
    let mut mismatches = same_member;
    let mut notes = Vec::new();
    // `ORACLE_DUMP=<operation>` prints that operation's requests, both sides, to look at.
    let dump = std::env::var("ORACLE_DUMP").unwrap_or_default();
    for (case, boto) in cases.iter().zip(&results) {
        if case.op.name == dump {
            println!(
                "{} [{}]\n  ours: {} {}\n        {:?}\n        {}\n  botocore: {boto}",
                case.op.name,
                case.example,
                case.request.method,
                case.request.uri,
                case.request.headers,
                body_json(&case.request.payload)
            );
        }
        compare(case, boto, &mut mismatches, &mut notes);
    }
    println!("oracle: {} operations, {} cases", ops.len(), cases.len());
    for n in &notes {
        println!("note: {n}");
    }

    let lines = mismatches
        .iter()
        .map(|m| {
            let line = format!(
                "{} [{}] {}:\n    ours:     {}\n    botocore: {}",
                m.operation, m.example, m.field, m.ours, m.botocore
            );
            (line, known(m))
        })
        .collect();
    let entries: Vec<_> = KNOWN_DIFFERENCES
        .iter()
        .map(|k| {
            let label = format!("{} [{}]", k.operation, k.example);
            (label, k.why, k.fields.to_vec())
        })
        .collect();
    let failing = common::unexplained(lines, &entries);
    for f in &failing {
        eprintln!("{f}");
    }
    assert!(
        failing.is_empty(),
        "{} differences from botocore (listed above)",
        failing.len()
    );
}
