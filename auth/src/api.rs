//! The HTTP surface of the auth service. Handlers parse, delegate and shape the response;
//! the rules live in `domain`, `password`, `tokens` and `rate_limit`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use platform::{
    ApiError, Errors,
    health::HealthResponse,
    input::Required,
    jwt::{BearerToken, JwkSet},
    middleware::client_ip,
    status::{CONFLICT, JSON_BODY, TOO_MANY_REQUESTS, UNAUTHORIZED, UNAVAILABLE},
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use crate::{
    app::State,
    domain::{Credentials, Registration},
    error::AuthError,
    users::{self, Users},
};

#[derive(Tags)]
enum Tag {
    /// Registration, login and token validation
    Auth,
    /// Liveness and readiness probes
    Health,
}

/// A new account.
#[derive(Object, Debug)]
pub struct RegisterRequest {
    /// 3–50 characters of letters, digits, `_`, `.` and `-`.
    pub username: Required<String>,
    /// A valid address of at most 100 characters.
    pub email: Required<String>,
    /// 8–72 bytes.
    #[oai(write_only)]
    pub password: Required<String>,
}

#[derive(Object, Debug)]
pub struct LoginRequest {
    pub username: Required<String>,
    #[oai(write_only)]
    pub password: Required<String>,
}

#[derive(Object)]
pub struct RegisteredUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Object)]
pub struct RegisterResponse {
    pub message: String,
    pub user: RegisteredUser,
}

#[derive(Object)]
pub struct LoginUser {
    pub id: i64,
    pub username: String,
    pub email: String,
}

#[derive(Object)]
pub struct LoginResponse {
    pub message: String,
    /// The access token: an EdDSA-signed JWT.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user: LoginUser,
}

#[derive(Object)]
pub struct TokenUser {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
}

#[derive(Object)]
pub struct ValidateResponse {
    pub valid: bool,
    pub user: TokenUser,
}

#[derive(Object)]
pub struct ReadyResponse {
    /// `ready`
    pub status: String,
    /// `ok`
    pub database: String,
}

#[derive(ApiResponse)]
pub enum Created {
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
    ) -> Result<Created, { JSON_BODY | CONFLICT | UNAVAILABLE }> {
        let reg = Registration::parse(body.0).map_err(AuthError::Validation)?;
        let hash = state.hasher.hash(&reg.password).await?;
        let user = Users::new(&state.db).create(&reg, hash).await?;
        tracing::info!(user_id = user.id, "user registered");
        Ok(Created::Created(Json(RegisterResponse {
            message: "User registered successfully".into(),
            user: RegisteredUser {
                id: user.id,
                username: user.username,
                email: user.email,
                created_at: user.created_at,
            },
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
        let creds = Credentials::parse(body.0).map_err(AuthError::Validation)?;
        let user = state.login(&creds, client_ip(req)).await?;
        let issued = state.tokens.issue(&user)?;
        platform::middleware::no_store(req);
        tracing::info!(user_id = user.id, "login succeeded");
        Ok(Json(LoginResponse {
            message: "Login successful".into(),
            token: issued.token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            user: LoginUser {
                id: user.id,
                username: user.username,
                email: user.email,
            },
        }))
    }

    /// Validate an access token
    #[oai(path = "/validate", method = "post", tag = "Tag::Auth")]
    async fn validate(
        &self,
        state: Data<&Arc<State>>,
        auth: BearerToken,
    ) -> Result<Json<ValidateResponse>, UNAUTHORIZED> {
        let claims = state
            .tokens
            .verify(&auth.0.token)
            .map_err(AuthError::from)?;
        Ok(Json(ValidateResponse {
            valid: true,
            user: TokenUser {
                user_id: claims.user_id,
                username: claims.username,
                email: claims.email,
                role: claims.role,
            },
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

impl From<users::Model> for LoginUser {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
        }
    }
}
