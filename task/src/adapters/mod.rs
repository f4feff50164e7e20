//! Outbound adapters other than the database: what the task service asks of other services.
//! Below the application layer, beside `storage`: they speak the token contract and the
//! configuration, never the operations or HTTP handlers.

pub mod jwks_cache;
