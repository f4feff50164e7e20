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
        })
    }
}

impl SigningArgs {
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
