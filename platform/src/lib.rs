//! The runtime both services share: configuration, secrets, database and migrations,
//! telemetry, the error envelope, request plumbing and the server's lifecycle.
//!
//! A service crate owns its domain, its storage queries and its handlers; everything a
//! service needs to be a well-behaved process in the cloud lives here, once.

pub mod circuit;
pub mod client_addr;
pub mod config;
pub mod connection;
pub mod db;
pub mod error;
pub mod header;
pub mod health;
pub mod http_client;
pub mod input;
pub mod json;
pub mod methods;
pub mod metrics;
pub mod middleware;
pub mod outage;
pub mod redact;
pub mod secrets;
pub mod server;
pub mod sessions;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod wire_errors;

pub use error::{ApiError, ErrorBody, Errors, FieldError, status};
