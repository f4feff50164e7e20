//! Headers the task service reads are never treated as absent because their bytes cannot be
//! read (non-ASCII, say): an unreadable `Idempotency-Key` is a 400 and creates nothing, an
//! unreadable `If-Match` matches nothing (412, nothing changed), an unreadable
//! `If-None-Match` never yields a 304, an unreadable `Authorization` is an invalid token and
//! an unreadable `X-Request-Id` is replaced by a fresh one. On SQLite and (with
//! TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::{Stack, assert_envelope};
use reqwest::{
    Method,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde_json::{Value, json};
use testkit::db::backends;

/// `café-1` as UTF-8: bytes a header may carry (obs-text) but not visible ASCII.
const CAFE: &[u8] = b"caf\xc3\xa9-1";
/// `"nöpe"`: an entity tag with a non-ASCII byte.
const NOPE: &[u8] = b"\"n\xc3\xb6pe\"";

/// `method url` with `headers` given as raw bytes (a name may repeat: one line each).
async fn send(
    s: &Stack,
    method: Method,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = s.http.request(method.clone(), s.url(path));
    for (name, value) in headers {
        req = req.header(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

async fn total(s: &Stack, token: &str) -> i64 {
    let (status, body) = s.get(token, "/tasks").await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_or_too_long_idempotency_key_is_refused_and_creates_nothing() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("keys").await;
        let auth = format!("Bearer {token}");
        let long = "k".repeat(256);
        let keys: [&[u8]; 4] = [CAFE, long.as_bytes(), b"a key", b"caf\xe9"];
        for key in keys {
            for _ in 0..3 {
                let (status, _, body) = send(
                    &s,
                    Method::POST,
                    "/tasks",
                    &[("authorization", auth.as_bytes()), ("idempotency-key", key)],
                    Some(&json!({"title": "retried"})),
                )
                .await;
                assert_eq!(status, 400, "{backend:?} {key:?}: {body}");
                assert_envelope(&body, "Bad Request");
                assert_eq!(
                    body["details"][0]["field"], "Idempotency-Key",
                    "{backend:?}: {body}"
                );
            }
        }
        assert_eq!(
            total(&s, &token).await,
            0,
            "{backend:?}: a task was created"
        );

        // A readable key still replays.
        for _ in 0..2 {
            let (status, _, body) = send(
                &s,
                Method::POST,
                "/tasks",
                &[
                    ("authorization", auth.as_bytes()),
                    ("idempotency-key", b"cafe-1"),
                ],
                Some(&json!({"title": "retried"})),
            )
            .await;
            assert_eq!(status, 201, "{backend:?}: {body}");
        }
        assert_eq!(total(&s, &token).await, 1, "{backend:?}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_if_match_matches_nothing() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("ifmatch").await;
        let auth = format!("Bearer {token}");
        let (status, created) = s.create(&token, json!({"title": "kept"})).await;
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let path = format!("/tasks/{id}");
        let current = format!("\"{id}-1\"");

        // Alone, or as a second line after the current tag: either way it cannot be read.
        let conditions: [Vec<(&str, &[u8])>; 2] = [
            vec![("authorization", auth.as_bytes()), ("if-match", NOPE)],
            vec![
                ("authorization", auth.as_bytes()),
                ("if-match", current.as_bytes()),
                ("if-match", NOPE),
            ],
        ];
        for headers in &conditions {
            let (status, _, body) = send(
                &s,
                Method::PUT,
                &path,
                headers,
                Some(&json!({"title": "overwritten"})),
            )
            .await;
            assert_eq!(status, 412, "{backend:?} PUT: {body}");
            assert_envelope(&body, "Precondition Failed");
            let (status, _, body) = send(&s, Method::DELETE, &path, headers, None).await;
            assert_eq!(status, 412, "{backend:?} DELETE: {body}");
            assert_envelope(&body, "Precondition Failed");
        }

        let (status, got) = s.get(&token, &path).await;
        assert_eq!(status, 200, "{backend:?}: the task was deleted: {got}");
        assert_eq!(
            got["task"], created["task"],
            "{backend:?}: the task changed"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_if_none_match_never_yields_a_304() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("ifnonematch").await;
        let auth = format!("Bearer {token}");
        let (status, created) = s.create(&token, json!({"title": "cached"})).await;
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let path = format!("/tasks/{id}");
        let current = format!("\"{id}-1\"");

        let conditions: [Vec<(&str, &[u8])>; 3] = [
            vec![("authorization", auth.as_bytes()), ("if-none-match", NOPE)],
            vec![
                ("authorization", auth.as_bytes()),
                ("if-none-match", current.as_bytes()),
                ("if-none-match", NOPE),
            ],
            vec![
                ("authorization", auth.as_bytes()),
                ("if-none-match", b"*"),
                ("if-none-match", b"caf\xe9"),
            ],
        ];
        for headers in &conditions {
            let (status, h, body) = send(&s, Method::GET, &path, headers, None).await;
            assert_eq!(status, 200, "{backend:?}: {body}");
            assert_eq!(body["task"], created["task"]);
            assert_eq!(h["etag"], current.as_str());
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_authorization_is_an_invalid_token() {
    let s = Stack::start(testkit::db::Backend::Sqlite).await;
    let (token, _) = s.user("authz").await;
    let tampered = [b"Bearer ".as_slice(), token.as_bytes(), "é".as_bytes()].concat();
    let values: [&[u8]; 3] = [b"Bearer caf\xc3\xa9", b"\xff\xfe", &tampered];
    for value in values {
        for (base, path) in [
            (s.task.base.clone(), "/tasks"),
            (s.auth_base().to_owned(), "/auth/me"),
        ] {
            let r = s
                .http
                .get(format!("{base}{path}"))
                .header("authorization", HeaderValue::from_bytes(value).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} {value:?}");
            let body: Value = r.json().await.unwrap();
            assert_envelope(&body, "Unauthorized");
            assert_eq!(body["message"], "Invalid token", "{path} {value:?}");
        }
    }
    s.stop().await;
}

/// A new id the service made up: a UUID (8-4-4-4-12 hex digits).
fn is_fresh(id: &[u8]) -> bool {
    let groups: Vec<&[u8]> = id.split(|b| *b == b'-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.iter().all(u8::is_ascii_hexdigit))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_or_overlong_request_id_is_replaced() {
    let s = Stack::start(testkit::db::Backend::Sqlite).await;
    let long = "a".repeat(201);
    let cases: [(&[u8], bool); 5] = [
        (b"req-42", true),
        (CAFE, false),
        (b"caf\xe9", false),
        (long.as_bytes(), false),
        (b"has space", false),
    ];
    for (base, path) in [
        (s.task.base.clone(), "/tasks/health"),
        (s.auth_base().to_owned(), "/auth/health"),
    ] {
        for (id, echoed) in cases {
            let r = s
                .http
                .get(format!("{base}{path}"))
                .header("x-request-id", HeaderValue::from_bytes(id).unwrap())
                .send()
                .await
                .unwrap();
            let got = r.headers()["x-request-id"].as_bytes().to_vec();
            if echoed {
                assert_eq!(got, id, "{path}");
            } else {
                assert_ne!(got, id, "{path}");
                assert!(is_fresh(&got), "{path}: {got:?}");
            }
        }
        // An unreadable X-Amzn-Trace-Id is no source either.
        let r = s
            .http
            .get(format!("{base}{path}"))
            .header(
                "x-amzn-trace-id",
                HeaderValue::from_bytes(b"Root=1-caf\xc3\xa9").unwrap(),
            )
            .send()
            .await
            .unwrap();
        let fresh = r.headers()["x-request-id"].as_bytes();
        assert!(is_fresh(fresh), "{path}: {fresh:?}");
    }
    s.stop().await;
}
