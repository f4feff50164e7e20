use std::process::ExitCode;

// musl's own allocator (the static build's default) is far slower than glibc's on the path
// every request takes (docs/benchmarks.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// musl's memcpy is `rep movsq` for every size, slow on the small copies Rust makes; this crate's
// takes its place in the static binary (musl-memcpy/src/copy.c).
use musl_memcpy as _;

use clap::Parser;
use platform::startup::{ServiceCommand, run_migrate, run_service};
use task::{
    config::{TaskArgs, TaskConfig},
    http, startup,
};

/// The task service of the task-management API.
///
/// Every setting below is read from its environment variable (or the flag of the same
/// name); the defaults are what runs when neither is given.
#[derive(Parser)]
#[command(name = "task", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    settings: TaskArgs,
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = cli.settings.common.clone();
    cli.command.unwrap_or(ServiceCommand::Serve).run(
        "/tasks/health",
        http::openapi_json,
        || run_migrate("task", common.into_config()),
        || {
            let cfg = TaskConfig::from_args(cli.settings);
            run_service("task", cfg, |c| &c.common, startup::run)
        },
    )
}
