//! Who is calling: the bearer-token security scheme, whose checker verifies the token
//! against the cached JWK Set, then that it has not been ended (from the cached revocation
//! state), so that a handler taking a [`Caller`] only ever runs for a valid one.

use std::sync::Arc;

use platform::ApiError;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{app::State, domain};

/// The access token from the auth service's `POST /auth/login` (the `token` field). Paste
/// the token alone: Swagger UI adds the `Bearer ` prefix itself.
#[derive(SecurityScheme)]
#[oai(
    rename = "BearerToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "verify"
)]
pub struct Caller(pub domain::Caller);

async fn verify(req: &Request, bearer: Bearer) -> poem::Result<domain::Caller> {
    let state = req.data::<Arc<State>>().ok_or_else(ApiError::internal)?;
    let claims = state
        .authenticate(&bearer.token)
        .await
        .map_err(ApiError::from)?;
    Ok(domain::Caller {
        user_id: claims.user_id,
    })
}
