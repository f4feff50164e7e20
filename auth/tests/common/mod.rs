//! Starts the real auth service in-process on a random port, against a fresh database.
#![allow(dead_code)]

use auth::config::{AuthConfig, KeySource};
use platform::config::JwtSettings;
use serde_json::{Value, json};
use testkit::db::{Backend, TestDb};
use testkit::inproc::Running;
use tokio::net::TcpListener;

pub const EXPIRATION: u64 = 3600;

pub struct TestAuth {
    pub base: String,
    pub db: TestDb,
    pub key_pem: String,
    pub http: reqwest::Client,
    running: Running,
}

pub fn config(db: &TestDb, key_pem: &str) -> AuthConfig {
    AuthConfig {
        common: testkit::config::common(db),
        jwt: JwtSettings {
            expiration_secs: EXPIRATION,
            ..JwtSettings::default()
        },
        signing_key: KeySource::Inline(key_pem.to_owned()),
        bcrypt_cost: 4,
    }
}

impl TestAuth {
    pub async fn start(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let key_pem = auth::keys::generate_pem();
        let cfg = config(&db, &key_pem);
        Self::start_with(db, key_pem, cfg).await
    }

    pub async fn start_with(db: TestDb, key_pem: String, cfg: AuthConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = Running::start(listener, "/auth/health", move |l, stop| {
            auth::app::run(cfg, l, stop)
        })
        .await;
        Self {
            base: running.base.clone(),
            db,
            key_pem,
            http: testkit::http(),
            running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/register",
            json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn validate(&self, token: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/auth/validate"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(self) {
        self.running.stop().await.expect("service ran cleanly");
    }
}

/// Asserts the contract's error envelope.
pub fn assert_envelope(body: &Value, error: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
