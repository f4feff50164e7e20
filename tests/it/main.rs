//! Integration tests of the whole system (the services as processes, the deployment files, the docs), one test binary: each module is the file of the same name
//! beside this one (linking poem, sea-orm and the AWS SDK once rather than once per file).

mod deploy;
mod synth;

mod api_reference;
mod browser;
mod cdk_matches_copilot;
mod clients;
mod code_map;
mod config_docs;
mod copilot_manifests;
mod db_failures;
mod e2e;
mod hardening;
mod http_layer;
mod image_smoke;
mod layering;
mod readme;
mod rehearsal;
mod shutdown;
mod soak;
mod startup_errors;
