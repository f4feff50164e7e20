//! A cache of the auth service's published keys (its JWK Set), kept in memory so that
//! checking a token never costs a network call.
//!
//! Keys are fetched at start-up (with retries), refreshed periodically, and refreshed early
//! when a token names a key we have not seen (a rotation), at most once per
//! `min_refresh_interval`. If auth is down, the keys we have keep working.
//!
//! An outbound adapter: it knows auth's URL and the token contract, not the operations, so
//! what it answers is its own [`VerifyError`], which the application layer turns into its error.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use token_contract::{
    jwt::{Claims, JwkSet, TokenError, Verifier},
    settings::JwtSettings,
};

use crate::config::KeySettings;

/// Why a token could not be verified against the cached keys.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Not one key: auth has not answered since start-up.
    #[error("no verification keys")]
    NoKeys,
}

pub struct JwksCache {
    jwks_url: String,
    http: reqwest::Client,
    jwt: JwtSettings,
    settings: KeySettings,
    verifier: RwLock<Option<Arc<Verifier>>>,
    /// Serialises refreshes and remembers when the last one was tried.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(
        settings: KeySettings,
        jwt: JwtSettings,
    ) -> Result<Self, platform::process::http_client::HttpClientError> {
        let http = platform::process::http_client::client_for(
            &settings.auth_service_url,
            settings.fetch_timeout,
        )?;
        Ok(Self {
            jwks_url: format!("{}/auth/.well-known/jwks.json", settings.auth_service_url),
            http,
            jwt,
            settings,
            verifier: RwLock::new(None),
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    fn current(&self) -> Option<Arc<Verifier>> {
        self.verifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn has_keys(&self) -> bool {
        self.current().is_some_and(|v| !v.is_empty())
    }

    /// Fetches the JWK Set once and, if it holds usable keys, replaces ours.
    pub async fn refresh(&self) -> Result<usize, String> {
        *self.last_attempt.lock().await = Some(Instant::now());
        self.fetch().await
    }

    async fn fetch(&self) -> Result<usize, String> {
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("fetching {}: {e}", self.jwks_url))?
            .json()
            .await
            .map_err(|e| format!("decoding {}: {e}", self.jwks_url))?;
        let verifier = Verifier::new(&set, &self.jwt);
        if verifier.is_empty() {
            return Err(format!("{} holds no Ed25519 keys", self.jwks_url));
        }
        let n = set.keys.len();
        *self.verifier.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(verifier));
        tracing::debug!(keys = n, "JWK Set refreshed");
        Ok(n)
    }

    /// Refreshes unless one was tried within `min_refresh_interval`; concurrent callers
    /// wait for the same refresh instead of each fetching.
    async fn refresh_soon(&self) {
        let mut last = self.last_attempt.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.min_refresh_interval) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "JWK Set refresh failed; keeping the keys we have");
        }
    }

    /// Start-up: retry with backoff for up to `startup_wait`, then carry on without keys
    /// (protected routes answer 503 until the background refresh succeeds).
    pub async fn load_at_startup(&self) {
        let deadline = Instant::now() + self.settings.startup_wait;
        let mut delay = Duration::from_millis(200);
        loop {
            match self.refresh().await {
                Ok(n) => {
                    tracing::info!(keys = n, url = %self.jwks_url, "verification keys loaded");
                    return;
                }
                Err(e) if Instant::now() + delay < deadline => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "auth service not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, "starting without verification keys; protected routes answer 503");
                    return;
                }
            }
        }
    }

    /// Keeps the keys fresh: every `refresh_every` while we have keys, sooner while we don't.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        let every = self.settings.refresh_every;
        tokio::spawn(async move {
            loop {
                let wait = match store.upgrade() {
                    Some(s) if s.has_keys() => every,
                    Some(_) => Duration::from_secs(5).min(every),
                    None => return,
                };
                tokio::time::sleep(wait).await;
                let Some(s) = store.upgrade() else { return };
                if let Err(e) = s.refresh().await {
                    tracing::warn!(error = %e, "periodic JWK Set refresh failed; keeping the keys we have");
                }
            }
        })
    }

    /// Checks a bearer token locally.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let result = match self.current() {
            Some(v) => v.verify(token),
            None => Err(TokenError::UnknownKey),
        };
        match result {
            Err(TokenError::UnknownKey) => {
                // A key we have not seen, or none at all: maybe auth rotated. Ask once.
                self.refresh_soon().await;
                let v = self.current().ok_or(VerifyError::NoKeys)?;
                v.verify(token).map_err(|e| match e {
                    TokenError::UnknownKey => VerifyError::Token(TokenError::Invalid),
                    other => VerifyError::Token(other),
                })
            }
            other => other.map_err(VerifyError::Token),
        }
    }
}
