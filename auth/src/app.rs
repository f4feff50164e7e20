//! Wiring: configuration → state → routes → server.

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use anyhow::Context;
use platform::{
    config::{AppEnv, JwtSettings},
    db::Database,
    middleware,
    secrets::Secrets,
    server,
};
use poem::Endpoint;
use poem_openapi::OpenApiService;
use tokio::net::TcpListener;

use crate::{
    api::AuthApi,
    config::{AuthConfig, KeySource},
    domain::Credentials,
    error::AuthError,
    keys::KeyRing,
    password::Hasher,
    rate_limit::Limiter,
    tokens::Tokens,
    users::{self, Users},
};

pub struct State {
    pub db: Database,
    pub tokens: Tokens,
    pub hasher: Hasher,
    pub jwt: JwtSettings,
    by_username: Limiter,
    by_address: Limiter,
}

/// Failed logins allowed per username, and per client address, in one window.
const USERNAME_FAILURES: u32 = 5;
const ADDRESS_FAILURES: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

impl State {
    pub async fn from_config(cfg: &AuthConfig) -> anyhow::Result<Arc<Self>> {
        let needs_secrets = matches!(cfg.signing_key, KeySource::Secret(_))
            || matches!(
                cfg.common.database.source,
                platform::config::DbSource::Secret(_)
            );
        let secrets = if needs_secrets {
            Some(Secrets::from_env().await?)
        } else {
            None
        };
        let keys = match (&cfg.signing_key, &secrets) {
            (KeySource::Secret(id), Some(s)) => KeyRing::from_material(&s.get_string(id).await?)
                .context("JWT_SIGNING_KEY_SECRET")?,
            (KeySource::Inline(pem), _) => {
                KeyRing::from_material(pem).context("JWT_SIGNING_KEY")?
            }
            _ if cfg.common.app_env == AppEnv::Production => anyhow::bail!(
                "no token signing key: set JWT_SIGNING_KEY_SECRET (or JWT_SIGNING_KEY); \
                 an ephemeral key is refused when APP_ENV=production"
            ),
            _ => {
                tracing::warn!(
                    "NO SIGNING KEY CONFIGURED: using an ephemeral key. Tokens will not survive \
                     a restart and other instances cannot verify them. Set JWT_SIGNING_KEY_SECRET \
                     or JWT_SIGNING_KEY."
                );
                KeyRing::ephemeral()
            }
        };
        tracing::info!(kid = keys.kid(), "token signing key loaded");
        let db = Database::connect(cfg.common.database.clone(), secrets).await?;
        let hasher = Hasher::new(cfg.bcrypt_cost).await?;
        Ok(Arc::new(Self {
            db,
            tokens: Tokens::new(keys, cfg.jwt.clone()),
            hasher,
            jwt: cfg.jwt.clone(),
            by_username: Limiter::new(USERNAME_FAILURES, FAILURE_WINDOW),
            by_address: Limiter::new(ADDRESS_FAILURES, FAILURE_WINDOW),
        }))
    }

    /// Checks credentials under the failed-login limits.
    pub async fn login(
        &self,
        creds: &Credentials,
        addr: Option<IpAddr>,
    ) -> Result<users::Model, AuthError> {
        let user_key = creds.username.to_ascii_lowercase();
        let addr_key = addr.map(|a| a.to_string());
        let wait = [
            self.by_username.check(&user_key).err(),
            addr_key
                .as_deref()
                .and_then(|k| self.by_address.check(k).err()),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(secs) = wait {
            return Err(AuthError::RateLimited(secs));
        }
        let user = Users::new(&self.db)
            .find_by_username(&creds.username)
            .await?;
        let ok = self
            .hasher
            .verify(
                &creds.password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        match user {
            Some(user) if ok => {
                self.by_username.reset(&user_key);
                Ok(user)
            }
            _ => {
                self.by_username.record_failure(&user_key);
                if let Some(k) = &addr_key {
                    self.by_address.record_failure(k);
                }
                tracing::info!("login failed");
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}

pub fn api_service() -> OpenApiService<AuthApi, ()> {
    OpenApiService::new(AuthApi, "Auth service", env!("CARGO_PKG_VERSION"))
        .description("Registers users, logs them in, issues and validates EdDSA-signed JWTs, and publishes the public keys (JWK Set) the task service verifies with.")
}

/// The spec as served at `/auth/openapi.json` and committed in `openapi/auth.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

pub fn routes(state: Arc<State>, cors_origins: Vec<String>) -> impl Endpoint {
    server::service_routes(
        api_service(),
        "/auth",
        state,
        middleware::Settings {
            service: "auth",
            cors_origins,
            body_limit: middleware::DEFAULT_BODY_LIMIT,
        },
    )
}

/// Serves until `shutdown`, drains in-flight requests, closes the pool.
pub async fn run(
    cfg: AuthConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let state = State::from_config(&cfg).await?;
    tracing::info!(addr = %listener.local_addr()?, "auth service listening");
    let result = server::serve(
        listener,
        routes(state.clone(), cfg.common.cors_origins.clone()),
        shutdown,
        &cfg.common,
    )
    .await;
    state.db.close().await;
    tracing::info!("auth service stopped");
    Ok(result?)
}
