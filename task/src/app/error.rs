//! What can go wrong in the task service's operations, independent of how it is shown.
//! `http::error` maps each case to the contract's envelope.

use platform::jwt::TokenError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
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
