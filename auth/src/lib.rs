//! The auth service: registers users, logs them in, issues and validates tokens, publishes
//! its public keys.
//!
//! A request goes one way down the layers, each a folder or file here:
//!
//! - `http` — routes, request/response bodies (`schema`, converted into domain types with
//!   `TryFrom`), the bearer-token scheme (`caller`), errors as the envelope (`error`);
//! - `app` — the operations (`register`, `login`, the caller's own `accounts`), token
//!   issuing (`tokens`, signed by `signing_keys`) and `revocation`, password
//!   hashing (`password`), the login `throttle`, and the `state` they share;
//! - `domain` — users and parsed input, plain values that depend on nothing above;
//! - `storage` — the tables (`users`, with `accounts`' queries on it, and
//!   `revoked_tokens`), returning domain values.
//!
//! `startup` wires configuration → state → routes → server; `config` reads the settings.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod storage;
