//! The application layer: the auth service's operations, each in a module named for it,
//! over the domain types and the user store. Knows nothing of HTTP.

pub mod accounts;
pub mod error;
pub mod login;
pub mod password;
pub mod register;
pub mod revocation;
pub mod signing_keys;
pub mod state;
pub mod throttle;
pub mod tokens;

pub use state::State;
