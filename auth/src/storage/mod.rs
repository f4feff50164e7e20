//! Persistence: each table behind a small repository that speaks domain types.

pub mod login_throttle;
pub mod users;
