//! The task service: create, read, update and delete a user's own tasks.
//!
//! A request goes one way down the layers, each a folder or file here:
//!
//! - `http` — routes, request/response bodies (`schema`, converted into domain types with
//!   `TryFrom`), the bearer-token scheme whose checker verifies the token (`caller`),
//!   errors as the envelope (`error`);
//! - `app` — the task operations with the ownership rule (`tasks`), who the caller is
//!   (`State::authenticate`), the cache of which tokens auth has revoked
//!   (`revocation_cache`), and the `state` they share;
//! - `domain` — tasks and parsed input, plain values that depend on nothing above;
//! - `storage` — the `tasks` table, and the revocation state auth writes (`user_tokens`),
//!   returning domain values;
//! - `adapters` — the other outbound side, beside `storage`: the cache of the auth service's
//!   published keys (`jwks_cache`), which the operations use and which uses none of them.
//!
//! `startup` wires configuration → state → routes → server; `config` reads the settings.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod storage;
