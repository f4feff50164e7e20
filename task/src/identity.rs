//! Who is calling: the user id from a verified bearer token.

use platform::jwt::BearerToken;

use crate::{app::State, error::TaskError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
}

pub async fn authenticate(state: &State, token: &BearerToken) -> Result<Caller, TaskError> {
    let claims = state.keys.verify(&token.0.token).await?;
    Ok(Caller {
        user_id: claims.user_id,
    })
}
