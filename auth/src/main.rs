use std::process::ExitCode;

use auth::{app::signing_keys, config::AuthConfig, http, startup};
use clap::{Parser, Subcommand};

/// The auth service of the task-management API.
///
/// Configuration comes from the environment (see README): PORT, DATABASE_URL or DB_SECRET,
/// JWT_SIGNING_KEY_SECRET or JWT_SIGNING_KEY, JWT_EXPIRATION, BCRYPT_COST, APP_ENV, ...
#[derive(Parser)]
#[command(name = "auth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP on 0.0.0.0:$PORT (the default)
    Serve,
    /// Exit 0 when this service's /auth/health answers 200 on 127.0.0.1:$PORT
    Healthcheck,
    /// Print the OpenAPI document generated from the code
    Openapi,
    /// Print a new Ed25519 signing key (PKCS#8 PEM)
    Keygen,
}

fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Healthcheck => platform::health::run_cli("/auth/health"),
        Command::Openapi => {
            println!("{}", http::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Keygen => {
            print!("{}", signing_keys::generate_pem());
            ExitCode::SUCCESS
        }
        Command::Serve => platform::startup::run_service(
            "auth",
            AuthConfig::from_env(),
            |c| &c.common,
            startup::run,
        ),
    }
}
