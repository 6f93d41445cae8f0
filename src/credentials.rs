//! Resolving a connection: the request's fields first, then the AWS conventions (environment
//! variables, then the shared `credentials` and `config` files of the profile).
//!
//! The environment is passed in as a lookup function, so resolution is testable without touching
//! the process environment.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::connection::{Addressing, Connection, Secret};
pub use crate::cred_cache::Provider;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::profile::{self, Files};
use crate::providers::{self, Source, Sso};
use crate::sts::Role;

pub(crate) const DEFAULT_REGION: &str = "us-east-1";
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_mins(1);

/// Everything needed to reach S3, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub region: String,
    pub endpoint: Endpoint,
    pub addressing: Addressing,
    pub credentials: Provider,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) retry: crate::retry::Policy,
    pub checksums: crate::checksum::Integrity,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they came from, for logs: `connection`, `environment`, `profile NAME`, ...
    pub source: String,
    /// When temporary credentials stop working (`None`: keys that do not expire).
    pub expiry: Option<SystemTime>,
}

impl Credentials {
    /// Keys given outright (no expiry).
    pub fn fixed(
        access_key_id: &str,
        secret: Secret,
        session_token: Option<Secret>,
        source: &str,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret,
            session_token,
            source: source.to_string(),
            expiry: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "******"),
            )
            .field("source", &self.source)
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// Reads the process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What resolution looks things up in: the environment, and the shared files read on first
/// use (a connection that gives keys and region needs neither file).
pub(crate) struct Lookup<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    files: OnceCell<Files>,
    region: String,
    /// The connection's `sts_endpoint`.
    sts_endpoint: Option<String>,
}

impl Lookup<'_> {
    pub(crate) fn files(&self) -> &Files {
        self.files.get_or_init(|| Files::read(self.env))
    }

    fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    pub(crate) fn environment_keys(&self) -> Option<Credentials> {
        Some(Credentials::fixed(
            &self.env("AWS_ACCESS_KEY_ID")?,
            Secret::new(self.env("AWS_SECRET_ACCESS_KEY")?),
            self.env("AWS_SESSION_TOKEN").map(Secret::new),
            "environment",
        ))
    }

    /// STS: the connection's `sts_endpoint`, `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, then
    /// the region's own endpoint. The URL is not echoed (it may carry credentials).
    fn sts(&self) -> Result<Endpoint, Error> {
        if let Some(url) = &self.sts_endpoint {
            return Endpoint::parse(url).map_err(|m| {
                Error::invalid_at("/connection/sts_endpoint", format!("endpoint URL {m}"))
            });
        }
        match self
            .env("AWS_ENDPOINT_URL_STS")
            .or_else(|| self.env("AWS_ENDPOINT_URL"))
        {
            Some(url) => Endpoint::parse(&url).map_err(|m| {
                providers::invalid(format!("AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) {m}"))
            }),
            None => Endpoint::parse(&format!("https://sts.{}.amazonaws.com", self.region))
                .map_err(|m| providers::invalid(format!("the region's STS endpoint {m}"))),
        }
    }

    pub(crate) fn web_identity(
        &self,
        token_file: PathBuf,
        role: Role,
        label: String,
    ) -> Result<Source, Error> {
        Ok(Source::WebIdentity {
            token_file,
            role,
            sts: self.sts()?,
            label,
        })
    }

    pub(crate) fn assume_role(
        &self,
        base: Source,
        role: Role,
        label: &str,
    ) -> Result<Source, Error> {
        Ok(Source::AssumeRole {
            label: format!("{label} {} (base: {})", role.arn, base.label()),
            base: Box::new(base),
            role,
            sts: self.sts()?,
            region: self.region.clone(),
        })
    }

    pub(crate) fn sso(&self, sso: Sso) -> Source {
        let portal = self
            .env("AWS_ENDPOINT_URL_SSO")
            .or_else(|| self.env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://portal.sso.{}.amazonaws.com", sso.region));
        Source::Sso {
            sso,
            portal,
            cache_dir: self
                .env("HOME")
                .map(|h| PathBuf::from(h).join(".aws/sso/cache")),
        }
    }

    /// ECS and EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (to the ECS agent)
    /// or `_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `_TOKEN`.
    pub(crate) fn container(&self) -> Result<Option<Source>, Error> {
        let url = if let Some(relative) = self.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            format!("http://169.254.170.2{relative}")
        } else if let Some(full) = self.env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            providers::check_container_url(&full)?;
            full
        } else {
            return Ok(None);
        };
        Ok(Some(Source::Container {
            url,
            token: self
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                .map(Secret::new),
            token_file: self
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .map(PathBuf::from),
        }))
    }

    /// `IMDSv2` at `AWS_EC2_METADATA_SERVICE_ENDPOINT`, or the IPv4 or IPv6 address
    /// (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`).
    pub(crate) fn imds(&self) -> Source {
        self.imds_after(None)
    }

    /// IMDS as the chain's end: `looked` says where nothing was found. An endpoint named by
    /// the environment is meant to be there, so its silence is no "no credentials".
    fn imds_after(&self, looked: Option<String>) -> Source {
        let last_resort =
            looked.filter(|_| self.env("AWS_EC2_METADATA_SERVICE_ENDPOINT").is_none());
        let endpoint = self
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| {
                match self
                    .env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
                    .as_deref()
                {
                    Some(m) if m.eq_ignore_ascii_case("ipv6") => "http://[fd00:ec2::254]".into(),
                    _ => "http://169.254.169.254".into(),
                }
            });
        Source::Imds {
            endpoint,
            last_resort,
        }
    }

    fn imds_disabled(&self) -> bool {
        self.env("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// The credential chain, in the SDKs' order (`docs/credentials.md`): the connection's keys, a
/// profile the connection names, the environment's keys, web identity, the profile of
/// `AWS_PROFILE` (or `default`), container credentials, then instance metadata.
fn base_source(conn: &Connection, lookup: &Lookup<'_>, profile: &str) -> Result<Source, Error> {
    match (&conn.access_key_id, &conn.secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(Source::Static(Credentials::fixed(
                id,
                secret.clone(),
                conn.session_token.clone(),
                "connection",
            )))
        }
        (Some(_), None) | (None, Some(_)) => {
            let missing = if conn.access_key_id.is_none() {
                "access_key_id"
            } else {
                "secret_access_key"
            };
            return Err(Error::invalid_at(
                format!("/connection/{missing}"),
                "is required when the other half of the key pair is given",
            ));
        }
        (None, None) if conn.session_token.is_some() => {
            return Err(Error::invalid_at(
                "/connection/access_key_id",
                "and secret_access_key are required with session_token",
            ));
        }
        (None, None) => {}
    }
    let named = conn.profile.is_some() || lookup.env("AWS_PROFILE").is_some();
    let from_profile = |lookup: &Lookup<'_>| -> Result<Source, Error> {
        profile::source(lookup, profile)?.ok_or_else(|| {
            let what = if lookup.files().profile(profile).is_some() {
                "gives no credentials"
            } else {
                "is not"
            };
            providers::error(
                "NoCredentials",
                true,
                format!(
                    "profile `{profile}` {what} in {}",
                    lookup.files().describe()
                ),
            )
        })
    };
    if conn.profile.is_some() {
        return from_profile(lookup);
    }
    if let Some(keys) = lookup.environment_keys() {
        return Ok(Source::Static(keys));
    }
    if let Some(token_file) = lookup.env("AWS_WEB_IDENTITY_TOKEN_FILE") {
        let arn = lookup.env("AWS_ROLE_ARN").ok_or_else(|| {
            providers::invalid("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        })?;
        let role = Role {
            arn,
            session_name: lookup
                .env("AWS_ROLE_SESSION_NAME")
                .unwrap_or_else(crate::sts::default_session_name),
            external_id: None,
            duration_seconds: None,
        };
        return lookup.web_identity(
            token_file.into(),
            role,
            "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into(),
        );
    }
    if named {
        return from_profile(lookup);
    }
    if let Some(found) = profile::source(lookup, profile)? {
        return Ok(found);
    }
    if let Some(container) = lookup.container()? {
        return Ok(container);
    }
    let looked = format!(
        "none in the connection, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set, no \
         AWS_WEB_IDENTITY_TOKEN_FILE, nothing in profile `{profile}` of {}, no \
         AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI",
        lookup.files().describe()
    );
    if !lookup.imds_disabled() {
        return Ok(lookup.imds_after(Some(looked)));
    }
    Err(providers::error(
        "NoCredentials",
        true,
        format!(
            "no credentials found: {looked}, and instance metadata is off \
             (AWS_EC2_METADATA_DISABLED); give keys or a role in the connection, or see \
             docs/credentials.md"
        ),
    ))
}

/// The connection's credentials: the chain's, and the connection's role assumed over them.
fn credential_source(
    conn: &Connection,
    lookup: &Lookup<'_>,
    profile: &str,
) -> Result<Source, Error> {
    let base = base_source(conn, lookup, profile)?;
    let Some(arn) = &conn.role_arn else {
        return Ok(base);
    };
    let role = Role {
        arn: arn.clone(),
        session_name: conn
            .role_session_name
            .clone()
            .unwrap_or_else(crate::sts::default_session_name),
        external_id: conn.external_id.clone(),
        duration_seconds: conn.duration_seconds,
    };
    lookup.assume_role(base, role, "role")
}

/// Values from the environment and profile files are checked like the connection's own: a
/// region becomes part of a host name, keys become header values.
fn check_region(region: &str) -> Result<(), Error> {
    if region.is_empty()
        || region.len() > 64
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::invalid_at(
            "/connection/region",
            "must be letters, digits, `-` or `_` (e.g. us-east-1)",
        ));
    }
    Ok(())
}

fn check_keys(credentials: &Credentials) -> Result<(), Error> {
    let visible = |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if !visible(&credentials.access_key_id) {
        return Err(Error::invalid_at(
            "/connection/access_key_id",
            "must be printable ASCII without spaces",
        ));
    }
    if credentials
        .session_token
        .as_ref()
        .is_some_and(|t| !visible(t.expose()))
    {
        return Err(Error::invalid_at(
            "/connection/session_token",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

pub fn resolve(conn: &Connection, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, Error> {
    let profile_name = conn
        .profile
        .clone()
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let mut lookup = Lookup {
        env,
        files: OnceCell::new(),
        region: String::new(),
        sts_endpoint: conn.sts_endpoint.clone(),
    };
    let region = conn
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| lookup.files().profile(&profile_name)?.get("region"))
        .unwrap_or_else(|| DEFAULT_REGION.into());
    check_region(&region)?;
    lookup.region.clone_from(&region);
    let source = credential_source(conn, &lookup, &profile_name)?;
    if let Source::Static(c) = &source {
        check_keys(c)?;
    }
    let pointer = "/connection/endpoint";
    let endpoint_url = conn
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")));
    let endpoint = match endpoint_url {
        // The URL is not echoed: it may carry credentials (`http://user:password@host`).
        Some(url) => Endpoint::parse(&url)
            .map_err(|m| Error::invalid_at(pointer, format!("endpoint URL {m}")))?,
        None => Endpoint::aws(&region),
    };
    let secs = |v: Option<f64>| v.map(Duration::from_secs_f64);
    Ok(Resolved {
        region,
        endpoint,
        addressing: conn.addressing.unwrap_or_default(),
        credentials: Provider::of(source),
        connect_timeout: secs(conn.connect_timeout_seconds).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        read_timeout: secs(conn.read_timeout_seconds).unwrap_or(DEFAULT_READ_TIMEOUT),
        overall_timeout: secs(conn.timeout_seconds),
        retry: crate::retry::Policy {
            max_attempts: conn
                .max_attempts
                .unwrap_or(crate::retry::DEFAULT_MAX_ATTEMPTS),
        },
        checksums: crate::checksum::Integrity::of(
            conn.checksums.unwrap_or(true),
            conn.checksum_algorithm.unwrap_or_default(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys(r: &Resolved) -> &Credentials {
        r.credentials.fixed().expect("keys given outright")
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn connection_wins_over_environment() {
        let conn = Connection {
            access_key_id: Some("AKIDCONN".into()),
            secret_access_key: Some(Secret::new("s")),
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let r = resolve(
            &conn,
            &env_of(&[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("AWS_REGION", "us-west-2"),
            ]),
        )
        .unwrap();
        assert_eq!(keys(&r).access_key_id, "AKIDCONN");
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.endpoint.host, "s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn environment_then_profile_files() {
        let r = resolve(
            &Connection::default(),
            &env_of(&[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("AWS_DEFAULT_REGION", "ap-south-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (keys(&r).source.as_str(), r.region.as_str()),
            ("environment", "ap-south-1")
        );
        assert_eq!(r.endpoint.port, Some(1));

        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(&creds, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = W\n").unwrap();
        std::fs::write(&config, "[profile work]\nregion = eu-north-1\n").unwrap();
        let c = creds.to_str().unwrap();
        let g = config.to_str().unwrap();
        let r = resolve(
            &Connection::default(),
            &env_of(&[
                ("AWS_SHARED_CREDENTIALS_FILE", c),
                ("AWS_CONFIG_FILE", g),
                ("AWS_PROFILE", "work"),
            ]),
        )
        .unwrap();
        assert_eq!(keys(&r).access_key_id, "AKIDWORK");
        assert_eq!(keys(&r).source, "profile work");
        assert_eq!(r.region, "eu-north-1");
    }

    #[test]
    fn no_credentials_is_a_clear_error_and_instance_metadata_the_last_resort() {
        let r = resolve(&Connection::default(), &env_of(&[])).unwrap();
        assert_eq!(r.credentials.label(), "EC2 instance metadata (IMDSv2)");
        let e = resolve(
            &Connection::default(),
            &env_of(&[("AWS_EC2_METADATA_DISABLED", "true")]),
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (crate::error::ErrorKind::Credentials, Some("NoCredentials"))
        );
        assert_eq!(e.exit_code(), 1);
        assert!(e.message.contains("no credentials found"), "{}", e.message);
        let half = Connection {
            access_key_id: Some("A".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&half, &env_of(&[])).unwrap_err().details[0].pointer,
            "/connection/secret_access_key"
        );
    }

    /// Shared files in a temporary HOME, and the label of the source the chain picks.
    fn chain(
        config: &str,
        credentials: &str,
        conn: &Connection,
        env: &[(&str, &str)],
    ) -> Result<String, Error> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/config"), config).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
        let home = dir.path().to_str().unwrap().to_string();
        let mut all = vec![
            ("HOME", home.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        all.extend_from_slice(env);
        resolve(conn, &env_of(&all)).map(|r| r.credentials.label())
    }

    #[test]
    fn the_chain_goes_in_the_sdks_order() {
        let none = Connection::default();
        let env_keys = [
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ];
        let web = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/w"),
        ];
        let container = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:1/creds",
        )];
        let profile = "[default]\ncredential_process = echo\n";
        // Environment keys before web identity, web identity before the profile, the profile
        // before the container, the container before instance metadata.
        let all: Vec<_> = [&env_keys[..], &web, &container].concat();
        assert_eq!(chain(profile, "", &none, &all).unwrap(), "environment");
        let rest: Vec<_> = [&web[..], &container].concat();
        assert_eq!(
            chain(profile, "", &none, &rest).unwrap(),
            "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
        );
        assert_eq!(
            chain(profile, "", &none, &container).unwrap(),
            "profile default: credential_process"
        );
        assert_eq!(
            chain("", "", &none, &container).unwrap(),
            "container credentials (ECS / EKS Pod Identity)"
        );
        // A profile the connection names comes before the environment.
        let named = Connection {
            profile: Some("default".into()),
            ..Default::default()
        };
        assert_eq!(
            chain(profile, "", &named, &env_keys).unwrap(),
            "profile default: credential_process"
        );
        // A role in the connection is assumed over whatever was found.
        let role = Connection {
            role_arn: Some("arn:aws:iam::1:role/etl".into()),
            ..Default::default()
        };
        assert_eq!(
            chain("", "", &role, &env_keys).unwrap(),
            "role arn:aws:iam::1:role/etl (base: environment)"
        );
    }

    #[test]
    fn a_role_without_a_session_name_is_one_source_per_process() {
        let config = "[profile base]\naws_access_key_id = A\naws_secret_access_key = b\n\
            [profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = base\n";
        let debug = || {
            let home = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(home.path().join(".aws")).unwrap();
            std::fs::write(home.path().join(".aws/config"), config).unwrap();
            let h = home.path().to_str().unwrap().to_string();
            let r = resolve(
                &Connection::default(),
                &env_of(&[("HOME", &h), ("AWS_PROFILE", "dev")]),
            )
            .unwrap();
            let role = Connection {
                role_arn: Some("arn:aws:iam::1:role/etl".into()),
                ..Default::default()
            };
            let c = resolve(
                &role,
                &env_of(&[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "b")]),
            )
            .unwrap();
            (
                format!("{:?}", r.credentials),
                format!("{:?}", c.credentials),
            )
        };
        let first = debug();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(first, debug(), "the same session name, so the same cache");
        assert!(first.0.contains("s3-connector-"), "{}", first.0);
    }

    #[test]
    fn profiles_say_how_to_get_credentials() {
        let none = Connection::default();
        let config = "[profile base]\n\
            [profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = base\n\
            [profile chained]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = dev\n\
            [profile ec2]\nrole_arn = arn:aws:iam::1:role/e\ncredential_source = Ec2InstanceMetadata\n\
            [profile web]\nrole_arn = arn:aws:iam::1:role/w\nweb_identity_token_file = /t\n\
            [profile loop]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop2\n\
            [profile loop2]\nrole_arn = arn:aws:iam::1:role/l2\nsource_profile = loop\n\
            [profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = RW\n\
            [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
            [profile mfa]\nrole_arn = arn:aws:iam::1:role/m\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/x\n\
            [profile bad]\nrole_arn = arn:aws:iam::1:role/b\n";
        let creds = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = b\n";
        let label = |p: &str| chain(config, creds, &none, &[("AWS_PROFILE", p)]);
        assert_eq!(label("base").unwrap(), "profile base");
        assert_eq!(
            label("dev").unwrap(),
            "profile dev: role arn:aws:iam::1:role/dev (base: profile base)"
        );
        assert_eq!(
            label("chained").unwrap(),
            "profile chained: role arn:aws:iam::1:role/c (base: profile dev: role arn:aws:iam::1:role/dev (base: profile base))"
        );
        assert_eq!(
            label("ec2").unwrap(),
            "profile ec2: role arn:aws:iam::1:role/e (base: EC2 instance metadata (IMDSv2))"
        );
        assert_eq!(label("web").unwrap(), "profile web: web identity");
        assert_eq!(label("sso").unwrap(), "profile sso: SSO");
        for (bad, says) in [
            ("loop", "loops"),
            ("mfa", "mfa_serial"),
            ("bad", "needs source_profile"),
            ("nope", "is not in"),
        ] {
            let e = label(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Credentials, "{bad}");
            assert!(e.message.contains(says), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let r = resolve(
            &Connection::default(),
            &env_of(&[
                ("AWS_ACCESS_KEY_ID", "A"),
                ("AWS_SECRET_ACCESS_KEY", "canary-s"),
                ("AWS_SESSION_TOKEN", "canary-t"),
            ]),
        )
        .unwrap();
        let s = format!("{r:?}");
        assert!(!s.contains("canary"), "{s}");
    }

    /// An environment that records in `asked` every variable looked up.
    fn recording<'a>(
        pairs: &[(&str, &str)],
        asked: &'a std::cell::RefCell<Vec<String>>,
    ) -> impl Fn(&str) -> Option<String> + 'a {
        let inner = env_of(pairs);
        move |k: &str| {
            asked.borrow_mut().push(k.to_string());
            inner(k)
        }
    }

    #[test]
    fn profile_files_are_not_read_when_nothing_comes_from_them() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(&creds, "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = F\nregion = eu-north-1\n").unwrap();
        let files = [
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ];
        let from_connection = Connection {
            access_key_id: Some("AKIDCONN".into()),
            secret_access_key: Some(Secret::new("s")),
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let from_environment = [
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_REGION", "us-west-2"),
        ];
        for (conn, extra) in [
            (&from_connection, &[][..]),
            (&Connection::default(), &from_environment[..]),
        ] {
            let asked = std::cell::RefCell::new(Vec::new());
            let r = resolve(conn, &recording(&[&files[..], extra].concat(), &asked)).unwrap();
            assert_ne!(keys(&r).access_key_id, "AKIDFILE");
            let asked = asked.borrow();
            for var in ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "HOME"] {
                assert!(
                    !asked.iter().any(|a| a == var),
                    "{var} looked up: {asked:?}"
                );
            }
        }
        // Nothing was cached for these paths either: the file's current content is read when a
        // value is needed from it (the region here).
        std::fs::write(&creds, "[default]\nregion = ap-south-2\n").unwrap();
        let keys_only = Connection {
            region: None,
            ..from_connection.clone()
        };
        let r = resolve(&keys_only, &env_of(&files)).unwrap();
        assert_eq!(
            (keys(&r).source.as_str(), r.region.as_str()),
            ("connection", "ap-south-2")
        );
    }

    #[test]
    fn shared_files_are_read_once_per_path() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let missing = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = FIRST\naws_secret_access_key = F\n",
        )
        .unwrap();
        let env = env_of(&[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", missing.to_str().unwrap()),
        ]);
        let first = resolve(&Connection::default(), &env).unwrap();
        assert_eq!(keys(&first).access_key_id, "FIRST");
        // Changed, and the missing one created: the process keeps what it read first.
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = SECOND\naws_secret_access_key = S\n",
        )
        .unwrap();
        std::fs::write(&missing, "[default]\nregion = eu-central-1\n").unwrap();
        let again = resolve(&Connection::default(), &env).unwrap();
        assert_eq!(keys(&again).access_key_id, "FIRST");
        assert_eq!(again.region, DEFAULT_REGION);
        let read = crate::profile::read_sections(&creds).unwrap();
        assert_eq!(read["default"]["aws_access_key_id"], "FIRST");
        assert!(crate::profile::read_sections(&missing).is_none());
        // Another path is read on its own.
        let other = dir.path().join("other");
        std::fs::write(
            &other,
            "[default]\naws_access_key_id = OTHER\naws_secret_access_key = O\n",
        )
        .unwrap();
        let r = resolve(
            &Connection::default(),
            &env_of(&[("AWS_SHARED_CREDENTIALS_FILE", other.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(keys(&r).access_key_id, "OTHER");
    }
}
