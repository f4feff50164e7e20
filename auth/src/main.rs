use std::process::ExitCode;

use auth::{
    app::signing_keys,
    config::{AuthArgs, AuthConfig},
    http, startup,
};
use clap::{Parser, Subcommand};

/// The auth service of the task-management API.
///
/// Every setting below is read from its environment variable (or the flag of the same
/// name); the defaults are what runs when neither is given.
#[derive(Parser)]
#[command(name = "auth", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    settings: AuthArgs,
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
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
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
            AuthConfig::from_args(cli.settings),
            |c| &c.common,
            startup::run,
        ),
    }
}
