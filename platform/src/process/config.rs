//! Settings read from the environment, shared by both services.
//!
//! Each setting is declared once, as a clap argument bound to its environment variable:
//! that declaration is what the service reads, what `--help` lists (with its default), and
//! what the deployment manifests and the README are checked against.

use std::{str::FromStr, time::Duration};

use clap::Args;

/// The embedded default: one SQLite file both services share, as they share one database in
/// the cloud.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/task-management.db?mode=rwc";

#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }
}

/// A variable's value, `None` when unset or blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Parses a variable, falling back to `default` when unset.
pub fn parse_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|e: T::Err| {
            let raw = crate::process::redact::mask_credentials(&raw);
            ConfigError::new(name, format!("{raw:?}: {e}"))
        }),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" | "test" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => Err(format!("expected development or production, got {other}")),
        }
    }
}

/// What a service does about schema migrations at start-up (`DB_MIGRATIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationMode {
    /// Applies this release's pending migrations (under the migration lock), then serves.
    Apply,
    /// Never changes the schema: refuses to start while one of this release's migrations is
    /// not applied. A release step (`<binary> migrate`) applies them beforehand.
    Verify,
}

impl FromStr for MigrationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "apply" => Ok(Self::Apply),
            "verify" => Ok(Self::Verify),
            other => Err(format!("expected apply or verify, got {other}")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            other => Err(format!("expected json or pretty, got {other}")),
        }
    }
}

/// The drivers this build has: say so at start-up rather than fail inside the pool.
fn supported_database_url(url: String) -> Result<String, ConfigError> {
    let lower = url.to_ascii_lowercase();
    if ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        Ok(url)
    } else {
        Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "{:?} is not a postgres:// or sqlite:// URL (the only databases supported)",
                crate::process::redact::mask_credentials(&url)
            ),
        ))
    }
}

/// Where the database credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbSource {
    /// A connection URL given directly (`DATABASE_URL` or the SQLite default).
    Url(String),
    /// A Secrets Manager id of an RDS-style JSON secret (`DB_SECRET`); re-read on rotation.
    Secret(String),
}

/// `DB_STATEMENT_TIMEOUT_MS`'s default.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub source: DbSource,
    pub pool_max: u32,
    /// How long one statement may take: PostgreSQL cancels it (`statement_timeout`), and
    /// the caller gives up on any database operation soon after (see [`crate::db`]).
    pub statement_timeout: Duration,
    /// Whether [`crate::db::Database::connect`] applies pending migrations or only checks
    /// that none is pending.
    pub migrations: MigrationMode,
}

#[derive(Clone, Debug)]
pub struct CommonConfig {
    pub port: u16,
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub database: DatabaseSettings,
    pub cors_origins: Vec<String>,
    pub shutdown_timeout: Duration,
    /// Proxies in front that append to `X-Forwarded-For` (see [`crate::http::client_addr`]).
    pub trusted_proxy_hops: usize,
}

/// The settings every service reads.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Listen port (the local stack: the router's port)
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// `postgres://…` or `sqlite://…` (the default is an SQLite file under ./data)
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Secrets Manager id of an RDS-style JSON secret; wins over DATABASE_URL, re-read on rotation
    #[arg(long, env = "DB_SECRET", hide_env_values = true)]
    pub db_secret: Option<String>,
    /// Database connections per process
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool_max: u32,
    /// Milliseconds one database statement may take before it is cancelled and the request gets 503
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_statement_timeout_ms: u64,
    /// Comma-separated origins that get CORS headers (empty: none)
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
    /// How many proxies append to X-Forwarded-For (0: the client is the socket's peer)
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,
    /// `development` or `production`
    #[arg(long, env = "APP_ENV", default_value = "development")]
    pub app_env: AppEnv,
    /// `apply`: apply pending migrations at start-up; `verify`: never change the schema, refuse
    /// to start while one is pending (`migrate` applies them) (default: verify in production,
    /// apply otherwise)
    #[arg(long, env = "DB_MIGRATIONS")]
    pub db_migrations: Option<MigrationMode>,
    /// `json` or `pretty` (default: json in production, pretty otherwise)
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,
    /// Seconds in-flight requests may take after SIGTERM
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
    /// AWS region for Secrets Manager (the AWS SDK reads it)
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// Another Secrets Manager endpoint, e.g. a local emulator (the AWS SDK reads it)
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// CA bundle (PEM) for outbound TLS; the container image sets it
    #[arg(long, env = "SSL_CERT_FILE")]
    pub ssl_cert_file: Option<String>,
}

impl CommonArgs {
    pub fn into_config(self) -> Result<CommonConfig, ConfigError> {
        let source = match (
            non_blank(self.db_secret),
            non_blank(Some(self.database_url)),
        ) {
            (Some(secret), _) => DbSource::Secret(secret),
            (None, Some(url)) => DbSource::Url(supported_database_url(url)?),
            (None, None) => DbSource::Url(DEFAULT_DATABASE_URL.to_owned()),
        };
        Ok(CommonConfig {
            port: self.port,
            app_env: self.app_env,
            log_format: self.log_format.unwrap_or(match self.app_env {
                AppEnv::Production => LogFormat::Json,
                AppEnv::Development => LogFormat::Pretty,
            }),
            database: DatabaseSettings {
                source,
                pool_max: self.db_pool_max,
                statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
                migrations: self.db_migrations.unwrap_or(match self.app_env {
                    AppEnv::Production => MigrationMode::Verify,
                    AppEnv::Development => MigrationMode::Apply,
                }),
            },
            cors_origins: self
                .cors_allowed_origins
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            trusted_proxy_hops: self.trusted_proxy_hops,
        })
    }
}

/// A value, `None` when unset or blank (an empty variable in a manifest means "not set").
pub fn non_blank(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The environment variables a set of arguments reads, in declaration order.
pub fn env_vars_of<A: Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// Parses `A` from the environment alone (no command-line arguments), as a service does.
pub fn from_env<A: Args + clap::FromArgMatches>() -> Result<A, ConfigError> {
    let matches = A::augment_args(clap::Command::new("settings").no_binary_name(true))
        .try_get_matches_from(std::iter::empty::<String>())
        .map_err(|e| ConfigError::new("environment", e.to_string().trim().to_owned()))?;
    A::from_arg_matches(&matches)
        .map_err(|e| ConfigError::new("environment", e.to_string().trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn migrations(flags: &[&str]) -> Result<MigrationMode, String> {
        let cli = Cli::try_parse_from(std::iter::once("service").chain(flags.iter().copied()))
            .map_err(|e| e.to_string())?;
        Ok(cli
            .common
            .into_config()
            .map_err(|e| e.to_string())?
            .database
            .migrations)
    }

    #[test]
    fn migrations_are_verified_in_production_and_applied_otherwise_unless_set() {
        assert_eq!(migrations(&[]), Ok(MigrationMode::Apply));
        let production = ["--app-env", "production"];
        assert_eq!(migrations(&production), Ok(MigrationMode::Verify));
        let apply = [&production[..], &["--db-migrations", "apply"]].concat();
        assert_eq!(migrations(&apply), Ok(MigrationMode::Apply));
        assert_eq!(
            migrations(&["--db-migrations", "VERIFY"]),
            Ok(MigrationMode::Verify)
        );
        let refused = migrations(&["--db-migrations", "skip"]).unwrap_err();
        assert!(refused.contains("apply or verify"), "{refused}");
    }
}
