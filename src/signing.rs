//! `SigV4` signing with aws-sigv4, set up for S3. Pure: the time is an argument.
//!
//! S3 differs from other AWS services in three settings (smithy-rs uses the same for S3):
//! the path is encoded once (not twice), never normalised (`a/../b` is a key, not a path), and
//! `x-amz-content-sha256` is sent and signed.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::credentials::Credentials;
use crate::endpoint::encode_query;
use crate::error::{Error, Failure};
use crate::request::{HttpRequest, Payload};

pub(crate) fn s3_settings() -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    s
}

/// Signs `req` in place, adding `x-amz-date`, `x-amz-content-sha256`, the session token and
/// `authorization`. In-memory bodies are hashed; files are sent as `UNSIGNED-PAYLOAD` so that
/// they are read once, while streaming.
pub fn sign(
    req: &mut HttpRequest,
    creds: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), Error> {
    // A hash set when the request was prepared (`STREAMING-UNSIGNED-PAYLOAD-TRAILER` for an
    // `aws-chunked` body) is signed as it is; aws-sigv4 adds the header back.
    let preset = req
        .headers
        .iter()
        .position(|(n, _)| n == "x-amz-content-sha256")
        .map(|i| req.headers.remove(i).1);
    let body = match (&preset, &req.payload) {
        (Some(hash), _) => SignableBody::Precomputed(hash.clone()),
        (None, Payload::Empty) => SignableBody::Bytes(&[]),
        (None, Payload::Bytes(b)) => SignableBody::Bytes(b),
        (None, Payload::File { .. }) => SignableBody::UnsignedPayload,
    };
    let (headers, _params) = instructions(req, body, creds, (region, "s3"), time, s3_settings())?;
    req.headers.extend(headers);
    Ok(())
}

/// Signs a request to another AWS service (STS's `AssumeRole`) with the SDKs' default settings:
/// the body is hashed but no `x-amz-content-sha256` is sent.
pub(crate) fn sign_service(
    req: &mut HttpRequest,
    creds: &Credentials,
    (region, service): (&str, &str),
    time: SystemTime,
) -> Result<(), Error> {
    let body = match &req.payload {
        Payload::Bytes(b) => SignableBody::Bytes(b),
        _ => SignableBody::Bytes(&[]),
    };
    let settings = SigningSettings::default();
    let (headers, _params) = instructions(req, body, creds, (region, service), time, settings)?;
    req.headers.extend(headers);
    Ok(())
}

/// Signs `req` in its query string (`SigV4` query authentication, as S3 presigned URLs are):
/// the `X-Amz-*` parameters, the session token among them, are added to `req.uri`, valid for
/// `expires` from `time`. The payload is `UNSIGNED-PAYLOAD`: whoever holds the URL sends it.
/// The headers of `req` are signed (but those signers leave out of presigned URLs, such as
/// `x-amz-checksum-mode`), so the holder must send each with the same value: their names are
/// returned, `host` first.
pub fn presign(
    req: &mut HttpRequest,
    creds: &Credentials,
    region: &str,
    time: SystemTime,
    expires: Duration,
) -> Result<Vec<String>, Error> {
    let mut settings = s3_settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    let (_headers, params) = instructions(
        req,
        SignableBody::UnsignedPayload,
        creds,
        (region, "s3"),
        time,
        settings,
    )?;
    let signed = params
        .iter()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, names)| names.split(';').map(str::to_string).collect())
        .unwrap_or_default();
    let mut sep = if req.uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        req.uri.push(sep);
        req.uri.push_str(&encode_query(&name));
        req.uri.push('=');
        req.uri.push_str(&encode_query(&value));
        sep = '&';
    }
    Ok(signed)
}

/// What signing adds to `req`: headers, and query parameters (presigning).
type Added = (Vec<(String, String)>, Vec<(String, String)>);

fn instructions(
    req: &HttpRequest,
    body: SignableBody<'_>,
    creds: &Credentials,
    (region, service): (&str, &str),
    time: SystemTime,
    settings: SigningSettings,
) -> Result<Added, Error> {
    let identity: Identity = AwsCredentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "s3-connector",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error::of(Failure::Internal, "signing parameters").caused_by(e))?
        .into();
    let signable = SignableRequest::new(
        &req.method,
        req.uri.as_str(),
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .map_err(|e| Error::of(Failure::Internal, "request cannot be signed").caused_by(e))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| Error::of(Failure::Internal, "signing failed").caused_by(e))?
        .into_parts();
    let (headers, params) = instructions.into_parts();
    Ok((
        headers
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect(),
        params
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.into_owned()))
            .collect(),
    ))
}
