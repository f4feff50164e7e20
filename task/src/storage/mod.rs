//! Persistence: each table behind a small repository that speaks domain types.

pub mod idempotency;
pub mod revocation;
pub mod tasks;
