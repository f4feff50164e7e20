//! What every operation may use, built once from the configuration at start-up.

use std::sync::Arc;

use platform::{db::Database, process::config::DbSource, process::secrets::Secrets};

use crate::{
    app::{jwks_cache::JwksCache, revocation_cache::RevocationCache},
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
}
