//! Where a request goes: endpoint parsing, path- vs virtual-hosted-style addressing, and the
//! exact encoding of object keys and query values. Pure functions.

use crate::connection::Addressing;

/// A parsed endpoint URL: `scheme://host[:port][/base/path]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    /// Path prefix without a trailing slash (usually empty).
    pub(crate) base_path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err("must start with http:// or https://".into());
        };
        if rest.contains(['?', '#', '@']) {
            return Err("must not contain a query, a fragment or credentials".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| format!("has an invalid port `{p}`"))?;
                (h, Some(port))
            }
            _ => (authority, None),
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        Ok(Endpoint {
            https,
            host: host.to_ascii_lowercase(),
            port,
            base_path: path.to_string(),
        })
    }

    /// The AWS S3 endpoint of a region.
    pub(crate) fn aws(region: &str) -> Endpoint {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        Endpoint {
            https: true,
            host: format!("s3.{region}.{suffix}"),
            port: None,
            base_path: String::new(),
        }
    }

    pub(crate) fn is_aws(&self) -> bool {
        self.host.ends_with(".amazonaws.com") || self.host.ends_with(".amazonaws.com.cn")
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// The endpoint as a URL (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`).
    pub(crate) fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.authority(&self.host),
            self.base_path
        )
    }

    fn authority(&self, host: &str) -> String {
        match self.port {
            Some(p) if !((self.https && p == 443) || (!self.https && p == 80)) => {
                format!("{host}:{p}")
            }
            _ => host.to_string(),
        }
    }
}

/// Whether a bucket can be a DNS label under a TLS wildcard certificate: virtual-hosted style
/// needs 3 to 63 lowercase letters, digits and hyphens, not looking like an IP address. Dots
/// are left to path style, as the AWS SDKs do, since they break certificate matching.
pub(crate) fn dns_compatible(bucket: &str) -> bool {
    let b = bucket.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The request target: scheme, authority (the Host header) and the encoded path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) scheme: &'static str,
    pub(crate) authority: String,
    pub(crate) path: String,
}

pub(crate) fn target(
    endpoint: &Endpoint,
    addressing: Addressing,
    bucket: Option<&str>,
    key: Option<&str>,
) -> Target {
    let virtual_host = match (addressing, bucket) {
        (_, None) | (Addressing::Path, _) => false,
        (Addressing::Virtual, Some(_)) => true,
        (Addressing::Auto, Some(b)) => endpoint.is_aws() && dns_compatible(b),
    };
    // `{base}`, then `/{bucket}` in path style, then `/{key}` or a closing `/`: one string.
    let base = &endpoint.base_path;
    let mut path = String::with_capacity(base.len() + 2 + key.map_or(0, str::len) + 32);
    path.push_str(base);
    let authority = match bucket {
        Some(b) if virtual_host => endpoint.authority(&format!("{b}.{}", endpoint.host)),
        Some(b) => {
            path.push('/');
            encode_into(&mut path, b, true);
            endpoint.authority(&endpoint.host)
        }
        None => endpoint.authority(&endpoint.host),
    };
    match (bucket, key) {
        (Some(_), Some(k)) => {
            path.push('/');
            encode_into(&mut path, k, true);
        }
        // A bucket in the host, or no bucket (a key then has no place): the root path.
        (Some(_), None) if virtual_host => path.push('/'),
        (None, _) => path.push('/'),
        (Some(_), None) => {}
    }
    Target {
        scheme: endpoint.scheme(),
        authority,
        path,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    encode_into(&mut out, s, keep_slash);
    out
}

/// [`encode`] appended to `out`.
fn encode_into(out: &mut String, s: &str, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// An object key as a URL path: every byte but unreserved characters and `/` percent-encoded
/// once. Nothing is normalised: `a/../b`, `./x` and `a//b` stay as they are.
pub(crate) fn encode_key(key: &str) -> String {
    encode(key, true)
}

/// A query name or value (`SigV4` canonical form: everything but unreserved encoded, space as %20).
pub(crate) fn encode_query(s: &str) -> String {
    encode(s, false)
}

/// Decodes `application/x-www-form-urlencoded` text as S3 writes it with `encoding-type=url`.
pub(crate) fn decode_url(s: &str) -> String {
    decode(s, true)
}

/// `%XX` sequences decoded, a `+` left a plus sign (a path or a header, not a form).
pub(crate) fn percent_decode(s: &str) -> String {
    decode(s, false)
}

/// The decoding of both: a `%` not followed by two hex digits is kept as it is. One
/// allocation, and a plain copy when there is nothing to decode (a listing decodes every key).
fn decode(s: &str, plus_is_space: bool) -> String {
    let mut out = Vec::new();
    if !decode_into(s, plus_is_space, &mut out) {
        return s.to_owned();
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`decode_url`] into `out` (cleared first), its bytes not checked as UTF-8; false, with
/// `out` untouched, when there is nothing to decode.
pub(crate) fn decode_url_into(s: &str, out: &mut Vec<u8>) -> bool {
    decode_into(s, true, out)
}

fn decode_into(s: &str, plus_is_space: bool, out: &mut Vec<u8>) -> bool {
    let b = s.as_bytes();
    let special = |c: &u8| *c == b'%' || (plus_is_space && *c == b'+');
    let Some(first) = b.iter().position(special) else {
        return false;
    };
    out.clear();
    out.reserve(b.len());
    out.extend_from_slice(&b[..first]);
    let hex = |at: usize| b.get(at).and_then(|c| char::from(*c).to_digit(16));
    let mut i = first;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).expect("two hex digits"));
                i += 2;
            }
            (b'+', ..) => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
        // The plain run up to the next special byte, copied at once.
        let run = b[i..].iter().position(special).unwrap_or(b.len() - i);
        out.extend_from_slice(&b[i..i + run]);
        i += run;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_once_and_never_normalised() {
        assert_eq!(encode_key("a/../b"), "a/../b");
        assert_eq!(encode_key("./x"), "./x");
        assert_eq!(encode_key("a//b"), "a//b");
        assert_eq!(encode_key("x?y#z"), "x%3Fy%23z");
        assert_eq!(encode_key("100%"), "100%25");
        assert_eq!(encode_key("a+b c"), "a%2Bb%20c");
        assert_eq!(encode_key("é"), "%C3%A9");
        assert_eq!(encode_query("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn url_decoding_undoes_s3_encoding() {
        assert_eq!(decode_url("a%2Bb+c%25"), "a+b c%");
        assert_eq!(decode_url("%C3%A9"), "é");
        assert_eq!(decode_url("100%"), "100%");
        // Only two hex digits make an escape (`%+1` is not 0x01); a `+` is a space all the same.
        assert_eq!(decode_url("%+1%4%zz%4g%"), "% 1%4%zz%4g%");
        assert_eq!(percent_decode("a+b%+1%2B"), "a+b%+1+");
        assert_eq!(decode_url("%C3%28 ok"), "\u{fffd}( ok");
        assert_eq!(decode_url("plain/key"), "plain/key");
    }

    #[test]
    fn addressing() {
        let aws = Endpoint::aws("eu-west-1");
        let t = target(&aws, Addressing::Auto, Some("my-bucket"), Some("a b"));
        assert_eq!(t.authority, "my-bucket.s3.eu-west-1.amazonaws.com");
        assert_eq!(t.path, "/a%20b");
        let t = target(&aws, Addressing::Auto, Some("my.bucket"), Some("k"));
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("s3.eu-west-1.amazonaws.com", "/my.bucket/k")
        );
        let local = Endpoint::parse("http://127.0.0.1:9000").unwrap();
        let t = target(&local, Addressing::Auto, Some("b1"), Some("k"));
        assert_eq!(
            (t.scheme, t.authority.as_str(), t.path.as_str()),
            ("http", "127.0.0.1:9000", "/b1/k")
        );
        let t = target(&local, Addressing::Virtual, Some("b1"), None);
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("b1.127.0.0.1:9000", "/")
        );
        let t = target(&local, Addressing::Auto, None, None);
        assert_eq!(t.path, "/");
        let t = target(
            &Endpoint::parse("https://host/base/").unwrap(),
            Addressing::Path,
            Some("b"),
            Some("k"),
        );
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("host", "/base/b/k")
        );
    }

    #[test]
    fn endpoint_parsing() {
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://u:p@x").is_err());
        assert!(Endpoint::parse("http://x:notaport").is_err());
        assert_eq!(
            Endpoint::parse("https://S3.example.com:8443").unwrap().port,
            Some(8443)
        );
    }
}
