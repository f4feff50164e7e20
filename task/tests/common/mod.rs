//! Starts the real auth and task services in-process on random ports, on one fresh
//! database, with task reaching auth over HTTP as it does in the cloud.
#![allow(dead_code)]

use std::time::Duration;

use platform::config::JwtSettings;
use serde_json::{Value, json};
use task::config::{KeySettings, TaskConfig};
use testkit::db::{Backend, TestDb};
use testkit::inproc::Running;
use tokio::net::TcpListener;

pub async fn start_auth_on(listener: TcpListener, db: &TestDb, key_material: &str) -> Running {
    let cfg = auth::config::AuthConfig {
        common: testkit::config::common(db),
        jwt: JwtSettings::default(),
        signing_key: auth::config::KeySource::Inline(key_material.to_owned()),
        bcrypt_cost: 4,
    };
    Running::start(listener, "/auth/health", move |l, stop| {
        auth::app::run(cfg, l, stop)
    })
    .await
}

pub fn key_settings(auth_base: &str) -> KeySettings {
    let mut k = KeySettings::new(auth_base);
    k.startup_wait = Duration::from_millis(500);
    k.min_refresh_interval = Duration::from_millis(200);
    k
}

pub async fn start_task(db: &TestDb, keys: KeySettings) -> Running {
    let cfg = TaskConfig {
        common: testkit::config::common(db),
        jwt: JwtSettings::default(),
        keys,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Running::start(listener, "/tasks/health", move |l, stop| {
        task::app::run(cfg, l, stop)
    })
    .await
}

/// auth + task on one database, and an HTTP client.
pub struct Stack {
    pub auth: Option<Running>,
    pub task: Running,
    pub db: TestDb,
    pub key: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let key = auth::keys::generate_pem();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth = start_auth_on(listener, &db, &key).await;
        let task = start_task(&db, key_settings(&auth.base)).await;
        Self {
            auth: Some(auth),
            task,
            db,
            key,
            http: testkit::http(),
        }
    }

    pub fn auth_base(&self) -> &str {
        &self.auth.as_ref().expect("auth running").base
    }

    /// Registers and logs in a new user; returns (token, user id).
    pub async fn user(&self, name: &str) -> (String, i64) {
        let base = self.auth_base().to_owned();
        let r = self
            .http
            .post(format!("{base}/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": "password1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "register {name}");
        let login: Value = self
            .http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": name, "password": "password1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            login["token"].as_str().unwrap().to_owned(),
            login["user"]["id"].as_i64().unwrap(),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.task.base)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/tasks", Some(token), Some(body))
            .await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn stop(mut self) {
        self.task.stop().await.expect("task ran cleanly");
        if let Some(a) = self.auth.take() {
            a.stop().await.expect("auth ran cleanly");
        }
    }
}

pub fn assert_envelope(body: &Value, error: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
