//! Progress of a transfer: bytes done out of a total, reported to a sink at most every
//! `INTERVAL` (and once at the end), so that a long transfer is visible and a short one is quiet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

type Sink = dyn Fn(u64, u64) + Send + Sync;

/// Cheap to clone; a no-op when created with [`Progress::none`].
#[derive(Clone, Default)]
pub(crate) struct Progress {
    inner: Option<Arc<Inner>>,
    /// Bytes added through this view, when it is one attempt's ([`Progress::attempt`]).
    tally: Option<Arc<AtomicU64>>,
}

struct Inner {
    total: AtomicU64,
    done: AtomicU64,
    started: Instant,
    last: Mutex<Option<Instant>>,
    sink: Box<Sink>,
}

impl Progress {
    pub(crate) fn none() -> Self {
        Progress::default()
    }

    /// Reports `(bytes_done, bytes_total)` to `sink`.
    pub(crate) fn new(sink: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        Progress {
            inner: Some(Arc::new(Inner {
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
                started: Instant::now(),
                last: Mutex::new(None),
                sink: Box::new(sink),
            })),
            tally: None,
        }
    }

    /// A view for one attempt: it reports to the same sink and counts what it adds, so that a
    /// failed attempt's bytes are taken back ([`Self::take_back`]) before a retry sends them
    /// again.
    pub(crate) fn attempt(&self) -> Progress {
        Progress {
            inner: self.inner.clone(),
            tally: self.inner.as_ref().map(|_| Arc::new(AtomicU64::new(0))),
        }
    }

    /// Takes back every byte this attempt's view added: the attempt failed.
    pub(crate) fn take_back(&self) {
        let (Some(i), Some(t)) = (&self.inner, &self.tally) else {
            return;
        };
        let n = t.swap(0, Ordering::Relaxed);
        let _ = i
            .done
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
    }

    pub(crate) fn set_total(&self, total: u64) {
        if let Some(i) = &self.inner {
            i.total.store(total, Ordering::Relaxed);
        }
    }

    /// Adds transferred bytes (an attempt that fails takes its own back: [`Self::take_back`]).
    pub(crate) fn add(&self, n: u64) {
        let Some(i) = &self.inner else { return };
        if let Some(t) = &self.tally {
            t.fetch_add(n, Ordering::Relaxed);
        }
        let done = i.done.fetch_add(n, Ordering::Relaxed) + n;
        let now = Instant::now();
        let mut last = i.last.lock().expect("progress");
        let due = match *last {
            None => now.duration_since(i.started) >= INTERVAL,
            Some(t) => now.duration_since(t) >= INTERVAL,
        };
        if due {
            *last = Some(now);
            drop(last);
            (i.sink)(done, i.total.load(Ordering::Relaxed));
        }
    }

    /// The final event, sent only if an intermediate one was (the transfer took a while).
    pub(crate) fn finish(&self) {
        let Some(i) = &self.inner else { return };
        if i.last.lock().expect("progress").is_some() {
            (i.sink)(
                i.done.load(Ordering::Relaxed),
                i.total.load(Ordering::Relaxed),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_when_fast_then_throttled() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let p = Progress::new(move |d, t| s.lock().unwrap().push((d, t)));
        p.set_total(10);
        p.add(5);
        p.finish();
        assert!(
            seen.lock().unwrap().is_empty(),
            "a quick transfer emits nothing"
        );
        std::thread::sleep(INTERVAL);
        p.add(5);
        p.finish();
        assert_eq!(*seen.lock().unwrap(), vec![(10, 10), (10, 10)]);
        Progress::none().add(1);
    }

    #[test]
    fn a_failed_attempt_takes_back_its_bytes() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let p = Progress::new(move |d, t| s.lock().unwrap().push((d, t)));
        p.set_total(100);
        let other = p.attempt();
        other.add(30); // a parallel part that succeeds
        let failed = p.attempt();
        failed.add(50);
        failed.take_back();
        failed.take_back(); // idempotent
        let retry = p.attempt();
        retry.add(70);
        std::thread::sleep(INTERVAL);
        p.add(0);
        p.finish();
        assert_eq!(seen.lock().unwrap().last(), Some(&(100, 100)));
        Progress::none().attempt().take_back();
    }
}
