//! Settings read from the environment, shared by both services.
//!
//! Every variable a service reads is named in its `ENV_VARS` list so that the deployment
//! manifests can be checked against the code.

use std::{str::FromStr, time::Duration};

/// Variables read by this crate on behalf of every service.
pub const COMMON_ENV_VARS: &[&str] = &[
    "PORT",
    "DATABASE_URL",
    "DB_SECRET",
    "DB_POOL_MAX",
    "CORS_ALLOWED_ORIGINS",
    "APP_ENV",
    "LOG_FORMAT",
    "RUST_LOG",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "SHUTDOWN_TIMEOUT_SECS",
    "TRUSTED_PROXY_HOPS",
];

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
            let raw = crate::redact::mask_credentials(&raw);
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
                crate::redact::mask_credentials(&url)
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

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub source: DbSource,
    pub pool_max: u32,
}

#[derive(Clone, Debug)]
pub struct CommonConfig {
    pub port: u16,
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub database: DatabaseSettings,
    pub cors_origins: Vec<String>,
    pub shutdown_timeout: Duration,
    /// Proxies in front that append to `X-Forwarded-For` (see [`crate::client_addr`]).
    pub trusted_proxy_hops: usize,
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let app_env = parse_or("APP_ENV", AppEnv::Development)?;
        let default_format = match app_env {
            AppEnv::Production => LogFormat::Json,
            AppEnv::Development => LogFormat::Pretty,
        };
        let source = match (var("DB_SECRET"), var("DATABASE_URL")) {
            (Some(secret), _) => DbSource::Secret(secret),
            (None, Some(url)) => DbSource::Url(supported_database_url(url)?),
            (None, None) => DbSource::Url(DEFAULT_DATABASE_URL.to_owned()),
        };
        let pool_max = parse_or("DB_POOL_MAX", 5u32)?;
        if pool_max == 0 {
            return Err(ConfigError::new("DB_POOL_MAX", "must be at least 1"));
        }
        Ok(Self {
            port: parse_or("PORT", 3000u16)?,
            app_env,
            log_format: parse_or("LOG_FORMAT", default_format)?,
            database: DatabaseSettings { source, pool_max },
            cors_origins: var("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            shutdown_timeout: Duration::from_secs(parse_or("SHUTDOWN_TIMEOUT_SECS", 20u64)?),
            trusted_proxy_hops: parse_or("TRUSTED_PROXY_HOPS", 0usize)?,
        })
    }
}

/// Token settings both services agree on: auth issues with them, task checks them.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub expiration_secs: u64,
    pub issuer: String,
    pub audience: String,
}

pub const JWT_ENV_VARS: &[&str] = &["JWT_ISSUER", "JWT_AUDIENCE"];

/// Every variable a service reads: the common ones, the token ones, and its own.
pub fn service_env_vars(own: &[&'static str]) -> Vec<&'static str> {
    COMMON_ENV_VARS
        .iter()
        .chain(JWT_ENV_VARS)
        .chain(own)
        .copied()
        .collect()
}

/// The contract's defaults: 3600 s, `task-management`, `task-management-api`.
impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            expiration_secs: 3600,
            issuer: "task-management".into(),
            audience: "task-management-api".into(),
        }
    }
}

impl JwtSettings {
    /// Issuer and audience from the environment; the lifetime is auth's to set
    /// (`JWT_EXPIRATION`), the default here.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            issuer: var("JWT_ISSUER").unwrap_or(defaults.issuer),
            audience: var("JWT_AUDIENCE").unwrap_or(defaults.audience),
            ..defaults
        })
    }
}
