//! The manifest against the real docs page: nothing documented is lost, locations are right.

use s3_connector::manifest::{Encoding, Location, Manifest, Origin};
use s3_connector_gen::model::Model;
use s3_connector_gen::{docs_page, operations_doc::Live};
use serde_json::json;

/// AWS's model, read once from the installed botocore.
fn model() -> &'static Model {
    static M: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    M.get_or_init(|| Model::load(&s3_connector_gen::default_python()).unwrap())
}

fn generate(
    docs: &str,
    overlay: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    s3_connector_gen::generate(docs, overlay, model(), &Live::new())
}

fn page() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connector/aws-s3-v2.md"
    ))
    .unwrap()
}

#[test]
fn real_page_has_14_operations_and_145_parameters() {
    let ops = docs_page::parse(&page()).unwrap();
    assert_eq!(ops.len(), 14);
    let total: usize = ops.iter().map(|o| o.parameters.len()).sum();
    assert_eq!(total, 145);
    let put = ops.iter().find(|o| o.name == "put_object").unwrap();
    assert_eq!(
        put.link.as_deref(),
        Some("http://docs.amazonwebservices.com/AmazonS3/latest/API/RESTObjectPUT.html")
    );
    assert!(ops
        .iter()
        .find(|o| o.name == "delete_bucket")
        .unwrap()
        .parameters
        .is_empty());
}

#[test]
fn every_operation_of_the_model_is_here_but_the_excluded_under_botocores_name() {
    let m = Manifest::embedded();
    let excluded: Vec<&str> = s3_connector_gen::model::EXCLUDED
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let names = model().operation_names();
    assert_eq!(names.len(), 116, "the model's operation count changed");
    for aws in &names {
        let here = m.operations.iter().any(|o| o.aws.as_deref() == Some(*aws));
        assert!(
            here != excluded.contains(aws),
            "{aws}: here {here}, excluded {}",
            excluded.contains(aws)
        );
    }
    // The model's operations not on the docs page take botocore's own names (`xform_name`).
    let out = std::process::Command::new(s3_connector_gen::default_python())
        .args([
            "-c",
            "import sys, botocore; print(' '.join(botocore.xform_name(n) for n in sys.argv[1:]))",
        ])
        .args(&names)
        .output()
        .unwrap();
    let botocore: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(botocore.len(), names.len());
    for (aws, snake) in names.iter().zip(&botocore) {
        assert_eq!(&s3_connector_gen::model::snake(aws), snake);
        if let Some(op) = m.operations.iter().find(|o| o.aws.as_deref() == Some(*aws)) {
            assert!(
                &op.name == snake || op.aliases.contains(snake) || op.origin == Origin::Docs,
                "{aws} is `{}`, botocore says `{snake}`",
                op.name
            );
        }
    }
}

#[test]
fn every_documented_parameter_is_in_the_manifest_and_its_input_schema() {
    let ops = docs_page::parse(&page()).unwrap();
    let m = Manifest::embedded();
    for d in &ops {
        let op = m
            .operation(&d.name)
            .unwrap_or_else(|| panic!("{} missing", d.name));
        let schema = op.input_schema();
        for p in &d.parameters {
            let mp = op
                .parameter(&p.name)
                .unwrap_or_else(|| panic!("{}.{} missing", d.name, p.name));
            assert_eq!(mp.origin, Origin::Docs, "{}.{}", d.name, p.name);
            assert_eq!(mp.docs_type.as_deref(), Some(p.docs_type.as_str()));
            assert!(
                schema["properties"].get(&p.name).is_some(),
                "{}.{} not in schema",
                d.name,
                p.name
            );
        }
    }
    let cmu = m.operation("create_multipart_upload").unwrap();
    assert_eq!(cmu.origin, Origin::Overlay);
    assert_eq!(cmu.http.method, "POST");
    assert_eq!(cmu.http.query.get("uploads").map(String::as_str), Some(""));
    assert!(cmu.parameter("x-amz-storage-class").is_some());
    assert!(cmu.parameter("Body").is_none());
}

#[test]
fn sample_locations_of_each_kind() {
    let m = Manifest::embedded();
    let loc = |op: &str, p: &str| {
        let p = m.operation(op).unwrap().parameter(p).unwrap();
        (p.location, p.wire.clone())
    };
    assert_eq!(loc("get_object", "Bucket").0, Location::Path);
    assert_eq!(loc("get_object", "Key").0, Location::Path);
    assert_eq!(
        loc("get_object", "response-content-type"),
        (Location::Query, Some("response-content-type".into()))
    );
    assert_eq!(
        loc("get_object", "versionId"),
        (Location::Query, Some("versionId".into()))
    );
    assert_eq!(
        loc("upload_part_in_multipart", "partNumber"),
        (Location::Query, Some("partNumber".into()))
    );
    assert_eq!(
        loc("get_object", "Range"),
        (Location::Header, Some("Range".into()))
    );
    assert_eq!(
        loc("put_object", "x-amz-acl"),
        (Location::Header, Some("x-amz-acl".into()))
    );
    assert_eq!(
        loc("put_object", "x-amz-meta-"),
        (Location::HeaderMap, Some("x-amz-meta-".into()))
    );
    assert_eq!(loc("put_object", "BodyFile").0, Location::Body);
    assert_eq!(loc("create_bucket_in_region", "Region").0, Location::Body);
    assert_eq!(loc("get_object", "OutputFile").0, Location::Local);
    assert_eq!(loc("list_objects", "MaxItems").0, Location::Local);
    assert_eq!(
        loc("list_objects", "max-keys"),
        (Location::Query, Some("max-keys".into()))
    );
}

#[test]
fn overlay_fixes_are_applied() {
    let m = Manifest::embedded();
    let p = |op: &str, name: &str| m.operation(op).unwrap().parameter(name).unwrap().clone();
    assert!(p("delete_bucket", "Bucket").required);
    for op in [
        "abort_multipart_upload",
        "complete_multipart_upload",
        "list_parts_for_multipart_upload",
        "upload_part_in_multipart",
        "copy_part_in_multipart",
    ] {
        assert!(p(op, "uploadId").required, "{op}");
    }
    let part = p("upload_part_in_multipart", "partNumber");
    assert!(part.required);
    assert_eq!(part.schema["minimum"], 1);
    assert_eq!(part.schema["maximum"], 10000);
    assert!(p("copy_object", "x-amz-copy-source").required);
    assert!(p("copy_part_in_multipart", "x-amz-copy-source").required);
    assert_eq!(
        p("list_parts_for_multipart_upload", "max-parts").schema["type"],
        "integer"
    );
    assert_eq!(
        p("list_parts_for_multipart_upload", "part-number-marker").schema["type"],
        "integer"
    );
    assert_eq!(p("put_object", "x-amz-meta-").schema["type"], "object");
    let key = p("put_object", "x-amz-server-side-encryption-customer-key");
    assert!(key.secret);
    assert_eq!(key.schema["writeOnly"], true);
    assert_eq!(key.schema["format"], "password");
    assert!(
        p(
            "copy_object",
            "x-amz-copy-source-server-side-encryption-customer-key"
        )
        .secret
    );
    for (op, name) in [
        ("put_object", "x-amz-acl"),
        ("put_object", "x-amz-storage-class"),
        ("put_object", "x-amz-server-side-encryption"),
        ("copy_object", "x-amz-metadata-directive"),
        ("copy_object", "x-amz-tagging-directive"),
        ("put_object", "x-amz-object-lock-mode"),
        ("put_object", "x-amz-object-lock-legal-hold"),
        ("put_object", "x-amz-request-payer"),
        ("list_objects", "encoding-type"),
    ] {
        // An `enum`, not a `oneOf` of constants, which rjsf fills in with its first branch.
        assert!(
            p(op, name).schema["enum"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{op}.{name} has no enum"
        );
    }
    // Dates: RFC 3339 or an HTTP date, checked by a pattern forms can use, sent per the field.
    for (op, name, encoding) in [
        ("put_object", "Expires", Encoding::HttpDate),
        ("get_object", "If-Modified-Since", Encoding::HttpDate),
        ("get_object", "response-expires", Encoding::HttpDate),
        (
            "copy_object",
            "x-amz-copy-source-if-unmodified-since",
            Encoding::HttpDate,
        ),
        (
            "put_object",
            "x-amz-object-lock-retain-until-date",
            Encoding::Iso8601,
        ),
    ] {
        let d = p(op, name);
        assert_eq!(d.encoding, Some(encoding), "{op}.{name}");
        assert!(d.schema.get("format").is_none(), "{op}.{name}");
        let examples = d.schema["examples"].as_array().unwrap();
        assert!(examples
            .iter()
            .any(|e| e.as_str().unwrap().ends_with(" GMT")));
        assert!(d.schema["pattern"].as_str().unwrap().contains("GMT"));
    }
    // The copy source: the page's string or an object, each branch typed, none at the top.
    for op in ["copy_object", "copy_part_in_multipart"] {
        let src = p(op, "x-amz-copy-source");
        assert_eq!(src.encoding, Some(Encoding::CopySource));
        assert!(src.schema.get("type").is_none());
        let types: Vec<&str> = src.schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["string", "object"]);
        assert_eq!(src.schema["oneOf"][1]["required"], json!(["Bucket", "Key"]));
    }
    // Departures are recorded where the page documents the parameter, and only there.
    assert!(p("put_object", "x-amz-meta-").departure.is_some());
    assert!(p("create_bucket_in_region", "Region").departure.is_none());
    assert!(p("create_multipart_upload", "x-amz-meta-")
        .departure
        .is_none());
    assert!(p("upload_file", "x-amz-meta-").departure.is_none());
    assert!(p("get_object", "Range").schema["pattern"].is_string());
    assert!(p("copy_part_in_multipart", "x-amz-copy-source-range").schema["pattern"].is_string());
    assert!(p("put_object", "Content-MD5").schema["pattern"].is_string());
    let cmu = m.operation("complete_multipart_upload").unwrap();
    assert!(!cmu.parameter("Parts").unwrap().required);
    // Every correction is recorded with its reason.
    assert!(cmu.corrections.iter().any(|c| c.starts_with("uploadId: ")));
}

#[test]
fn generator_refuses_what_it_does_not_understand() {
    let page = page();
    let overlay = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connector/overlay.json"
    ))
    .unwrap();
    // Unknown type on the page.
    let bad = page.replacen("**Type:** integer", "**Type:** long", 1);
    assert!(generate(&bad, &overlay)
        .unwrap_err()
        .contains("unknown type `long`"));
    // A parameter whose location the name does not say, and the overlay does not place.
    let bad = page.replacen("#### delimiter", "#### Delimiter", 1);
    let e = generate(&bad, &overlay).unwrap_err();
    assert!(
        e.contains("list_objects.Delimiter") && e.contains("wire location"),
        "{e}"
    );
    // An operation with no overlay entry.
    let bad = format!(
        "{page}\n## get_bucket_acl\n\nGets the ACL.\n\n*This operation has no parameters*\n"
    );
    assert!(generate(&bad, &overlay)
        .unwrap_err()
        .contains("get_bucket_acl"));
    // An overlay entry without a reason.
    let bad = overlay.replacen(
        "\"reason\": \"S3 requires a part number",
        "\"reason\": \"\", \"x\": \"",
        1,
    );
    assert!(generate(&page, &bad).is_err());
    // An added parameter whose schema says no type (minLength alone would let a number pass).
    let mut untyped: serde_json::Value = serde_json::from_str(&overlay).unwrap();
    let op = untyped["operations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["name"] == "list_multipart_uploads")
        .unwrap();
    op["add_parameters"][0]["schema"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let e = generate(&page, &untyped.to_string()).unwrap_err();
    assert!(
        e.contains("list_multipart_uploads.Bucket") && e.contains("no `type`"),
        "{e}"
    );
    // A `oneOf` with an untyped branch is no more typed than no `type` at all.
    let bad = overlay.replacen(
        "\"title\": \"URL-encoded bucket/key\",\n            \"type\": \"string\",",
        "\"title\": \"URL-encoded bucket/key\",",
        1,
    );
    assert_ne!(bad, overlay);
    let e = generate(&page, &bad).unwrap_err();
    assert!(
        e.contains("copy_object.x-amz-copy-source") && e.contains("no `type`"),
        "{e}"
    );
    // A pagination spec naming a page-size parameter the operation does not have.
    let mut bad_page: serde_json::Value = serde_json::from_str(&overlay).unwrap();
    let op = bad_page["operations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["name"] == "list_parts_for_multipart_upload")
        .unwrap();
    op["pagination"]["page_size"] = serde_json::json!("max-partz");
    let e = generate(&page, &bad_page.to_string()).unwrap_err();
    assert!(
        e.contains("list_parts_for_multipart_upload") && e.contains("parameter `max-partz`"),
        "{e}"
    );
}

#[test]
fn manifest_records_its_sources() {
    use sha2::Digest;
    let m = Manifest::embedded();
    assert!(m.comment.starts_with("GENERATED"));
    assert_eq!(
        m.sources.docs_sha256,
        hex::encode(sha2::Sha256::digest(page().as_bytes()))
    );
}

/// The audit, enforced: a documented parameter whose schema no longer takes the page's JSON type
/// (a string where the page says `string`) says so in a departure. Widening (a `oneOf` with a
/// branch of the page's type) keeps the page's form working and needs none.
#[test]
fn every_change_of_a_documented_type_is_a_listed_departure() {
    let m = Manifest::embedded();
    let mut checked = 0;
    for op in &m.operations {
        for p in op.parameters.iter().filter(|p| p.origin == Origin::Docs) {
            let page_type = p.docs_type.as_deref().unwrap().to_ascii_lowercase();
            let types: Vec<&str> = match p.schema.get("oneOf").and_then(|o| o.as_array()) {
                Some(branches) if p.schema.get("type").is_none() => {
                    branches.iter().filter_map(|b| b["type"].as_str()).collect()
                }
                _ => vec![p.schema["type"].as_str().unwrap()],
            };
            let takes_page_type = types.contains(&page_type.as_str());
            assert_eq!(
                takes_page_type,
                p.departure.is_none(),
                "{}.{}: the page says {page_type}, the schema takes {types:?}, departure {:?}",
                op.name,
                p.name,
                p.departure
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn each_get_returns_what_its_put_takes() {
    let m = Manifest::embedded();
    let pairs = model().round_trips();
    assert!(pairs.len() >= 27, "{} round trips", pairs.len());
    for (get, put, payload) in &pairs {
        let g = m.operation(get).unwrap();
        let p = m.operation(put).unwrap().parameter(payload).unwrap();
        // The get's members read from the XML body, and what the put's body parameter holds.
        // A reply that is the configuration document itself has it under the same name.
        let whole = &g.output["properties"][payload];
        let body = if whole.pointer("/x-s3/xml") == Some(&json!(".")) {
            whole
        } else {
            &g.output
        };
        let got: std::collections::BTreeSet<&String> = body["properties"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, s)| {
                std::ptr::eq(body, whole)
                    || s.pointer("/x-s3/xml").is_some()
                    || s.pointer("/x-s3/body").is_some()
            })
            .map(|(n, _)| n)
            .collect();
        let sent: std::collections::BTreeSet<&String> = match p.schema.get("properties") {
            Some(props) => props.as_object().unwrap().keys().collect(),
            None => std::iter::once(payload).collect(),
        };
        assert_eq!(got, sent, "{get} → {put}");
    }
}
