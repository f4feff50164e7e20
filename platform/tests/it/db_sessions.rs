//! The parking lot in front of the PostgreSQL pool (src/db/parked.rs): connections are reused
//! without sqlx's test round trip, yet nothing waits on a parked connection, a cancelled
//! statement leaves nothing behind, and the pool still closes. Each test runs on SQLite
//! (the plain pool) and, with TEST_DATABASE_URL, on PostgreSQL.

use std::time::Duration;

use platform::{
    db::Database,
    process::config::{DEFAULT_STATEMENT_TIMEOUT, DatabaseSettings, DbSource},
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::db::{Backend, TestDb, backends};

async fn database(test_db: &TestDb, pool_max: u32) -> Database {
    let settings = DatabaseSettings {
        source: DbSource::Url(test_db.url.clone()),
        pool_max,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
    };
    Database::connect(settings, None).await.expect("connect")
}

fn backend(b: Backend) -> DbBackend {
    match b {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    }
}

async fn select(db: &Database, b: Backend, sql: &str) -> i64 {
    let stmt = Statement::from_string(backend(b), sql.to_owned());
    let row = db
        .run(|c| async move { c.query_one_raw(stmt).await })
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// With one connection, statements (which park it), transactions and readiness pings (which
/// need sqlx's own checkout) take turns, one after the other and all at once: none waits
/// for a connection that is parked.
#[tokio::test]
async fn parked_connections_never_starve_the_pool() {
    for b in backends() {
        let test_db = TestDb::new(b).await;
        let db = database(&test_db, 1).await;
        for i in 0..20 {
            assert_eq!(
                select(&db, b, &format!("SELECT CAST({i} AS BIGINT)")).await,
                i,
                "{b:?}"
            );
            db.transaction(|txn| async move {
                txn.execute_unprepared("SELECT 1").await?;
                txn.commit().await
            })
            .await
            .unwrap_or_else(|e| panic!("{b:?}: transaction {i}: {e}"));
            assert!(db.ping().await, "{b:?}: ping {i}");
        }
        let db = std::sync::Arc::new(db);
        let mut all = tokio::task::JoinSet::new();
        for i in 0..30i64 {
            let db = db.clone();
            all.spawn(async move {
                match i % 3 {
                    0 => assert_eq!(
                        select(&db, b, &format!("SELECT CAST({i} AS BIGINT)")).await,
                        i
                    ),
                    1 => db
                        .transaction(|txn| async move { txn.commit().await })
                        .await
                        .expect("transaction"),
                    _ => assert!(db.ping().await),
                }
            });
        }
        while let Some(done) = all.join_next().await {
            done.unwrap_or_else(|e| panic!("{b:?}: {e}"));
        }
        // Parked connections are checked out of sqlx's pool; closing must not wait for them.
        tokio::time::timeout(Duration::from_secs(5), db.close())
            .await
            .unwrap_or_else(|_| panic!("{b:?}: close waited on a parked connection"));
    }
}

/// An operation's connection is parked, not given back to sqlx's pool (which would test it
/// with a round trip), and the next operation reuses that same session.
#[tokio::test]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn consecutive_operations_reuse_the_parked_session() {
    let b = Backend::Postgres;
    let test_db = TestDb::new(b).await;
    let db = database(&test_db, 5).await;
    let first = select(&db, b, "SELECT pg_backend_pid()::bigint").await;
    assert_eq!(db.parked_sessions(), 1);
    for _ in 0..10 {
        assert_eq!(
            select(&db, b, "SELECT pg_backend_pid()::bigint").await,
            first
        );
    }
    db.close().await;
}

/// A request cancelled in the middle of a statement leaves its connection mid-protocol:
/// it must not be parked, and the next operation gets its own answer.
#[tokio::test]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn a_cancelled_statement_leaves_nothing_behind() {
    let b = Backend::Postgres;
    let test_db = TestDb::new(b).await;
    let db = database(&test_db, 2).await;
    let slow = select(&db, b, "SELECT 7 FROM pg_sleep(3)");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), slow)
            .await
            .is_err(),
        "pg_sleep(3) answered within 200 ms"
    );
    assert_eq!(db.parked_sessions(), 0, "the cancelled session was parked");
    for i in 0..5 {
        assert_eq!(
            select(&db, b, &format!("SELECT CAST({i} AS BIGINT)")).await,
            i
        );
    }
    assert_eq!(db.parked_sessions(), 1);
    db.close().await;
}

/// The server ends a session between two statements of one operation (a failover, a
/// rotation cutting sessions): the statement it never ran goes again on a fresh session, and
/// the one before it, which did run, does not run twice.
#[tokio::test]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn a_statement_on_a_session_the_server_ended_runs_again_on_a_fresh_one() {
    let b = Backend::Postgres;
    let test_db = TestDb::new(b).await;
    let db = database(&test_db, 3).await;
    let admin = test_db.connect().await;
    admin
        .execute_unprepared("CREATE TABLE ran (step BIGINT NOT NULL)")
        .await
        .expect("create table");
    let (before, after) = db
        .run(|c| async move {
            let before = backend_pid(&c).await?;
            c.execute_unprepared("INSERT INTO ran VALUES (1)").await?;
            // The timeout makes it wait until the backend has exited.
            admin
                .execute_unprepared(&format!("SELECT pg_terminate_backend({before}, 5000)"))
                .await?;
            c.execute_unprepared("INSERT INTO ran VALUES (2)").await?;
            Ok((before, backend_pid(&c).await?))
        })
        .await
        .expect("the operation outlives its first session");
    assert_ne!(before, after, "the ended session was used again");
    assert_eq!(
        select(&db, b, "SELECT COUNT(*) FILTER (WHERE step = 1) * 10 + COUNT(*) FILTER (WHERE step = 2) FROM ran").await,
        11,
        "each statement ran exactly once"
    );
    db.close().await;
}

async fn backend_pid(c: &impl ConnectionTrait) -> Result<i64, sea_orm::DbErr> {
    let stmt = Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid()::bigint");
    match c.query_one_raw(stmt).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Err(sea_orm::DbErr::RecordNotFound("pg_backend_pid()".into())),
    }
}
