//! Start-up: configuration → state (database, verification keys) → routes → server, and
//! the orderly stop after it.

use std::future::Future;

use platform::http::server;
use tokio::net::TcpListener;

use crate::{app::State, config::TaskConfig, http};

/// Serves until `shutdown`, drains in-flight requests, closes the pool.
pub async fn run(
    cfg: TaskConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let state = State::from_config(&cfg).await?;
    let refresher = state.keys.spawn_refresher();
    let sweeper = state.spawn_key_sweeper(cfg.limits.key_sweep_every, cfg.limits.key_sweep_max);
    tracing::info!(addr = %listener.local_addr()?, "task service listening");
    let result = server::serve(
        listener,
        http::routes(state.clone(), cfg.common.cors_origins.clone()),
        shutdown,
        &cfg.common,
    )
    .await;
    refresher.abort();
    sweeper.abort();
    state.db.close().await;
    tracing::info!("task service stopped");
    Ok(result?)
}
