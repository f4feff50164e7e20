//! No error message echoes what was submitted: for generated JSON bodies (wrong types,
//! nested arrays and objects, malformed text) holding a secret, sent to every JSON endpoint
//! of both services, and for the secret in query and path parameters, no error response
//! contains the secret or any submitted string longer than a short excerpt. On SQLite and
//! (with TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::Stack;
use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use serde_json::{Map, Value, json};
use testkit::db::backends;

/// Every generated string longer than a short excerpt carries this.
const MARKER: &str = "xyzzy-secret";
/// The longest excerpt of a submitted value an error may quote.
const EXCERPT: usize = 16;

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{0,12}".prop_map(|tail| format!("{MARKER}-pw-{tail}"))
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "username",
            "password",
            "email",
            "title",
            "description",
            "status",
            "priority",
            "due_date",
            "current_password",
            "new_password",
        ])
        .prop_map(str::to_owned),
        secret(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9..1e9f64).prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        secret().prop_map(Value::from),
        secret().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A body: mostly an object of the API's field names, sometimes anything; cut short (so
/// malformed) when the second part is set.
fn body() -> impl Strategy<Value = (Value, Option<prop::sample::Index>)> {
    let object = btree_map(key(), json_value(), 1..5)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()));
    (
        prop_oneof![3 => object, 1 => json_value()],
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
    )
}

/// Every string in `v`, keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}

/// Fails when `answer` (an error response) holds the marker or more than [`EXCERPT`]
/// characters of any string in `sent`.
fn check_no_echo(what: &str, answer: &str, sent: &[String]) -> Result<(), TestCaseError> {
    prop_assert!(!answer.contains(MARKER), "{what} echoed: {answer}");
    for s in sent {
        let chars: Vec<char> = s.chars().collect();
        for window in chars.windows(EXCERPT + 1) {
            let piece: String = window.iter().collect();
            prop_assert!(
                !answer.contains(&piece),
                "{what} echoed {piece:?}: {answer}"
            );
        }
    }
    Ok(())
}

struct Endpoint {
    method: Method,
    base: String,
    path: String,
    token: bool,
}

#[test]
fn no_error_echoes_a_submitted_value() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let s = rt.block_on(Stack::start(backend));
        let (token, _) = rt.block_on(s.user("echo"));
        let (status, created) = rt.block_on(s.create(&token, json!({"title": "target"})));
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let auth = s.auth_base().to_owned();
        let task = s.task.base.clone();
        let endpoint = |method: Method, base: &str, path: &str, token: bool| Endpoint {
            method,
            base: base.to_owned(),
            path: path.to_owned(),
            token,
        };
        let endpoints = [
            endpoint(Method::POST, &auth, "/auth/register", false),
            endpoint(Method::POST, &auth, "/auth/login", false),
            endpoint(Method::PUT, &auth, "/auth/me/password", true),
            endpoint(Method::DELETE, &auth, "/auth/me", true),
            endpoint(Method::POST, &task, "/tasks", true),
            endpoint(Method::PUT, &task, &format!("/tasks/{id}"), true),
        ];

        let mut runner = TestRunner::new(Config {
            cases: 48,
            ..Config::default()
        });
        let case = (
            prop::sample::select((0..endpoints.len()).collect::<Vec<_>>()),
            body(),
            secret(),
        );
        runner
            .run(&case, |(which, (body, cut), param)| {
                rt.block_on(async {
                    let e = &endpoints[which];
                    let mut text = body.to_string();
                    if let Some(cut) = cut {
                        let mut at = cut.index(text.len());
                        while !text.is_char_boundary(at) {
                            at -= 1;
                        }
                        text.truncate(at);
                    }
                    let mut sent = Vec::new();
                    strings(&body, &mut sent);
                    let mut req = s
                        .http
                        .request(e.method.clone(), format!("{}{}", e.base, e.path))
                        .header("content-type", "application/json")
                        .body(text);
                    if e.token {
                        req = req.bearer_auth(&token);
                    }
                    let r = req.send().await.unwrap();
                    let status = r.status().as_u16();
                    let answer = r.text().await.unwrap();
                    if status >= 400 {
                        check_no_echo(&format!("{} {}", e.method, e.path), &answer, &sent)?;
                    }

                    // The same secret as query and path parameters.
                    for path in [
                        format!("/tasks?status={param}&priority={param}&limit={param}"),
                        format!("/tasks?offset={param}"),
                        format!("/tasks/{param}"),
                    ] {
                        let r = s
                            .http
                            .get(format!("{task}{path}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        prop_assert_eq!(r.status().as_u16(), 400, "{}", path);
                        let answer = r.text().await.unwrap();
                        check_no_echo(&path, &answer, std::slice::from_ref(&param))?;
                    }
                    Ok(())
                })
            })
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        rt.block_on(s.stop());
    }
}
