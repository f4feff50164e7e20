//! Start-up both binaries share: read configuration, start logging and the runtime, serve
//! until a signal, and turn the outcome into an exit code.

use std::{future::Future, process::ExitCode};

use tokio::net::TcpListener;

use crate::{
    db::Database,
    http::server,
    process::config::{CommonConfig, ConfigError, DbSource},
    process::{secrets::Secrets, telemetry},
};

/// Runs `serve` for a service called `name` with configuration `cfg`.
pub fn run_service<C, F, Fut>(
    name: &str,
    cfg: Result<C, ConfigError>,
    common: impl Fn(&C) -> &CommonConfig,
    serve: F,
) -> ExitCode
where
    F: FnOnce(C, TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cfg = match cfg {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{name}: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let (format, port) = (common(&cfg).log_format, common(&cfg).port);
    // Lives until the process returns: dropping it flushes the logs and the last metrics.
    let _telemetry = telemetry::init(format, "info");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let listener = server::bind(port).await?;
        serve(cfg, listener, Box::pin(server::shutdown_signal())).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{name} failed");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `<name> migrate`: applies this release's pending migrations to the configured database
/// ([`migrate`]); exit 0, or non-zero with the reason on stderr. It reads only the shared
/// settings: the release step runs it with the service's own environment.
pub fn run_migrate(name: &str, cfg: Result<CommonConfig, ConfigError>) -> ExitCode {
    let cfg = match cfg {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{name} migrate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let migrated = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(migrate(&cfg)));
    match migrated {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} migrate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Applies this release's pending migrations and prints one line per migration applied, or
/// that there was nothing to apply, and the recorded migrations it does not know.
pub async fn migrate(cfg: &CommonConfig) -> anyhow::Result<()> {
    let secrets = match cfg.database.source {
        DbSource::Secret(_) => Some(Secrets::from_env().await?),
        DbSource::Url(_) => None,
    };
    let report = Database::migrate(&cfg.database, secrets.as_ref()).await?;
    for migration in &report.applied {
        println!("applied {migration}");
    }
    if report.applied.is_empty() {
        println!("nothing to apply");
    }
    if !report.unknown.is_empty() {
        println!(
            "left alone, not known to this release (a newer release's): {}",
            report.unknown.join(", ")
        );
    }
    Ok(())
}

/// The subcommands every service binary answers.
#[derive(clap::Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCommand {
    /// Serve HTTP on 0.0.0.0:$PORT (the default)
    Serve,
    /// Exit 0 when this service's health endpoint answers 200 on 127.0.0.1:$PORT (the
    /// container health check: a scratch image has no curl)
    Healthcheck,
    /// Print the OpenAPI document generated from the code
    Openapi,
    /// Apply the pending database migrations and exit: the release step before services
    /// started with DB_MIGRATIONS=verify are updated
    Migrate,
}

impl ServiceCommand {
    /// Answers the command for a service whose liveness is `health_path`, whose spec
    /// `openapi` prints, whose migrations `migrate` applies and which `serve` runs.
    pub fn run(
        self,
        health_path: &str,
        openapi: impl FnOnce() -> String,
        migrate: impl FnOnce() -> ExitCode,
        serve: impl FnOnce() -> ExitCode,
    ) -> ExitCode {
        match self {
            Self::Migrate => migrate(),
            Self::Healthcheck => crate::http::health::run_cli(health_path),
            Self::Openapi => {
                println!("{}", openapi());
                ExitCode::SUCCESS
            }
            Self::Serve => serve(),
        }
    }
}
