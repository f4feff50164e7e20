//! Start-up both binaries share: read configuration, start logging and the runtime, serve
//! until a signal, and turn the outcome into an exit code.

use std::{future::Future, process::ExitCode};

use tokio::net::TcpListener;

use crate::{
    http::server,
    process::config::{CommonConfig, ConfigError},
    process::telemetry,
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
}

impl ServiceCommand {
    /// Answers the command for a service whose liveness is `health_path`, whose spec
    /// `openapi` prints, and which `serve` runs.
    pub fn run(
        self,
        health_path: &str,
        openapi: impl FnOnce() -> String,
        serve: impl FnOnce() -> ExitCode,
    ) -> ExitCode {
        match self {
            Self::Healthcheck => crate::http::health::run_cli(health_path),
            Self::Openapi => {
                println!("{}", openapi());
                ExitCode::SUCCESS
            }
            Self::Serve => serve(),
        }
    }
}
