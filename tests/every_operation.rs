//! Every operation live, through `s3-connector run`: each scenario of `tests/ops/scenarios.json`
//! that boto3 passed on a server (`servers.<server>` is `pass`, recorded by
//! `tests/ops/check_servers.py`) must pass through the connector on that server too, with the
//! same steps, variables and expectations (`tests/ops/README.md`); so must every round trip of
//! `tests/ops/round_trips.json` marked `pass`. Every successful output must also match its
//! operation's output schema. The docs' "Live" marks are rendered from these `servers` entries,
//! so this test is what keeps them true.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{output_matches_schema, run_command, run_output, Server};
use serde_json::{json, Map, Value};

/// Scenarios boto3 passes but the connector does not yet, skipped here so the rest stays green:
/// (server, operation, why). Empty: every failure below is reported, and fails the test.
const KNOWN_CONNECTOR_GAPS: &[(&str, &str, &str)] = &[];

/// Variables of one scenario run: `BUCKET`, `BUCKET2` and whatever `save` stored.
type Vars = HashMap<String, String>;

/// One failed expectation, with what was sent and what came back.
struct Failure {
    what: String,
    step: String,
    why: String,
    request: Value,
    response: Value,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut response = self.response.to_string();
        if response.len() > 1500 {
            let mut end = 1500;
            while !response.is_char_boundary(end) {
                end -= 1;
            }
            response.truncate(end);
            response.push_str("...");
        }
        write!(
            f,
            "{} / {}: {}\n    request:  {}\n    response: {}",
            self.what, self.step, self.why, self.request, response
        )
    }
}

fn load(name: &str) -> Value {
    let path = std::path::Path::new(common::ROOT)
        .join("tests/ops")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Runs one request through the binary: the output, or the error object (a broken envelope
/// becomes an error with code `BadEnvelope`). Unlike `common::run`, a schema mismatch does not
/// panic: the caller checks it and collects it.
fn call(s: &Server, op: &str, input: &Value) -> (Result<Value, Value>, Value) {
    let request = json!({"operation": op, "input": input, "connection": s.connection()});
    let out = run_output(run_command(), &request);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let envelope: Value = match serde_json::from_str(stdout.trim_end()) {
        Ok(v) if stdout.trim_end().lines().count() == 1 => v,
        _ => {
            let e = json!({"code": "BadEnvelope", "message": format!("exit {:?}, stdout {stdout:?}, stderr {:?}",
                out.status.code(), String::from_utf8_lossy(&out.stderr))});
            return (Err(e.clone()), e);
        }
    };
    let result = if out.status.success() {
        Ok(envelope["output"].clone())
    } else {
        let mut e = envelope["error"].clone();
        if e.get("code").and_then(Value::as_str).is_none() {
            // Refused before sending (no S3 code): its kind stands in for the code.
            let kind = e["kind"].clone();
            e["code"] = kind;
        }
        Err(e)
    };
    (result, envelope)
}

/// `$NAME` replaced by its variable in every string of `v`.
fn subst(v: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), subst(x, vars)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        Value::Array(a) => {
            Value::Array(a.iter().map(|x| subst(x, vars)).collect::<Result<_, _>>()?)
        }
        Value::String(s) => Value::String(subst_str(s, vars)?),
        other => other.clone(),
    })
}

fn subst_str(s: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let starts = after.starts_with(|c: char| c.is_ascii_uppercase());
        let len = if starts {
            after
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len())
        } else {
            0
        };
        if len == 0 {
            out.push('$');
        } else {
            let name = &after[..len];
            let value = vars
                .get(name)
                .ok_or_else(|| format!("scenario error: ${name} is not set"))?;
            out.push_str(value);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, part| match v {
        Value::Array(a) => a.get(part.parse::<usize>().ok()?),
        Value::Object(m) => m.get(part),
        _ => None,
    })
}

/// A saved value as Python's `str()` of it, as `check_servers.py` stores it.
fn as_var(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// None when `actual` contains `expected` (objects by subset, arrays by distinct elements in
/// any order, an empty array only an empty or absent one, null only null or absent).
fn matches(expected: &Value, actual: Option<&Value>, at: &str) -> Option<String> {
    let actual = actual.filter(|a| !a.is_null());
    match expected {
        Value::Null => actual.map(|a| format!("{at}: expected absent/null, got {a}")),
        Value::Object(exp) => {
            let Some(Value::Object(act)) = actual else {
                return Some(format!("{at}: expected an object, got {}", show(actual)));
            };
            for (k, x) in exp {
                let here = format!("{at}.{k}");
                if x.is_null() {
                    if let Some(a) = act.get(k).filter(|a| !a.is_null()) {
                        return Some(format!("{here}: expected absent/null, got {a}"));
                    }
                    continue;
                }
                // An expected empty array matches an absent member too (README; the
                // dict branch of check_servers.py's `match` reports it missing).
                let is_empty_array = x.as_array().is_some_and(Vec::is_empty);
                let Some(a) = act.get(k).or(is_empty_array.then_some(&Value::Null)) else {
                    let keys: Vec<&String> = act.keys().collect();
                    return Some(format!("{here}: missing (have {keys:?})"));
                };
                if let Some(why) = matches(x, Some(a), &here) {
                    return Some(why);
                }
            }
            None
        }
        Value::Array(exp) => {
            let empty = Vec::new();
            let act = match actual {
                None => &empty,
                Some(Value::Array(a)) => a,
                Some(other) => return Some(format!("{at}: expected an array, got {other}")),
            };
            if exp.is_empty() {
                return (!act.is_empty()).then(|| format!("{at}: expected empty, got {act:?}"));
            }
            let mut free: Vec<usize> = (0..act.len()).collect();
            for x in exp {
                let Some(pos) = free
                    .iter()
                    .position(|&j| matches(x, Some(&act[j]), at).is_none())
                else {
                    return Some(format!(
                        "{at}: no element matches {x} in {}",
                        Value::Array(act.clone())
                    ));
                };
                free.remove(pos);
            }
            None
        }
        Value::Number(n) => match actual {
            Some(Value::Number(a)) if a.as_f64() == n.as_f64() => None,
            _ => Some(format!("{at}: expected {n}, got {}", show(actual))),
        },
        _ => (actual != Some(expected))
            .then(|| format!("{at}: expected {expected}, got {}", show(actual))),
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".into(), Value::to_string)
}

fn describe(e: &Value) -> String {
    let msg = e["message"].as_str().unwrap_or_default().replace('\n', " ");
    format!(
        "{} ({}): {msg}",
        e["code"].as_str().unwrap_or("?"),
        e["status"]
    )
}

/// None when `result` meets `expect` (`tests/ops/README.md`, as `check_servers.py` checks it).
fn check(expect: &Value, result: &Result<Value, Value>) -> Option<String> {
    if let Some(any) = expect.get("any_of").and_then(Value::as_array) {
        let whys: Vec<String> = any.iter().filter_map(|e| check(e, result)).collect();
        return (whys.len() == any.len()).then(|| whys.join(" / "));
    }
    if let Some(codes) = expect.get("error") {
        let codes: Vec<&str> = match codes {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => vec![other.as_str().unwrap_or_default()],
        };
        return match result {
            Ok(out) => Some(format!(
                "expected error {}, got success {out}",
                codes.join("/")
            )),
            Err(e) if codes.contains(&e["code"].as_str().unwrap_or_default()) => None,
            Err(e) => Some(format!(
                "expected error {}, got {}",
                codes.join("/"),
                describe(e)
            )),
        };
    }
    let out = match result {
        Ok(out) => out,
        Err(e) => return Some(describe(e)),
    };
    if let Some(x) = expect.get("output_contains") {
        if let Some(why) = matches(x, Some(out), "output") {
            return Some(why);
        }
    }
    if let Some(Value::Object(js)) = expect.get("output_json") {
        for (k, x) in js {
            let text = out[k].as_str().unwrap_or_default();
            let Ok(parsed) = serde_json::from_str::<Value>(text) else {
                return Some(format!("output.{k} is not JSON: {:?}", out.get(k)));
            };
            if let Some(why) = matches(x, Some(&parsed), &format!("output.{k}")) {
                return Some(why);
            }
        }
    }
    for k in expect
        .get("output_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = k.as_str().unwrap();
        if out.get(k).is_none_or(Value::is_null) {
            let keys: Vec<&String> = out.as_object().into_iter().flat_map(Map::keys).collect();
            return Some(format!("output has no {k} (keys: {keys:?})"));
        }
    }
    if let Some(x) = expect.get("output_excludes") {
        if matches(x, Some(out), "output").is_none() {
            return Some(format!("output should not contain {x}"));
        }
    }
    None
}

/// One scenario or round trip on one server: its variables and the failures so far.
struct Run<'a> {
    s: &'a Server,
    what: String,
    vars: Vars,
    failures: Vec<Failure>,
}

impl Run<'_> {
    fn new(s: &Server, what: String) -> Run<'_> {
        let b = common::bucket("ops");
        let vars = Vars::from([
            ("BUCKET2".to_string(), format!("{b}-b")),
            ("BUCKET".to_string(), b),
        ]);
        Run {
            s,
            what,
            vars,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, step: &str, why: String, request: Value, response: Value) {
        self.failures.push(Failure {
            what: self.what.clone(),
            step: step.to_string(),
            why,
            request,
            response,
        });
    }

    /// Runs `op` on `input` (variables substituted), checks a successful output against the
    /// schema, stores `save` variables. None when the step could not be run or saved (recorded).
    fn step(&mut self, label: &str, op: &str, input: &Value, save: Option<&Value>) -> Option<Step> {
        let input = match subst(input, &self.vars) {
            Ok(i) => i,
            Err(why) => {
                self.fail(label, why, input.clone(), Value::Null);
                return None;
            }
        };
        let (result, envelope) = call(self.s, op, &input);
        let request = json!({"operation": op, "input": input});
        if let Ok(out) = &result {
            if let Err(why) = output_matches_schema(op, out) {
                self.fail(label, why, request.clone(), envelope.clone());
            }
            for (var, path) in save.and_then(Value::as_object).into_iter().flatten() {
                let path = path.as_str().unwrap();
                if let Some(v) = get_path(out, path) {
                    self.vars.insert(var.clone(), as_var(v));
                } else {
                    let why = format!("output has no {path} to save as ${var}");
                    self.fail(label, why, request, envelope);
                    return None;
                }
            }
        }
        Some(Step {
            result,
            request,
            envelope,
        })
    }

    /// Runs a step of a scenario and checks its `expect`; false when it failed (recorded).
    fn expect_step(&mut self, label: &str, st: &Value, op: &str, expect: &Value) -> bool {
        let Some(done) = self.step(label, op, &st["input"], st.get("save")) else {
            return false;
        };
        let expect = match subst(expect, &self.vars) {
            Ok(e) => e,
            Err(why) => {
                self.fail(label, why, done.request, done.envelope);
                return false;
            }
        };
        if let Some(why) = check(&expect, &done.result) {
            self.fail(label, why, done.request, done.envelope);
            return false;
        }
        true
    }

    /// Empties and deletes the run's buckets, as `check_servers.py` does (`SeaweedFS` gives
    /// every bucket that holds data its own volumes, and runs out of them otherwise).
    fn cleanup(&self) {
        let s = self.s;
        let ok = |op: &str, input: Value| call(s, op, &input).0.ok();
        let list = |v: &Option<Value>, member: &str| -> Vec<Value> {
            v.as_ref()
                .and_then(|v| v[member].as_array().cloned())
                .unwrap_or_default()
        };
        for b in [&self.vars["BUCKET"], &self.vars["BUCKET2"]] {
            let uploads = ok("list_multipart_uploads", json!({"Bucket": b}));
            for up in list(&uploads, "Uploads") {
                ok(
                    "abort_multipart_upload",
                    json!({"Bucket": b, "Key": up["Key"], "uploadId": up["UploadId"]}),
                );
            }
            let versions = ok("list_object_versions", json!({"Bucket": b}));
            let mut objects: Vec<(Value, Value)> = list(&versions, "Versions")
                .into_iter()
                .chain(list(&versions, "DeleteMarkers"))
                .map(|o| (o["Key"].clone(), o["VersionId"].clone()))
                .collect();
            let current = ok("list_objects_v2", json!({"Bucket": b}));
            objects.extend(
                list(&current, "Contents")
                    .into_iter()
                    .map(|o| (o["Key"].clone(), Value::Null)),
            );
            for (key, vid) in objects {
                let mut extra = json!({"Bucket": b, "Key": key});
                if vid.is_string() && vid != "null" {
                    extra["versionId"] = vid;
                }
                let mut hold = extra.clone();
                hold["LegalHold"] = json!({"Status": "OFF"});
                ok("put_object_legal_hold", hold);
                extra["x-amz-bypass-governance-retention"] = json!(true);
                ok("delete_object", extra);
            }
            ok("delete_bucket", json!({"Bucket": b}));
        }
    }
}

/// What one step sent and got.
struct Step {
    result: Result<Value, Value>,
    request: Value,
    envelope: Value,
}

/// Runs one scenario (setup, the operation, `then`); true when it passed.
fn run_scenario(r: &mut Run<'_>, name: &str, sc: &Value) -> bool {
    let none = Vec::new();
    let steps = |k: &str| sc[k].as_array().unwrap_or(&none).clone();
    for (i, st) in steps("setup").iter().enumerate() {
        let op = st["op"].as_str().unwrap();
        let label = format!("setup {i} {op}");
        if !r.expect_step(&label, st, op, &json!({})) {
            return false;
        }
    }
    let main = json!({"input": sc["input"]});
    let expect = sc.get("expect").cloned().unwrap_or(json!({}));
    if !r.expect_step("operation", &main, name, &expect) {
        return false;
    }
    for (i, st) in steps("then").iter().enumerate() {
        let op = st["op"].as_str().unwrap();
        let label = format!("then {i} {op}");
        let expect = st.get("expect").cloned().unwrap_or(json!({}));
        if !r.expect_step(&label, st, op, &expect) {
            return false;
        }
    }
    r.failures.is_empty()
}

/// The payload as the get returns it: its `from_output` member, or (null) its members from the
/// reply body (not those from reply headers: `x-s3.header` / `x-s3.header_map`), non-null.
fn body_of(get: &str, out: &Value, from_output: Option<&str>) -> Value {
    if let Some(member) = from_output {
        return out.get(member).cloned().unwrap_or(Value::Null);
    }
    let op = s3_connector::manifest::Manifest::embedded()
        .operation(get)
        .unwrap();
    let props = &op.output["properties"];
    Value::Object(
        out.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| {
                let x = &props[k.as_str()]["x-s3"];
                !v.is_null() && x.get("header").is_none() && x.get("header_map").is_none()
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Parses a JSON payload (`compare: json`), or None.
fn parsed(v: &Value) -> Option<Value> {
    serde_json::from_str(v.as_str()?).ok()
}

/// Put `config`, get, put the get's payload back unchanged, get again: true when the second get
/// returns what the first did (and the first contains `config`).
fn run_round_trip(r: &mut Run<'_>, rt: &Value) -> bool {
    for (i, st) in rt["setup"].as_array().into_iter().flatten().enumerate() {
        let op = st["op"].as_str().unwrap();
        if !r.expect_step(&format!("setup {i} {op}"), st, op, &json!({})) {
            return false;
        }
    }
    let (put, get) = (rt["put"].as_str().unwrap(), rt["get"].as_str().unwrap());
    let payload = rt["payload"].as_str().unwrap();
    let from_output = rt["from_output"].as_str();
    let as_json = rt["compare"] == "json";
    let input = |body: &Value| {
        let mut i = rt["input"].clone();
        i[payload] = body.clone();
        i
    };
    let put_get = |r: &mut Run<'_>, label: &str, body: &Value| -> Option<Value> {
        let done = r.step(&format!("{label} {put}"), put, &input(body), None)?;
        if let Err(e) = &done.result {
            r.fail(
                &format!("{label} {put}"),
                describe(e),
                done.request,
                done.envelope,
            );
            return None;
        }
        let done = r.step(&format!("{label} {get}"), get, &rt["input"], None)?;
        match &done.result {
            Ok(out) => Some(body_of(get, out, from_output)),
            Err(e) => {
                r.fail(
                    &format!("{label} {get}"),
                    describe(e),
                    done.request,
                    done.envelope,
                );
                None
            }
        }
    };
    let config = match subst(&rt["config"], &r.vars) {
        Ok(c) => c,
        Err(why) => {
            r.fail("config", why, rt["config"].clone(), Value::Null);
            return false;
        }
    };
    let Some(got1) = put_get(r, "first", &config) else {
        return false;
    };
    let why = if as_json {
        match (parsed(&config), parsed(&got1)) {
            (Some(c), Some(g)) => matches(&c, Some(&g), "get"),
            _ => Some(format!("get: not JSON: {got1}")),
        }
    } else {
        matches(&config, Some(&got1), "get")
    };
    if let Some(why) = why {
        let why = format!("the get does not return the config: {why}");
        r.fail("first get", why, json!({"put": input(&config)}), got1);
        return false;
    }
    let Some(got2) = put_get(r, "second", &got1) else {
        return false;
    };
    let same = if as_json {
        parsed(&got1) == parsed(&got2)
    } else {
        got1 == got2
    };
    if !same {
        let why = format!("second get differs: {got1} then {got2}");
        r.fail("second get", why, json!({"put": input(&got1)}), got2);
        return false;
    }
    r.failures.is_empty()
}

fn marked_pass(entry: &Value, server: &str) -> bool {
    entry["servers"][server] == "pass"
}

fn every_operation(s: &Server) {
    let started = Instant::now();
    let scenarios = load("scenarios.json");
    let trips = load("round_trips.json");
    let mut failures = Vec::new();
    let (mut passed, mut expected, mut skipped) = (0, 0, Vec::new());
    for (name, sc) in scenarios.as_object().unwrap() {
        if !marked_pass(sc, s.kind) {
            continue;
        }
        expected += 1;
        if let Some((_, _, why)) = KNOWN_CONNECTOR_GAPS
            .iter()
            .find(|(k, op, _)| *k == s.kind && op == name)
        {
            skipped.push(format!("{name}: {why}"));
            continue;
        }
        let mut r = Run::new(s, name.clone());
        let ok = run_scenario(&mut r, name, sc);
        r.cleanup();
        if ok {
            passed += 1;
        }
        failures.append(&mut r.failures);
    }
    let mut trips_passed = 0;
    for rt in trips.as_array().unwrap() {
        if !marked_pass(rt, s.kind) {
            continue;
        }
        let what = format!("round trip {} / {}", rt["put"], rt["get"]);
        let mut r = Run::new(s, what.replace('"', ""));
        if run_round_trip(&mut r, rt) {
            trips_passed += 1;
        }
        r.cleanup();
        failures.append(&mut r.failures);
    }
    println!(
        "every_operation {}: {passed} operations passed live, {trips_passed} round trips ({:.0} s)",
        s.kind,
        started.elapsed().as_secs_f64()
    );
    for why in &skipped {
        println!("  known connector gap on {}: {why}", s.kind);
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) on {}:\n{}",
        failures.len(),
        s.kind,
        failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        passed, expected,
        "scenarios marked pass on {} that did not pass through the connector (known gaps: {skipped:?})",
        s.kind
    );
}

#[test]
fn moto() {
    every_operation(common::server("moto"));
}

#[test]
fn seaweedfs() {
    every_operation(common::server("seaweedfs"));
}

/// The expectation checks themselves, on made-up outputs (no server).
#[test]
fn expectations_are_checked_as_check_servers_does() {
    let out: Result<Value, Value> =
        Ok(json!({"A": 1, "L": [{"K": "x"}, {"K": "y"}], "P": "{\"V\": 2}\n", "N": null}));
    let err: Result<Value, Value> = Err(json!({"code": "NoSuchKey", "status": 404}));
    let holds = |e: Value, r: &Result<Value, Value>| check(&e, r).is_none();
    assert!(holds(json!({}), &out));
    assert!(!holds(json!({}), &err));
    assert!(holds(json!({"error": "NoSuchKey"}), &err));
    assert!(holds(json!({"error": ["NotFound", "NoSuchKey"]}), &err));
    assert!(!holds(json!({"error": "NoSuchKey"}), &out));
    assert!(holds(
        json!({"output_contains": {"A": 1.0, "L": [{"K": "y"}], "N": null, "Z": null}}),
        &out
    ));
    assert!(!holds(
        json!({"output_contains": {"L": [{"K": "y"}, {"K": "y"}]}}),
        &out
    ));
    assert!(!holds(json!({"output_contains": {"L": []}}), &out));
    assert!(holds(json!({"output_contains": {"M": []}}), &out));
    assert!(!holds(json!({"output_contains": {"A": null}}), &out));
    assert!(holds(json!({"output_keys": ["A", "L"]}), &out));
    assert!(!holds(json!({"output_keys": ["N"]}), &out));
    assert!(holds(json!({"output_excludes": {"L": [{"K": "z"}]}}), &out));
    assert!(!holds(
        json!({"output_excludes": {"L": [{"K": "x"}]}}),
        &out
    ));
    assert!(holds(json!({"output_json": {"P": {"V": 2}}}), &out));
    assert!(!holds(json!({"output_json": {"P": {"V": 3}}}), &out));
    assert!(holds(
        json!({"any_of": [{"error": "X"}, {"output_keys": ["A"]}]}),
        &out
    ));
    assert!(!holds(
        json!({"any_of": [{"error": "X"}, {"output_keys": ["Q"]}]}),
        &out
    ));
    let vars = Vars::from([
        ("B".to_string(), "bk".to_string()),
        ("V1".to_string(), "7".to_string()),
    ]);
    assert_eq!(subst_str("$B/a$V1-$x $", &vars).unwrap(), "bk/a7-$x $");
    assert!(subst_str("$NOPE", &vars).is_err());
    assert_eq!(
        get_path(&json!({"L": [{}, {"K": "y"}]}), "L.1.K"),
        Some(&json!("y"))
    );
}
