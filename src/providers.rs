//! Where credentials come from, and fetching them: each source of the AWS credential chain as
//! the SDKs implement it (AWS SDKs and Tools Reference Guide, "Standardized credential
//! providers"). Which source applies is decided in `credentials.rs`; caching and refresh are
//! `cred_cache.rs`'s.
//!
//! Errors are of kind `credentials`, with a `code` saying what happened (`docs/protocol.md`).
//! No message carries a token, a key or a command's output.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Deserialize;

use crate::connection::Secret;
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{Error, Failure};
use crate::request::{HttpRequest, Payload};
use crate::sts::{self, Role};

/// A source of credentials, decided without I/O (but reading the shared files). Equal sources
/// share one cache (`cred_cache.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// Keys given outright: the connection, the environment, a profile.
    Static(Credentials),
    /// STS `AssumeRoleWithWebIdentity` with the token read from `token_file` at each fetch (EKS
    /// IRSA rotates it).
    WebIdentity {
        token_file: PathBuf,
        role: Role,
        sts: Endpoint,
        label: String,
    },
    /// A profile's `credential_process`, run by the shell; its JSON on stdout.
    Process { command: String, label: String },
    /// IAM Identity Center: the cached token of `aws sso login`, then `GetRoleCredentials`.
    Sso {
        sso: Sso,
        portal: String,
        cache_dir: Option<PathBuf>,
    },
    /// The ECS / EKS Pod Identity agent.
    Container {
        url: String,
        token: Option<Secret>,
        token_file: Option<PathBuf>,
    },
    /// EC2 instance metadata, `IMDSv2` (a session token first). `last_resort`: what the chain
    /// found nothing in before trying it, when it was tried only as the chain's end (not named
    /// by a profile or an endpoint variable): then no answer means "no credentials anywhere".
    Imds {
        endpoint: String,
        last_resort: Option<String>,
    },
    /// STS `AssumeRole` signed with the credentials of `base`.
    AssumeRole {
        base: Box<Source>,
        role: Role,
        sts: Endpoint,
        region: String,
        label: String,
    },
}

/// A profile's SSO settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sso {
    /// What names the cached token file: the session name, or the start URL (legacy profiles).
    pub(crate) token_key: String,
    pub(crate) session: Option<String>,
    /// The region of the SSO portal.
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) role_name: String,
    pub(crate) profile: String,
}

/// The labels of the sources that have no configuration to name.
const CONTAINER: &str = "container credentials (ECS / EKS Pod Identity)";
const IMDS: &str = "EC2 instance metadata (IMDSv2)";

impl Source {
    /// Where the credentials come from, for logs and `check`: never a value.
    pub(crate) fn label(&self) -> String {
        match self {
            Source::Static(c) => c.source.clone(),
            Source::WebIdentity { label, .. }
            | Source::Process { label, .. }
            | Source::AssumeRole { label, .. } => label.clone(),
            Source::Sso { sso, .. } => format!("profile {}: SSO", sso.profile),
            Source::Container { .. } => CONTAINER.into(),
            Source::Imds { .. } => IMDS.into(),
        }
    }
}

/// A credentials error: `code` is one of the codes `docs/protocol.md` lists.
pub(crate) fn error(code: &str, reachable: bool, message: impl Into<String>) -> Error {
    let mut e = Error::of(Failure::Credentials { reachable }, message);
    e.code = Some(code.to_string());
    e
}

/// A credential source set up wrongly (a profile, a token file, a process).
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    error("CredentialsInvalid", true, message)
}

fn unreachable(what: &str, e: &Error) -> Error {
    error(
        "CredentialsUnreachable",
        false,
        format!("{what} could not be reached: {}", e.full_message()),
    )
}

/// Fetches credentials from `source` (boxed: an assumed role fetches its base first).
pub(crate) fn fetch(
    source: &Source,
) -> Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + '_>> {
    Box::pin(async move {
        match source {
            Source::Static(c) => Ok(c.clone()),
            Source::WebIdentity {
                token_file,
                role,
                sts,
                label,
            } => {
                let token = tokio::fs::read_to_string(token_file).await.map_err(|e| {
                    invalid(format!(
                        "web identity token file {} cannot be read: {e}",
                        token_file.display()
                    ))
                })?;
                let token = Secret::new(token.trim());
                let req = sts::assume_role_with_web_identity(sts, role, &token);
                sts_call(req, label, "STS AssumeRoleWithWebIdentity").await
            }
            Source::AssumeRole {
                base,
                role,
                sts,
                region,
                label,
            } => {
                let base_creds = crate::cred_cache::Provider::of(base.as_ref().clone())
                    .get()
                    .await?;
                let mut req = sts::assume_role(sts, role);
                crate::signing::sign_service(
                    &mut req,
                    &base_creds,
                    (region, "sts"),
                    SystemTime::now(),
                )?;
                sts_call(req, label, "STS AssumeRole").await
            }
            Source::Process { command, label } => process(command, label).await,
            Source::Sso {
                sso,
                portal,
                cache_dir,
            } => crate::sso::fetch(sso, portal, cache_dir.as_deref()).await,
            Source::Container {
                url,
                token,
                token_file,
            } => container(url, token.as_ref(), token_file.as_ref()).await,
            Source::Imds {
                endpoint,
                last_resort,
            } => imds(endpoint, last_resort.as_deref()).await,
        }
    })
}

async fn sts_call(req: HttpRequest, label: &str, what: &str) -> Result<Credentials, Error> {
    let (status, body) = call(req, STS_TIMEOUT)
        .await
        .map_err(|e| unreachable(what, &e))?;
    match sts::read_reply(status, &body, label) {
        Some(sts::Reply::Credentials(c)) => Ok(c),
        Some(sts::Reply::Refused { code, message }) if status < 500 => Err(error(
            "CredentialsRefused",
            true,
            format!("{what} refused ({label}): {code}: {message}"),
        )),
        _ if status >= 500 || status == 429 => Err(error(
            "CredentialsUnreachable",
            false,
            format!("{what} failed with status {status}"),
        )),
        _ => Err(error(
            "CredentialsRefused",
            true,
            format!("{what} answered status {status} without credentials"),
        )),
    }
}

const STS_TIMEOUT: Duration = Duration::from_secs(10);
/// Per call to the instance metadata service (the SDKs use 1 s; a busy host gets a little more).
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(5);

/// The JSON the container agent, IMDS and `credential_process` answer (the same names).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vended {
    access_key_id: String,
    secret_access_key: Secret,
    #[serde(alias = "SessionToken")]
    token: Option<Secret>,
    expiration: Option<String>,
}

impl Vended {
    fn parse(body: &[u8], label: &str, what: &str) -> Result<Credentials, Error> {
        let v: Vended = serde_json::from_slice(body).map_err(|_| {
            invalid(format!(
                "{what} answered something that is not credentials JSON"
            ))
        })?;
        let expiry = match v.expiration {
            Some(t) => Some(sts::epoch(crate::timefmt::parse_rfc3339(&t).ok_or_else(
                || invalid(format!("{what}: Expiration is not an RFC 3339 time")),
            )?)),
            None => None,
        };
        Ok(Credentials {
            access_key_id: v.access_key_id,
            secret_access_key: v.secret_access_key,
            session_token: v.token,
            source: label.to_string(),
            expiry,
        })
    }
}

/// `credential_process`: run by the shell, its stdout JSON (`Version: 1`). Its stderr is not
/// shown (nor its stdout, on failure): either may hold a secret.
async fn process(command: &str, label: &str) -> Result<Credentials, Error> {
    #[derive(Deserialize)]
    struct Version {
        #[serde(rename = "Version")]
        version: Option<u32>,
    }

    let command = command.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| error("CredentialsInvalid", true, format!("{label}: {e}")))?
    .map_err(|e| invalid(format!("{label}: cannot run the command: {e}")))?;
    if !out.status.success() {
        return Err(invalid(format!(
            "{label}: the command failed ({}); its output is not shown, run it yourself to see why",
            out.status
        )));
    }
    let v: Version = serde_json::from_slice(&out.stdout)
        .map_err(|_| invalid(format!("{label}: the command's output is not JSON")))?;
    if v.version != Some(1) {
        return Err(invalid(format!(
            "{label}: the command's JSON must have \"Version\": 1"
        )));
    }
    Vended::parse(&out.stdout, label, label)
}

/// Hosts the container agent may be at over plain HTTP (the SDKs' rule): loopback, the ECS
/// agent, the EKS Pod Identity agent.
fn container_host_allowed(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    match uri.scheme_str() {
        Some("https") => return true,
        Some("http") => {}
        _ => return false,
    }
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            ip.is_loopback() || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(&host)
        }
        Err(_) => host == "localhost",
    }
}

pub(crate) fn check_container_url(url: &str) -> Result<(), Error> {
    if container_host_allowed(url) {
        Ok(())
    } else {
        Err(invalid(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address or \
             the ECS / EKS Pod Identity agent",
        ))
    }
}

async fn container(
    url: &str,
    token: Option<&Secret>,
    token_file: Option<&PathBuf>,
) -> Result<Credentials, Error> {
    const WHAT: &str = "the container credentials endpoint";
    let token = match token_file {
        // Read at each fetch: EKS Pod Identity rotates the file.
        Some(f) => Some(Secret::new(
            tokio::fs::read_to_string(f)
                .await
                .map_err(|e| {
                    invalid(format!(
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {} cannot be read: {e}",
                        f.display()
                    ))
                })?
                .trim(),
        )),
        None => token.cloned(),
    };
    let mut req = get(url);
    if let Some(t) = token {
        req.headers
            .push(("authorization".into(), t.expose().to_string()));
    }
    let (status, body) = call(req, CONTAINER_TIMEOUT)
        .await
        .map_err(|e| unreachable(WHAT, &e))?;
    let label = CONTAINER;
    match status {
        200..=299 => Vended::parse(&body, label, WHAT),
        s if s >= 500 || s == 429 => Err(error(
            "CredentialsUnreachable",
            false,
            format!("{WHAT} answered status {s}"),
        )),
        s => Err(error(
            "CredentialsRefused",
            true,
            format!(
                "{WHAT} refused with status {s}: check the task role or pod identity association"
            ),
        )),
    }
}

/// `IMDSv2` as the chain's last resort or as a configured source: at the end of the chain, any
/// failure to get credentials means there are none anywhere (`looked` says where else).
async fn imds(endpoint: &str, last_resort: Option<&str>) -> Result<Credentials, Error> {
    let base = endpoint.trim_end_matches('/');
    match (imds_fetch(base).await, last_resort) {
        (Err(e), Some(looked)) => Err(error(
            "NoCredentials",
            true,
            format!(
                "no credentials found: {looked}, and {} (not an EC2 instance with a role?); \
                 give keys or a role in the connection, or see docs/credentials.md",
                e.message
            ),
        )),
        (result, _) => result,
    }
}

/// `IMDSv2`: a session token (`PUT /latest/api/token`), the role's name, its credentials.
async fn imds_fetch(base: &str) -> Result<Credentials, Error> {
    const WHAT: &str = "the EC2 instance metadata service";
    let unreachable = |e: &Error| unreachable(WHAT, e);
    let refused = |status: u16, step: &str| {
        if status >= 500 {
            error(
                "CredentialsUnreachable",
                false,
                format!("{WHAT} answered status {status} to {step}"),
            )
        } else {
            error(
                "CredentialsRefused",
                true,
                format!("{WHAT} refused {step} with status {status}: does the instance have a role (instance profile)?"),
            )
        }
    };
    let mut put = request("PUT", &format!("{base}/latest/api/token"));
    put.headers.push((
        "x-aws-ec2-metadata-token-ttl-seconds".into(),
        "21600".into(),
    ));
    let (status, token) = call(put, IMDS_TIMEOUT).await.map_err(|e| unreachable(&e))?;
    if status != 200 {
        return Err(refused(status, "the session token request"));
    }
    let token = Secret::new(String::from_utf8_lossy(&token).trim());
    let with_token = |path: &str| {
        let mut r = get(&format!("{base}{path}"));
        r.headers.push((
            "x-aws-ec2-metadata-token".into(),
            token.expose().to_string(),
        ));
        r
    };
    let path = "/latest/meta-data/iam/security-credentials/";
    let (status, role) = call(with_token(path), IMDS_TIMEOUT)
        .await
        .map_err(|e| unreachable(&e))?;
    let role = String::from_utf8_lossy(&role)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if status != 200 || role.is_empty() {
        return Err(refused(status, "the role name request"));
    }
    let (status, body) = call(with_token(&format!("{path}{role}")), IMDS_TIMEOUT)
        .await
        .map_err(|e| unreachable(&e))?;
    if status != 200 {
        return Err(refused(status, "the credentials request"));
    }

    Vended::parse(&body, IMDS, WHAT)
}

pub(crate) fn get(url: &str) -> HttpRequest {
    request("GET", url)
}

fn request(method: &str, url: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        uri: url.to_string(),
        headers: Vec::new(),
        payload: Payload::Empty,
    }
}

/// One request to a credential endpoint, its status and body (at most 1 MiB), within `limit`.
pub(crate) async fn call(req: HttpRequest, limit: Duration) -> Result<(u16, Bytes), Error> {
    let https = req.uri.starts_with("https:");
    let transport = transport(https)?;
    let work = async {
        let sent = transport
            .send(
                req,
                limit,
                &crate::progress::Progress::none(),
                (crate::checksum::Integrity::Off, false),
            )
            .await?;
        let (parts, mut body) = sent.response.into_parts();
        let bytes = crate::transport::read_all(&mut body, limit, 1024 * 1024).await?;
        Ok::<_, Error>((parts.status.as_u16(), Bytes::from(bytes)))
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| Error::of(Failure::Stalled, format!("no answer within {limit:?}")))?
}

/// One client per scheme for credential endpoints, kept for the process.
fn transport(https: bool) -> Result<std::sync::Arc<crate::transport::Transport>, Error> {
    use std::sync::{Arc, Mutex, OnceLock};
    static CLIENTS: OnceLock<Mutex<[Option<Arc<crate::transport::Transport>>; 2]>> =
        OnceLock::new();
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .expect("clients");
    let slot = &mut clients[usize::from(https)];
    if let Some(t) = slot {
        return Ok(t.clone());
    }
    let t = Arc::new(crate::transport::Transport::new(
        https,
        Duration::from_secs(2),
    )?);
    *slot = Some(t.clone());
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_hosts() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://[::1]/x",
            "http://169.254.170.23/v1/credentials",
            "https://example.com/x",
            "http://localhost:1/c",
        ] {
            assert!(container_host_allowed(ok), "{ok}");
        }
        for no in [
            "http://example.com/x",
            "http://10.0.0.1/x",
            "ftp://127.0.0.1/",
        ] {
            assert!(!container_host_allowed(no), "{no}");
        }
    }

    #[test]
    fn vended_json_is_read_without_echoing_it() {
        let c = Vended::parse(
            br#"{"AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-02T16:00:00Z"}"#,
            "l",
            "w",
        )
        .unwrap();
        assert_eq!(c.session_token.unwrap().expose(), "t");
        assert!(c.expiry.is_some());
        let e = Vended::parse(br#"{"AccessKeyId":"canary-key"}"#, "l", "w").unwrap_err();
        assert!(!e.full_message().contains("canary"));
        assert_eq!(e.code.as_deref(), Some("CredentialsInvalid"));
    }
}
