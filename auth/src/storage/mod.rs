//! Persistence: each table behind a small repository that speaks domain types.

pub mod accounts;
pub mod login_throttle;
pub mod revoked_tokens;
pub mod users;
