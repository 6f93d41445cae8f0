//! The shared `config` and `credentials` files (AWS SDKs and Tools Reference Guide, "Shared
//! config and credentials files"), and what one profile of them says about credentials.
//!
//! Files are parsed at most once per process and path: `serve` resolves a connection for every
//! request, on the async runtime, where a file read blocks a worker thread.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::connection::Secret;
use crate::credentials::{Credentials, Lookup};
use crate::error::Error;
use crate::providers::{self, Source};
use crate::sts::Role;

/// `[section]` → its `key = value` pairs (keys lowercased).
pub(crate) type Sections = HashMap<String, HashMap<String, String>>;

/// The two files, as far as they exist.
#[derive(Default)]
pub(crate) struct Files {
    credentials: Option<Arc<Sections>>,
    config: Option<Arc<Sections>>,
    /// Where they were looked for, for error messages.
    pub(crate) paths: [Option<PathBuf>; 2],
}

impl Files {
    pub(crate) fn read(env: &dyn Fn(&str) -> Option<String>) -> Files {
        let home = env("HOME").map(PathBuf::from);
        let file = |var: &str, default: &str| {
            env(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config = file("AWS_CONFIG_FILE", "config");
        Files {
            credentials: credentials.as_deref().and_then(read_sections),
            config: config.as_deref().and_then(read_sections),
            paths: [credentials, config],
        }
    }

    /// One profile: its section of the credentials file, then of the config file (`[default]`
    /// or `[profile default]`, `[profile NAME]`). `None` when neither file has it.
    pub(crate) fn profile(&self, name: &str) -> Option<Profile<'_>> {
        let from_credentials = self.credentials.as_ref().and_then(|s| s.get(name));
        let from_config = self.config.as_ref().and_then(|s| {
            s.get(&format!("profile {name}"))
                .or_else(|| (name == "default").then(|| s.get("default")).flatten())
        });
        if from_credentials.is_none() && from_config.is_none() {
            return None;
        }
        Some(Profile {
            name: name.to_string(),
            sections: [from_credentials, from_config],
        })
    }

    /// An `[sso-session NAME]` section of the config file.
    fn sso_session(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.config.as_ref()?.get(&format!("sso-session {name}"))
    }

    pub(crate) fn describe(&self) -> String {
        let names: Vec<String> = self
            .paths
            .iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        if names.is_empty() {
            "no shared files (HOME is not set)".into()
        } else {
            names.join(" and ")
        }
    }
}

/// One profile's keys: the credentials file's first, then the config file's.
pub(crate) struct Profile<'a> {
    pub(crate) name: String,
    sections: [Option<&'a HashMap<String, String>>; 2],
}

impl Profile<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.sections
            .iter()
            .flatten()
            .find_map(|s| s.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    }

    fn static_keys(&self) -> Option<Credentials> {
        Some(Credentials::fixed(
            &self.get("aws_access_key_id")?,
            Secret::new(self.get("aws_secret_access_key")?),
            self.get("aws_session_token").map(Secret::new),
            &format!("profile {}", self.name),
        ))
    }
}

/// What profile `name` says about credentials, in the SDKs' order within a profile: a role to
/// assume (`role_arn` with `source_profile`, `credential_source` or `web_identity_token_file`),
/// SSO, static keys, then `credential_process`. `Ok(None)` when the profile says nothing.
pub(crate) fn source(lookup: &Lookup<'_>, name: &str) -> Result<Option<Source>, Error> {
    source_of(lookup, name, &mut HashSet::new())
}

fn source_of(
    lookup: &Lookup<'_>,
    name: &str,
    visited: &mut HashSet<String>,
) -> Result<Option<Source>, Error> {
    let files = lookup.files();
    let Some(p) = files.profile(name) else {
        return Ok(None);
    };
    if !visited.insert(name.to_string()) {
        return Err(providers::invalid(format!(
            "profile `{name}`: source_profile loops back to it"
        )));
    }
    if let Some(arn) = p.get("role_arn") {
        return role_source(lookup, &p, arn, visited).map(Some);
    }
    if p.get("web_identity_token_file").is_some() {
        return Err(providers::invalid(format!(
            "profile `{name}`: web_identity_token_file needs role_arn"
        )));
    }
    if let Some(sso) = sso_source(lookup, &p)? {
        return Ok(Some(sso));
    }
    if let Some(keys) = p.static_keys() {
        return Ok(Some(Source::Static(keys)));
    }
    if let Some(command) = p.get("credential_process") {
        return Ok(Some(Source::Process {
            command,
            label: format!("profile {name}: credential_process"),
        }));
    }
    Ok(None)
}

fn role_source(
    lookup: &Lookup<'_>,
    p: &Profile<'_>,
    arn: String,
    visited: &mut HashSet<String>,
) -> Result<Source, Error> {
    let name = &p.name;
    let duration_seconds = match p.get("duration_seconds") {
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            providers::invalid(format!(
                "profile `{name}`: duration_seconds is not a number"
            ))
        })?),
        None => None,
    };
    if p.get("mfa_serial").is_some() {
        return Err(providers::invalid(format!(
            "profile `{name}`: roles that need an MFA code (mfa_serial) cannot be assumed by an \
             unattended step; use a profile without it"
        )));
    }
    let role = Role {
        arn,
        session_name: p
            .get("role_session_name")
            .unwrap_or_else(crate::sts::default_session_name),
        external_id: p.get("external_id"),
        duration_seconds,
    };
    if let Some(token_file) = p.get("web_identity_token_file") {
        return lookup.web_identity(
            PathBuf::from(token_file),
            role,
            format!("profile {name}: web identity"),
        );
    }
    let base = if let Some(source_profile) = p.get("source_profile") {
        let static_keys = lookup
            .files()
            .profile(&source_profile)
            .and_then(|s| s.static_keys());
        match static_keys {
            // Static keys end the chain, even in a profile that also names a role (the SDKs' rule).
            Some(keys) => Source::Static(keys),
            None if source_profile == *name => {
                return Err(providers::invalid(format!(
                    "profile `{name}` is its own source_profile but has no keys"
                )))
            }
            None => source_of(lookup, &source_profile, visited)?.ok_or_else(|| {
                providers::invalid(format!(
                    "profile `{name}`: source_profile `{source_profile}` gives no credentials"
                ))
            })?,
        }
    } else if let Some(from) = p.get("credential_source") {
        match from.as_str() {
            "Environment" => Source::Static(lookup.environment_keys().ok_or_else(|| {
                providers::invalid(format!(
                    "profile `{name}`: credential_source Environment, but AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY are not set"
                ))
            })?),
            "Ec2InstanceMetadata" => lookup.imds(),
            "EcsContainer" => lookup.container()?.ok_or_else(|| {
                providers::invalid(format!(
                    "profile `{name}`: credential_source EcsContainer, but neither \
                     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI is set"
                ))
            })?,
            other => {
                return Err(providers::invalid(format!(
                    "profile `{name}`: credential_source `{other}` is not one of Environment, \
                     Ec2InstanceMetadata, EcsContainer"
                )))
            }
        }
    } else {
        return Err(providers::invalid(format!(
            "profile `{name}`: role_arn needs source_profile, credential_source or \
             web_identity_token_file"
        )));
    };
    lookup.assume_role(base, role, &format!("profile {name}: role"))
}

/// IAM Identity Center: `sso_session` (with its `[sso-session]` section) or the legacy keys in
/// the profile itself.
fn sso_source(lookup: &Lookup<'_>, p: &Profile<'_>) -> Result<Option<Source>, Error> {
    let name = &p.name;
    let (session, start_url, sso_region) = match p.get("sso_session") {
        Some(session) => {
            let Some(section) = lookup.files().sso_session(&session) else {
                return Err(providers::invalid(format!(
                    "profile `{name}`: sso_session `{session}` has no [sso-session {session}] \
                     section in the config file"
                )));
            };
            let get = |k: &str| section.get(k).filter(|v| !v.is_empty()).cloned();
            (
                Some(session.clone()),
                get("sso_start_url"),
                get("sso_region"),
            )
        }
        None => match p.get("sso_start_url") {
            Some(url) => (None, Some(url), p.get("sso_region")),
            None => return Ok(None),
        },
    };
    let missing = |what: &str| providers::invalid(format!("profile `{name}`: SSO needs {what}"));
    let start_url = start_url.ok_or_else(|| missing("sso_start_url"))?;
    let sso_region = sso_region.ok_or_else(|| missing("sso_region"))?;
    let account_id = p
        .get("sso_account_id")
        .ok_or_else(|| missing("sso_account_id"))?;
    let role_name = p
        .get("sso_role_name")
        .ok_or_else(|| missing("sso_role_name"))?;
    Ok(Some(lookup.sso(providers::Sso {
        token_key: session.clone().unwrap_or_else(|| start_url.clone()),
        session,
        region: sso_region,
        account_id,
        role_name,
        profile: name.clone(),
    })))
}

/// A shared file's sections, parsed at most once per process and path (`None` when it cannot
/// be read, remembered too).
pub(crate) fn read_sections(path: &Path) -> Option<Arc<Sections>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Option<Arc<Sections>>>>> = OnceLock::new();
    let mut files = FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    files
        .entry(path.to_path_buf())
        .or_insert_with(|| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| Arc::new(sections(&text)))
        })
        .clone()
}

/// Every `[section]` of an AWS shared config or credentials file. Comments start with `#` or
/// `;`; an indented line continues the previous value (as in `s3 =` sub-sections, which are
/// not read here).
fn sections(text: &str) -> Sections {
    let mut out = Sections::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            continue; // a nested value's continuation
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_with_their_prefixes() {
        let s = sections(
            "# c\n[default]\nregion = eu-west-1\n[profile  dev]\nrole_arn=arn:x\ns3 =\n  max_concurrent_requests = 2\n[sso-session corp]\nsso_region = eu-west-1\n",
        );
        assert_eq!(s["default"]["region"], "eu-west-1");
        assert_eq!(s["profile dev"]["role_arn"], "arn:x");
        assert!(!s["profile dev"].contains_key("max_concurrent_requests"));
        assert_eq!(s["sso-session corp"]["sso_region"], "eu-west-1");
    }
}
