//! The framework's own failures wear the same envelope as the handlers': bad JSON, wrong
//! content type, unknown route, wrong method, oversized body. Plus request ids and CORS.

use crate::common;

use common::{TestAuth, assert_envelope};
use serde_json::Value;
use testkit::db::Backend;

async fn body_of(r: reqwest::Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body, headers)
}

#[tokio::test(flavor = "multi_thread")]
async fn framework_errors_use_the_envelope() {
    let s = TestAuth::start(Backend::Sqlite).await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            s.http
                .post(s.url("/auth/register"))
                .header("content-type", "application/json")
                .body("{\"username\":"),
            400,
            "Bad Request",
        ),
        (
            s.http
                .post(s.url("/auth/register"))
                .header("content-type", "application/json")
                .body("[1,2]"),
            400,
            "Bad Request",
        ),
        (
            s.http
                .post(s.url("/auth/register"))
                .header("content-type", "text/plain")
                .body("hi"),
            415,
            "Unsupported Media Type",
        ),
        (
            s.http.post(s.url("/auth/register")).body("{}"),
            415,
            "Unsupported Media Type",
        ),
        (s.http.get(s.url("/auth/nothing-here")), 404, "Not Found"),
        (s.http.get(s.url("/elsewhere")), 404, "Not Found"),
        (
            s.http.delete(s.url("/auth/login")),
            405,
            "Method Not Allowed",
        ),
        (
            s.http.get(s.url("/auth/register")),
            405,
            "Method Not Allowed",
        ),
        (
            s.http
                .post(s.url("/auth/register"))
                .header("content-type", "application/json")
                .body(format!("{{\"username\":\"{}\"}}", "a".repeat(70 * 1024))),
            413,
            "Payload Too Large",
        ),
    ];
    for (req, status, error) in cases {
        let (got, body, headers) = body_of(req.send().await.unwrap()).await;
        assert_eq!(got, status, "{body}");
        assert_envelope(&body, error);
        assert!(headers.contains_key("x-request-id"));
        assert!(body.get("details").is_none() || status == 400);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_chunked_body_is_413() {
    let s = TestAuth::start(Backend::Sqlite).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 8 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_stream(chunks));
    let r = s
        .http
        .post(s.url("/auth/register"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, body, _) = body_of(r).await;
    assert_eq!(status, 413);
    assert_envelope(&body, "Payload Too Large");
    s.stop().await;
}

fn futures_stream(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    tokio_stream::iter(items)
}

#[tokio::test(flavor = "multi_thread")]
async fn request_id_is_echoed_or_derived() {
    let s = TestAuth::start(Backend::Sqlite).await;
    let r = s
        .http
        .get(s.url("/auth/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = s
        .http
        .get(s.url("/auth/health"))
        .header(
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "1-67891233-abcdef012345678912345678"
    );
    let a = s.http.get(s.url("/auth/nope")).send().await.unwrap();
    let b = s.http.get(s.url("/auth/nope")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_for_listed_origins_only() {
    let s = TestAuth::start(Backend::Sqlite).await;
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/auth/login"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));

    let r = s
        .http
        .get(s.url("/auth/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = s
        .http
        .get(s.url("/auth/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/auth.json"))
            .expect("openapi/auth.json is committed");
    let generated = auth::http::openapi_json();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/auth.json is stale: regenerate with `cargo run -q -p auth -- openapi > openapi/auth.json`"
    );
    let spec: Value = serde_json::from_str(&generated).unwrap();
    // Each operation documents exactly the errors it can answer, in the envelope, and the
    // bearer scheme exists.
    for (path, method, codes) in [
        (
            "/auth/register",
            "post",
            vec!["400", "409", "413", "415", "429", "500", "503"],
        ),
        (
            "/auth/login",
            "post",
            vec!["400", "401", "413", "415", "429", "500", "503"],
        ),
        ("/auth/validate", "post", vec!["401", "500", "503"]),
        ("/auth/me", "get", vec!["401", "500", "503"]),
        (
            "/auth/me/password",
            "put",
            vec!["400", "401", "413", "415", "429", "500", "503"],
        ),
        (
            "/auth/me",
            "delete",
            vec!["400", "401", "413", "415", "429", "500", "503"],
        ),
        ("/auth/logout", "post", vec!["400", "401", "500", "503"]),
        ("/auth/ready", "get", vec!["500", "503"]),
    ] {
        let responses = spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        let errors: Vec<&str> = responses
            .keys()
            .map(String::as_str)
            .filter(|c| c >= &"400")
            .collect();
        assert_eq!(errors, codes, "{method} {path}");
        for code in codes {
            let schema = &responses[code]["content"]["application/json; charset=utf-8"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {code}"
            );
        }
    }
    assert!(
        spec["paths"]["/auth/login"]["post"]["responses"]["429"]["headers"]["retry-after"]
            .is_object()
    );
    assert!(spec["paths"]["/auth/ready"]["get"]["responses"]["503"].is_object());
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerToken"]["scheme"],
        "bearer"
    );
    assert!(spec["paths"]["/auth/validate"]["post"]["security"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_pasted_wrong_is_answered_with_the_fix() {
    let s = TestAuth::start(testkit::db::Backend::Sqlite).await;
    assert_eq!(s.register("paste", "paste@x.io", "password1").await.0, 201);
    let token = s.login("paste", "password1").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (header, says) in [
        (token.clone(), "must be `Bearer <token>`"),
        (format!("Bearer Bearer {token}"), "Bearer is there twice"),
        (format!("Token {token}"), "must be `Bearer <token>`"),
    ] {
        let r = s
            .http
            .post(s.url("/auth/validate"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    // The right paste still works, and a merely wrong token keeps the contract's words.
    assert_eq!(s.validate(&token).await.0, 200);
    assert_eq!(s.validate("nonsense").await.1["message"], "Invalid token");
    s.stop().await;
}
