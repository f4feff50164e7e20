use std::process::ExitCode;

use clap::{Parser, Subcommand};
use task::{config::TaskConfig, http, startup};

/// The task service of the task-management API.
///
/// Configuration comes from the environment (see README): PORT, DATABASE_URL or DB_SECRET,
/// AUTH_SERVICE_URL, JWT_ISSUER, JWT_AUDIENCE, APP_ENV, ...
#[derive(Parser)]
#[command(name = "task", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP on 0.0.0.0:$PORT (the default)
    Serve,
    /// Exit 0 when this service's /tasks/health answers 200 on 127.0.0.1:$PORT
    Healthcheck,
    /// Print the OpenAPI document generated from the code
    Openapi,
}

fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Healthcheck => platform::health::run_cli("/tasks/health"),
        Command::Openapi => {
            println!("{}", http::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Serve => platform::startup::run_service(
            "task",
            TaskConfig::from_env(),
            |c| &c.common,
            startup::run,
        ),
    }
}
