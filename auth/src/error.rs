//! The auth service's one error type, and how each case appears to clients.

use platform::{ApiError, FieldError, db};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    #[error(transparent)]
    Token(#[from] platform::jwt::TokenError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(details) => ApiError::validation(details),
            AuthError::UsernameTaken => ApiError::conflict("Username already exists"),
            AuthError::EmailTaken => ApiError::conflict("Email already registered"),
            AuthError::InvalidCredentials => ApiError::unauthorized("Invalid username or password"),
            AuthError::RateLimited(secs) => ApiError::too_many_requests(secs),
            AuthError::Token(t) => ApiError::unauthorized(t.to_string()),
            AuthError::Database(e) if db::is_unavailable(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable("The database is unavailable; try again shortly")
            }
            AuthError::Database(e) => {
                tracing::error!(error = %e, "database error");
                ApiError::internal()
            }
            AuthError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl<const S: u16> From<AuthError> for platform::Errors<S> {
    fn from(e: AuthError) -> Self {
        Self(e.into())
    }
}
