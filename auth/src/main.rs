use std::process::ExitCode;

// musl's own allocator (the static build's default) is far slower than glibc's on the path
// every request takes (docs/benchmarks.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// musl's memcpy is `rep movsq` for every size, slow on the small copies Rust makes; this crate's
// takes its place in the static binary (musl-memcpy/src/copy.c).
use musl_memcpy as _;

use auth::{
    app::signing_keys,
    config::{AuthArgs, AuthConfig},
    http, startup,
};
use clap::{Parser, Subcommand};
use platform::startup::{ServiceCommand, run_migrate, run_service};

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
    #[command(flatten)]
    Service(ServiceCommand),
    /// Print a new Ed25519 signing key (PKCS#8 PEM)
    Keygen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or(Command::Service(ServiceCommand::Serve))
    {
        Command::Keygen => {
            print!("{}", signing_keys::generate_pem());
            ExitCode::SUCCESS
        }
        Command::Service(command) => {
            let common = cli.settings.common.clone();
            command.run(
                "/auth/health",
                http::openapi_json,
                || run_migrate("auth", common.into_config()),
                || {
                    let cfg = AuthConfig::from_args(cli.settings);
                    run_service("auth", cfg, |c| &c.common, startup::run)
                },
            )
        }
    }
}
