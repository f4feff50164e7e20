//! Integration tests of the auth service, one test binary: each module is the file of the same name
//! beside this one (linking poem, sea-orm and the AWS SDK once rather than once per file).

mod common;

mod accounts;
mod api;
mod forwarded;
mod framework;
mod process;
mod properties;
mod throttle;
