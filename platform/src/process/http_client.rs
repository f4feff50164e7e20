//! The one way to build an outbound HTTP client: bounded timeouts, and a clear error when
//! TLS is needed but no CA roots exist.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error(transparent)]
    Tls(#[from] crate::process::tls::TlsError),
    #[error("cannot build HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// A client for calls to `base_url`, with a total timeout per request.
pub fn client_for(base_url: &str, timeout: Duration) -> Result<reqwest::Client, HttpClientError> {
    if crate::process::tls::needs_tls(base_url) {
        crate::process::tls::ensure_roots()?;
    }
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("task-management/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
