//! The task service's settings: the shared ones, the token ones and its own, each declared
//! once as an argument bound to its environment variable (`task --help` lists them).

use std::time::Duration;

use clap::Args;
use platform::process::config::{self, CommonArgs, CommonConfig, ConfigError};
use token_contract::settings::{JwtArgs, JwtSettings};

#[derive(Clone, Debug)]
pub struct KeySettings {
    /// Base URL of the auth service; the JWK Set is at `/auth/.well-known/jwks.json`.
    pub auth_service_url: String,
    /// Routine refresh period.
    pub refresh_every: Duration,
    /// An unknown `kid` triggers a refresh at most this often.
    pub min_refresh_interval: Duration,
    /// Timeout of one fetch.
    pub fetch_timeout: Duration,
    /// How long start-up keeps retrying before serving without keys.
    pub startup_wait: Duration,
    /// How long a token's revocation state (its user's cut-off and generation, whether it
    /// was logged out, the user's existence) read from the database is trusted: the most a
    /// token ended at auth keeps working here. The contract allows 30 s.
    pub revocation_ttl: Duration,
    /// At most this many tokens' revocation states are cached at once.
    pub revocation_max_tokens: usize,
}

impl KeySettings {
    pub fn new(auth_service_url: impl Into<String>) -> Self {
        Self {
            auth_service_url: auth_service_url.into().trim_end_matches('/').to_owned(),
            refresh_every: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(2),
            fetch_timeout: Duration::from_secs(3),
            startup_wait: Duration::from_secs(20),
            revocation_ttl: Duration::from_secs(15),
            revocation_max_tokens: 100_000,
        }
    }
}

/// What one user may do: the bounds that keep a user's data and writes from growing
/// without limit (docs/API.md, "Quotas and rates").
#[derive(Clone, Debug)]
pub struct UserLimits {
    /// Tasks one user may own; 0: no quota.
    pub task_quota: u64,
    /// Writes (create, update, delete) one user may make per second, across instances; 0:
    /// no limit (and nothing counted).
    pub writes_per_sec: u32,
    /// How often expired idempotency keys are swept, and how many rows one sweep deletes at
    /// most (in batches of [`crate::app::idempotency::SWEEP_BATCH`]).
    pub key_sweep_every: Duration,
    pub key_sweep_max: u64,
}

impl Default for UserLimits {
    fn default() -> Self {
        Self {
            task_quota: DEFAULT_TASK_QUOTA,
            writes_per_sec: DEFAULT_WRITES_PER_SEC,
            key_sweep_every: Duration::from_secs(10),
            key_sweep_max: 50_000,
        }
    }
}

const DEFAULT_TASK_QUOTA: u64 = 10_000;
const DEFAULT_WRITES_PER_SEC: u32 = 20;

#[derive(Clone, Debug)]
pub struct TaskConfig {
    pub common: CommonConfig,
    pub jwt: JwtSettings,
    pub keys: KeySettings,
    pub limits: UserLimits,
}

/// Settings only task reads.
#[derive(Args, Debug, Clone)]
pub struct AuthServiceArgs {
    /// Base URL of the auth service, whose JWK Set tokens are verified with
    #[arg(
        long,
        env = "AUTH_SERVICE_URL",
        default_value = "http://127.0.0.1:3001"
    )]
    pub auth_service_url: String,
}

/// Per-user bounds.
#[derive(Args, Debug, Clone)]
pub struct UserLimitArgs {
    /// Tasks one user may own; creating another is 403 (0: no quota)
    #[arg(long, env = "TASK_QUOTA_PER_USER", default_value_t = DEFAULT_TASK_QUOTA)]
    pub task_quota_per_user: u64,
    /// Task writes (create, update, delete) one user may make per second, counted across instances; past it 429 (0: no limit)
    #[arg(long, env = "TASK_WRITES_PER_USER_PER_SEC", default_value_t = DEFAULT_WRITES_PER_SEC)]
    pub task_writes_per_user_per_sec: u32,
}

impl From<UserLimitArgs> for UserLimits {
    fn from(args: UserLimitArgs) -> Self {
        Self {
            task_quota: args.task_quota_per_user,
            writes_per_sec: args.task_writes_per_user_per_sec,
            ..Self::default()
        }
    }
}

/// Everything task reads.
#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub auth_service: AuthServiceArgs,
    #[command(flatten)]
    pub limits: UserLimitArgs,
}

/// Every environment variable this service reads.
pub fn env_vars() -> Vec<String> {
    config::env_vars_of::<TaskArgs>()
}

impl TaskConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_args(config::from_env()?)
    }

    pub fn from_args(args: TaskArgs) -> Result<Self, ConfigError> {
        let url = args.auth_service.auth_service_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                "AUTH_SERVICE_URL",
                "must be an http(s) URL",
            ));
        }
        Ok(Self {
            common: args.common.into_config()?,
            jwt: args.jwt.into(),
            keys: KeySettings::new(url),
            limits: args.limits.into(),
        })
    }
}
