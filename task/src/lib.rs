//! The task service: create, read, update and delete a user's own tasks.
//!
//! A request goes `app` (routes, middleware) → `api` (thin handlers) → `identity` (who is
//! calling, from the bearer token checked against `keys`) → `domain` (parsed input and the
//! ownership rule) → `tasks` (storage).

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod identity;
pub mod keys;
pub mod tasks;
