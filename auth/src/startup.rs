//! Start-up: configuration → state → routes → server, and the orderly stop after it.

use std::future::Future;

use platform::http::server;
use tokio::net::TcpListener;

use crate::{app::State, config::AuthConfig, http};

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
        http::routes(state.clone(), cfg.common.cors_origins.clone()),
        shutdown,
        &cfg.common,
    )
    .await;
    state.db.close().await;
    tracing::info!("auth service stopped");
    Ok(result?)
}
