//! The auth service's configuration, read once at start-up.

use platform::config::{self, CommonConfig, ConfigError, JwtSettings};

/// The environment variables only auth reads (beyond `platform::config`'s).
pub const OWN_ENV_VARS: &[&str] = &[
    "JWT_EXPIRATION",
    "JWT_SIGNING_KEY_SECRET",
    "JWT_SIGNING_KEY",
    "BCRYPT_COST",
];

/// Every environment variable this service reads.
pub fn env_vars() -> Vec<&'static str> {
    config::service_env_vars(OWN_ENV_VARS)
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
        let mut jwt = JwtSettings::from_env()?;
        jwt.expiration_secs = config::parse_or("JWT_EXPIRATION", 3600u64)?;
        if jwt.expiration_secs == 0 {
            return Err(ConfigError::new("JWT_EXPIRATION", "must be positive"));
        }
        Ok(Self {
            common: CommonConfig::from_env()?,
            jwt,
            signing_key,
            bcrypt_cost,
        })
    }
}
