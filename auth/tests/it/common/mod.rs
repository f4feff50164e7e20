//! Starts the real auth service in-process on a random port, against a fresh database.
#![allow(dead_code, unused_imports)]

use auth::config::{AuthConfig, KeySource};
use serde_json::Value;
use testkit::{
    api::Api,
    db::{Backend, TestDb},
    inproc::Running,
};
use token_contract::settings::JwtSettings;
use tokio::net::TcpListener;

pub use testkit::api::assert_envelope;

pub const EXPIRATION: u64 = 3600;

pub struct TestAuth {
    pub api: Api,
    pub base: String,
    pub db: TestDb,
    pub key_pem: String,
    pub http: reqwest::Client,
    running: Running,
}

/// Auth on `db`, signing with `key_pem`, with a cheap bcrypt cost.
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

/// Starts auth with `cfg` on `listener`.
pub async fn start_on(listener: TcpListener, cfg: AuthConfig) -> Running {
    Running::start(listener, "/auth/health", move |l, stop| {
        auth::startup::run(cfg, l, stop)
    })
    .await
}

impl TestAuth {
    pub async fn start(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let key_pem = auth::app::signing_keys::generate_pem();
        let cfg = config(&db, &key_pem);
        Self::start_with(db, key_pem, cfg).await
    }

    pub async fn start_with(db: TestDb, key_pem: String, cfg: AuthConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = start_on(listener, cfg).await;
        let api = Api::new(running.base.clone());
        Self {
            base: running.base.clone(),
            http: api.http.clone(),
            api,
            db,
            key_pem,
            running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.api.post(path, None, body).await
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> (u16, Value) {
        self.api.register(username, email, password).await
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.api.login(username, password).await
    }

    pub async fn validate(&self, token: &str) -> (u16, Value) {
        self.api
            .call(reqwest::Method::POST, "/auth/validate", Some(token), None)
            .await
    }

    pub async fn stop(self) {
        self.running.stop().await.expect("service ran cleanly");
    }

    /// Stops the service and hands back its database, to start another one on it.
    pub async fn stop_keeping_db(self) -> TestDb {
        self.running.stop().await.expect("service ran cleanly");
        self.db
    }
}
