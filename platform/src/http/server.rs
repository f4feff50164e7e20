//! The server's lifecycle: bind, accept (at most [`Limits::max_connections`] at once; at the
//! cap the oldest connection yet to send a request is shed for a new one), serve
//! HTTP/1.1 under read deadlines, and on SIGTERM/SIGINT stop accepting, let in-flight requests
//! finish and answer what still arrives on open connections for a short drain window (with
//! `Connection: close`), then hand back so the caller can close the pool.
//!
//! poem's own `Server` offers no header or body read timeout, and its graceful shutdown
//! waits the whole grace for a client that stopped sending; so connections are served with
//! hyper directly, and poem only sees requests. HTTP/2 is not offered: the load balancer
//! speaks HTTP/1.1 to its targets.
//!
//! What stays hand-written because poem 3.1.12 and hyper 1.x lack it:
//! - separate idle and header deadlines: hyper's `header_read_timeout` also cuts idle
//!   keep-alive connections ([`crate::http::deadlines`]);
//! - the connection cap: neither poem's `Server` nor hyper's `http1::Builder` bounds
//!   connections; shedding the oldest silent one at the cap keeps silent sockets from locking
//!   real clients out (`at_the_cap_the_oldest_silent_connection_is_shed_for_a_new_client` in
//!   platform/tests/it/http_hardening.rs);
//! - the drain window: poem's graceful shutdown waits the whole grace for a silent client;
//! - the body deadline: hyper has no body read timeout (`limit_body` in the middleware).

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use poem::{
    Addr, Endpoint, EndpointExt, Route,
    http::{HeaderValue, header, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use poem_openapi::{OpenApi, OpenApiService};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};

pub use crate::http::deadlines::{Limits, RequestContext, Stage};
use crate::{
    http::deadlines::{ConnectionPhase, DeadlineIo},
    http::methods,
    http::middleware,
    http::wire_errors::{self, EnvelopeIo},
    process::config::CommonConfig,
};

pub async fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// How to serve: the shutdown grace, connection limits, and the proxies in front.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How long in-flight requests may take after the shutdown signal (the drain window
    /// included).
    pub grace: Duration,
    /// After the shutdown signal, how long open keep-alive connections are still served: a
    /// request arriving meanwhile is answered with `Connection: close`; idle connections are
    /// closed when it ends. See [`DRAIN_WINDOW`].
    pub drain: Duration,
    pub limits: Limits,
    /// See [`crate::http::client_addr`].
    pub trusted_proxy_hops: usize,
}

impl From<Duration> for ServeOptions {
    /// The contract's limits, no trusted proxy, and this grace.
    fn from(grace: Duration) -> Self {
        Self {
            grace,
            drain: DRAIN_WINDOW.min(grace),
            limits: Limits::default(),
            trusted_proxy_hops: 0,
        }
    }
}

impl From<&CommonConfig> for ServeOptions {
    fn from(cfg: &CommonConfig) -> Self {
        Self {
            grace: cfg.shutdown_timeout,
            drain: DRAIN_WINDOW.min(cfg.shutdown_timeout),
            limits: Limits::default(),
            trusted_proxy_hops: cfg.trusted_proxy_hops,
        }
    }
}

/// How long open connections are still served after SIGTERM. A pooled keep-alive client picks
/// a connection and sends on it without knowing the server is stopping; closing an idle one
/// at once races that request, which is then lost. For this window every response says
/// `Connection: close`, so each connection in use closes cleanly after one more exchange and
/// its client opens a new one (to another instance); a connection nobody used in the window
/// is closed at its end. 5 s: a busy client reuses its connections within milliseconds, and
/// the window plus the in-flight requests after it (bounded by the database deadline) stays
/// well inside `SHUTDOWN_TIMEOUT_SECS` (20 s) and ECS's stop timeout (30 s) before SIGKILL;
/// behind the load balancer, whose 30 s deregistration delay ends before ECS signals the
/// task, nothing arrives in it anyway.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves, then drains for at most the grace.
///
/// On shutdown: the listener closes. For the drain window ([`ServeOptions::drain`]) open
/// connections are still served, each response with `Connection: close`; after it, idle and
/// half-sent connections close, a request still receiving its body is answered 503 (the
/// middleware watches [`Stage`]), and a request in its handler finishes, its connection then
/// closes. What is left after the grace is dropped. Returns as soon as no connection is left.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    shutdown: impl Future<Output = ()> + Send,
    options: impl Into<ServeOptions>,
) -> io::Result<()>
where
    E: Endpoint + 'static,
{
    let options = options.into();
    let app = Arc::new(app);
    let (stage_tx, stage) = watch::channel(Stage::Serving);
    let max = options.limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    tokio::pin!(shutdown);

    let fresh = Fresh::default();
    'serve: loop {
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // At the cap, room is made by shedding the oldest connection that has yet to send a
        // request; when there is none (all busy or kept alive), the client waits for a slot.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                fresh.shed_oldest();
                tokio::select! {
                    () = &mut shutdown => break 'serve,
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(p) => break p,
                        Err(_) => break 'serve, // never closed; but if it were, stop serving
                    },
                    // A shed connection whose head completed meanwhile is served, not closed.
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            },
        };
        let clock = ConnectionPhase::new(&options.limits);
        fresh.push(&clock, max);
        let conn = Connection {
            app: app.clone(),
            context: RequestContext {
                body_read: options.limits.body_read,
                trusted_proxy_hops: options.trusted_proxy_hops,
                stage: stage.clone(),
            },
            local: socket.local_addr().ok(),
            peer,
        };
        tokio::spawn(async move {
            conn.serve(socket, clock).await;
            drop(permit);
        });
    }

    drop(listener);
    let in_flight = max - slots.available_permits();
    tracing::info!(
        in_flight,
        grace_secs = options.grace.as_secs_f32(),
        "shutting down: draining connections"
    );
    let _ = stage_tx.send(Stage::Draining);
    let all_closed = || async {
        // Every connection holds a slot until it ends.
        let _ = slots.acquire_many(max as u32).await;
    };
    let started = tokio::time::Instant::now();
    let drain = options.drain.min(options.grace);
    if tokio::time::timeout(drain, all_closed()).await.is_err() {
        tracing::info!(
            open = max - slots.available_permits(),
            "drain window over: closing idle connections"
        );
        let _ = stage_tx.send(Stage::Stopping);
    }
    let rest = options.grace.saturating_sub(started.elapsed());
    if tokio::time::timeout(rest, all_closed()).await.is_err() {
        tracing::warn!("shutdown grace over: dropping the connections left");
        let _ = stage_tx.send(Stage::Closing);
        let _ = tokio::time::timeout(Duration::from_secs(1), all_closed()).await;
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The connections still to send their first request, oldest first: the ones shed at the
/// cap. Entries of connections that have moved on or ended are dropped lazily.
#[derive(Default)]
struct Fresh(Mutex<VecDeque<Weak<ConnectionPhase>>>);

impl Fresh {
    fn push(&self, clock: &Arc<ConnectionPhase>, max: usize) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= 2 * max {
            q.retain(|w| w.upgrade().is_some_and(|c| c.is_fresh()));
        }
        q.push_back(Arc::downgrade(clock));
    }

    /// Sheds the oldest connection still to send a request, if any.
    fn shed_oldest(&self) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(w) = q.pop_front() {
            if w.upgrade().is_some_and(|c| c.shed()) {
                tracing::debug!("at the connection cap: closed the oldest silent connection");
                return;
            }
        }
    }
}

struct Connection<E> {
    app: Arc<E>,
    context: RequestContext,
    local: Option<SocketAddr>,
    peer: SocketAddr,
}

impl<E: Endpoint + 'static> Connection<E> {
    async fn serve(self, socket: TcpStream, clock: Arc<ConnectionPhase>) {
        let Self {
            app,
            context,
            local,
            peer,
        } = self;
        let mut stage = context.stage.clone();
        let local = LocalAddr(local.map_or(Addr::Custom("unknown", "".into()), Addr::SocketAddr));
        let remote = RemoteAddr(Addr::SocketAddr(peer));

        let service = hyper::service::service_fn({
            let clock = clock.clone();
            move |mut req: hyper::Request<Incoming>| {
                clock.busy();
                let stage = context.stage.clone();
                req.extensions_mut().insert(context.clone());
                let req = poem::Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
                let (app, clock) = (app.clone(), clock.clone());
                async move {
                    let mut resp = app.get_response(req).await;
                    // Shutting down: this exchange is the connection's last (hyper closes it
                    // after a response that says so), and the client knows it.
                    if *stage.borrow() != Stage::Serving {
                        resp.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    clock.waiting();
                    Ok::<_, Infallible>(hyper::Response::from(resp))
                }
            }
        });
        let io = EnvelopeIo::new(DeadlineIo::new(socket, clock));
        let conn = http1::Builder::new()
            .keep_alive(true)
            // The deadlines live in `DeadlineIo`, which tells head from idle wait.
            .header_read_timeout(None)
            // (hyper's default field limit, 100, is `wire_errors::MAX_HEADERS`; setting it
            // would move the header array to the heap.)
            .max_header_size(wire_errors::MAX_HEAD_BYTES)
            // One flat write buffer, handed over whole: what `EnvelopeIo` relies on.
            .writev(false)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);

        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stage.wait_for(|s| *s >= Stage::Stopping) => {}
        }
        // Closes an idle connection now, a busy one after its response.
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = stage.wait_for(|s| *s == Stage::Closing) => {}
        }
    }
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
    let spec_path = format!("{prefix}/openapi.json");
    let docs_path = format!("{prefix}/docs");
    let allow = methods::AllowTable::from_spec(&api.spec())
        .with_read_only(&spec_path)
        .with_read_only_tree(&docs_path);
    let app = Route::new()
        .at(spec_path, methods::read_only(api.spec_endpoint()))
        .nest(docs_path, methods::read_only(api.swagger_ui()))
        .nest("/", api)
        .data(state);
    middleware::wrap(methods::with_allow(app, allow), settings)
}
