//! The auth API's operations. Each handler parses its input into domain types, calls one
//! application operation and shapes the response; the rules live below it.

use std::sync::Arc;

use platform::{
    ApiError, Errors,
    health::HealthResponse,
    jwt::JwkSet,
    middleware::client_ip,
    status::{CONFLICT, JSON_BODY, TOO_MANY_REQUESTS, UNAUTHORIZED, UNAVAILABLE},
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, OpenApi, Tags, payload::Json};

use crate::{
    app::{State, error::AuthError},
    domain::{Credentials, Registration},
    http::{
        caller::Caller,
        schema::{
            LoginRequest, LoginResponse, ReadyResponse, RegisterRequest, RegisterResponse,
            ValidateResponse,
        },
    },
};

#[derive(Tags)]
enum Tag {
    /// Registration, login and token validation
    Auth,
    /// Liveness and readiness probes
    Health,
}

#[derive(ApiResponse)]
pub enum Registered {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<RegisterResponse>),
}

pub struct AuthApi;

/// An operation's result: on failure, the envelope with the statuses `S` documented.
type Result<T, const S: u16> = std::result::Result<T, Errors<S>>;

#[OpenApi(prefix_path = "/auth")]
impl AuthApi {
    /// Register a new user
    #[oai(path = "/register", method = "post", tag = "Tag::Auth")]
    async fn register(
        &self,
        state: Data<&Arc<State>>,
        body: Json<RegisterRequest>,
    ) -> Result<Registered, { JSON_BODY | CONFLICT | UNAVAILABLE }> {
        let reg = Registration::try_from(body.0).map_err(ApiError::validation)?;
        let user = state.register(&reg).await?;
        Ok(Registered::Created(Json(RegisterResponse {
            message: "User registered successfully".into(),
            user: user.into(),
        })))
    }

    /// Log in and receive an access token
    ///
    /// Unknown users and wrong passwords get the same answer in the same time. Repeated
    /// failures for a username or from an address are answered with 429 and `Retry-After`.
    #[oai(path = "/login", method = "post", tag = "Tag::Auth")]
    async fn login(
        &self,
        state: Data<&Arc<State>>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<LoginResponse>, { JSON_BODY | UNAUTHORIZED | TOO_MANY_REQUESTS | UNAVAILABLE }>
    {
        if body.has_nul() {
            return Err(AuthError::InvalidCredentials.into());
        }
        let creds = Credentials::try_from(body.0).map_err(ApiError::validation)?;
        let (user, issued) = state.login(&creds, client_ip(req)).await?;
        platform::middleware::no_store(req);
        Ok(Json(LoginResponse::new("Login successful", user, issued)))
    }

    /// Validate an access token
    #[oai(path = "/validate", method = "post", tag = "Tag::Auth")]
    async fn validate(&self, caller: Caller) -> Result<Json<ValidateResponse>, UNAUTHORIZED> {
        Ok(Json(ValidateResponse {
            valid: true,
            user: caller.0.into(),
        }))
    }

    /// The public keys tokens are signed with (JWK Set)
    #[oai(path = "/.well-known/jwks.json", method = "get", tag = "Tag::Auth")]
    async fn jwks(&self, state: Data<&Arc<State>>) -> Json<JwkSet> {
        Json(state.tokens.keys().jwks().clone())
    }

    /// Liveness: the process answers. No database call.
    #[oai(path = "/health", method = "get", tag = "Tag::Health")]
    async fn health(&self) -> Json<HealthResponse> {
        Json(HealthResponse::healthy("auth-service"))
    }

    /// Readiness: the database answers.
    #[oai(path = "/ready", method = "get", tag = "Tag::Health")]
    async fn ready(&self, state: Data<&Arc<State>>) -> Result<Json<ReadyResponse>, UNAVAILABLE> {
        if state.db.ping().await {
            Ok(Json(ReadyResponse {
                status: "ready".into(),
                database: "ok".into(),
            }))
        } else {
            Err(ApiError::unavailable("The database is unreachable").into())
        }
    }
}
