//! What the integration tests of every crate share: a fresh database per test on each
//! backend, a real Secrets Manager emulator, and services run as real processes.

pub mod api;
pub mod config;
pub mod db;
pub mod fault_proxy;
pub mod inproc;
pub mod json;
pub mod load;
pub mod moto;
pub mod pg_instance;
pub mod process;
pub mod raw;
pub mod schema;

use std::net::TcpListener;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the OS hands out an ephemeral port")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("test HTTP client")
}

/// `GET url`, expecting a JSON body.
pub async fn get_json(url: &str) -> serde_json::Value {
    http()
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}
