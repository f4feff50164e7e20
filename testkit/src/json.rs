//! The condition under which a response body may be written by `platform::http::json::Json`.

use poem_openapi::types::ToJSON;
use serde::Serialize;

/// Panics unless `value` serialises to the same JSON through serde and through poem-openapi.
pub fn assert_same_json<T: Serialize + ToJSON>(value: &T) {
    let by_serde = serde_json::to_value(value).expect("serde serialises it");
    let by_openapi = value.to_json().unwrap_or_default();
    assert_eq!(by_serde, by_openapi, "serde and ToJSON disagree");
}
