//! Databases in the states a release meets in the field: migrated by a newer release, or
//! missing one of this release's migrations. Plain SQL both backends accept, written as the
//! other release would have run it.

use sea_orm::ConnectionTrait;

use crate::db::TestDb;

/// The name the newer release's migration is recorded under.
pub const FUTURE_MIGRATION: &str = "m0099_future";

/// What an additive migration of a newer release does: its row in `seaql_migrations`, a
/// table of its own, and a nullable column on `tasks` and on `users`.
pub async fn apply_future_release(db: &TestDb) {
    run(
        db,
        &[
            "CREATE TABLE task_labels (id BIGINT PRIMARY KEY, \
             task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE, \
             label VARCHAR(50) NOT NULL)",
            "ALTER TABLE tasks ADD COLUMN estimate_minutes INTEGER",
            "ALTER TABLE users ADD COLUMN display_name VARCHAR(100)",
            &format!(
                "INSERT INTO seaql_migrations (version, applied_at) \
                 VALUES ('{FUTURE_MIGRATION}', 1893456000)"
            ),
        ],
    )
    .await;
}

/// Undoes this release's `m0006_task_list_index` (its `down`, and its row), as on a database
/// an older release migrated.
pub async fn undo_task_list_index(db: &TestDb) {
    run(
        db,
        &[
            "CREATE INDEX idx_tasks_user_id ON tasks (user_id)",
            "DROP INDEX idx_tasks_user_created",
            "DELETE FROM seaql_migrations WHERE version = 'm0006_task_list_index'",
        ],
    )
    .await;
}

/// The migrations `db` records, in name order.
pub async fn recorded(db: &TestDb) -> Vec<String> {
    let conn = db.connect().await;
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .expect("read seaql_migrations");
    let _ = conn.close().await;
    rows.iter()
        .map(|r| r.try_get_by_index(0).expect("a version"))
        .collect()
}

async fn run(db: &TestDb, statements: &[&str]) {
    let conn = db.connect().await;
    for sql in statements {
        conn.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let _ = conn.close().await;
}
