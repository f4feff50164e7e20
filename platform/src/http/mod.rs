//! Serving HTTP: the accept loop and its per-connection deadlines ([`server`], [`deadlines`]),
//! what wraps every request ([`middleware`], [`client_addr`], [`methods`]), the error envelope
//! ([`error`], [`wire_errors`]), reading input ([`json`], [`input`], [`header`]) and the
//! container's health check ([`health`]).

pub mod client_addr;
pub mod deadlines;
pub mod error;
pub mod header;
pub mod health;
pub mod input;
pub mod json;
pub mod methods;
pub mod middleware;
pub mod server;
pub mod wire_errors;
