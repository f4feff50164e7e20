//! The runtime both services share, in layers by concern:
//!
//! - [`startup`]: the start-up sequence both binaries share — read the configuration, start
//!   logging and the runtime, serve until a signal, the exit code; and the subcommands every
//!   binary answers;
//! - [`http`]: serving requests — the accept loop and its deadlines, the middleware, the
//!   error envelope, request-body parsing and the health check;
//! - [`db`]: the database handle — pools, parked PostgreSQL sessions, the circuit breaker,
//!   failure classification and outage logging;
//! - [`process`]: being a process in the cloud — configuration, secrets, TLS roots, the
//!   outbound HTTP client, logs, metrics and a failure's cause as logged.
//!
//! What auth and task must agree on lives in its own crates: the token contract in
//! `token-contract`, the shared schema in `db-schema`. A service crate owns its domain, its
//! storage queries and its handlers; everything a service needs to be a well-behaved process
//! in the cloud lives here, once.
//!
//! # Layers
//!
//! Top to bottom; a file imports from its own layer and the layers below it, never from one
//! above, so each layer can be read and changed knowing only what is under it. The root
//! crate's `tests/it/layering.rs` reads this list and holds every file of `src/` to it.
//!
//! 1. `startup` — wires the other three together;
//! 2. `http` — serving requests, which may fail for the database's sake;
//! 3. `db` — the database handle, configured and logged by the process;
//! 4. `process` — the process itself, using nothing else of this crate's.

pub mod db;
pub mod http;
pub mod process;
pub mod startup;

pub use http::error::{ApiError, ErrorBody, Errors, FieldError, status};
pub use process::cause::Cause;
