//! In-process costs of the connector's pure stages, without a network or a server:
//!
//! - one small `put_object` request: parse + validate the envelope, resolve the connection,
//!   prepare the payload, build the HTTP request, sign it (each stage alone, then all together);
//! - one 1,000-key `ListBucketResult` reply: XML bytes to the output with its keys URL-decoded,
//!   as `list_objects` runs it (the headline row: mapped straight from the XML events, then
//!   decoded in place); the mapping alone, the element tree for reference, and serialising
//!   the result.
//!
//! No benchmark crate: each figure is the median, over `INPROCESS_BATCHES` batches, of the
//! thread CPU time per iteration inside a batch (`CLOCK_THREAD_CPUTIME_ID`, so that other load on
//! the machine does not count; the wall time, from `Instant`, is printed too). Run with
//! `cargo bench --bench inprocess`. Each result is also printed as a line
//! `RESULT <name> <median CPU ns> <fastest batch's CPU ns> <median wall ns>` per iteration, for
//! scripts (bench/run reads them).
//!
//! Environment: `INPROCESS_BATCHES` (default 31) and `INPROCESS_BATCH_MS` (default 20) size the
//! runs; `INPROCESS_ONLY=request|listing` runs one group. `INPROCESS_PROFILE=request|listing`
//! measures nothing and only repeats the target figure's work (all stages of one request, or
//! mapping and decoding one listing) `INPROCESS_ITERS` times (default 200 / 20), for a profiler
//! (bench/profile runs it under callgrind).

// Test scenarios and figures: pedantic lints allowed in this file only (see Cargo.toml).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::similar_names
)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use s3_connector::body::input_payload_blocking;
use s3_connector::credentials::{self, Resolved};
use s3_connector::manifest::Manifest;
use s3_connector::output::Output;
use s3_connector::prepare::prepare;
use s3_connector::request::{Destination, HttpRequest, Payload};
use s3_connector::validate::{self, Request};
use s3_connector::{quirks, signing, xml, xml_stream, xml_text};

struct Config {
    batches: usize,
    batch: Duration,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds: unlike wall
/// time it does not grow while other processes hold the core.
fn thread_cpu_ns() -> u128 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3; // Linux
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec (two 64-bit fields on 64-bit Linux), and
    // clock_gettime only writes to it.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Per call of `f`: the median over batches of the thread CPU time per iteration (the figure),
/// the fastest batch's CPU time, and the median wall time.
fn measure<T>(cfg: &Config, name: &str, mut f: impl FnMut() -> T) -> f64 {
    // Calibrate: iterations per batch so that one batch lasts about `cfg.batch`.
    let mut iters: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let e = t.elapsed();
        if e >= cfg.batch / 4 || iters >= 1 << 30 {
            let per = e.as_nanos().max(1) as f64 / iters as f64;
            iters = ((cfg.batch.as_nanos() as f64 / per) as u64).max(1);
            break;
        }
        iters *= 2;
    }
    let (mut cpu, mut wall): (Vec<f64>, Vec<f64>) = (0..cfg.batches)
        .map(|_| {
            let (t, c) = (Instant::now(), thread_cpu_ns());
            for _ in 0..iters {
                black_box(f());
            }
            let c = (thread_cpu_ns() - c) as f64 / iters as f64;
            (c, t.elapsed().as_nanos() as f64 / iters as f64)
        })
        .unzip();
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let (median, lo) = (cpu[cpu.len() / 2], cpu[0]);
    let wall_median = wall[wall.len() / 2];
    let unit = |ns: f64| {
        if ns >= 1e6 {
            format!("{:9.3} ms", ns / 1e6)
        } else {
            format!("{:9.2} µs", ns / 1e3)
        }
    };
    println!(
        "{name:<44} {} CPU   (fastest batch {}, wall {}; {} batches × {iters})",
        unit(median),
        unit(lo).trim(),
        unit(wall_median).trim(),
        cfg.batches
    );
    println!("RESULT {name} {median:.1} {lo:.1} {wall_median:.1}");
    median
}

/// A small `put_object` envelope as a host sends it: 1 KiB text body, metadata, content type,
/// connection with keys and a local path-style endpoint.
fn put_envelope() -> String {
    let body = "x".repeat(1024);
    serde_json::json!({
        "id": 17,
        "operation": "put_object",
        "input": {
            "Bucket": "bench",
            "Key": "reports/2026/11/q3 summary (final).csv",
            "Body": body,
            "Content-Type": "text/csv",
            "x-amz-meta-": {"team": "finance", "run": "42"},
        },
        "connection": {
            "endpoint": "http://127.0.0.1:9000",
            "addressing": "path",
            "region": "us-east-1",
            "access_key_id": "AKIDEXAMPLETEST",
            "secret_access_key": "fake/secret/for/tests/only",
        },
    })
    .to_string()
}

/// The same environment for every run: nothing set, so no shared config file is read.
fn no_env(_: &str) -> Option<String> {
    None
}

fn build_request(req: &Request, conn: &Resolved, payload: Payload) -> HttpRequest {
    let dest = Destination {
        endpoint: &conn.endpoint,
        addressing: conn.addressing,
        region: &conn.region,
    };
    // What `run` does: XML body, Content-MD5, SSE-C key MD5, then the build.
    prepare(req.operation, &req.input, &dest, conn.checksums, payload).expect("prepare")
}

fn bench_request(cfg: &Config) {
    let text = put_envelope();
    let req = validate::parse_request(&text)
        .unwrap_or_else(|e| panic!("the bench envelope is invalid: {e:?}"));
    let conn = credentials::resolve(&req.connection, &no_env).expect("connection");
    let payload = input_payload_blocking(req.operation, &req.input).expect("payload");
    let built = build_request(&req, &conn, payload.clone());
    let creds = conn.credentials.fixed().expect("keys");
    let now = SystemTime::now();

    println!("# one put_object request (1 KiB inline body), per request");
    let parse = measure(cfg, "parse + validate envelope", || {
        validate::parse_request(black_box(&text)).expect("valid")
    });
    let resolve = measure(cfg, "resolve connection", || {
        credentials::resolve(black_box(&req.connection), &no_env).expect("resolved")
    });
    let prep = measure(cfg, "body source", || {
        input_payload_blocking(req.operation, black_box(&req.input)).expect("payload")
    });
    let build = measure(cfg, "prepare HTTP request", || {
        build_request(&req, &conn, black_box(payload.clone()))
    });
    let sign = measure(cfg, "sign (SigV4, SHA-256 of body)", || {
        let mut r = built.clone();
        signing::sign(&mut r, creds, &conn.region, now).expect("signed");
        r
    });
    let clone_only = measure(cfg, "  (clone of the built request, in sign)", || {
        black_box(built.clone())
    });
    let total = measure(cfg, "validate + build + sign (all stages)", || {
        one_request(&text)
    });
    let sum = parse + resolve + prep + build + (sign - clone_only).max(0.0);
    println!(
        "  sum of stages {:.2} µs; all stages in one loop {:.2} µs",
        sum / 1e3,
        total / 1e3
    );
}

/// A realistic 1,000-key page as S3 sends it for `encoding-type=url`.
fn listing_xml(keys: usize) -> String {
    let mut s = String::with_capacity(keys * 420);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    s.push('\n');
    s.push_str(r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
    s.push_str("<Name>analytics-prod-eu</Name><Prefix>logs/2026/</Prefix><Marker></Marker>");
    s.push_str("<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>");
    s.push_str("<IsTruncated>true</IsTruncated>");
    for i in 0..keys {
        let key = format!(
            "logs/2026/11/{:02}/app-server-{:04}/part-{:06}%20%28copy%29.json.gz",
            1 + i % 28,
            i % 97,
            i
        );
        // A stable pseudo-random ETag.
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        s.push_str(&format!(
            "<Contents><Key>{key}</Key>\
             <LastModified>2026-11-{:02}T{:02}:{:02}:{:02}.000Z</LastModified>\
             <ETag>&quot;{h:016x}{:016x}&quot;</ETag><Size>{}</Size>\
             <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
             <DisplayName>analytics</DisplayName></Owner>\
             <StorageClass>STANDARD</StorageClass></Contents>",
            1 + i % 28,
            i % 24,
            i % 60,
            (i * 7) % 60,
            h.rotate_left(17),
            1000 + (h % 5_000_000)
        ));
    }
    s.push_str("</ListBucketResult>");
    s
}

fn bench_listing(cfg: &Config) {
    let doc = listing_xml(1000);
    let schema = &Manifest::embedded()
        .operation("list_objects")
        .expect("list_objects")
        .output;
    let root = xml::parse(doc.as_bytes()).expect("listing parses");
    let mapped = xml::map_root(schema, &root);
    let n = mapped
        .get("Contents")
        .and_then(|c| c.as_array())
        .map_or(0, Vec::len);
    assert_eq!(n, 1000, "the listing maps to 1,000 objects");
    let mut decoded = mapped.clone();
    quirks::decode_listing(&mut decoded);

    println!(
        "# one 1,000-key ListBucketResult ({} KiB of XML), per listing",
        doc.len() / 1024
    );
    let parse = measure(cfg, "xml::parse (element tree)", || {
        xml::parse(black_box(doc.as_bytes())).expect("parses")
    });
    let tree_map = measure(cfg, "xml::map_root (tree to JSON)", || {
        xml::map_root(black_box(schema), &root)
    });
    let clone_only = measure(cfg, "  (clone of the mapped output)", || {
        black_box(mapped.clone())
    });
    let decode = measure(cfg, "quirks::decode_listing (URL-decoding)", || {
        let mut m = mapped.clone();
        quirks::decode_listing(&mut m);
        m
    });
    let ser = measure(cfg, "serde_json::to_string (output line)", || {
        serde_json::to_string(black_box(&decoded)).expect("serialises")
    });
    // What reading the document costs at least: quick-xml's events, borrowed from the input,
    // with nothing built (a floor for any parser of this listing).
    let events = measure(cfg, "quick-xml events only (floor)", || {
        let mut reader = quick_xml::Reader::from_str(black_box(&doc));
        let mut n = 0u32;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break n,
                Ok(_) => n += 1,
                Err(e) => panic!("listing XML: {e}"),
            }
        }
    });
    let total_tree = measure(cfg, "parse + map_root (tree, the reference)", || {
        let root = xml::parse(black_box(doc.as_bytes())).expect("parses");
        xml::map_root(schema, &root)
    });
    let plan = Manifest::embedded()
        .operation("list_objects")
        .and_then(|o| o.xml_plan())
        .expect("list_objects has a plan");
    assert_eq!(
        xml_stream::map_reply(plan, doc.as_bytes())
            .expect("streams")
            .1,
        mapped,
        "the streamed mapping equals the tree's"
    );
    let map = measure(cfg, "xml_stream::map_reply (mapping alone)", || {
        xml_stream::map_reply(plan, black_box(doc.as_bytes())).expect("streams")
    });
    // Before `xml_text`: the streamed mapping into values, the keys URL-decoded in place, and the
    // output printed.
    let values = measure(cfg, LISTING_VALUES, || {
        let (_, mut out) = xml_stream::map_reply(plan, black_box(doc.as_bytes())).expect("streams");
        quirks::decode_listing(&mut out);
        serde_json::to_writer(std::io::sink(), &out).expect("serialises");
    });
    // What `list_objects` runs per page (`execute::read_xml`, `paginate.rs`, `protocol.rs`):
    // the reply written as JSON text, keys decoded as they are written, and the output printed.
    let mut printed = Vec::new();
    print_listing(plan, &doc, &mut printed);
    assert_eq!(
        String::from_utf8(printed).expect("UTF-8"),
        serde_json::to_string(&decoded).expect("serialises"),
        "the text written equals the values printed"
    );
    let whole = measure(cfg, LISTING_TARGET, || {
        print_listing(plan, black_box(&doc), &mut std::io::sink());
    });
    println!(
        "  XML to the printed output {:.3} ms (through values {:.3} ms: mapping alone {:.3} ms; \
         tree: parse {:.3} ms + map {:.3} ms = {:.3} ms); decoding after mapping {:.3} ms, \
         serialise {:.3} ms (quick-xml alone {:.3} ms)",
        whole / 1e6,
        values / 1e6,
        map / 1e6,
        parse / 1e6,
        tree_map / 1e6,
        total_tree / 1e6,
        (decode - clone_only).max(0.0) / 1e6,
        ser / 1e6,
        events / 1e6
    );
}

/// The headline listing row: XML bytes to the decoded output printed, what `list_objects` runs
/// per page (bench/render.py reads it by this name).
const LISTING_TARGET: &str = "write_reply + print (what list_objects runs)";
/// The same through values, as before `xml_text` (for comparison).
const LISTING_VALUES: &str = "map_reply + decode_listing + print (values)";

/// What a one-shot `run` pays once per process before its first request: parsing the one
/// operation it names from the embedded manifest (through the generated index), and compiling
/// the `put_object` input and connection schemas on first validation; and, for comparison, what
/// parsing the whole manifest costs (`manifest`, `schema`). One sample each (it can only happen
/// once per process), so noisier than the rest.
fn first_use() {
    println!("# first use in a process (once per process, one sample)");
    let t = Instant::now();
    black_box(s3_connector::manifest::operation("put_object"));
    let one = t.elapsed().as_nanos() as f64;
    let t = Instant::now();
    black_box(Manifest::embedded());
    let manifest = t.elapsed().as_nanos() as f64;
    let text = put_envelope();
    let t = Instant::now();
    black_box(validate::parse_request(&text).expect("valid"));
    let first = t.elapsed().as_nanos() as f64;
    for (name, ns) in [
        ("first use: parse put_object from the manifest", one),
        ("first use: parse the embedded manifest", manifest),
        (
            "first use: first put_object validation (schema compilation)",
            first,
        ),
    ] {
        println!("{name:<44} {:9.3} ms wall", ns / 1e6);
        println!("RESULT {name} {ns:.1} {ns:.1} {ns:.1}");
    }
}

/// One request through every stage (the target figure's work).
fn one_request(text: &str) -> HttpRequest {
    let req = validate::parse_request(black_box(text)).expect("valid");
    let conn = credentials::resolve(&req.connection, &no_env).expect("resolved");
    let payload = input_payload_blocking(req.operation, &req.input).expect("payload");
    let mut r = build_request(&req, &conn, payload);
    signing::sign(
        &mut r,
        conn.credentials.fixed().expect("keys"),
        &conn.region,
        SystemTime::now(),
    )
    .expect("signed");
    r
}

/// The loops a profiler looks at: bench/profile collects inside `profile_loop_*` only, so the
/// one-time set-up (manifest parse, schema compilation, test data) is left out.
#[inline(never)]
fn profile_loop_request(text: &str, iters: u64) {
    for _ in 0..iters {
        black_box(one_request(text));
    }
}

/// A `list_objects` page as `list_objects` reads it: written as JSON text, keys decoded.
fn listing_output(plan: &xml_stream::Plan, doc: &str) -> Output {
    let results = &Manifest::embedded()
        .operation("list_objects")
        .and_then(|o| o.pagination.as_ref())
        .expect("list_objects pages")
        .results;
    let w = xml_text::write_reply(plan, doc.as_bytes(), results, true).expect("plain XML");
    let mut out = Output::with_lists(w.fields, w.lists);
    out.decode_listing();
    out
}

/// The page printed as `run` prints it, to stdout without a copy into one line first (here
/// `out` is `io::sink()`: the write to the pipe is left out, as for the values).
fn print_listing(plan: &xml_stream::Plan, doc: &str, out: &mut impl std::io::Write) {
    listing_output(plan, doc).write_json(out).expect("writes");
}

#[inline(never)]
fn profile_loop_listing(doc: &str, plan: &xml_stream::Plan, iters: u64) {
    for _ in 0..iters {
        print_listing(plan, black_box(doc), &mut std::io::sink());
    }
}

/// The work of the target figures only, `INPROCESS_ITERS` times, after one warm-up.
fn profile(which: &str) {
    match which {
        "request" => {
            let text = put_envelope();
            black_box(one_request(&text));
            profile_loop_request(&text, env_num("INPROCESS_ITERS", 200));
        }
        "listing" => {
            let doc = listing_xml(1000);
            let plan = Manifest::embedded()
                .operation("list_objects")
                .and_then(|o| o.xml_plan())
                .expect("list_objects has a plan");
            profile_loop_listing(&doc, plan, 1);
            profile_loop_listing(&doc, plan, env_num("INPROCESS_ITERS", 20));
        }
        other => panic!("INPROCESS_PROFILE must be request or listing, not {other}"),
    }
}

fn main() {
    if let Ok(which) = std::env::var("INPROCESS_PROFILE") {
        return profile(&which);
    }
    let cfg = Config {
        batches: env_num("INPROCESS_BATCHES", 31).max(1) as usize,
        batch: Duration::from_millis(env_num("INPROCESS_BATCH_MS", 20).max(1)),
    };
    let only = std::env::var("INPROCESS_ONLY").unwrap_or_default();
    first_use();
    if only.is_empty() || only == "request" {
        bench_request(&cfg);
    }
    if only.is_empty() || only == "listing" {
        bench_listing(&cfg);
    }
}
