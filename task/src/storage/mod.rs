//! Persistence: each table behind a small repository that speaks domain types.

pub mod idempotency;
pub mod tasks;
pub mod user_tokens;
pub mod write_rate;
