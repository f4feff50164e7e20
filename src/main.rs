//! `cargo run` at the repository root: the whole system on one machine. auth and task run
//! as they do in the cloud (task verifies tokens with keys it fetches from auth over HTTP),
//! behind a path router on `127.0.0.1:$PORT` standing in for the load balancer.

mod router;

use std::{
    future::Future, net::SocketAddr, path::Path, pin::Pin, process::ExitCode, time::Duration,
};

use anyhow::Context;
use auth::config::{AuthConfig, KeySource, SigningArgs};
use clap::{Args, Parser, Subcommand};
use platform::{
    http::server,
    process::config::{AppEnv, CommonArgs, CommonConfig},
    process::telemetry,
};
use task::config::TaskConfig;
use token_contract::settings::{JwtArgs, JwtSettings};
use tokio::{net::TcpListener, sync::watch};

/// The task-management API, locally: auth, task and a path router on one port.
///
/// Every setting below is read from its environment variable (or the flag of the same
/// name) and handed to both services; the defaults are what runs when neither is given.
#[derive(Parser)]
#[command(name = "task-management", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    settings: StackArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What the local stack reads: the shared settings (PORT is the router's), the token
/// settings, auth's signing settings and task's per-user bounds.
#[derive(Args, Debug, Clone)]
struct StackArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    signing: SigningArgs,
    #[command(flatten)]
    task_limits: task::config::UserLimitArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start auth, task and the router (the default)
    Up,
    /// Apply the pending database migrations and exit (what `up` does at start-up with
    /// DB_MIGRATIONS=apply)
    Migrate,
    /// Only the router, in front of services started elsewhere
    Router {
        /// Base URL of the auth service
        #[arg(long, env = "AUTH_SERVICE_URL")]
        auth: String,
        /// Base URL of the task service
        #[arg(long, env = "TASK_SERVICE_URL")]
        task: String,
    },
}

/// Where the local stack keeps a development signing key, so tokens survive restarts.
const DEV_KEY_PATH: &str = "data/dev-signing-key.pem";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Up);
    let settings = cli.settings;
    let common = match settings.common.clone().into_config() {
        Ok(common) => common,
        Err(e) => {
            eprintln!("task-management: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // The same defaults as the services: JSON logs in production, text otherwise. The
    // guard lives until the process returns: dropping it flushes the logs and the metrics.
    let _telemetry = telemetry::init(common.log_format, "info");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match command {
            Command::Up => up(settings, common).await,
            Command::Router { auth, task } => router_only(common.port, auth, task).await,
            Command::Migrate => platform::startup::migrate(&common).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("task-management: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn router_only(port: u16, auth: String, task: String) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    tracing::info!(addr = %listener.local_addr()?, %auth, %task, "router listening");
    let app = router::router(router::Upstreams { auth, task })?;
    server::serve(
        listener,
        app,
        server::shutdown_signal(),
        Duration::from_secs(10),
    )
    .await?;
    Ok(())
}

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

fn stop_on(rx: &watch::Receiver<bool>) -> Stop {
    let mut rx = rx.clone();
    Box::pin(async move {
        let _ = rx.wait_for(|stop| *stop).await;
    })
}

async fn up(settings: StackArgs, common: CommonConfig) -> anyhow::Result<()> {
    let port = common.port;
    let router_listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (set PORT to use another port)")
        })?;
    let auth_listener = TcpListener::bind("127.0.0.1:0").await?;
    let task_listener = TcpListener::bind("127.0.0.1:0").await?;
    let auth_url = format!("http://{}", auth_listener.local_addr()?);
    let task_url = format!("http://{}", task_listener.local_addr()?);
    let public = format!("http://{}", router_listener.local_addr()?);

    let jwt: JwtSettings = settings.jwt.into();
    let mut auth_cfg = AuthConfig {
        common: common.clone(),
        jwt: jwt.clone(),
        signing_key: settings.signing.key_source(),
        bcrypt_cost: settings.signing.bcrypt_cost,
        limits: settings.signing.limits(),
    };
    // Development keeps a key under ./data so tokens survive restarts. Production is honoured
    // as such: no key is made up, and auth refuses to start without a configured one.
    if matches!(auth_cfg.signing_key, KeySource::Ephemeral)
        && auth_cfg.common.app_env == AppEnv::Development
    {
        auth_cfg.signing_key = KeySource::Inline(dev_signing_key()?);
    }
    let mut task_cfg = TaskConfig {
        common,
        jwt,
        keys: task::config::KeySettings::new(auth_url.clone()),
        limits: settings.task_limits.into(),
    };
    // The router appends the client to X-Forwarded-For, as the load balancer does.
    auth_cfg.common.trusted_proxy_hops = 1;
    task_cfg.common.trusted_proxy_hops = 1;

    let (stop_tx, stop_rx) = watch::channel(false);
    let auth = tokio::spawn(auth::startup::run(
        auth_cfg,
        auth_listener,
        stop_on(&stop_rx),
    ));
    // auth first: it creates the schema and serves the keys task loads at start-up.
    let auth = wait_healthy("auth", &format!("{auth_url}/auth/health"), auth).await?;
    let task = tokio::spawn(task::startup::run(
        task_cfg.clone(),
        task_listener,
        stop_on(&stop_rx),
    ));
    let task = match wait_healthy("task", &format!("{task_url}/tasks/health"), task).await {
        Ok(task) => task,
        Err(e) => {
            let _ = stop_tx.send(true);
            let _ = auth.await;
            return Err(e);
        }
    };

    let database = match &task_cfg.common.database.source {
        platform::process::config::DbSource::Url(u) => {
            platform::process::redact::mask_credentials(u)
        }
        platform::process::config::DbSource::Secret(id) => format!("secret {id}"),
    };
    println!("{}", banner(&public, &auth_url, &task_url, &database));

    let app = router::router(router::Upstreams {
        auth: auth_url,
        task: task_url,
    })?;
    let served = server::serve(
        router_listener,
        app,
        server::shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    let _ = stop_tx.send(true);
    let (a, t) = (auth.await, task.await);
    served?;
    a??;
    t??;
    Ok(())
}

/// Waits until `url` answers 2xx. A service that stops first is a start-up failure, and
/// its own error is the one reported, so the cause is the last thing printed.
async fn wait_healthy(
    name: &str,
    url: &str,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    for _ in 0..600 {
        if handle.is_finished() {
            return Err(match handle.await {
                Ok(Ok(())) => anyhow::anyhow!("the {name} service stopped during start-up"),
                Ok(Err(e)) => e.context(format!("the {name} service could not start")),
                Err(e) => anyhow::anyhow!("the {name} service crashed during start-up: {e}"),
            });
        }
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(handle);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.abort();
    anyhow::bail!("the {name} service did not answer {url} within 60 s")
}

/// A signing key kept under ./data so that a restart does not log everyone out. Local use
/// only: production keys come from Secrets Manager.
fn dev_signing_key() -> anyhow::Result<String> {
    let path = Path::new(DEV_KEY_PATH);
    if let Ok(pem) = std::fs::read_to_string(path) {
        return Ok(pem);
    }
    let pem = auth::app::signing_keys::generate_pem();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, &pem).with_context(|| format!("writing {DEV_KEY_PATH}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::info!(path = DEV_KEY_PATH, "created a development signing key");
    Ok(pem)
}

/// What `cargo run` prints once both services answer: where to start, and what runs where.
fn banner(public: &str, auth_url: &str, task_url: &str, database: &str) -> String {
    format!(
        "\n  Task management API, local stack\n\
         \n    API (load balancer)  {public}\
         \n    Start here           {public}/docs  (how to get a token; both Swagger UIs)\
         \n    Auth Swagger UI      {public}/auth/docs\
         \n    Task Swagger UI      {public}/tasks/docs\
         \n    OpenAPI specs        {public}/auth/openapi.json  {public}/tasks/openapi.json\
         \n    auth service         {auth_url}\
         \n    task service         {task_url}\
         \n    database             {database}\
         \n\n  Ctrl-C stops everything.\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_banner_names_the_starting_page_first() {
        let text = super::banner(
            "http://127.0.0.1:3000",
            "http://127.0.0.1:40001",
            "http://127.0.0.1:40002",
            "sqlite://data/task-management.db?mode=rwc",
        );
        let start = text
            .find("http://127.0.0.1:3000/docs ")
            .expect("the banner lists /docs");
        let swagger = text.find("/auth/docs").expect("and the Swagger UIs");
        assert!(start < swagger, "{text}");
    }
}
