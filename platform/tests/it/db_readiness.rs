//! The database handle when the database is not there: readiness says so, calls fail without
//! waiting for it, and no error shows the password.

use std::sync::atomic::{AtomicUsize, Ordering};

use platform::{
    db::{Database, is_unavailable},
    process::config::{DEFAULT_STATEMENT_TIMEOUT, DatabaseSettings, DbSource},
};
use sea_orm::ConnectionTrait;

fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        source: DbSource::Url(url),
        pool_max: 2,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
    }
}

/// A PostgreSQL URL on a local port nobody listens on.
fn unreachable_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("postgres://app:s3cret@127.0.0.1:{port}/tasks")
}

#[tokio::test]
async fn with_the_database_down_ready_fails_and_calls_are_refused_without_trying() {
    let db = Database::connect_lazy(settings(unreachable_url()), None)
        .await
        .unwrap();
    assert!(!db.ping().await);

    let tried = AtomicUsize::new(0);
    let err = db
        .run(|c| {
            tried.fetch_add(1, Ordering::Relaxed);
            async move { c.execute_unprepared("SELECT 1").await.map(drop) }
        })
        .await
        .unwrap_err();
    assert!(is_unavailable(&err), "{err}");
    assert_eq!(
        tried.load(Ordering::Relaxed),
        0,
        "the circuit let the call through"
    );
}

#[tokio::test]
async fn a_reachable_database_is_ready_and_calls_go_through() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let db = Database::connect(settings(url), None).await.unwrap();
    assert!(db.ping().await);
    db.run(|c| async move { c.execute_unprepared("SELECT 1").await.map(drop) })
        .await
        .unwrap();
    db.close().await;
}

#[tokio::test]
async fn connection_errors_do_not_show_the_password() {
    for url in [
        "postgres://u:s3cret@[::1:bad/x".to_owned(),
        unreachable_url(),
    ] {
        let err = match Database::connect(settings(url.clone()), None).await {
            Ok(_) => panic!("{url} connected"),
            Err(e) => format!("{e} / {e:?}"),
        };
        assert!(!err.contains("s3cret"), "{err}");
    }
}
