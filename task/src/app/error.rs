//! What can go wrong in the task service's operations, independent of how it is shown.
//! `http::error` maps each case to the contract's envelope.

use sea_orm::DbErr;
use token_contract::jwt::TokenError;

use crate::adapters::jwks_cache::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task {0} not found")]
    NotFound(i64),
    #[error("task belongs to another user")]
    Forbidden,
    /// `If-Match` named a version that is not the task's current one.
    #[error("task {0} is not at the expected version")]
    VersionMismatch(i64),
    /// A request with the same idempotency key is still being processed; its claim lapses
    /// within `retry_after` seconds.
    #[error("idempotency key in use by a request in progress")]
    KeyInProgress { retry_after: u64 },
    /// The idempotency key was used before with another request body.
    #[error("idempotency key reused with another request")]
    KeyReused,
    /// A replayed idempotency key whose task has since been deleted.
    #[error("task {0}, created with this idempotency key, has been deleted")]
    CreatedThenDeleted(i64),
    /// The user owns as many tasks as the quota allows.
    #[error("task quota of {0} reached")]
    QuotaReached(u64),
    /// The user's writes passed the per-second limit.
    #[error("more than {per_sec} writes per second")]
    RateLimited { per_sec: u32, retry_after_secs: u64 },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("no verification keys")]
    NoKeys,
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

impl From<VerifyError> for TaskError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Token(e) => Self::Token(e),
            VerifyError::NoKeys => Self::NoKeys,
        }
    }
}
