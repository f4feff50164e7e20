//! The HTTP layer: routes, the request and response bodies, the bearer-token scheme, and
//! the mapping of errors to the envelope. Handlers parse into domain types and call `app`.

pub mod api;
pub mod caller;
pub mod error;
pub mod etag;
pub mod path;
pub mod schema;

use std::sync::Arc;

use platform::{http::middleware, http::server};
use poem::Endpoint;
use poem_openapi::OpenApiService;

use crate::app::State;

pub fn api_service() -> OpenApiService<api::TaskApi, ()> {
    OpenApiService::new(api::TaskApi, "Task service", env!("CARGO_PKG_VERSION")).description(
        "Create, read, update and delete your own tasks. Every /tasks route except health, \
         ready, docs and openapi needs `Authorization: Bearer <token>`, where the token is \
         the `token` field answered by the auth service's `POST /auth/login` \
         ([auth API docs](/auth/docs)).",
    )
}

/// The spec as served at `/tasks/openapi.json` and committed in `openapi/task.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

pub fn routes(state: Arc<State>, cors_origins: Vec<String>) -> impl Endpoint {
    server::service_routes(
        api_service(),
        "/tasks",
        state,
        middleware::Settings {
            service: "task",
            cors_origins,
            body_limit: middleware::DEFAULT_BODY_LIMIT,
        },
    )
}
