//! The auth service's configuration, read once at start-up.

use platform::config::{self, CommonConfig, ConfigError, JwtSettings};

/// Every environment variable this service reads.
pub const ENV_VARS: &[&str] = &[
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
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_EXPIRATION",
    "JWT_SIGNING_KEY_SECRET",
    "JWT_SIGNING_KEY",
    "BCRYPT_COST",
];

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
        let bcrypt_cost = config::parse_or("BCRYPT_COST", 10u32)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError::new("BCRYPT_COST", "must be between 4 and 31"));
        }
        let signing_key = match (
            config::var("JWT_SIGNING_KEY_SECRET"),
            std::env::var("JWT_SIGNING_KEY"),
        ) {
            (Some(id), _) => KeySource::Secret(id),
            (None, Ok(pem)) if !pem.trim().is_empty() => KeySource::Inline(pem),
            _ => KeySource::Ephemeral,
        };
        Ok(Self {
            common: CommonConfig::from_env()?,
            jwt: JwtSettings::from_env()?,
            signing_key,
            bcrypt_cost,
        })
    }
}
