//! The connection object of a request envelope.
//!
//! Its JSON Schema (`schemas/connection.json`, embedded in the manifest) is derived from this
//! struct by the generator, which turns on the `schema` feature for the derive, so the two cannot
//! drift. Secrets are wrapped in [`Secret`], whose `Debug` prints `******`: redaction by type, not
//! by remembering.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the signer only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"******\"")
    }
}

/// How the bucket is placed in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    /// Virtual-hosted style for AWS endpoints and DNS-safe bucket names, path style otherwise
    /// (custom endpoints, names with dots or capitals).
    #[default]
    #[cfg_attr(feature = "schema", schemars(title = "Automatic"))]
    Auto,
    /// Always `https://endpoint/bucket/key`.
    #[cfg_attr(feature = "schema", schemars(title = "Path style"))]
    Path,
    /// Always `https://bucket.endpoint/key`.
    #[cfg_attr(feature = "schema", schemars(title = "Virtual-hosted style"))]
    Virtual,
}

/// Where and as whom to reach S3. Every field is optional: missing ones fall back to the AWS
/// conventions (environment variables, then the shared config and credentials files).
// The field docs are the connection form's descriptions, read by people: plain words, no backticks.
#[allow(clippy::doc_markdown)]
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(title = "S3 connection"))]
pub struct Connection {
    /// AWS region used for signing and for the default AWS endpoint. Falls back to `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, the profile's `region`, then `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Region", example = &"us-east-1", length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$")))]
    pub(crate) region: Option<String>,

    /// Custom endpoint URL for S3-compatible services, e.g. `http://127.0.0.1:9000`. Falls back to
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then the AWS endpoint of the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Endpoint URL", example = &"http://127.0.0.1:9000", extend("format" = "uri", "pattern" = "^https?://")))]
    pub(crate) endpoint: Option<String>,

    /// Access key ID. Falls back to `AWS_ACCESS_KEY_ID`, then the shared credentials file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            title = "Access key ID",
            length(min = 1, max = 256),
            regex(pattern = r"^[\x21-\x7E]+$")
        )
    )]
    pub(crate) access_key_id: Option<String>,

    /// Secret access key. Falls back to `AWS_SECRET_ACCESS_KEY`, then the shared credentials file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Secret access key", with = "String", length(min = 1), extend("writeOnly" = true, "format" = "password")))]
    pub(crate) secret_access_key: Option<Secret>,

    /// Session token for temporary credentials. Falls back to `AWS_SESSION_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Session token", with = "String", regex(pattern = r"^[\x21-\x7E]+$"), extend("writeOnly" = true, "format" = "password")))]
    pub(crate) session_token: Option<Secret>,

    /// Profile in the shared config and credentials files. Falls back to `AWS_PROFILE`, then
    /// `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Profile", length(min = 1)))]
    pub(crate) profile: Option<String>,

    /// A role to assume over the credentials found (STS AssumeRole), e.g.
    /// arn:aws:iam::123456789012:role/etl. Its temporary credentials are refreshed before they
    /// expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Role ARN", example = &"arn:aws:iam::123456789012:role/etl", length(min = 20, max = 2048), regex(pattern = r"^arn:[A-Za-z0-9_+=/,.@:-]+$")))]
    pub(crate) role_arn: Option<String>,

    /// The external ID the role's trust policy asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            title = "External ID",
            length(min = 2, max = 1224),
            regex(pattern = r"^[A-Za-z0-9_+=,.@:/-]+$")
        )
    )]
    pub(crate) external_id: Option<String>,

    /// Name of the role session, shown in CloudTrail. Default: s3-connector- and a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            title = "Role session name",
            length(min = 2, max = 64),
            regex(pattern = r"^[A-Za-z0-9_+=,.@-]+$")
        )
    )]
    pub(crate) role_session_name: Option<String>,

    /// Seconds the role's credentials last (900 to the role's maximum; STS's default is 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(title = "Role session duration (s)", range(min = 900, max = 43200))
    )]
    pub(crate) duration_seconds: Option<u32>,

    /// STS endpoint URL for assuming roles, for STS-compatible services. Falls back to
    /// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, then the region's STS endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "STS endpoint URL", example = &"http://127.0.0.1:9000", extend("format" = "uri", "pattern" = "^https?://")))]
    pub(crate) sts_endpoint: Option<String>,

    /// Path-style or virtual-hosted-style URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Addressing style", extend("default" = "auto")))]
    pub(crate) addressing: Option<Addressing>,

    /// Seconds allowed to open a connection (TCP and TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Connect timeout (s)", range(min = 0.001, max = 3600.0), extend("default" = 10)))]
    pub(crate) connect_timeout_seconds: Option<f64>,

    /// Seconds the connection may stay silent while a reply is awaited or read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Read idle timeout (s)", range(min = 0.001, max = 86400.0), extend("default" = 60)))]
    pub(crate) read_timeout_seconds: Option<f64>,

    /// Seconds one whole operation may take, all attempts included; none by default, so that
    /// large transfers are bounded by the idle timeout only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(title = "Overall timeout (s)", range(min = 0.001, max = 604_800.0))
    )]
    pub(crate) timeout_seconds: Option<f64>,

    /// Attempts per request, the first included: transient failures (connection errors, 5xx,
    /// throttling) are retried with exponential backoff and jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Maximum attempts", range(min = 1, max = 10), extend("default" = 3)))]
    pub(crate) max_attempts: Option<u32>,

    /// Check the integrity of what is uploaded and downloaded (see Checksum algorithm). Turn
    /// off only for S3-compatible services that reject every kind of checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Integrity checksums", extend("default" = true)))]
    pub(crate) checksums: Option<bool>,

    /// How integrity is checked while checksums are on. A CRC (CRC64NVME by default) travels
    /// with each upload, in a header or after the streamed bytes, and S3 refuses the upload if
    /// the bytes it received differ; downloads compare the bytes with the CRC S3 stored. MD5
    /// keeps the older checks (Content-MD5 on in-memory bodies, a streamed file's MD5 against
    /// its ETag) for S3-compatible services that reject CRC checksums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(title = "Checksum algorithm"))]
    pub(crate) checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// The checksum uploads carry and downloads verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ChecksumAlgorithm {
    /// CRC64NVME: S3's default, 64 bits, the fastest to compute.
    #[default]
    #[serde(rename = "CRC64NVME")]
    #[cfg_attr(feature = "schema", schemars(title = "CRC64NVME"))]
    Crc64Nvme,
    /// CRC32C (Castagnoli).
    #[serde(rename = "CRC32C")]
    #[cfg_attr(feature = "schema", schemars(title = "CRC32C"))]
    Crc32c,
    /// CRC32 (the zlib CRC).
    #[serde(rename = "CRC32")]
    #[cfg_attr(feature = "schema", schemars(title = "CRC32"))]
    Crc32,
    /// MD5 checks (Content-MD5, entity tags), for services that take no CRC checksum.
    #[serde(rename = "MD5")]
    #[cfg_attr(feature = "schema", schemars(title = "MD5 (Content-MD5 and ETag)"))]
    Md5,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("profile", &self.profile)
            .field("role_arn", &self.role_arn)
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let c = Connection {
            secret_access_key: Some(Secret::new("canary-secret-value")),
            session_token: Some(Secret::new("canary-token-value")),
            ..Default::default()
        };
        let printed = format!("{c:?}");
        assert!(!printed.contains("canary"), "{printed}");
        assert!(printed.contains("******"));
    }
}
