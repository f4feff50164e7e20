//! What can go wrong in the auth service's operations, independent of how it is shown.
//! `http::error` maps each case to the contract's envelope.

use sea_orm::DbErr;
use token_contract::jwt::TokenError;

use crate::{domain::Taken, storage::users::CreateError};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0:?} already registered")]
    Taken(Taken),
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password presented to confirm an account change is not the user's.
    #[error("wrong current password")]
    WrongPassword,
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    /// Too many registrations from the client's address; retry after this many seconds.
    #[error("registrations limited for {0} s")]
    RegistrationsLimited(u64),
    /// Every hashing slot is taken and the queue in front of them is full.
    #[error("password hashing at capacity")]
    Busy,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<CreateError> for AuthError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Taken(t) => Self::Taken(t),
            CreateError::Db(e) => Self::Database(e),
        }
    }
}
