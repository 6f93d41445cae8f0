//! `SigV4` signing with aws-sigv4, set up for S3. Pure: the time is an argument.
//!
//! S3 differs from other AWS services in three settings (smithy-rs uses the same for S3):
//! the path is encoded once (not twice), never normalised (`a/../b` is a key, not a path), and
//! `x-amz-content-sha256` is sent and signed.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::credentials::Credentials;
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
        .name("s3")
        .time(time)
        .settings(s3_settings())
        .build()
        .map_err(|e| Error::of(Failure::Internal, "signing parameters").caused_by(e))?
        .into();
    let body = match &req.payload {
        Payload::Empty => SignableBody::Bytes(&[]),
        Payload::Bytes(b) => SignableBody::Bytes(b),
        Payload::File { .. } => SignableBody::UnsignedPayload,
    };
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
    let (headers, _params) = instructions.into_parts();
    for h in headers {
        req.headers
            .push((h.name().to_string(), h.value().to_string()));
    }
    Ok(())
}
