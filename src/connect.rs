//! The TCP connector under TLS: hyper's own, plus a test hook that exists in debug builds only.
//!
//! `S3_CONNECTOR_TEST_CONNECT_TO=127.0.0.1:PORT` sends every connection to that address while
//! the request itself (its URI, `Host` header and TLS server name) stays as built, so a test can
//! receive exactly what `run` sends to any endpoint, AWS's included (`tests/golden.rs`). Release
//! builds never read the variable.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::{Authority, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Connector {
    inner: HttpConnector,
    connect_to: Option<Authority>,
}

impl Connector {
    pub(crate) fn new(inner: HttpConnector) -> Self {
        Connector {
            inner,
            connect_to: test_connect_to(),
        }
    }
}

#[cfg(debug_assertions)]
fn test_connect_to() -> Option<Authority> {
    std::env::var("S3_CONNECTOR_TEST_CONNECT_TO")
        .ok()?
        .parse()
        .ok()
}

#[cfg(not(debug_assertions))]
fn test_connect_to() -> Option<Authority> {
    None
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let dst = match &self.connect_to {
            Some(to) => {
                let mut parts = dst.into_parts();
                parts.authority = Some(to.clone());
                Uri::from_parts(parts).unwrap_or_default()
            }
            None => dst,
        };
        let connecting = self.inner.call(dst);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}
