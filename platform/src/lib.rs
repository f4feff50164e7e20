//! The runtime both services share, in three folders by concern:
//!
//! - [`http`]: serving requests — the accept loop and its deadlines, the middleware, the
//!   error envelope, request-body parsing and the health check;
//! - [`db`]: the database handle — pools, parked PostgreSQL sessions, the circuit breaker,
//!   failure classification and outage logging;
//! - [`process`]: being a process in the cloud — configuration, secrets, TLS roots, the
//!   outbound HTTP client, logs, metrics and the start-up sequence.
//!
//! What auth and task must agree on lives in its own crates: the token contract in
//! `token-contract`, the shared schema in `db-schema`. A service crate owns its domain, its
//! storage queries and its handlers; everything a service needs to be a well-behaved process
//! in the cloud lives here, once.

pub mod db;
pub mod http;
pub mod process;

pub use http::error::{ApiError, Cause, ErrorBody, Errors, FieldError, status};
