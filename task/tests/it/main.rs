//! Integration tests of the task service, one test binary: each module is the file of the same name
//! beside this one (linking poem, sea-orm and the AWS SDK once rather than once per file).

mod common;

mod api;
mod concurrency;
mod echo;
mod headers;
mod hostile;
mod keys;
mod properties;
mod revocation;
