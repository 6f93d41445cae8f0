//! Resolving a connection: the request's fields first, then the AWS conventions (environment
//! variables, then the shared `credentials` and `config` files of the profile).
//!
//! The environment is passed in as a lookup function, so resolution is testable without touching
//! the process environment.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::connection::{Addressing, Connection, Secret};
use crate::endpoint::Endpoint;
use crate::error::{Detail, Error};

pub(crate) const DEFAULT_REGION: &str = "us-east-1";
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_mins(1);

/// Everything needed to reach S3, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub region: String,
    pub endpoint: Endpoint,
    pub addressing: Addressing,
    pub credentials: Credentials,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) retry: crate::retry::Policy,
    pub checksums: bool,
}

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they came from, for logs: `connection`, `environment` or `profile NAME`.
    pub source: String,
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
            .finish()
    }
}

/// Reads the process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The key pair: from the connection, else the environment, else the profile.
fn key_pair(
    conn: &Connection,
    env: &dyn Fn(&str) -> Option<String>,
    profile: &Profile<'_>,
) -> Result<Credentials, Error> {
    Ok(match (&conn.access_key_id, &conn.secret_access_key) {
        (Some(id), Some(secret)) => Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: conn.session_token.clone(),
            source: "connection".into(),
        },
        (Some(_), None) | (None, Some(_)) => {
            let missing = if conn.access_key_id.is_none() { "access_key_id" } else { "secret_access_key" };
            return Err(Error::invalid_at(
                format!("/connection/{missing}"),
                "is required when the other half of the key pair is given",
            ));
        }
        (None, None) => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
                source: "environment".into(),
            },
            _ => match (profile.get("aws_access_key_id"), profile.get("aws_secret_access_key")) {
                (Some(id), Some(secret)) => Credentials {
                    access_key_id: id,
                    secret_access_key: Secret::new(secret),
                    session_token: profile.get("aws_session_token").map(Secret::new),
                    source: format!("profile {}", profile.name),
                },
                _ => {
                    return Err(Error::invalid(vec![Detail {
                        pointer: "/connection/access_key_id".into(),
                        message: format!(
                            "no credentials found: give access_key_id and secret_access_key in the connection, \
                             set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to profile `{}` \
                             of the shared credentials file",
                            profile.name
                        ),
                    }]))
                }
            },
        },
    })
}

/// Values from the environment and profile files are checked like the connection's own: a
/// region becomes part of a host name, keys become header values.
fn check_resolved(region: &str, credentials: &Credentials) -> Result<(), Error> {
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
    // Read only when something must come from the profile: a connection (or environment) that
    // gives the keys and the region needs neither file.
    let profile = Profile {
        name: &profile_name,
        env,
        sections: OnceCell::new(),
    };
    let credentials = key_pair(conn, env, &profile)?;
    let region = conn
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile.get("region"))
        .unwrap_or_else(|| DEFAULT_REGION.into());
    let pointer = "/connection/endpoint";
    let endpoint_url = conn
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")));
    check_resolved(&region, &credentials)?;
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
        credentials,
        connect_timeout: secs(conn.connect_timeout_seconds).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        read_timeout: secs(conn.read_timeout_seconds).unwrap_or(DEFAULT_READ_TIMEOUT),
        overall_timeout: secs(conn.timeout_seconds),
        retry: crate::retry::Policy {
            max_attempts: conn
                .max_attempts
                .unwrap_or(crate::retry::DEFAULT_MAX_ATTEMPTS),
        },
        checksums: conn.checksums.unwrap_or(true),
    })
}

/// One profile's values in the shared credentials and config files, read on first use.
struct Profile<'a> {
    name: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The profile's section of the credentials file, then of the config file.
    sections: OnceCell<[HashMap<String, String>; 2]>,
}

impl Profile<'_> {
    /// `key` from the credentials file, else from the config file.
    fn get(&self, key: &str) -> Option<String> {
        let sections = self.sections.get_or_init(|| self.read());
        sections.iter().find_map(|s| s.get(key)).cloned()
    }

    fn read(&self) -> [HashMap<String, String>; 2] {
        let env = self.env;
        let home = env("HOME").map(PathBuf::from);
        let file = |var: &str, default: &str| {
            env(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let section = |path: Option<PathBuf>, name: &str| {
            path.and_then(|p| read_shared_file(&p))
                .map(|text| ini_section(&text, name))
                .unwrap_or_default()
        };
        let config_section = if self.name == "default" {
            "default".to_string()
        } else {
            format!("profile {}", self.name)
        };
        [
            section(
                file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
                self.name,
            ),
            section(file("AWS_CONFIG_FILE", "config"), &config_section),
        ]
    }
}

/// A shared credentials or config file's text, read at most once per process and path (`None`
/// when it cannot be read, remembered too): `serve` resolves a connection for every request, on
/// the async runtime, where a file read blocks a worker thread.
fn read_shared_file(path: &Path) -> Option<Arc<str>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Option<Arc<str>>>>> = OnceLock::new();
    let mut files = FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    files
        .entry(path.to_path_buf())
        .or_insert_with(|| std::fs::read_to_string(path).ok().map(Arc::from))
        .clone()
}

/// The `key = value` pairs of one `[section]` of an AWS shared config or credentials file.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(r.credentials.access_key_id, "AKIDCONN");
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
            (r.credentials.source.as_str(), r.region.as_str()),
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
        assert_eq!(r.credentials.access_key_id, "AKIDWORK");
        assert_eq!(r.credentials.source, "profile work");
        assert_eq!(r.region, "eu-north-1");
    }

    #[test]
    fn no_credentials_is_a_clear_invalid_request() {
        let e = resolve(&Connection::default(), &env_of(&[])).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.details[0].message.contains("no credentials found"));
        let half = Connection {
            access_key_id: Some("A".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&half, &env_of(&[])).unwrap_err().details[0].pointer,
            "/connection/secret_access_key"
        );
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
            assert_ne!(r.credentials.access_key_id, "AKIDFILE");
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
            (r.credentials.source.as_str(), r.region.as_str()),
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
        assert_eq!(first.credentials.access_key_id, "FIRST");
        // Changed, and the missing one created: the process keeps what it read first.
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = SECOND\naws_secret_access_key = S\n",
        )
        .unwrap();
        std::fs::write(&missing, "[default]\nregion = eu-central-1\n").unwrap();
        let again = resolve(&Connection::default(), &env).unwrap();
        assert_eq!(again.credentials.access_key_id, "FIRST");
        assert_eq!(again.region, DEFAULT_REGION);
        assert!(read_shared_file(&creds).unwrap().contains("FIRST"));
        assert!(read_shared_file(&missing).is_none());
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
        assert_eq!(r.credentials.access_key_id, "OTHER");
    }
}
