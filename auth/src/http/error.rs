//! How each [`AuthError`] appears to clients: the contract's envelope and status.

use platform::{ApiError, Errors, db};
use token_contract::jwt::TokenError;

use crate::{app::error::AuthError, domain::Taken};

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Taken(Taken::Username) => ApiError::conflict("Username already exists"),
            AuthError::Taken(Taken::Email) => ApiError::conflict("Email already registered"),
            AuthError::InvalidCredentials => ApiError::unauthorized("Invalid username or password"),
            AuthError::WrongPassword => ApiError::unauthorized("Current password is incorrect"),
            AuthError::RateLimited(secs) => ApiError::too_many_requests(secs),
            AuthError::RegistrationsLimited(secs) => ApiError {
                message: "Too many registrations from this address; try again later".into(),
                ..ApiError::too_many_requests(secs)
            },
            AuthError::Busy => {
                ApiError::unavailable("The service is busy checking passwords; try again shortly")
            }
            AuthError::Token(t) => token_rejected(t),
            AuthError::Database(e) if db::is_unavailable(&e) => {
                let cause = db::classify::cause(&e);
                platform::db::outage::DATABASE.record(&cause);
                ApiError::unavailable("The database is unavailable; try again shortly")
                    .with_cause(cause)
            }
            // A bug: its cause goes on the request's access line, once.
            AuthError::Database(e) => ApiError::internal().with_cause(db::classify::cause(&e)),
            AuthError::Internal(msg) => {
                ApiError::internal().with_cause(platform::Cause::new("internal", None, &msg))
            }
        }
    }
}

/// The 401 for a refused bearer token, in the contract's words.
pub fn token_rejected(t: TokenError) -> ApiError {
    ApiError::unauthorized(t.to_string())
}

impl<const S: u16> From<AuthError> for Errors<S> {
    fn from(e: AuthError) -> Self {
        Self(e.into())
    }
}
