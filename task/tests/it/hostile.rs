//! A corpus of hostile requests against every task endpoint and the auth endpoints, on
//! SQLite and (with TEST_DATABASE_URL) PostgreSQL. For each one: an answer arrives (no
//! dropped connection), it is never a 5xx, and every error is the contract's envelope.
//! Where the contract names the status, the case pins it.

use crate::common;

use common::Stack;
use reqwest::Method;
use serde_json::Value;
use testkit::db::backends;

/// Stands for the caller's valid token in a case's headers.
const TOKEN: &str = "{token}";

struct Case {
    what: String,
    method: Method,
    /// `{id}` stands for one of the caller's tasks, which must survive the corpus;
    /// `{spare}` for another that need not.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// The status the contract prescribes, where it does.
    expect: Option<u16>,
}

fn case(what: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.into(),
        headers: vec![("authorization", format!("Bearer {TOKEN}"))],
        body: None,
        expect: None,
    }
}

impl Case {
    fn json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push(("content-type", "application/json".into()));
        self.body = Some(body.into());
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers
            .retain(|(n, _)| *n != name || name == "authorization-extra");
        self.headers.push((name, value.into()));
        self
    }

    fn no_auth(mut self) -> Self {
        self.headers.retain(|(n, _)| *n != "authorization");
        self
    }

    fn expect(mut self, status: u16) -> Self {
        self.expect = Some(status);
        self
    }
}

const WRITES: [(&str, &str); 2] = [("POST", "/tasks"), ("PUT", "/tasks/{id}")];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();

    // Malformed JSON, for both endpoints that read a body.
    let malformed: &[(&str, &[u8])] = &[
        ("empty body", b""),
        ("open brace", b"{"),
        ("close brace", b"}"),
        ("open bracket", b"["),
        ("trailing comma", br#"{"title": "a",}"#),
        ("missing value", br#"{"title": }"#),
        ("single quotes", b"{'title': 'a'}"),
        ("trailing garbage", br#"{"title": "a"} x"#),
        ("two objects", br#"{"title": "a"}{"title": "b"}"#),
        ("byte order mark", b"\xef\xbb\xbf{\"title\": \"a\"}"),
        ("invalid UTF-8", b"{\"title\": \"\xff\xfe\"}"),
        ("lone surrogate", br#"{"title": "\ud800"}"#),
        ("NaN", br#"{"title": NaN}"#),
        ("number past f64", br#"{"title": "a", "priority": 1e999}"#),
        ("unquoted key", b"{title: \"a\"}"),
        ("comment", b"/* c */ {\"title\": \"a\"}"),
        ("raw NUL byte", b"{\"title\": \"a\0\"}"),
        ("control character in string", b"{\"title\": \"a\x01b\"}"),
    ];
    for (m, path) in WRITES {
        for (what, body) in malformed {
            cases.push(
                case(format!("{m} {path}: {what}"), method(m), path)
                    .json(*body)
                    .expect(400),
            );
        }
        let deep = "[".repeat(5000) + &"]".repeat(5000);
        cases.push(
            case(format!("{m} {path}: 5000-deep nesting"), method(m), path)
                .json(deep)
                .expect(400),
        );
        let deep_object = r#"{"title": "a", "x": "#.to_owned()
            + &r#"{"a": "#.repeat(3000)
            + "1"
            + &"}".repeat(3001);
        cases.push(
            case(format!("{m} {path}: deep unknown field"), method(m), path).json(deep_object),
        );
        for body in [
            "null",
            "[]",
            "42",
            "\"title\"",
            "true",
            "[{\"title\": \"a\"}]",
        ] {
            cases.push(
                case(format!("{m} {path}: body {body}"), method(m), path)
                    .json(body)
                    .expect(400),
            );
        }
    }

    // Wrong types, unknown enum values, NUL characters, impossible dates.
    let invalid_fields = [
        r#"{"title": 1}"#,
        r#"{"title": true}"#,
        r#"{"title": []}"#,
        r#"{"title": {}}"#,
        r#"{"title": null}"#,
        r#"{"title": ""}"#,
        r#"{"title": "   "}"#,
        r#"{"title": "a\u0000b"}"#,
        r#"{"title": "\u0000"}"#,
        r#"{"title": 1e400}"#,
        r#"{"title": 9223372036854775808}"#,
        r#"{"title": "a", "description": 1}"#,
        r#"{"title": "a", "description": []}"#,
        r#"{"title": "a", "description": {"x": 1}}"#,
        r#"{"title": "a", "description": "x\u0000y"}"#,
        r#"{"title": "a", "status": 1}"#,
        r#"{"title": "a", "status": "done"}"#,
        r#"{"title": "a", "status": "PENDING"}"#,
        r#"{"title": "a", "status": ""}"#,
        r#"{"title": "a", "status": null}"#,
        r#"{"title": "a", "status": "pending\u0000"}"#,
        r#"{"title": "a", "priority": "urgent"}"#,
        r#"{"title": "a", "priority": 5}"#,
        r#"{"title": "a", "priority": null}"#,
        r#"{"title": "a", "priority": ["low"]}"#,
        r#"{"title": "a", "due_date": 123}"#,
        r#"{"title": "a", "due_date": true}"#,
        r#"{"title": "a", "due_date": "someday"}"#,
        r#"{"title": "a", "due_date": "2030-02-30"}"#,
        r#"{"title": "a", "due_date": "2030-13-01T00:00"}"#,
        r#"{"title": "a", "due_date": "2030-01-01T25:00"}"#,
        r#"{"title": "a", "due_date": "99999-01-01"}"#,
        r#"{"title": "a", "due_date": "2030-01-01\u0000"}"#,
        r#"{"title": "a", "due_date": " 2030-01-01"}"#,
        r#"{"title": "a", "due_date": "2030-1-1"}"#,
    ];
    for (m, path) in WRITES {
        for body in invalid_fields {
            cases.push(
                case(format!("{m} {path}: {body}"), method(m), path)
                    .json(body)
                    .expect(400),
            );
        }
        let long_title = format!(r#"{{"title": "{}"}}"#, "t".repeat(201));
        let long_description = format!(
            r#"{{"title": "a", "description": "{}"}}"#,
            "d".repeat(10_001)
        );
        for (what, body) in [
            ("201-char title", long_title),
            ("10001-char description", long_description),
        ] {
            cases.push(
                case(format!("{m} {path}: {what}"), method(m), path)
                    .json(body)
                    .expect(400),
            );
        }
    }
    // Odd but valid: what the parser accepts must not break the database.
    for body in [
        r#"{"title": "leap second", "due_date": "2030-12-31T23:59:60Z"}"#,
        r#"{"title": "year zero", "due_date": "0000-01-01T00:00"}"#,
        r#"{"title": "far future", "due_date": "9999-12-31T23:59:59-23:59"}"#,
        r#"{"title": "nanoseconds", "due_date": "2030-01-01T00:00:00.123456789Z"}"#,
        r#"{"title": "emoji 🦀 and RTL \u202e", "description": "\ud83e\udd80"}"#,
        r#"{"title": "a", "unknown": {"nested": [1, 2, 3]}, "id": 9223372036854775808}"#,
    ] {
        cases.push(
            case(format!("POST /tasks: {body}"), Method::POST, "/tasks")
                .json(body)
                .expect(201),
        );
    }

    // Wrong content types.
    for (m, path) in WRITES {
        for ct in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ] {
            let mut c = case(format!("{m} {path}: content-type {ct:?}"), method(m), path);
            c.headers.push(("content-type", ct.into()));
            c.body = Some(br#"{"title": "a"}"#.to_vec());
            cases.push(c.expect(415));
        }
        // A `+json` structured syntax suffix is JSON (RFC 6839): accepted, not pinned.
        let mut c = case(format!("{m} {path}: content-type +json"), method(m), path);
        c.headers
            .push(("content-type", "application/json-patch+json".into()));
        c.body = Some(br#"{"title": "a"}"#.to_vec());
        cases.push(c);
        let mut c = case(format!("{m} {path}: no content-type"), method(m), path);
        c.body = Some(br#"{"title": "a"}"#.to_vec());
        cases.push(c);
        // Over the 64 KiB limit, by a little and by a lot (within the drained megabyte).
        for size in [64 * 1024 + 1, 900 * 1024] {
            let body = format!(r#"{{"title": "a", "description": "{}"}}"#, "x".repeat(size));
            cases.push(
                case(format!("{m} {path}: {size}-byte body"), method(m), path)
                    .json(body)
                    .expect(413),
            );
        }
    }

    // Query parameters of the list.
    for (query, expect) in [
        ("offset=9223372036854775808", 400),
        ("offset=99999999999999999999999", 400),
        ("offset=-1", 400),
        ("offset=abc", 400),
        ("offset=1e3", 400),
        ("offset=", 400),
        ("limit=0", 400),
        ("limit=-1", 400),
        ("limit=9223372036854775808", 400),
        ("limit=1.5", 400),
        ("limit=%00", 400),
        ("status=done", 400),
        ("status=", 400),
        ("status=%00", 400),
        ("priority=URGENT", 400),
        ("priority=low%00", 400),
        ("limit=1&limit=2", 0),
        ("%%%", 0),
        ("offset[]=1", 0),
        ("limit=99999", 200),
        ("offset=9223372036854775807", 200),
    ] {
        let c = case(
            format!("GET /tasks?{query}"),
            Method::GET,
            format!("/tasks?{query}"),
        );
        cases.push(if expect == 0 { c } else { c.expect(expect) });
    }

    // Ids and paths.
    for (id, expect) in [
        ("9223372036854775808", 400),
        ("-9223372036854775809", 400),
        ("99999999999999999999999999", 400),
        ("abc", 400),
        ("1.5", 400),
        ("0x10", 400),
        ("%00", 400),
        ("1%20", 400),
        ("-1", 404),
        ("0", 404),
        ("9223372036854775807", 404),
    ] {
        for m in ["GET", "PUT", "DELETE"] {
            let mut c = case(
                format!("{m} /tasks/{id}"),
                method(m),
                format!("/tasks/{id}"),
            );
            if m == "PUT" {
                c = c.json(r#"{"title": "a"}"#);
            }
            cases.push(c.expect(expect));
        }
    }
    for path in [
        "/tasks/{id}/extra",
        "/tasks//{id}",
        "/tasks/..%2f..%2fetc%2fpasswd",
        "/tasks/%2e%2e",
        "/TASKS",
        "/tasks/{id};x=y",
        "/nope",
        "/tasks/openapi.json/x",
        "/tasks/docs/../../etc/passwd",
        "/%ff%fe",
    ] {
        cases.push(case(format!("GET {path}"), Method::GET, path));
    }
    for m in ["PATCH", "OPTIONS", "TRACE", "HEAD"] {
        cases.push(case(format!("{m} /tasks/{{id}}"), method(m), "/tasks/{id}"));
    }

    // Authorization, on every protected operation.
    let long = format!("Bearer {}", "a".repeat(8 * 1024));
    let auths: Vec<(&str, Option<String>, u16)> = vec![
        ("none", None, 401),
        ("scheme only", Some("Bearer".into()), 401),
        ("empty token", Some("Bearer ".into()), 401),
        ("basic", Some("Basic dXNlcjpwYXNz".into()), 401),
        ("garbage", Some("Bearer garbage".into()), 401),
        ("three empty parts", Some("Bearer ..".into()), 401),
        ("JWT-shaped garbage", Some("Bearer a.b.c".into()), 401),
        ("token with a tail", Some(format!("Bearer {TOKEN}x")), 401),
        ("token twice", Some(format!("Bearer {TOKEN} {TOKEN}")), 401),
        ("8 KiB token", Some(long), 401),
        ("NUL-free control chars", Some("Bearer \t\t".into()), 401),
    ];
    let operations = [
        ("POST", "/tasks"),
        ("GET", "/tasks"),
        ("GET", "/tasks/{id}"),
        ("PUT", "/tasks/{id}"),
        ("DELETE", "/tasks/{id}"),
    ];
    for (m, path) in operations {
        for (what, value, expect) in &auths {
            let mut c =
                case(format!("{m} {path}: authorization {what}"), method(m), path).no_auth();
            if let Some(v) = value {
                c.headers.push(("authorization", v.clone()));
            }
            if m == "POST" || m == "PUT" {
                c = c.json(r#"{"title": "a"}"#);
            }
            cases.push(c.expect(*expect));
        }
        // Two Authorization headers: refused (400 once the platform checks; never 5xx).
        // Until then the first, valid one may win: aim at a task we can spare.
        let mut c = case(
            format!("{m} {path}: two Authorization headers"),
            method(m),
            path.replace("{id}", "{spare}"),
        );
        c.headers.push(("authorization", "Bearer garbage".into()));
        if m == "POST" || m == "PUT" {
            c = c.json(r#"{"title": "a"}"#);
        }
        cases.push(c);
    }

    // Conditional and retry headers.
    for value in [
        "",
        "garbage",
        "\"",
        "W/",
        "*, garbage",
        &"\"1-1\", ".repeat(500),
    ] {
        for m in ["PUT", "DELETE"] {
            let mut c = case(
                format!("{m} /tasks/{{id}}: If-Match {value:.20?}"),
                method(m),
                "/tasks/{id}",
            )
            .header("if-match", value);
            if m == "PUT" {
                c = c.json(r#"{"title": "a"}"#);
            }
            cases.push(c);
        }
        cases.push(
            case(
                format!("GET /tasks/{{id}}: If-None-Match {value:.20?}"),
                Method::GET,
                "/tasks/{id}",
            )
            .header("if-none-match", value),
        );
    }
    for (what, key, expect) in [
        ("empty", String::new(), 400),
        ("256 characters", "k".repeat(256), 400),
        ("4 KiB", "k".repeat(4096), 400),
        ("spaces only", "   ".into(), 400),
        ("with a space", "\"a\", b".into(), 400),
        ("quotes and commas", "\"a\",b".into(), 201),
    ] {
        let c = case(
            format!("POST /tasks: Idempotency-Key {what}"),
            Method::POST,
            "/tasks",
        )
        .header("idempotency-key", key)
        .json(r#"{"title": "a"}"#);
        cases.push(if expect == 0 { c } else { c.expect(expect) });
    }

    // The auth endpoints the stack serves.
    for path in ["/auth/register", "/auth/login"] {
        for (what, body) in malformed.iter().take(10) {
            cases.push(
                case(format!("POST {path}: {what}"), Method::POST, path)
                    .no_auth()
                    .json(*body)
                    .expect(400),
            );
        }
        for body in [
            r#"{"username": 1, "password": []}"#,
            r#"{"username": null, "email": null, "password": null}"#,
            r#"{"username": "a\u0000b", "email": "a@example.com", "password": "password1"}"#,
            r#"{"username": "valid_name", "email": "a\u0000@example.com", "password": "password1\u0000"}"#,
            r#"[]"#,
        ] {
            cases.push(
                case(format!("POST {path}: {body}"), Method::POST, path)
                    .no_auth()
                    .json(body),
            );
        }
        let mut c = case(format!("POST {path}: text/plain"), Method::POST, path).no_auth();
        c.headers.push(("content-type", "text/plain".into()));
        c.body = Some(b"username=a".to_vec());
        cases.push(c.expect(415));
    }
    for (what, value) in [
        ("none", None),
        ("garbage", Some("Bearer garbage")),
        ("basic", Some("Basic Zm9vOmJhcg==")),
    ] {
        let mut c = case(
            format!("POST /auth/validate: {what}"),
            Method::POST,
            "/auth/validate",
        )
        .no_auth();
        if let Some(v) = value {
            c.headers.push(("authorization", v.into()));
        }
        cases.push(c.expect(401));
    }
    cases.push(
        case("GET /auth/nope", Method::GET, "/auth/nope")
            .no_auth()
            .expect(404),
    );
    cases
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_an_envelope_and_never_a_5xx() {
    let cases = corpus();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("target").await;
        let (_, t) = s
            .create(&token, serde_json::json!({"title": "target"}))
            .await;
        let id = t["task"]["id"].to_string();
        let (_, spare) = s
            .create(&token, serde_json::json!({"title": "spare"}))
            .await;
        let spare = spare["task"]["id"].to_string();
        let auth_base = s.auth_base().to_owned();
        let mut failures = Vec::new();
        for c in &cases {
            let path = c.path.replace("{id}", &id).replace("{spare}", &spare);
            let base = if path.starts_with("/auth") {
                &auth_base
            } else {
                &s.task.base
            };
            let mut req = s.http.request(c.method.clone(), format!("{base}{path}"));
            for (name, value) in &c.headers {
                req = req.header(*name, value.replace(TOKEN, &token));
            }
            if let Some(b) = &c.body {
                req = req.body(b.clone());
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: no answer: {e}", c.what));
                    continue;
                }
            };
            let status = resp.status();
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{}: body cut off: {e}", c.what));
                    continue;
                }
            };
            if status.is_server_error() {
                failures.push(format!("{}: {status} {text}", c.what));
                continue;
            }
            if c.expect.is_some_and(|e| e != status.as_u16()) {
                failures.push(format!(
                    "{}: expected {:?}, got {status} {text}",
                    c.what, c.expect
                ));
            }
            if status.is_client_error() && c.method != Method::HEAD {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let reason = status.canonical_reason().unwrap_or_default();
                let ok = body["error"] == reason
                    && body["message"].as_str().is_some_and(|m| !m.is_empty());
                if !ok {
                    failures.push(format!("{}: {status} without the envelope: {text}", c.what));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{backend:?}: {} of {} hostile requests misanswered:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
        // The target task survived everything.
        assert_eq!(s.get(&token, &format!("/tasks/{id}")).await.0, 200);
        s.stop().await;
    }
}
