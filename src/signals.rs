//! SIGTERM and SIGINT as a stream of stop requests (`serve`, `mcp` and `run` stop cleanly on
//! them: what is in flight is finished or cancelled and cleaned up, then the process exits).

/// Both signals, handled by this process from creation on (no longer ending it at once).
pub(crate) struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers. If that fails (no signal support), a warning is logged and
    /// [`Signals::recv`] never completes: the signals keep their default action.
    #[cfg(unix)]
    pub(crate) fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("cannot handle SIGTERM and SIGINT: {e}");
                None
            }
        };
        Signals { handlers }
    }

    #[cfg(not(unix))]
    pub(crate) fn new() -> Self {
        Signals {}
    }

    /// Completes at the next SIGTERM or SIGINT (cancel-safe: usable in `select!` repeatedly).
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.handlers {
            tokio::select! {
                _ = term.recv() => tracing::warn!("SIGTERM received"),
                _ = int.recv() => tracing::warn!("SIGINT received"),
            }
            return;
        }
        std::future::pending::<()>().await;
    }
}
