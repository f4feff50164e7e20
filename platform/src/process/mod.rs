//! Being a process in the cloud: configuration from the environment ([`config`]), secrets
//! ([`secrets`]), TLS roots ([`tls`]), the outbound HTTP client ([`http_client`]), logs and
//! metrics ([`telemetry`], [`metrics`], [`redact`]) and why a request failed as its access
//! line says it ([`cause`]).

pub mod cause;
pub mod config;
pub mod http_client;
pub mod metrics;
pub mod redact;
pub mod secrets;
pub mod telemetry;
pub mod tls;
