//! The auth service: registers users, logs them in, issues and validates tokens, publishes
//! its public keys.
//!
//! A request goes `app` (routes, middleware) → `api` (thin handlers) → `domain` (parsed
//! input) → `password` / `tokens` / `rate_limit` (rules) → `users` (storage).

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod keys;
pub mod password;
pub mod rate_limit;
pub mod tokens;
pub mod users;
