//! Wiring: configuration → state → routes → server.

use std::{future::Future, sync::Arc};

use platform::{config::DbSource, db::Database, middleware, secrets::Secrets, server};
use poem::Endpoint;
use poem_openapi::OpenApiService;
use tokio::net::TcpListener;

use crate::{api::TaskApi, config::TaskConfig, keys::KeyStore};

pub struct State {
    pub db: Database,
    pub keys: Arc<KeyStore>,
}

impl State {
    pub async fn from_config(cfg: &TaskConfig) -> anyhow::Result<Arc<Self>> {
        let secrets = match cfg.common.database.source {
            DbSource::Secret(_) => Some(Secrets::from_env().await?),
            DbSource::Url(_) => None,
        };
        let keys = Arc::new(KeyStore::new(cfg.keys.clone(), cfg.jwt.clone())?);
        let db = Database::connect(cfg.common.database.clone(), secrets).await?;
        keys.load_at_startup().await;
        Ok(Arc::new(Self { db, keys }))
    }
}

pub fn api_service() -> OpenApiService<TaskApi, ()> {
    OpenApiService::new(TaskApi, "Task service", env!("CARGO_PKG_VERSION")).description(
        "Create, read, update and delete your own tasks. Every /tasks route except health, \
         ready, docs and openapi needs `Authorization: Bearer <token>` from the auth service.",
    )
}

/// The spec as served at `/tasks/openapi.json` and committed in `openapi/task.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

pub fn routes(state: Arc<State>, cors_origins: Vec<String>) -> impl Endpoint {
    server::service_routes(
        api_service(),
        "/tasks",
        state,
        middleware::Settings {
            service: "task",
            cors_origins,
            body_limit: middleware::DEFAULT_BODY_LIMIT,
        },
    )
}

/// Serves until `shutdown`, drains in-flight requests, closes the pool.
pub async fn run(
    cfg: TaskConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let state = State::from_config(&cfg).await?;
    let refresher = state.keys.spawn_refresher();
    tracing::info!(addr = %listener.local_addr()?, "task service listening");
    let result = server::serve(
        listener,
        routes(state.clone(), cfg.common.cors_origins.clone()),
        shutdown,
        &cfg.common,
    )
    .await;
    refresher.abort();
    state.db.close().await;
    tracing::info!("task service stopped");
    Ok(result?)
}
