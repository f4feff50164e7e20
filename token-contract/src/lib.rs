//! The token contract between auth and task: what one issues the other must accept.
//!
//! - [`jwt`]: the claims, the JWK Set document and the verifier (keys selected by `kid`,
//!   verified tokens remembered until they expire);
//! - [`revocation_rule`]: when a well-signed, unexpired token has nevertheless been revoked
//!   (the token generation, and the whole-second cut-off for older tokens);
//! - [`settings`]: `JWT_EXPIRATION`, `JWT_ISSUER`, `JWT_AUDIENCE`.
//!
//! auth signs with its keys and applies the rule at once; task verifies with the keys auth
//! publishes and applies the rule from its cache of the same rows.

pub mod jwt;
pub mod revocation_rule;
pub mod settings;
