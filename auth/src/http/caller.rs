//! Who is calling: the bearer-token security scheme, whose checker verifies the token (its
//! signature, then in the database whether it has been revoked) so that a handler taking a
//! [`Caller`] only ever runs for a valid one.

use std::sync::Arc;

use platform::ApiError;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use token_contract::jwt::Claims;

use crate::app::State;

/// The access token from `POST /auth/login` (the `token` field). Paste the token alone:
/// Swagger UI adds the `Bearer ` prefix itself. A token revoked by logout, a password change
/// or account deletion is refused ("Token has been revoked").
#[derive(SecurityScheme)]
#[oai(
    rename = "BearerToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "verify"
)]
pub struct Caller(pub Claims);

async fn verify(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let state = req.data::<Arc<State>>().ok_or_else(ApiError::internal)?;
    Ok(state
        .authenticate(&bearer.token)
        .await
        .map_err(ApiError::from)?)
}
