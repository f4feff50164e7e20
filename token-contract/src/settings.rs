//! The token settings both services read: auth issues tokens with them, task checks them.
//! Declared once as clap arguments bound to their environment variables, so each service's
//! `--help` and `env_vars()` list them with the service's own settings.

use clap::Args;

/// Token settings both services agree on: auth issues with them, task checks them.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub expiration_secs: u64,
    pub issuer: String,
    pub audience: String,
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

/// The token settings: auth issues with them, task checks them.
#[derive(Args, Debug, Clone)]
pub struct JwtArgs {
    /// Token lifetime in seconds
    #[arg(long, env = "JWT_EXPIRATION", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwt_expiration: u64,
    /// The `iss` claim
    #[arg(long, env = "JWT_ISSUER", default_value = "task-management")]
    pub jwt_issuer: String,
    /// The `aud` claim
    #[arg(long, env = "JWT_AUDIENCE", default_value = "task-management-api")]
    pub jwt_audience: String,
}

impl From<JwtArgs> for JwtSettings {
    fn from(a: JwtArgs) -> Self {
        Self {
            expiration_secs: a.jwt_expiration,
            issuer: a.jwt_issuer,
            audience: a.jwt_audience,
        }
    }
}
