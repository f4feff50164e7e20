//! The task service's one error type, and how each case appears to clients.

use platform::{ApiError, FieldError, db, jwt::TokenError};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("task {0} not found")]
    NotFound(i64),
    #[error("task belongs to another user")]
    Forbidden,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("no verification keys")]
    NoKeys,
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Validation(details) => ApiError::validation(details),
            TaskError::NotFound(id) => ApiError::not_found(format!("Task with id {id} not found")),
            TaskError::Forbidden => ApiError::forbidden(),
            TaskError::Token(t) => ApiError::unauthorized(t.to_string()),
            TaskError::NoKeys => {
                ApiError::unavailable("Token verification keys are unavailable; try again shortly")
            }
            // The token names a user that no longer exists.
            TaskError::Database(e) if db::is_foreign_key_violation(&e) => {
                ApiError::unauthorized(TokenError::Invalid.to_string())
            }
            TaskError::Database(e) if db::is_unavailable(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable("The database is unavailable; try again shortly")
            }
            TaskError::Database(e) => {
                tracing::error!(error = %e, "database error");
                ApiError::internal()
            }
        }
    }
}

impl<const S: u16> From<TaskError> for platform::Errors<S> {
    fn from(e: TaskError) -> Self {
        Self(e.into())
    }
}
