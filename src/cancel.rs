//! Stopping an operation before it ends: the host cancelled it (`{"cancel": ID}` in `serve`,
//! `notifications/cancelled` in `mcp`), or the process was told to stop (SIGTERM, SIGINT).
//!
//! Cancelling does not drop the operation's future: its requests stop (`execute.rs` races each
//! attempt against the signal, as against the overall deadline) and the operation fails with a
//! `cancelled` error through its usual failure path, which aborts the multipart upload it
//! started and removes its temporary file. Only cleanup requests still go out, for at most
//! [`CLEANUP_BOUND`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Failure};

/// How long a cancelled operation may spend cleaning up (aborting its upload) before it is cut
/// off regardless.
pub(crate) const CLEANUP_BOUND: Duration = Duration::from_secs(5);

/// One operation's cancel signal; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Cancel {
    token: CancellationToken,
    /// Cancelled because the process is stopping, not by the host's choice.
    shutdown: Arc<AtomicBool>,
}

impl Cancel {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Cancels the operation: the host asked (`shutdown` false), or the process is stopping.
    pub(crate) fn cancel(&self, shutdown: bool) {
        if shutdown {
            self.shutdown.store(true, Ordering::Relaxed);
        }
        self.token.cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once cancelled.
    pub(crate) async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Completes [`CLEANUP_BOUND`] after the cancel: when cleanup must stop.
    pub(crate) async fn cleanup_over(&self) {
        self.token.cancelled().await;
        tokio::time::sleep(CLEANUP_BOUND).await;
    }

    /// The operation's error once cancelled. Retryable when the process stopped (another one
    /// may run it), not when the host cancelled it.
    pub(crate) fn error(&self) -> Error {
        let shutdown = self.shutdown.load(Ordering::Relaxed);
        let message = if shutdown {
            "cancelled: the connector is stopping (SIGTERM or SIGINT)"
        } else {
            "cancelled by the host"
        };
        Error::of(Failure::Cancelled { shutdown }, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn the_reason_decides_retryable() {
        let host = Cancel::new();
        host.cancel(false);
        assert!(host.is_cancelled());
        let e = host.error();
        assert_eq!((e.kind, e.retryable), (ErrorKind::Cancelled, false));
        let stop = Cancel::new();
        assert!(!stop.is_cancelled());
        stop.clone().cancel(true);
        let e = stop.error();
        assert_eq!((e.kind, e.retryable), (ErrorKind::Cancelled, true));
    }
}
