//! CA roots for outbound TLS (Secrets Manager, an `https://` auth service).
//!
//! A scratch image has no `/etc/ssl`: it ships a CA bundle and points `SSL_CERT_FILE` at it,
//! which `rustls-native-certs` (used by reqwest and the AWS SDK) honours. Without any roots
//! TLS clients would fail obscurely or panic, so callers check first and fail with this.

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "no CA certificates found for outbound TLS{detail}: set SSL_CERT_FILE to a PEM CA bundle \
         (the container image sets it to the bundle it ships)"
    )]
    NoRoots { detail: String },
}

/// How many trusted roots the process can use; an error when there are none.
pub fn ensure_roots() -> Result<usize, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let detail = match (std::env::var("SSL_CERT_FILE").ok(), found.errors.first()) {
            (Some(path), Some(e)) => format!(" (SSL_CERT_FILE={path}: {e})"),
            (Some(path), None) => format!(" (SSL_CERT_FILE={path} holds no certificates)"),
            (None, Some(e)) => format!(" ({e})"),
            (None, None) => String::new(),
        };
        return Err(TlsError::NoRoots { detail });
    }
    Ok(found.certs.len())
}

/// Whether talking to `url` needs TLS roots.
pub fn needs_tls(url: &str) -> bool {
    url.trim().to_ascii_lowercase().starts_with("https://")
}
