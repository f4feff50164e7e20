//! The auth service's settings: the shared ones, the token ones and its own, each declared
//! once as an argument bound to its environment variable (`auth --help` lists them).

use clap::Args;
use platform::process::config::{self, CommonArgs, CommonConfig, ConfigError};
use token_contract::settings::{JwtArgs, JwtSettings};

/// Settings only auth reads.
#[derive(Args, Debug, Clone)]
pub struct SigningArgs {
    /// Secrets Manager id of the Ed25519 signing key(s), PKCS#8 PEM
    #[arg(long, env = "JWT_SIGNING_KEY_SECRET", hide_env_values = true)]
    pub jwt_signing_key_secret: Option<String>,
    /// The signing key inline (PEM), for local use and tests; neither set: an ephemeral key
    /// (refused in production)
    #[arg(long, env = "JWT_SIGNING_KEY", hide_env_values = true)]
    pub jwt_signing_key: Option<String>,
    /// bcrypt cost factor
    #[arg(long, env = "BCRYPT_COST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
    /// Registrations accepted from one client address per hour (counted in the database,
    /// across instances); past it, 429 with Retry-After
    #[arg(long, env = "REGISTER_PER_ADDRESS_PER_HOUR", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub register_per_address_per_hour: u32,
    /// Password hashes and verifications one process runs at once
    #[arg(long, env = "HASH_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub hash_concurrency: u32,
    /// Requests that may wait for a hashing slot; past it, 503 with Retry-After at once
    #[arg(long, env = "HASH_QUEUE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub hash_queue: u32,
}

/// How much work strangers can make auth do: registrations per address, and the bcrypt
/// work in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthLimits {
    pub register_per_address_per_hour: u32,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
}

/// The `--help` defaults.
impl Default for AuthLimits {
    fn default() -> Self {
        Self {
            register_per_address_per_hour: 20,
            hash_concurrency: 2,
            hash_queue: 8,
        }
    }
}

/// Everything auth reads.
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Every environment variable this service reads.
pub fn env_vars() -> Vec<String> {
    config::env_vars_of::<AuthArgs>()
}

/// Where the token-signing key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// Secrets Manager id of the PEM key (or key bundle).
    Secret(String),
    /// The PEM inline.
    Inline(String),
    /// None configured: generate one per process (development only).
    Ephemeral,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub common: CommonConfig,
    pub jwt: JwtSettings,
    pub signing_key: KeySource,
    pub bcrypt_cost: u32,
    pub limits: AuthLimits,
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_args(config::from_env()?)
    }

    pub fn from_args(args: AuthArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            common: args.common.into_config()?,
            jwt: args.jwt.into(),
            signing_key: args.signing.key_source(),
            bcrypt_cost: args.signing.bcrypt_cost,
            limits: args.signing.limits(),
        })
    }
}

impl SigningArgs {
    pub fn limits(&self) -> AuthLimits {
        AuthLimits {
            register_per_address_per_hour: self.register_per_address_per_hour,
            hash_concurrency: self.hash_concurrency as usize,
            hash_queue: self.hash_queue as usize,
        }
    }

    pub fn key_source(&self) -> KeySource {
        match (
            config::non_blank(self.jwt_signing_key_secret.clone()),
            config::non_blank(self.jwt_signing_key.clone()),
        ) {
            (Some(id), _) => KeySource::Secret(id),
            (None, Some(pem)) => KeySource::Inline(pem),
            _ => KeySource::Ephemeral,
        }
    }
}
