//! The configuration every in-process test service runs with.

use std::time::Duration;

use platform::process::config::{
    AppEnv, CommonConfig, DEFAULT_STATEMENT_TIMEOUT, DatabaseSettings, DbSource, LogFormat,
    MigrationMode,
};

use crate::db::TestDb;

/// The shared settings on `db`, with `https://app.example` as the CORS origin the tests use.
pub fn common(db: &TestDb) -> CommonConfig {
    CommonConfig {
        port: 0,
        app_env: AppEnv::Development,
        log_format: LogFormat::Pretty,
        database: DatabaseSettings {
            source: DbSource::Url(db.url.clone()),
            pool_max: 5,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            migrations: MigrationMode::Apply,
        },
        cors_origins: vec!["https://app.example".into()],
        shutdown_timeout: Duration::from_secs(5),
        trusted_proxy_hops: 0,
    }
}
