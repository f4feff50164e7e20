//! The HTTP layer: routes, the request and response bodies, the bearer-token scheme, and
//! the mapping of errors to the envelope. Handlers parse into domain types and call `app`.

pub mod api;
pub mod caller;
pub mod error;
pub mod schema;

use std::sync::Arc;

use platform::{http::middleware, http::server};
use poem::Endpoint;
use poem_openapi::OpenApiService;

use crate::app::State;

pub fn api_service() -> OpenApiService<api::AuthApi, ()> {
    OpenApiService::new(api::AuthApi, "Auth service", env!("CARGO_PKG_VERSION"))
        .description("Registers users, logs them in, issues and validates EdDSA-signed JWTs, and publishes the public keys (JWK Set) the task service verifies with.")
}

/// The spec as served at `/auth/openapi.json` and committed in `openapi/auth.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

pub fn routes(state: Arc<State>, cors_origins: Vec<String>) -> impl Endpoint {
    server::service_routes(
        api_service(),
        "/auth",
        state,
        middleware::Settings {
            service: "auth",
            cors_origins,
            body_limit: middleware::DEFAULT_BODY_LIMIT,
        },
    )
}
