//! The server's lifecycle: bind, serve, and on SIGTERM/SIGINT stop accepting, let in-flight
//! requests finish (bounded), then hand back so the caller can close the pool.

use std::{future::Future, io, net::SocketAddr, time::Duration};

use poem::{Endpoint, EndpointExt, Route, listener::TcpAcceptor};
use poem_openapi::{OpenApi, OpenApiService};

use crate::middleware;
use tokio::net::TcpListener;

pub async fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint + 'static,
{
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(grace))
        .await
}

/// Resolves on the first SIGTERM (what ECS sends) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// A service's routes: its API, the spec at `{prefix}/openapi.json`, Swagger UI at
/// `{prefix}/docs`, shared `state`, all behind the request middleware.
pub fn service_routes<T, S>(
    api: OpenApiService<T, ()>,
    prefix: &str,
    state: S,
    settings: middleware::Settings,
) -> impl Endpoint
where
    T: OpenApi + 'static,
    S: Clone + Send + Sync + 'static,
{
    let app = Route::new()
        .at(format!("{prefix}/openapi.json"), api.spec_endpoint())
        .nest(format!("{prefix}/docs"), api.swagger_ui())
        .nest("/", api)
        .data(state);
    middleware::wrap(app, settings)
}
