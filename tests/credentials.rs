//! The credential chain against real endpoints: temporary credentials from `SeaweedFS`'s STS
//! (which verifies signatures and session tokens) handed out by loopback emulators of the EC2
//! instance metadata service (`IMDSv2`), the ECS / EKS Pod Identity container endpoint and the
//! IAM Identity Center portal (`tests/creds/endpoints.py`), by a `credential_process` script,
//! and refreshed across their expiry, in `run` and in `serve`.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod common;
#[path = "common/creds.rs"]
mod creds;
#[path = "common/faults.rs"]
mod faults;
#[path = "common/proxy.rs"]
mod proxy;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use common::{boto3, bucket, python, Outcome, Server};
use creds::Endpoints;

/// A `SeaweedFS` with STS on, shared by this file's tests.
fn sts_server() -> &'static Server {
    static S: OnceLock<(Server, tempfile::TempDir)> = OnceLock::new();
    &S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        (common::start_with_sts(dir.path()), dir)
    })
    .0
}

/// A bucket on the STS server, made with the static pair.
fn sts_bucket(prefix: &str) -> String {
    let s = sts_server();
    let b = bucket(prefix);
    common::run(s, "create_bucket", json!({"Bucket": b})).output();
    b
}

/// The credentials an emulator hands out: a fresh STS session, stated to expire in `secs`.
fn vended(name: &str, secs: u64) -> Value {
    let c = common::sts_session(sts_server(), name);
    json!({"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
           "Token": c["SessionToken"], "expires_in": secs})
}

/// The connection to the STS server with no keys: they must come from the chain.
fn keyless() -> Value {
    json!({"endpoint": sts_server().endpoint, "region": "us-east-1", "addressing": "path"})
}

/// `run` with only `env` as the AWS environment (instance metadata on only when it names it).
fn run_with(request: &Value, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = common::run_command();
    if env.iter().any(|(k, _)| k.starts_with("AWS_EC2_METADATA")) {
        cmd.env_remove("AWS_EC2_METADATA_DISABLED");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run_cmd(cmd, request)
}

fn put(b: &str, key: &str, body: &str) -> Value {
    json!({"operation": "put_object", "connection": keyless(),
           "input": {"Bucket": b, "Key": key, "Body": body}})
}

/// The object's text, read by boto3 with the static pair.
fn read_back(b: &str, key: &str) -> String {
    boto3(
        sts_server(),
        &format!("print(s3.get_object(Bucket='{b}', Key='{key}')['Body'].read().decode(), end='')"),
    )
}

#[test]
fn instance_metadata_v2_credentials_sign_requests() {
    let b = sts_bucket("imds");
    let e =
        Endpoints::start(&json!({"credentials": [vended("imds", 3600)], "imds_role": "worker"}));
    let url = e.url();
    let env = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str())];
    let r = run_with(&put(&b, "from/imds.txt", "via IMDSv2"), &env);
    r.output();
    assert_eq!(read_back(&b, "from/imds.txt"), "via IMDSv2");
    // IMDSv2 only: a session token first, then the role's name, then its credentials.
    assert_eq!(e.asked(), ["imds_token", "imds_role", "imds_creds"]);
    assert!(e.requests()[2]["path"]
        .as_str()
        .unwrap()
        .ends_with("/worker"));

    // Instance metadata that is not there, when an endpoint is named: unreachable, retryable.
    let closed = format!("http://127.0.0.1:{}", common_closed_port());
    let r = run_with(
        &put(&b, "x", "x"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.as_str())],
    );
    assert_eq!(
        (r.code, r.error()["kind"].as_str(), r.s3_code().as_str()),
        (1, Some("credentials"), "CredentialsUnreachable")
    );
    assert_eq!(r.error()["retryable"], true);
    assert!(r.error()["message"]
        .as_str()
        .unwrap()
        .contains("instance metadata"));
    // Switched off and nothing else anywhere: no credentials, and nothing was tried.
    let r = run_with(&put(&b, "x", "x"), &[]);
    assert_eq!(
        (r.code, r.error()["kind"].as_str(), r.s3_code().as_str()),
        (1, Some("credentials"), "NoCredentials")
    );
    assert_eq!(r.error()["retryable"], false);
}

/// A port nothing listens on.
fn common_closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn container_credentials_with_a_token_file() {
    let b = sts_bucket("container");
    let token = "pod-identity-token-0123456789";
    let e =
        Endpoints::start(&json!({"credentials": [vended("pod", 3600)], "container_token": token}));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let full = format!("{}/creds/v1/credentials", e.url());
    let tf = token_file.to_str().unwrap();
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf),
    ];
    run_with(&put(&b, "pod.txt", "via the pod agent"), &env).output();
    assert_eq!(read_back(&b, "pod.txt"), "via the pod agent");
    assert_eq!(e.asked(), ["container"]);

    // The file is read at each fetch (the agent rotates it): a wrong token is refused.
    std::fs::write(&token_file, "rotated-wrong-token").unwrap();
    let r = run_with(&put(&b, "pod2.txt", "x"), &env);
    assert_eq!(
        (r.error()["kind"].as_str(), r.s3_code().as_str()),
        (Some("credentials"), "CredentialsRefused")
    );
    let all = format!("{}{}", r.envelope, r.stderr);
    assert!(
        !all.contains("rotated-wrong-token") && !all.contains(token),
        "{all}"
    );
    // The token from the variable works the same.
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token),
    ];
    run_with(&put(&b, "pod3.txt", "by variable"), &env).output();
    // Plain HTTP to anywhere but loopback or the agents' addresses is refused unsent.
    let r = run_with(
        &put(&b, "x", "x"),
        &[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://192.0.2.1/creds",
        )],
    );
    assert_eq!(r.s3_code(), "CredentialsInvalid");
}

/// A Python snippet run with `env` as its only AWS settings; its stdout.
fn python_env(code: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(common::tools_bin("python"));
    cmd.arg("-c").arg(code);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `HOME` with `.aws/config` holding `config`.
fn home_with(config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws/sso/cache")).unwrap();
    std::fs::write(home.path().join(".aws/config"), config).unwrap();
    home
}

const SSO_CONFIG: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
    sso_role_name = ReadWrite\nregion = us-east-1\n\
    [sso-session corp]\nsso_start_url = https://corp.example.com/start\nsso_region = eu-west-1\n";

/// botocore's own name for the session's cached token file.
fn botocore_cache_name(session: &str) -> String {
    python(
        &format!(
            "from botocore.utils import SSOTokenLoader\n\
             print(SSOTokenLoader(cache={{}})._generate_cache_key('https://corp.example.com/start', '{session}'), end='')"
        ),
        &[],
    )
}

#[test]
fn sso_uses_the_cached_login_and_the_portal() {
    let b = sts_bucket("sso");
    let token = "sso-access-token-abcdef";
    let e = Endpoints::start(
        &json!({"credentials": [vended("sso", 3600)], "sso_token": token,
                                     "sso_account_id": "123456789012", "sso_role_name": "ReadWrite"}),
    );
    let home = home_with(SSO_CONFIG);
    let cache = home
        .path()
        .join(".aws/sso/cache")
        .join(format!("{}.json", botocore_cache_name("corp")));
    let write_token = |expires: &str| {
        std::fs::write(
            &cache,
            json!({"accessToken": token, "expiresAt": expires, "region": "eu-west-1",
                   "startUrl": "https://corp.example.com/start"})
            .to_string(),
        )
        .unwrap();
    };
    write_token("2099-01-01T00:00:00Z");
    let h = home.path().to_str().unwrap();
    let url = e.url();
    let env = [
        ("HOME", h),
        ("AWS_PROFILE", "dev"),
        ("AWS_ENDPOINT_URL_SSO", url.as_str()),
    ];
    run_with(&put(&b, "sso.txt", "via SSO"), &env).output();
    assert_eq!(read_back(&b, "sso.txt"), "via SSO");
    assert_eq!(e.asked(), ["sso"]);
    // boto3, given the same HOME, profile and portal, finds the same cached login and gets
    // the same credentials from the portal.
    let ours = e.requests().len();
    let theirs = python_env(
        "import boto3\nc = boto3.Session(profile_name='dev').get_credentials().get_frozen_credentials()\nprint(c.access_key, end='')",
        &env,
    );
    assert_eq!(e.requests().len(), ours + 1, "boto3 asked the portal once");
    assert_eq!(theirs, e.vended_key(0));

    // Expired login: its own error, saying what to do, never the token.
    write_token("2020-01-01T00:00:00Z");
    let r = run_with(&put(&b, "late.txt", "x"), &env);
    assert_eq!(
        (r.error()["kind"].as_str(), r.s3_code().as_str()),
        (Some("credentials"), "SsoTokenExpired")
    );
    let message = r.error()["message"].as_str().unwrap();
    assert!(
        message.contains("aws sso login --sso-session corp"),
        "{message}"
    );
    assert!(!format!("{}{}", r.envelope, r.stderr).contains(token));
}

#[test]
fn credential_process_output_signs_requests() {
    let b = sts_bucket("process");
    let c = vended("process", 3600);
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("creds.sh");
    let reply = json!({"Version": 1, "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                       "SessionToken": c["Token"], "Expiration": "2099-01-01T00:00:00Z"});
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'JSON'\n{reply}\nJSON\n")).unwrap();
    let failing = home.path().join("fails.sh");
    // A failing helper that prints secrets on both streams: neither reaches our output.
    std::fs::write(
        &failing,
        "#!/bin/sh\necho canary-process-secret\necho canary-process-secret >&2\nexit 3\n",
    )
    .unwrap();
    for f in [&script, &failing] {
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(f)
            .status()
            .unwrap();
    }
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile tool]\ncredential_process = {} --flag 'quoted arg'\n[profile broken]\ncredential_process = {}\n",
            script.display(),
            failing.display()
        ),
    )
    .unwrap();
    let h = home.path().to_str().unwrap();
    run_with(
        &put(&b, "proc.txt", "via credential_process"),
        &[("HOME", h), ("AWS_PROFILE", "tool")],
    )
    .output();
    assert_eq!(read_back(&b, "proc.txt"), "via credential_process");
    let r = run_with(
        &put(&b, "x", "x"),
        &[("HOME", h), ("AWS_PROFILE", "broken")],
    );
    assert_eq!(
        (r.error()["kind"].as_str(), r.s3_code().as_str()),
        (Some("credentials"), "CredentialsInvalid")
    );
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{}",
        r.envelope
    );
    assert!(!format!("{}{}", r.envelope, r.stderr).contains("canary"));
}

/// `20261202T153012Z` as Unix seconds.
fn amz_date_secs(d: &str) -> i64 {
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    );
    s3_connector::timefmt::parse_rfc3339(&rfc).unwrap()
}

/// The credentials handed out first are a real 6 s session: the server refuses them from their
/// expiry on. `serve` gets 1,200 requests paced over 7 s, 16 at a time, past that expiry. Every
/// request succeeds, the credentials are fetched twice (once, then one refresh for all requests
/// in flight), and none is signed with the first ones at or after their expiry: the proxy in
/// front of the server shows which key signed each request, and when.
#[test]
fn serve_refreshes_once_across_an_expiry() {
    serve_across_an_expiry("container", 12, |url| {
        vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{url}/creds"))]
    });
}

/// The same with instance metadata.
#[test]
fn serve_refreshes_instance_metadata_credentials_across_an_expiry() {
    serve_across_an_expiry("imds", 12, |url| {
        vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.to_string())]
    });
}

/// `s3-connector serve --concurrency 16`, isolated as `run_command` isolates `run`, with `env`.
fn serve_command(env: &[(&'static str, String)]) -> Command {
    let run = common::run_command();
    let mut serve = Command::new(run.get_program());
    serve.args(["serve", "--concurrency", "16"]);
    for (k, v) in run.get_envs() {
        match v {
            Some(v) => serve.env(k, v),
            None => serve.env_remove(k),
        };
    }
    serve.env_remove("AWS_EC2_METADATA_DISABLED");
    for (k, v) in env {
        serve.env(k, v);
    }
    serve
}

/// `batches` of 100 `put_object` lines, one every 600 ms, to `serve` with the credentials of
/// the emulator that `env` points at.
fn serve_across_an_expiry(
    label: &str,
    batches: usize,
    env: fn(&str) -> Vec<(&'static str, String)>,
) {
    let s = sts_server();
    let b = sts_bucket(&format!("refresh-{label}"));
    let short = common::sts_session_for(s, "first", None);
    let first = json!({"AccessKeyId": short["AccessKeyId"], "SecretAccessKey": short["SecretAccessKey"],
                       "Token": short["SessionToken"], "expiration": short["ExpiresAt"]});
    let second = vended("second", 3600);
    let e = Endpoints::start(&json!({"credentials": [first, second]}));
    let upstream = format!("127.0.0.1:{}", s.port).parse().unwrap();
    let proxy = faults::Proxy::start(faults::Config::new(upstream, 1));
    let conn = json!({"endpoint": proxy.endpoint(), "region": "us-east-1", "addressing": "path"});
    let mut serve = serve_command(&env(&e.url()));
    let mut child = serve
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let total = batches * 100;
    let bk = b.clone();
    let writer = std::thread::spawn(move || {
        let b = bk;
        for batch in 0..batches {
            for i in batch * 100..(batch + 1) * 100 {
                let line = json!({"id": i, "operation": "put_object", "connection": conn,
                                  "input": {"Bucket": b, "Key": format!("k/{i}"), "Body": format!("n{i}")}});
                writeln!(stdin, "{line}").unwrap();
            }
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(600));
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let replies: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), total);
    let failed: Vec<_> = replies.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {}",
        failed.len(),
        failed[0]
    );
    assert_eq!(
        e.handed(),
        2,
        "one fetch, then one refresh: {:?}",
        e.asked()
    );

    let first_key = e.vended_key(0);
    let expiry = short["ExpiresAt"].as_i64().unwrap();
    let last = puts_last_date(&proxy);
    assert!(
        last > expiry,
        "the run went past the first credentials' expiry"
    );
    let log = proxy.log();
    let puts: Vec<_> = log.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), total, "no request was retried");
    let with_first: Vec<_> = puts
        .iter()
        .filter(|r| r.access_key.as_deref() == Some(first_key.as_str()))
        .collect();
    assert!(
        !with_first.is_empty() && with_first.len() < total,
        "{} of {total} with the first",
        with_first.len()
    );
    for r in &with_first {
        assert!(
            amz_date_secs(r.amz_date.as_deref().unwrap()) < expiry,
            "signed with expired credentials: {r:?}"
        );
    }
    assert!(puts.iter().all(|r| r.status == Some(200)));
    eprintln!(
        "{label}: {total} requests, all answered ok; credentials fetched {} times; {} signed with the first (expiring at {expiry}), the last of them at {}, the run's last request at {last}",
        e.handed(),
        with_first.len(),
        with_first.iter().filter_map(|r| r.amz_date.as_deref().map(amz_date_secs)).max().unwrap_or_default(),
    );
    let n = boto3(
        s,
        &format!("print(s3.list_objects_v2(Bucket='{b}', Prefix='k/')['KeyCount'], end='')"),
    );
    assert_eq!(
        n,
        total.min(1000).to_string(),
        "a listing page holds up to 1,000"
    );
}

/// When the last request was signed, in Unix seconds.
fn puts_last_date(proxy: &faults::Proxy) -> i64 {
    proxy
        .log()
        .iter()
        .filter_map(|r| r.amz_date.as_deref().map(amz_date_secs))
        .max()
        .unwrap()
}

/// An attempt signed just before the credentials' refresh point stalls; its retry, after it,
/// is signed with the new credentials.
#[test]
fn a_retry_after_the_refresh_point_is_signed_with_fresh_credentials() {
    let s = sts_server();
    let b = sts_bucket("resign");
    let e = Endpoints::start(&json!({"credentials": [vended("old", 4), vended("new", 3600)]}));
    let upstream = format!("127.0.0.1:{}", s.port).parse().unwrap();
    let mut cfg = faults::Config::new(upstream, 7);
    cfg.rates.stall = 1.0;
    cfg.stall_at = faults::StallAt::Head;
    cfg.stall_for = Duration::from_secs(6);
    cfg.only = Some(|method, _| method == "PUT");
    cfg.only_first = Some(1);
    let proxy = faults::Proxy::start(cfg);
    let full = format!("{}/creds", e.url());
    let req = json!({"operation": "put_object",
        "connection": {"endpoint": proxy.endpoint(), "region": "us-east-1", "addressing": "path",
                       "read_timeout_seconds": 3},
        "input": {"Bucket": b, "Key": "resigned.txt", "Body": "second attempt"}});
    run_with(
        &req,
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str())],
    )
    .output();
    // The stalled attempt is logged when the proxy lets it go.
    let mut puts = Vec::new();
    for _ in 0..100 {
        puts = proxy
            .log()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect();
        if puts.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    puts.sort_by(|a, b| a.amz_date.cmp(&b.amz_date));
    let keys: Vec<_> = puts.iter().map(|r| r.access_key.clone().unwrap()).collect();
    assert_eq!(keys, [e.vended_key(0), e.vended_key(1)], "{puts:?}");
    assert_eq!(e.handed(), 2);
    assert_eq!(read_back(&b, "resigned.txt"), "second attempt");
}

/// A moto of its own, with an IAM user (its keys returned), a role it may assume, a role whose
/// trust policy names someone else, and a bucket; then authentication switched on, so that
/// moto verifies every signature and session token from here on.
fn moto_with_iam() -> (Server, Value) {
    let s = common::start_with("moto", &[], None);
    let setup = format!(
        "import boto3, json\n\
         kw = dict(endpoint_url='{e}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         iam = boto3.client('iam', **kw)\n\
         iam.create_user(UserName='tests')\n\
         k = iam.create_access_key(UserName='tests')['AccessKey']\n\
         allow = lambda actions: json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}}]}})\n\
         iam.put_user_policy(UserName='tests', PolicyName='p', PolicyDocument=allow(['s3:*', 'sts:AssumeRole']))\n\
         trust = lambda who: json.dumps({{'Version': '2012-10-17', 'Statement': [\n\
             {{'Effect': 'Allow', 'Principal': {{'AWS': 'arn:aws:iam::123456789012:user/' + who}}, 'Action': 'sts:AssumeRole'}},\n\
             {{'Effect': 'Allow', 'Principal': {{'Federated': 'oidc.example.com'}}, 'Action': 'sts:AssumeRoleWithWebIdentity'}}]}})\n\
         iam.create_role(RoleName='Etl', AssumeRolePolicyDocument=trust('tests'))\n\
         iam.put_role_policy(RoleName='Etl', PolicyName='s3', PolicyDocument=allow(['s3:*']))\n\
         iam.create_role(RoleName='Locked', AssumeRolePolicyDocument=trust('someone-else'))\n\
         boto3.client('s3', **kw).create_bucket(Bucket='roles')\n\
         print(json.dumps({{'id': k['AccessKeyId'], 'secret': k['SecretAccessKey']}}))\n",
        e = s.endpoint
    );
    let keys: Value = serde_json::from_str(&python(&setup, &[])).unwrap();
    moto_free_actions(&s, 0);
    (s, keys)
}

/// Lets the next `n` requests to moto through unauthenticated (its counter restarts).
fn moto_free_actions(s: &Server, n: u32) {
    python(
        &format!(
            "import urllib.request\nurllib.request.urlopen(urllib.request.Request('{}/moto-api/reset-auth', data=b'{n}', method='POST', headers={{'Content-Type': 'text/plain'}})).read()",
            s.endpoint
        ),
        &[],
    );
}

/// The object's text, read by boto3 with the moto user's keys (signatures checked).
fn moto_read(s: &Server, keys: &Value, key: &str) -> String {
    python(
        &format!(
            "import boto3\n\
             s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='{}', aws_secret_access_key='{}')\n\
             print(s3.get_object(Bucket='roles', Key='{key}')['Body'].read().decode(), end='')",
            s.endpoint, keys["id"].as_str().unwrap(), keys["secret"].as_str().unwrap()
        ),
        &[],
    )
}

/// STS against moto, which checks every signature (the STS call's and S3's) and session token:
/// a role assumed over the connection's keys, over a profile's `source_profile`, and by web
/// identity; a refused role and a wrong base key are errors of their own.
#[test]
fn roles_are_assumed_through_sts_and_their_credentials_verified() {
    let (s, keys) = moto_with_iam();
    let id = keys["id"].as_str().unwrap();
    let secret = keys["secret"].as_str().unwrap();
    let role = "arn:aws:iam::123456789012:role/Etl";
    let conn = |secret: &str, role: &str| {
        json!({"endpoint": s.endpoint, "region": "us-east-1", "addressing": "path",
               "access_key_id": id, "secret_access_key": secret, "role_arn": role,
               "role_session_name": "etl-run", "external_id": "ext-123", "duration_seconds": 900,
               "sts_endpoint": s.endpoint})
    };
    let put = |conn: Value, key: &str, body: &str, env: &[(&str, &str)]| {
        run_with(
            &json!({"operation": "put_object", "connection": conn,
                    "input": {"Bucket": "roles", "Key": key, "Body": body}}),
            env,
        )
    };
    // Over the connection's keys.
    put(conn(secret, role), "assumed.txt", "as Etl", &[]).output();
    assert_eq!(moto_read(&s, &keys, "assumed.txt"), "as Etl");
    // moto does check: a wrong base secret fails at STS, a role that does not trust the user is
    // refused, each a credentials error naming STS's code.
    let r = put(conn("wrong-secret", role), "x", "x", &[]);
    assert_eq!(
        (r.error()["kind"].as_str(), r.s3_code().as_str()),
        (Some("credentials"), "CredentialsRefused")
    );
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("SignatureDoesNotMatch"),
        "{}",
        r.envelope
    );
    let r = put(
        conn(secret, "arn:aws:iam::123456789012:role/Locked"),
        "x",
        "x",
        &[],
    );
    assert_eq!(r.s3_code(), "CredentialsRefused");
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{}",
        r.envelope
    );
    assert!(!r.envelope.to_string().contains(secret) && !r.stderr.contains(secret));

    // A profile's role over another profile's keys, STS found by AWS_ENDPOINT_URL_STS.
    let home = home_with(&format!(
        "[profile base]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n\
         [profile etl]\nrole_arn = {role}\nsource_profile = base\nrole_session_name = from-profile\n"
    ));
    let h = home.path().to_str().unwrap();
    let bare = json!({"endpoint": s.endpoint, "region": "us-east-1", "addressing": "path"});
    let env = [
        ("HOME", h),
        ("AWS_PROFILE", "etl"),
        ("AWS_ENDPOINT_URL_STS", s.endpoint.as_str()),
    ];
    put(bare.clone(), "profile.txt", "via the etl profile", &env).output();
    assert_eq!(moto_read(&s, &keys, "profile.txt"), "via the etl profile");

    // Web identity, as EKS IRSA sets it up. AssumeRoleWithWebIdentity is unsigned (the token is
    // the proof), which moto can only answer with authentication off: one free request, then
    // the S3 request with the role's credentials is checked again.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJ.canary-web-identity-token.sig\n").unwrap();
    let tf = token_file.to_str().unwrap();
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", tf),
        ("AWS_ROLE_ARN", role),
        ("AWS_ROLE_SESSION_NAME", "irsa"),
        ("AWS_ENDPOINT_URL_STS", s.endpoint.as_str()),
    ];
    moto_free_actions(&s, 1);
    let r = put(bare.clone(), "irsa.txt", "via web identity", &env);
    r.output();
    assert!(!r.stderr.contains("canary-web-identity-token"));
    assert_eq!(moto_read(&s, &keys, "irsa.txt"), "via web identity");
}

/// S3 answering `ExpiredToken` to credentials that were thought valid (no local server does:
/// `SeaweedFS` says `InvalidAccessKeyId`), from a canned responder: each attempt drops the
/// credentials it used and fetches new ones, so the three attempts are signed with three
/// fetches' credentials; then the error is S3's.
#[test]
fn expired_token_replies_fetch_new_credentials_for_the_retry() {
    let body = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";
    let s3 = proxy::Proxy::start(proxy::Mode::Reply(
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    ));
    let creds = |n: u32| json!({"AccessKeyId": format!("ASIAFETCH{n}"), "SecretAccessKey": "s", "Token": format!("t{n}"), "expires_in": 3600});
    let e = Endpoints::start(&json!({"credentials": [creds(1), creds(2), creds(3)]}));
    let full = format!("{}/creds", e.url());
    let req = json!({"operation": "get_object", "input": {"Bucket": "expired-token", "Key": "k"},
        "connection": {"endpoint": s3.endpoint(), "region": "us-east-1", "addressing": "path"}});
    let r = run_with(
        &req,
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str())],
    );
    assert_eq!(
        (r.error()["code"].as_str(), r.error()["attempts"].as_u64()),
        (Some("ExpiredToken"), Some(3)),
        "{}",
        r.envelope
    );
    assert_eq!(e.handed(), 3, "{:?}", e.asked());
    let wire = s3.stop();
    let signed: Vec<bool> = (1..=3)
        .map(|n| wire.client_sent(format!("Credential=ASIAFETCH{n}/").as_bytes()))
        .collect();
    assert_eq!(signed, [true, true, true]);
}
