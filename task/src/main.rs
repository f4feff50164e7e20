use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => platform::health::run_cli("/tasks/health"),
        Command::Openapi => {
            println!("{}", http::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Serve => platform::startup::run_service(
            "task",
            TaskConfig::from_args(cli.settings),
            |c| &c.common,
            startup::run,
        ),
    }
}
