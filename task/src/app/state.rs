//! What every operation may use, built once from the configuration at start-up.

use std::sync::Arc;

use platform::{db::Database, process::config::DbSource, process::secrets::Secrets};
use token_contract::jwt::Claims;

use crate::{
    adapters::jwks_cache::JwksCache,
    app::{error::TaskError, revocation_cache::RevocationCache},
    config::{TaskConfig, UserLimits},
};

pub struct State {
    pub db: Database,
    pub keys: Arc<JwksCache>,
    pub limits: UserLimits,
    pub revocation: RevocationCache,
}

impl State {
    pub async fn from_config(cfg: &TaskConfig) -> anyhow::Result<Arc<Self>> {
        let secrets = match cfg.common.database.source {
            DbSource::Secret(_) => Some(Secrets::from_env().await?),
            DbSource::Url(_) => None,
        };
        let keys = Arc::new(JwksCache::new(cfg.keys.clone(), cfg.jwt.clone())?);
        let db = Database::connect(cfg.common.database.clone(), secrets).await?;
        keys.load_at_startup().await;
        let revocation =
            RevocationCache::new(cfg.keys.revocation_ttl, cfg.keys.revocation_max_tokens);
        Ok(Arc::new(Self {
            db,
            keys,
            limits: cfg.limits.clone(),
            revocation,
        }))
    }

    /// A bearer token's claims, if one of auth's keys signed it, it is unexpired, and auth
    /// has not revoked it (as of at most the revocation cache's bound ago).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, TaskError> {
        let claims = self.keys.verify(token).await?;
        self.check_revocation(&claims).await?;
        Ok(claims)
    }
}
