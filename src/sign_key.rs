//! `SigV4` signing keys, cached: deriving one takes four HMACs, and it changes once a day per
//! (secret, region, service). A key is found by a SHA-256 digest of the secret (the secret
//! itself is not kept here), the day, the region and the service; an entry for another day is
//! never used and is dropped, and the key never appears in `Debug` output or logs.
//!
//! What is kept is the HMAC keyed with the signing key (its inner and outer pads already
//! hashed), so that a signature costs the string to sign's blocks and two more.

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Entries kept: a process signs for a few (secret, region) pairs at most; beyond that the
/// oldest entry makes room.
const ENTRIES: usize = 8;

struct Entry {
    secret: [u8; 32],
    /// `YYYYMMDD`.
    date: [u8; 8],
    region: String,
    service: &'static str,
    /// Keyed with the signing key: never shown.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("date", &String::from_utf8_lossy(&self.date))
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The keys of the current day, at most `ENTRIES`.
struct Cache {
    entries: Vec<Entry>,
    /// Keys derived so far (for the tests: a reuse derives none).
    derived: u64,
}

impl Cache {
    const fn new() -> Self {
        Cache {
            entries: Vec::new(),
            derived: 0,
        }
    }

    /// The HMAC keyed with the signing key of (`secret`, whose digest is `digest`, `date`,
    /// `region`, `service`): the cached one, or derived and cached.
    fn keyed(
        &mut self,
        (secret, digest): (&str, [u8; 32]),
        date: &str,
        region: &str,
        service: &'static str,
    ) -> Hmac<Sha256> {
        let Ok(day) = <[u8; 8]>::try_from(date.as_bytes()) else {
            self.derived += 1;
            return keyed_with(&derive(secret, date, region, service));
        };
        // Keys of another day are of no use again (time only moves on): dropped.
        self.entries.retain(|e| e.date == day);
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.secret == digest && e.region == region && e.service == service)
        {
            return e.mac.clone();
        }
        self.derived += 1;
        let mac = keyed_with(&derive(secret, date, region, service));
        if self.entries.len() >= ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            secret: digest,
            date: day,
            region: region.to_string(),
            service,
            mac: mac.clone(),
        });
        mac
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.entries)
            .field("derived", &self.derived)
            .finish()
    }
}

static CACHE: Mutex<Cache> = Mutex::new(Cache::new());

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed_with(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn keyed_with(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key")
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn derive(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The `SigV4` signature of `string_to_sign` for `date` (`YYYYMMDD`): its HMAC with the
/// signing key, taken from the cache or derived (and cached).
pub(crate) fn signature(
    secret: &str,
    (date, region, service): (&str, &str, &'static str),
    string_to_sign: &[u8],
) -> [u8; 32] {
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let mut mac = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .keyed((secret, digest), date, region, service);
    mac.update(string_to_sign);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn sign_with(cache: &mut Cache, secret: &str, date: &str, region: &str) -> [u8; 32] {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut mac = cache.keyed((secret, digest), date, region, "iam");
        mac.update(b"string to sign");
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn the_key_is_the_published_derivation() {
        // AWS's published example (sigv4-signing-key): secret, 20120215, us-east-1, iam.
        let key = derive(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        // The shared cache signs with it.
        assert_eq!(
            signature(SECRET, ("20120215", "us-east-1", "iam"), b"string to sign"),
            hmac(&key, b"string to sign")
        );
    }

    #[test]
    fn a_key_is_reused_only_for_the_same_secret_day_region_and_service() {
        let mut cache = Cache::new();
        let first = sign_with(&mut cache, SECRET, "20120215", "us-east-1");
        assert_eq!(cache.derived, 1);
        assert_eq!(
            sign_with(&mut cache, SECRET, "20120215", "us-east-1"),
            first
        );
        assert_eq!(cache.derived, 1, "the same inputs reuse the key");
        let others = [
            sign_with(&mut cache, SECRET, "20120215", "us-west-2"),
            sign_with(&mut cache, "another/secret", "20120215", "us-east-1"),
        ];
        assert_eq!(cache.derived, 3);
        for s in others {
            assert_ne!(s, first);
        }
        let digest: [u8; 32] = Sha256::digest(SECRET.as_bytes()).into();
        let _ = cache.keyed((SECRET, digest), "20120215", "us-east-1", "s3");
        assert_eq!(cache.derived, 4, "another service: another key");
        assert_eq!(cache.entries.len(), 4);
        // The next day: a new key, and every entry of the day before is gone.
        let next = sign_with(&mut cache, SECRET, "20120216", "us-east-1");
        assert_eq!(cache.derived, 5);
        assert_ne!(next, first);
        assert_eq!(
            next,
            hmac(
                &derive(SECRET, "20120216", "us-east-1", "iam"),
                b"string to sign"
            )
        );
        assert_eq!(cache.entries.len(), 1);
        assert!(cache.entries.iter().all(|e| &e.date == b"20120216"));
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_entries() {
        let mut cache = Cache::new();
        for i in 0..20 {
            sign_with(&mut cache, SECRET, "20120215", &format!("region-{i}"));
        }
        assert_eq!(cache.entries.len(), ENTRIES);
        assert_eq!(cache.entries[0].region, format!("region-{}", 20 - ENTRIES));
    }

    #[test]
    fn entries_never_show_their_key_or_secret() {
        let mut cache = Cache::new();
        let digest: [u8; 32] = Sha256::digest(SECRET.as_bytes()).into();
        let _ = cache.keyed((SECRET, digest), "20260101", "us-east-1", "s3");
        let key = derive(SECRET, "20260101", "us-east-1", "s3");
        let shown = format!("{cache:?}");
        assert!(
            shown.contains("20260101") && shown.contains("us-east-1"),
            "{shown}"
        );
        for secret_bytes in [&key[..], &digest[..], SECRET.as_bytes()] {
            let decimal = format!("{:?}", &secret_bytes[..4]);
            let decimal = &decimal[1..decimal.len() - 1]; // `12, 34, 56, 78`
            assert!(!shown.contains(decimal), "{shown}");
            assert!(!shown.contains(&hex::encode(&secret_bytes[..4])), "{shown}");
        }
        assert!(!shown.contains(SECRET) && !shown.contains("mac"), "{shown}");
    }
}
