//! An independent oracle for presigned URLs: each presign operation's examples, generated from
//! its input schema (full and minimal, with and without a session token, on AWS's endpoint and a
//! custom one), are presigned by the connector (`presign::presign`) and by botocore's
//! `generate_presigned_url` (`tests/oracle/botocore_presign.py`) at the same fixed moment, from
//! the same parameters. The two URLs must be the same request: scheme, host and path, and the
//! query's decoded pairs, `X-Amz-Signature` included, which covers the canonical request
//! (every signed header and query parameter) and the signing key. Nothing is sent.

mod common;
#[path = "common/examples.rs"]
#[allow(dead_code)]
mod examples;

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use s3_connector::manifest::{Location, Manifest, Operation, Runner};
use s3_connector::{credentials, presign, timefmt, validate};

const ACCESS_KEY: &str = "AKIDEXAMPLEORACLE";
const SECRET_KEY: &str = "fake+secret/for/the/presign/oracle";
/// A session token with the characters a query must encode (`+`, `/`, `=`).
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLE+session/token==";
const ENDPOINTS: &[&str] = &[
    "https://s3.us-east-1.amazonaws.com",
    "http://127.0.0.1:9000",
];
/// The signing moment, as `X-Amz-Date` writes it and as RFC 3339.
const AT: &str = "20300102T030405Z";
const AT_RFC3339: &str = "2030-01-02T03:04:05Z";

struct Case {
    label: String,
    ours: Result<String, String>,
    theirs: Value,
}

/// The boto3 parameters for an input: each parameter that is a member of AWS's model, under
/// the member's name (the `MetadataEntries` list is left out: the map stands for it).
fn boto3_params(op: &Operation, input: &Map<String, Value>) -> Map<String, Value> {
    op.parameters
        .iter()
        .filter(|p| p.location != Location::Local)
        .filter_map(|p| Some((p.member.clone()?, input.get(&p.name)?.clone())))
        .collect()
}

/// The client method whose request the presign operation signs.
fn client_method(op: &Operation) -> &'static str {
    match op.name.as_str() {
        "presign_get_object" => "get_object",
        "presign_put_object" => "put_object",
        "presign_upload_part" => "upload_part",
        other => panic!("no client method for {other}: add it here"),
    }
}

fn ours(
    op: &Operation,
    input: &Map<String, Value>,
    endpoint: &str,
    token: Option<&str>,
) -> Result<String, String> {
    let mut connection = json!({"endpoint": endpoint, "region": "us-east-1", "addressing": "path",
        "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY});
    if let Some(t) = token {
        connection["session_token"] = json!(t);
    }
    let req = validate::validate_envelope(
        json!({"operation": op.name, "input": input, "connection": connection}),
    )
    .map_err(|e| format!("validation: {e} {:?}", e.details))?;
    let conn = credentials::resolve(&req.connection, &|_| None).map_err(|e| e.to_string())?;
    let at = timefmt::parse_rfc3339(AT_RFC3339).unwrap();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap());
    let out = presign::presign(
        req.operation,
        &req.input,
        &conn,
        conn.credentials.fixed().unwrap(),
        time,
    )
    .map_err(|e| e.to_string())?;
    Ok(out["URL"].as_str().unwrap().to_string())
}

/// A URL as (scheme and authority, decoded path, sorted decoded query pairs).
fn parts(url: &str) -> (String, String, Vec<(String, String)>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let slash = base.find("://").map_or(0, |i| i + 3);
    let path_at = base[slash..].find('/').map_or(base.len(), |i| slash + i);
    (
        base[..path_at].to_string(),
        common::percent_decode(&base[path_at..]),
        common::query_pairs(query),
    )
}

#[test]
fn presigned_urls_are_the_ones_botocore_makes() {
    let presigners: Vec<&Operation> = Manifest::embedded()
        .operations
        .iter()
        .filter(|o| o.runner == Some(Runner::Presign))
        .collect();
    assert_eq!(presigners.len(), 3, "the presign operations");
    let mut cases = Vec::new();
    let mut requests = Vec::new();
    for op in &presigners {
        for (n, full) in [(0, true), (1, false)] {
            let mut input = examples::example(op, full, false).unwrap();
            input.remove("MetadataEntries");
            let expires = if full { 604_800 } else { 3600 };
            if full {
                input.insert("ExpiresIn".into(), json!(expires));
            }
            for token in [None, Some(TOKEN)] {
                let endpoint = ENDPOINTS[(n + usize::from(token.is_some())) % ENDPOINTS.len()];
                let label = format!(
                    "{} {} {endpoint}{}",
                    op.name,
                    if full { "full" } else { "minimal" },
                    if token.is_some() {
                        " with a session token"
                    } else {
                        ""
                    }
                );
                requests.push(json!({
                    "operation": client_method(op), "params": boto3_params(op, &input),
                    "expires": expires, "time": AT, "endpoint": endpoint, "region": "us-east-1",
                    "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "token": token,
                }));
                cases.push(Case {
                    label,
                    ours: ours(op, &input, endpoint, token),
                    theirs: Value::Null,
                });
            }
        }
    }
    let results = common::python_json("tests/oracle/botocore_presign.py", &json!(requests));
    assert_eq!(results.len(), cases.len());
    let mut failures = Vec::new();
    for (case, theirs) in cases.iter_mut().zip(results) {
        case.theirs = theirs;
        let (Ok(ours), Some(theirs)) = (&case.ours, case.theirs["url"].as_str()) else {
            failures.push(format!(
                "{}: ours {:?}, botocore {}",
                case.label, case.ours, case.theirs
            ));
            continue;
        };
        let (a, b) = (parts(ours), parts(theirs));
        if a == b {
            assert!(
                ours.contains("X-Amz-Signature="),
                "{}: unsigned",
                case.label
            );
            continue;
        }
        let only = |x: &[(String, String)], y: &[(String, String)]| -> Vec<String> {
            x.iter()
                .filter(|p| !y.contains(p))
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        };
        failures.push(format!(
            "{}:\n  ours     {ours}\n  botocore {theirs}\n  only ours: {:?}\n  only botocore: {:?}",
            case.label,
            only(&a.2, &b.2),
            only(&b.2, &a.2)
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} URLs differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} presigned URLs identical to botocore's", cases.len());
}
