//! IAM Identity Center (SSO) credentials: the access token `aws sso login` cached, then the SSO
//! portal's `GetRoleCredentials` (IAM Identity Center Portal API Reference).
//!
//! The token file is `~/.aws/sso/cache/<SHA-1 of the session name, or of the start URL for
//! legacy profiles, in hex>.json`, with `accessToken` and `expiresAt`. An expired or missing
//! token is the error `SsoTokenExpired`: a person must log in again; nothing here does.

use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::connection::Secret;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::providers::{self, error, Sso};

/// The cached token's file name.
pub(crate) fn cache_file_name(token_key: &str) -> String {
    format!("{}.json", hex::encode(Sha1::digest(token_key.as_bytes())))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedToken {
    access_token: Secret,
    expires_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    /// Milliseconds since 1970.
    expiration: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    role_credentials: RoleCredentials,
}

fn login_hint(sso: &Sso) -> String {
    match &sso.session {
        Some(s) => format!("run `aws sso login --sso-session {s}`"),
        None => format!("run `aws sso login --profile {}`", sso.profile),
    }
}

pub(crate) async fn fetch(
    sso: &Sso,
    portal: &str,
    cache_dir: Option<&Path>,
) -> Result<Credentials, Error> {
    let expired = |why: &str| {
        error(
            "SsoTokenExpired",
            true,
            format!("profile {}: {why}; {}", sso.profile, login_hint(sso)),
        )
    };
    let Some(dir) = cache_dir else {
        return Err(expired("no SSO token cache (HOME is not set)"));
    };
    let path = dir.join(cache_file_name(&sso.token_key));
    let Ok(text) = tokio::fs::read(&path).await else {
        return Err(expired(&format!(
            "no cached SSO token at {}",
            path.display()
        )));
    };
    let token: CachedToken = serde_json::from_slice(&text).map_err(|_| {
        providers::invalid(format!(
            "the SSO token cache file {} cannot be read",
            path.display()
        ))
    })?;
    let stamp = token.expires_at.replace("UTC", "Z");
    let valid_until = crate::timefmt::parse_rfc3339(&stamp).ok_or_else(|| {
        providers::invalid(format!("{}: expiresAt is not a time", path.display()))
    })?;
    if crate::sts::epoch(valid_until) <= SystemTime::now() {
        return Err(expired("the SSO session has expired"));
    }
    let url = format!(
        "{}/federation/credentials?account_id={}&role_name={}",
        portal.trim_end_matches('/'),
        crate::endpoint::encode_query(&sso.account_id),
        crate::endpoint::encode_query(&sso.role_name),
    );
    let mut req = providers::get(&url);
    req.headers.push((
        "x-amz-sso_bearer_token".into(),
        token.access_token.expose().to_string(),
    ));
    let (status, body) = providers::call(req, std::time::Duration::from_secs(10))
        .await
        .map_err(|e| {
            error(
                "CredentialsUnreachable",
                false,
                format!("the SSO portal could not be reached: {}", e.full_message()),
            )
        })?;
    let label = format!("profile {}: SSO", sso.profile);
    match status {
        200..=299 => {
            let r: Reply = serde_json::from_slice(&body).map_err(|_| {
                providers::invalid("the SSO portal answered something that is not role credentials")
            })?;
            let c = r.role_credentials;
            Ok(Credentials {
                access_key_id: c.access_key_id,
                secret_access_key: c.secret_access_key,
                session_token: Some(c.session_token),
                source: label,
                expiry: Some(crate::sts::epoch(c.expiration / 1000)),
            })
        }
        401 => Err(expired("the SSO portal no longer accepts the cached token")),
        s if s >= 500 || s == 429 => Err(error(
            "CredentialsUnreachable",
            false,
            format!("the SSO portal answered status {s}"),
        )),
        s => Err(error(
            "CredentialsRefused",
            true,
            format!(
                "the SSO portal refused role {} in account {} (status {s})",
                sso.role_name, sso.account_id
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_file_is_named_by_sha1() {
        // As botocore names it: `hashlib.sha1(b"my-sso").hexdigest()`.
        assert_eq!(
            super::cache_file_name("my-sso"),
            format!("{}.json", "0ad374308c5a4e22f723adf10145eafad7c4031c")
        );
    }
}
