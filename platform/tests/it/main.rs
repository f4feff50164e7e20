//! Integration tests of the shared platform crate, one test binary: each module is the file of the same name
//! beside this one (linking poem, sea-orm and the AWS SDK once rather than once per file).

mod db_readiness;
mod db_sessions;
mod http_hardening;
