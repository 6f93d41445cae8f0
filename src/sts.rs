//! AWS STS, the two calls the credential chain makes: `AssumeRole` (signed with the base
//! credentials) and `AssumeRoleWithWebIdentity` (unsigned: the token is the proof). Pure: the
//! request is built here and sent by `providers.rs`; the reply is read here.
//!
//! Both are the Query protocol (STS API Reference, "Making Query Requests"): a form-encoded
//! `POST /` with `Action` and `Version=2011-06-15`; the reply is XML with the credentials under
//! `<Credentials>`, an error is `<ErrorResponse><Error><Code>…`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::connection::{Addressing, Secret};
use crate::credentials::Credentials;
use crate::endpoint::{encode_query, target, Endpoint};
use crate::request::{HttpRequest, Payload};

/// The role to assume and how: from the connection, or a profile's `role_arn` and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Role {
    pub(crate) arn: String,
    pub(crate) session_name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) duration_seconds: Option<u32>,
}

/// `AssumeRole`, to be signed with the base credentials (service `sts`).
pub(crate) fn assume_role(endpoint: &Endpoint, role: &Role) -> HttpRequest {
    let mut form = vec![
        ("Action", "AssumeRole".to_string()),
        ("Version", "2011-06-15".into()),
        ("RoleArn", role.arn.clone()),
        ("RoleSessionName", role.session_name.clone()),
    ];
    if let Some(id) = &role.external_id {
        form.push(("ExternalId", id.clone()));
    }
    if let Some(d) = role.duration_seconds {
        form.push(("DurationSeconds", d.to_string()));
    }
    post(endpoint, &form)
}

/// `AssumeRoleWithWebIdentity`, sent unsigned: the web identity token is the proof.
pub(crate) fn assume_role_with_web_identity(
    endpoint: &Endpoint,
    role: &Role,
    token: &Secret,
) -> HttpRequest {
    let mut form = vec![
        ("Action", "AssumeRoleWithWebIdentity".to_string()),
        ("Version", "2011-06-15".into()),
        ("RoleArn", role.arn.clone()),
        ("RoleSessionName", role.session_name.clone()),
        ("WebIdentityToken", token.expose().to_string()),
    ];
    if let Some(d) = role.duration_seconds {
        form.push(("DurationSeconds", d.to_string()));
    }
    post(endpoint, &form)
}

fn post(endpoint: &Endpoint, form: &[(&str, String)]) -> HttpRequest {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v)))
        .collect();
    let body = Bytes::from(body.join("&"));
    let t = target(endpoint, Addressing::Path, None, None);
    HttpRequest {
        method: "POST".into(),
        uri: format!("{}://{}{}", t.scheme, t.authority, t.path),
        headers: vec![
            ("host".into(), t.authority),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ),
            ("content-length".into(), body.len().to_string()),
        ],
        payload: Payload::Bytes(body),
    }
}

/// What STS answered: credentials, or its error `Code` and `Message` (never a secret: STS
/// does not echo tokens, and the message is only passed on for a refusal).
#[derive(Debug)]
pub(crate) enum Reply {
    Credentials(Credentials),
    Refused { code: String, message: String },
}

/// Reads STS's reply to either call; `None` when it is not STS's XML.
pub(crate) fn read_reply(status: u16, body: &[u8], source: &str) -> Option<Reply> {
    let root = crate::xml::parse(body).ok()?;
    if !(200..300).contains(&status) {
        // AWS: `ErrorResponse/Error`; moto: `ErrorResponse/Errors/Error`; some S3-compatibles
        // answer with S3's own root `<Error>`.
        let error = if root.name == "Error" {
            &root
        } else {
            root.child("Error")
                .or_else(|| root.child("Errors").and_then(|e| e.child("Error")))?
        };
        return Some(Reply::Refused {
            code: error.child_text("Code").unwrap_or("").to_string(),
            message: error.child_text("Message").unwrap_or("").to_string(),
        });
    }
    let result = root.children.iter().find(|c| c.name.ends_with("Result"))?;
    let c = result.child("Credentials")?;
    let expiry = crate::timefmt::parse_rfc3339(c.child_text("Expiration")?)?;
    Some(Reply::Credentials(Credentials {
        access_key_id: c.child_text("AccessKeyId")?.to_string(),
        secret_access_key: Secret::new(c.child_text("SecretAccessKey")?),
        session_token: Some(Secret::new(c.child_text("SessionToken")?)),
        source: source.to_string(),
        expiry: Some(epoch(expiry)),
    }))
}

/// A time from seconds since 1970 (times before it become 1970).
pub(crate) fn epoch(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// The session name when none is configured: `s3-connector-` and the process's start in
/// milliseconds, as the SDKs name theirs. One per process, so that every request of a `serve`
/// with the same role shares one source, and so one cache of its credentials.
pub(crate) fn default_session_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("s3-connector-{millis}")
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> Role {
        Role {
            arn: "arn:aws:iam::123456789012:role/demo".into(),
            session_name: "s 1".into(),
            external_id: Some("ext/1".into()),
            duration_seconds: Some(900),
        }
    }

    #[test]
    fn assume_role_is_a_form_post() {
        let r = assume_role(&Endpoint::parse("http://127.0.0.1:9").unwrap(), &role());
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("POST", "http://127.0.0.1:9/")
        );
        assert_eq!(r.header("host"), Some("127.0.0.1:9"));
        let Payload::Bytes(body) = &r.payload else {
            panic!()
        };
        assert_eq!(
            std::str::from_utf8(body).unwrap(),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo\
             &RoleSessionName=s%201&ExternalId=ext%2F1&DurationSeconds=900"
        );
    }

    #[test]
    fn replies_are_read() {
        let ok = br#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId>
          <SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>
          <Expiration>2026-12-02T16:00:00Z</Expiration></Credentials></AssumeRoleResult>
          </AssumeRoleResponse>"#;
        let Some(Reply::Credentials(c)) = read_reply(200, ok, "x") else {
            panic!()
        };
        assert_eq!(c.access_key_id, "ASIAX");
        assert_eq!(c.session_token.unwrap().expose(), "t");
        let no = br"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>
          <Message>not allowed</Message></Error></ErrorResponse>";
        let Some(Reply::Refused { code, message }) = read_reply(403, no, "x") else {
            panic!()
        };
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("AccessDenied", "not allowed")
        );
        for other in [
            &br"<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></Errors></ErrorResponse>"[..],
            br"<Error><Code>AccessDenied</Code><Message>not allowed</Message></Error>",
        ] {
            let Some(Reply::Refused { code, .. }) = read_reply(403, other, "x") else { panic!() };
            assert_eq!(code, "AccessDenied");
        }
        assert!(read_reply(500, b"oops", "x").is_none());
    }
}
