//! Starts the real auth and task services in-process on random ports, on one fresh
//! database, with task reaching auth over HTTP as it does in the cloud.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use serde_json::Value;
use task::config::{KeySettings, TaskConfig};
use testkit::{
    api::Api,
    db::{Backend, TestDb},
    inproc::Running,
};
use token_contract::settings::JwtSettings;
use tokio::net::TcpListener;

pub use testkit::api::assert_envelope;

pub async fn start_auth_on(listener: TcpListener, db: &TestDb, key_material: &str) -> Running {
    let cfg = auth::config::AuthConfig {
        common: testkit::config::common(db),
        jwt: JwtSettings::default(),
        signing_key: auth::config::KeySource::Inline(key_material.to_owned()),
        bcrypt_cost: 4,
    };
    Running::start(listener, "/auth/health", move |l, stop| {
        auth::startup::run(cfg, l, stop)
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
        task::startup::run(cfg, l, stop)
    })
    .await
}

/// auth + task on one database; `api` speaks to task, `auth_api()` to auth.
pub struct Stack {
    pub auth: Option<Running>,
    pub task: Running,
    pub api: Api,
    pub db: TestDb,
    pub key: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start(backend: Backend) -> Self {
        Self::start_tuned(backend, |_| {}).await
    }

    /// As [`Stack::start`], with task's key settings adjusted by `tune` (e.g. a short
    /// revocation cache bound).
    pub async fn start_tuned(backend: Backend, tune: impl FnOnce(&mut KeySettings)) -> Self {
        let db = TestDb::new(backend).await;
        let key = auth::app::signing_keys::generate_pem();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth = start_auth_on(listener, &db, &key).await;
        let mut keys = key_settings(&auth.base);
        tune(&mut keys);
        let task = start_task(&db, keys).await;
        let api = Api::new(task.base.clone());
        Self {
            auth: Some(auth),
            task,
            http: api.http.clone(),
            api,
            db,
            key,
        }
    }

    pub fn auth_base(&self) -> &str {
        &self.auth.as_ref().expect("auth running").base
    }

    pub fn auth_api(&self) -> Api {
        Api::new(self.auth_base())
    }

    /// Registers and logs in a new user; returns (token, user id).
    pub async fn user(&self, name: &str) -> (String, i64) {
        self.auth_api().user(name).await
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    pub async fn create(&self, token: &str, body: Value) -> (u16, Value) {
        self.api.post("/tasks", Some(token), body).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.api.get(path, Some(token)).await
    }

    pub async fn stop(mut self) {
        self.task.stop().await.expect("task ran cleanly");
        if let Some(a) = self.auth.take() {
            a.stop().await.expect("auth ran cleanly");
        }
    }
}

/// One request with any headers and an optional JSON body: status, headers and the JSON
/// answered (`null` when the body is not JSON). Panics when no response arrives.
pub async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http.request(method.clone(), url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}
