//! The application layer: the task operations, with the ownership rule applied, and the
//! cache of the auth service's published keys that tokens are verified against. Knows
//! nothing of HTTP.

pub mod error;
pub mod idempotency;
pub mod jwks_cache;
pub mod limits;
pub mod revocation_cache;
pub mod state;
pub mod tasks;

pub use state::State;
