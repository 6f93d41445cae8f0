//! `SigV4` signing keys, cached: deriving one takes four HMACs, and it changes once a day per
//! (secret, region, service). A key is found by a SHA-256 digest of the secret (the secret
//! itself is not kept here), the day, the region and the service; an entry for another day is
//! never used and is replaced, and the key never appears in `Debug` output or logs.

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Entries kept: a process signs for a few (secret, region) pairs at most; beyond that the
/// oldest entry makes room.
const ENTRIES: usize = 8;

pub(crate) type Key = [u8; 32];

struct Entry {
    secret: [u8; 32],
    /// `YYYYMMDD`.
    date: [u8; 8],
    region: String,
    service: &'static str,
    key: Key,
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

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn derive(secret: &str, date: &str, region: &str, service: &str) -> Key {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The signing key for `date` (`YYYYMMDD`), from the cache or derived (and cached).
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &'static str) -> Key {
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let Ok(day) = <[u8; 8]>::try_from(date.as_bytes()) else {
        return derive(secret, date, region, service);
    };
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Keys of another day are of no use again (time only moves on): dropped.
    cache.retain(|e| e.date == day);
    if let Some(e) = cache
        .iter()
        .find(|e| e.secret == digest && e.region == region && e.service == service)
    {
        return e.key;
    }
    let key = derive(secret, date, region, service);
    if cache.len() >= ENTRIES {
        cache.remove(0);
    }
    cache.push(Entry {
        secret: digest,
        date: day,
        region: region.to_string(),
        service,
        key,
    });
    key
}

#[cfg(test)]
pub(crate) fn cached_days() -> Vec<String> {
    CACHE
        .lock()
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.date).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_published_derivation_and_is_reused_only_for_the_same_inputs() {
        // AWS's published example (sigv4-signing-key): secret, 20120215, us-east-1, iam.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let key = signing_key(secret, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(signing_key(secret, "20120215", "us-east-1", "iam"), key);
        let others = [
            signing_key(secret, "20120215", "us-west-2", "iam"),
            signing_key(secret, "20120215", "us-east-1", "s3"),
            signing_key("another/secret", "20120215", "us-east-1", "iam"),
        ];
        for k in others {
            assert_ne!(k, key);
        }
        // The next day: a new key, and the previous day's entries are gone.
        let next = signing_key(secret, "20120216", "us-east-1", "iam");
        assert_ne!(next, key);
        assert_eq!(next, derive(secret, "20120216", "us-east-1", "iam"));
        // (Other tests sign concurrently for other days: only this test's days are looked at.)
        assert!(
            !cached_days().iter().any(|d| d == "20120215"),
            "{:?}",
            cached_days()
        );
    }

    #[test]
    fn entries_never_show_their_key_or_secret() {
        let e = Entry {
            secret: [1; 32],
            date: *b"20260101",
            region: "us-east-1".into(),
            service: "s3",
            key: [0xab; 32],
        };
        let shown = format!("{e:?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, ab"),
            "{shown}"
        );
        assert!(
            !shown.contains("key") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
