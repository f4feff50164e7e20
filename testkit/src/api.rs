//! Speaking to a service under test: a JSON client bound to its base URL, the envelope
//! check, and the claims of a hand-made token.

use serde_json::{Value, json};

/// A service under test, spoken to in JSON.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            http: crate::http(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with an optional bearer token and JSON body: the status and the JSON
    /// answered (`null` when the body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/register",
            None,
            json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/login",
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `name` (password `password1`) and logs in: the token and the user id.
    pub async fn user(&self, name: &str) -> (String, i64) {
        let (status, body) = self
            .register(name, &format!("{name}@example.com"), "password1")
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        let (status, login) = self.login(name, "password1").await;
        assert_eq!(status, 200, "login {name}: {login}");
        (
            login["token"].as_str().expect("token").to_owned(),
            login["user"]["id"].as_i64().expect("user id"),
        )
    }
}

/// Asserts the contract's error envelope with reason phrase `error`.
pub fn assert_envelope(body: &Value, error: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// The fields a validation error names, in order.
pub fn invalid_fields(body: &Value) -> Vec<&str> {
    body["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

/// The claims auth puts in a token for `user_id`, with the default issuer and audience,
/// issued `iat` and expiring `exp` (seconds since the epoch); tests override fields.
pub fn claims(user_id: i64, iat: i64, exp: i64) -> Value {
    json!({
        "sub": user_id.to_string(), "user_id": user_id, "username": "mallory",
        "email": "mallory@example.com", "role": "user", "iat": iat, "exp": exp,
        "iss": "task-management", "aud": "task-management-api", "jti": "test-jti",
    })
}
