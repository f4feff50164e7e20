//! A JSON response body written by serde straight into the response buffer.
//!
//! poem-openapi's own `Json<T>` first builds a `serde_json::Value` tree of the whole body (a
//! map and a `String` per key and per value) and then serialises that tree. For a page of
//! tasks that is an allocation per key and per value, the largest single cost of
//! `GET /tasks` after the database in a profile (docs/benchmarks.md, "JSON bodies"). [`Json`]
//! keeps poem-openapi's schema (the spec is unchanged) and serialises `T` with its
//! `serde::Serialize` impl instead, so a type using it must serialise exactly as its
//! `ToJSON` does; `testkit::json::assert_same_json` is the check its tests make.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::{Serialize, Serializer};

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `application/json` response body of `T`, serialised by serde (see the module's docs).
pub struct Json<T>(pub T);

impl<T: Type> Payload for Json<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            // Only a `Serialize` impl that fails on purpose gets here; ours do not.
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a response body");
                super::error::ApiError::internal().into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for Json<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(StatusCode::OK.as_u16()),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// Serialises a timestamp the way poem-openapi's `ToJSON` does (`to_rfc3339`, so `+00:00`
/// rather than chrono's own `Z`): `#[serde(serialize_with = "platform::http::json::rfc3339")]`.
pub fn rfc3339<S: Serializer>(t: &chrono::DateTime<chrono::Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn rfc3339_opt<S: Serializer>(
    t: &Option<chrono::DateTime<chrono::Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}
