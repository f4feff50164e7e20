//! The auth API's operations. Each handler parses its input into domain types, calls one
//! application operation and shapes the response; the rules live below it.

use std::sync::Arc;

use platform::{
    ApiError, Errors,
    http::health::HealthResponse,
    http::middleware::client_ip,
    status::{
        BAD_REQUEST, BEARER, CONFLICT, JSON_BODY, TOO_MANY_REQUESTS, UNAUTHORIZED, UNAVAILABLE,
    },
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, OpenApi, Tags, param::Query, payload::Json};
use token_contract::jwt::JwkSet;

use crate::{
    app::{State, error::AuthError},
    domain::{Credentials, LoginPassword, PasswordChange, Registration},
    http::{
        caller::Caller,
        schema::{
            ChangePasswordRequest, DeleteAccountRequest, LoginRequest, LoginResponse, MeResponse,
            Message, ReadyResponse, RegisterRequest, RegisterResponse, ValidateResponse,
        },
    },
};

#[derive(Tags)]
enum Tag {
    /// Registration, login and token validation
    Auth,
    /// The caller's own account: read, change password, delete, log out
    Account,
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
    ///
    /// Registrations from one client address are limited per hour (429 with `Retry-After`
    /// past it); when every password-hashing slot and its queue are taken, 503 with
    /// `Retry-After` at once.
    #[oai(
        path = "/register",
        method = "post",
        operation_id = "register",
        tag = "Tag::Auth"
    )]
    async fn register(
        &self,
        state: Data<&Arc<State>>,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<Registered, { JSON_BODY | CONFLICT | TOO_MANY_REQUESTS | UNAVAILABLE }> {
        let reg = Registration::try_from(body.0).map_err(ApiError::validation)?;
        let user = state.register(&reg, client_ip(req)).await?;
        Ok(Registered::Created(Json(RegisterResponse {
            message: "User registered successfully".into(),
            user: user.into(),
        })))
    }

    /// Log in and receive an access token
    ///
    /// Unknown users and wrong passwords get the same answer in the same time. Repeated
    /// failures for a username or from an address are answered with 429 and `Retry-After`;
    /// when every password-hashing slot and its queue are taken, 503 with `Retry-After`.
    #[oai(
        path = "/login",
        method = "post",
        operation_id = "login",
        tag = "Tag::Auth"
    )]
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
        platform::http::middleware::no_store(req);
        Ok(Json(LoginResponse::new("Login successful", user, issued)))
    }

    /// Validate an access token
    ///
    /// A token revoked by logout, a password change or account deletion is answered with
    /// 401 "Token has been revoked".
    #[oai(
        path = "/validate",
        method = "post",
        operation_id = "validateToken",
        tag = "Tag::Auth"
    )]
    async fn validate(&self, caller: Caller) -> Result<Json<ValidateResponse>, BEARER> {
        Ok(Json(ValidateResponse {
            valid: true,
            user: caller.0.into(),
        }))
    }

    /// The caller's account
    #[oai(
        path = "/me",
        method = "get",
        operation_id = "getMe",
        tag = "Tag::Account"
    )]
    async fn me(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
    ) -> Result<Json<MeResponse>, BEARER> {
        Ok(Json(state.me(caller.0.user_id).await?.into()))
    }

    /// Change the caller's password
    ///
    /// Every token issued before the change is revoked (this one too: at auth at once, at
    /// the task service within 30 s); the answer carries a new token, as a login does. A
    /// wrong current password is a 401 and counts as a failed login (429 after repeated
    /// failures).
    #[oai(
        path = "/me/password",
        method = "put",
        operation_id = "changePassword",
        tag = "Tag::Account"
    )]
    async fn change_password(
        &self,
        state: Data<&Arc<State>>,
        req: &Request,
        caller: Caller,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Json<LoginResponse>, { BEARER | JSON_BODY | TOO_MANY_REQUESTS }> {
        let change = PasswordChange::try_from(body.0).map_err(ApiError::validation)?;
        let (user, issued) = state
            .change_password(caller.0.user_id, &change, client_ip(req))
            .await?;
        platform::http::middleware::no_store(req);
        Ok(Json(LoginResponse::new(
            "Password changed successfully",
            user,
            issued,
        )))
    }

    /// Delete the caller's account and all their tasks
    ///
    /// Confirmed with the account's password (a wrong one is a 401 and counts as a failed
    /// login). The user and their tasks go in one transaction; the username and email can
    /// be registered again, and every token of the account is revoked.
    #[oai(
        path = "/me",
        method = "delete",
        operation_id = "deleteMe",
        tag = "Tag::Account"
    )]
    async fn delete_me(
        &self,
        state: Data<&Arc<State>>,
        req: &Request,
        caller: Caller,
        body: Json<DeleteAccountRequest>,
    ) -> Result<Json<Message>, { BEARER | JSON_BODY | TOO_MANY_REQUESTS }> {
        let password = LoginPassword::try_from(body.0).map_err(ApiError::validation)?;
        state
            .delete_account(caller.0.user_id, &password, client_ip(req))
            .await?;
        Ok(Json(Message::new("Account deleted successfully")))
    }

    /// Log out: revoke this token, or with `all=true` every token of the caller
    ///
    /// A revoked token is refused by auth at once and by the task service within 30 s. A user
    /// who already has 1000 logged-out tokens that have not expired yet has every token
    /// revoked by the next logout (as with `all=true`), so logouts cannot grow without bound.
    #[oai(
        path = "/logout",
        method = "post",
        operation_id = "logout",
        tag = "Tag::Account"
    )]
    async fn logout(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        /// `true`: revoke every token of the caller, not only this one.
        all: Query<Option<bool>>,
    ) -> Result<Json<Message>, { BEARER | BAD_REQUEST }> {
        if all.0.unwrap_or(false) {
            state.logout_all(caller.0.user_id).await?;
            Ok(Json(Message::new("Logged out of all sessions")))
        } else {
            state.logout(&caller.0).await?;
            Ok(Json(Message::new("Logged out successfully")))
        }
    }

    /// The public keys tokens are signed with (JWK Set)
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks",
        tag = "Tag::Auth"
    )]
    async fn jwks(&self, state: Data<&Arc<State>>) -> Json<JwkSet> {
        Json(state.tokens.keys().jwks().clone())
    }

    /// Liveness: the process answers. No database call.
    #[oai(
        path = "/health",
        method = "get",
        operation_id = "authHealth",
        tag = "Tag::Health"
    )]
    async fn health(&self) -> Json<HealthResponse> {
        Json(HealthResponse::healthy("auth-service"))
    }

    /// Readiness: the database answers, in time (a 503 names which: unreachable or slow).
    #[oai(
        path = "/ready",
        method = "get",
        operation_id = "authReady",
        tag = "Tag::Health"
    )]
    async fn ready(&self, state: Data<&Arc<State>>) -> Result<Json<ReadyResponse>, UNAVAILABLE> {
        if let Some(problem) = state.db.readiness().await.problem() {
            return Err(ApiError::unavailable(problem).into());
        }
        Ok(Json(ReadyResponse {
            status: "ready".into(),
            database: "ok".into(),
        }))
    }
}
