//! The application layer: the task operations, with the ownership rule applied, and who the
//! caller is (a token verified against auth's published keys, then checked against the
//! revocation state). Knows nothing of HTTP.

pub mod error;
pub mod idempotency;
pub mod limits;
pub mod revocation_cache;
pub mod state;
pub mod tasks;

pub use state::State;
