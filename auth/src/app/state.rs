//! What every operation may use, built once from the configuration at start-up.

use std::sync::Arc;

use anyhow::Context;
use platform::{
    db::Database,
    process::config::{AppEnv, DbSource},
    process::secrets::Secrets,
};

use crate::{
    app::{
        password::Hasher,
        signing_keys::KeyRing,
        throttle::{Policy, Throttle},
        tokens::Tokens,
    },
    config::{AuthConfig, KeySource},
};

pub struct State {
    pub db: Database,
    pub tokens: Tokens,
    pub hasher: Hasher,
    pub throttle: Throttle,
}

impl State {
    pub async fn from_config(cfg: &AuthConfig) -> anyhow::Result<Arc<Self>> {
        let needs_secrets = matches!(cfg.signing_key, KeySource::Secret(_))
            || matches!(cfg.common.database.source, DbSource::Secret(_));
        let secrets = if needs_secrets {
            Some(Secrets::from_env().await?)
        } else {
            None
        };
        let keys = signing_keys(cfg, secrets.as_ref()).await?;
        tracing::info!(kid = keys.kid(), "token signing key loaded");
        let db = Database::connect(cfg.common.database.clone(), secrets).await?;
        let hasher = Hasher::new(cfg.bcrypt_cost, &cfg.limits);
        Ok(Arc::new(Self {
            db,
            tokens: Tokens::new(keys, cfg.jwt.clone()),
            hasher,
            throttle: Throttle::new(Policy {
                register_per_address: cfg.limits.register_per_address_per_hour,
                ..Policy::default()
            }),
        }))
    }
}

async fn signing_keys(cfg: &AuthConfig, secrets: Option<&Secrets>) -> anyhow::Result<KeyRing> {
    Ok(match (&cfg.signing_key, secrets) {
        (KeySource::Secret(id), Some(s)) => {
            KeyRing::from_material(&s.get_string(id).await?).context("JWT_SIGNING_KEY_SECRET")?
        }
        (KeySource::Inline(pem), _) => KeyRing::from_material(pem).context("JWT_SIGNING_KEY")?,
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
    })
}
