//! How each [`TaskError`] appears to clients: the contract's envelope and status.

use platform::{ApiError, Errors, db};
use poem::http::StatusCode;
use token_contract::jwt::TokenError;

use crate::app::error::TaskError;

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::NotFound(id) => ApiError::not_found(format!("Task with id {id} not found")),
            TaskError::Forbidden => ApiError::forbidden(),
            TaskError::VersionMismatch(id) => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!("Task with id {id} has changed: If-Match does not name its current ETag"),
            ),
            TaskError::KeyInProgress { retry_after } => {
                let mut e = ApiError::conflict(
                    "A request with this Idempotency-Key is still being processed; retry after \
                     Retry-After seconds",
                );
                e.retry_after = Some(retry_after);
                e
            }
            TaskError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was already used with a different request body",
            ),
            TaskError::CreatedThenDeleted(id) => ApiError::new(
                StatusCode::GONE,
                format!(
                    "The task this Idempotency-Key created (id {id}) has since been deleted; \
                     nothing was created now"
                ),
            ),
            TaskError::QuotaReached(quota) => ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Task quota reached: a user may have at most {quota} tasks; delete some first"
                ),
            ),
            TaskError::RateLimited {
                per_sec,
                retry_after_secs,
            } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many task writes: at most {per_sec} per second; retry shortly"),
                );
                e.retry_after = Some(retry_after_secs);
                e
            }
            TaskError::Token(t) => ApiError::unauthorized(t.to_string()),
            TaskError::NoKeys => {
                ApiError::unavailable("Token verification keys are unavailable; try again shortly")
                    .with_cause(platform::Cause::new(
                        "no_keys",
                        None,
                        "no token verification keys: the auth service's key set was never fetched",
                    ))
            }
            // The token names a user deleted since the cached revocation state was read: the
            // account's deletion revoked it.
            TaskError::Database(e) if db::is_foreign_key_violation(&e) => {
                ApiError::unauthorized(TokenError::Revoked.to_string())
            }
            TaskError::Database(e) if db::is_unavailable(&e) => {
                let cause = db::classify::cause(&e);
                platform::db::outage::DATABASE.record(&cause);
                ApiError::unavailable("The database is unavailable; try again shortly")
                    .with_cause(cause)
            }
            // A bug: its cause goes on the request's access line, once.
            TaskError::Database(e) => ApiError::internal().with_cause(db::classify::cause(&e)),
        }
    }
}

impl<const S: u16> From<TaskError> for Errors<S> {
    fn from(e: TaskError) -> Self {
        Self(e.into())
    }
}
