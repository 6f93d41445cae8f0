//! Credentials in use, cached per source for the process and refreshed before they expire.
//!
//! Every request asks its [`Provider`] at each attempt, so an attempt after a refresh (or a
//! retry after the credentials expired) is signed with the fresh ones. Equal sources share one
//! cache: in `serve`, every request of the same connection does. A refresh happens once, under
//! the cache's gate, while the other requests that need it wait for its result; when a refresh
//! fails while the old credentials are still valid, they are used (the source may be back by
//! the next refresh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::providers::{self, Source};

/// Refresh this long before expiry at most (the AWS SDKs refresh 5 to 15 minutes ahead), or
/// halfway through the credentials' life when that is sooner (short-lived test credentials).
const REFRESH_AHEAD: Duration = Duration::from_mins(5);
/// Old credentials still used when a refresh fails only while they stay valid this much longer.
const STILL_VALID: Duration = Duration::from_secs(10);

/// The credentials of one source.
#[derive(Clone)]
pub struct Provider(Arc<Cache>);

struct Cache {
    source: Source,
    /// The credentials and when to refresh them (`None`: never, they do not expire). Shared, so
    /// that a request takes them without copying.
    current: Mutex<Option<(Arc<Credentials>, Option<SystemTime>)>>,
    /// Held while fetching, so that one fetch serves every waiting request.
    gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Provider").field(&self.0.source).finish()
    }
}

/// When to refresh credentials fetched at `fetched`.
fn refresh_at(c: &Credentials, fetched: SystemTime) -> Option<SystemTime> {
    let expiry = c.expiry?;
    let life = expiry.duration_since(fetched).unwrap_or_default();
    Some(expiry - REFRESH_AHEAD.min(life / 2))
}

impl Provider {
    /// The provider of `source`: the process's one for an equal source, else a new one.
    pub(crate) fn of(source: Source) -> Provider {
        static ALL: OnceLock<Mutex<HashMap<Source, Provider>>> = OnceLock::new();
        if let Source::Static(c) = &source {
            // Nothing to refresh or share.
            return Provider(Arc::new(Cache {
                current: Mutex::new(Some((Arc::new(c.clone()), None))),
                source,
                gate: tokio::sync::Mutex::new(()),
            }));
        }
        let mut all = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.entry(source.clone())
            .or_insert_with(|| {
                Provider(Arc::new(Cache {
                    source,
                    current: Mutex::new(None),
                    gate: tokio::sync::Mutex::new(()),
                }))
            })
            .clone()
    }

    /// Where the credentials come from (`connection`, `profile dev: role`, ...), never a value.
    pub fn label(&self) -> String {
        self.0.source.label()
    }

    /// The credentials when they were given outright (connection, environment, profile keys).
    pub fn fixed(&self) -> Option<&Credentials> {
        match &self.0.source {
            Source::Static(c) => Some(c),
            _ => None,
        }
    }

    fn cached(&self, now: SystemTime) -> Option<Arc<Credentials>> {
        let current = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*current {
            Some((c, at)) if at.is_none_or(|at| now < at) => Some(c.clone()),
            _ => None,
        }
    }

    /// Credentials valid now: cached, or fetched (once for all requests waiting).
    pub(crate) async fn get(&self) -> Result<Arc<Credentials>, Error> {
        if let Some(c) = self.cached(SystemTime::now()) {
            return Ok(c);
        }
        let _gate = self.0.gate.lock().await;
        // Another request may have refreshed them while this one waited.
        if let Some(c) = self.cached(SystemTime::now()) {
            return Ok(c);
        }
        let fetched = SystemTime::now();
        match providers::fetch(&self.0.source).await {
            Ok(c) => {
                let at = refresh_at(&c, fetched);
                let c = Arc::new(c);
                tracing::info!(source = %c.source, expires_in_s = c.expiry.and_then(|e| e.duration_since(fetched).ok()).map(|d| d.as_secs()), "credentials fetched");
                *self
                    .0
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some((c.clone(), at));
                Ok(c)
            }
            Err(e) => {
                let old = self
                    .0
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match old {
                    Some((c, _))
                        if c.expiry
                            .is_some_and(|x| SystemTime::now() + STILL_VALID < x) =>
                    {
                        tracing::warn!(source = %c.source, error = %e.full_message(), "refreshing credentials failed; the current ones are still valid");
                        Ok(c)
                    }
                    _ => Err(e),
                }
            }
        }
    }

    /// Forgets `used` when S3 said they expired (a clock ahead of the source's), so that the
    /// next attempt fetches new ones; says whether there can be new ones. Credentials given
    /// outright are kept: nothing else exists.
    pub(crate) fn expired(&self, used: &Credentials) -> bool {
        if self.fixed().is_some() {
            return false;
        }
        let mut current = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|(c, _)| c.access_key_id == used.access_key_id)
        {
            *current = None;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Secret;

    fn creds(expiry: Option<SystemTime>) -> Credentials {
        Credentials {
            access_key_id: "A".into(),
            secret_access_key: Secret::new("s"),
            session_token: None,
            source: "t".into(),
            expiry,
        }
    }

    #[test]
    fn refresh_comes_before_expiry() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(refresh_at(&creds(None), t), None);
        let hour = creds(Some(t + Duration::from_hours(1)));
        assert_eq!(refresh_at(&hour, t), Some(t + Duration::from_mins(55)));
        let short = creds(Some(t + Duration::from_secs(4)));
        assert_eq!(refresh_at(&short, t), Some(t + Duration::from_secs(2)));
        let gone = creds(Some(t - Duration::from_secs(4)));
        assert_eq!(refresh_at(&gone, t), Some(t - Duration::from_secs(4)));
    }
}
