//! This release's migrations against the ones a database records as applied
//! (`seaql_migrations`), and applying the missing ones.
//!
//! sea-orm-migration's own `Migrator::up` (and `get_migration_with_status`) refuse a database
//! that records a migration the binary does not know. That is exactly the database a
//! rollback, a replaced task or a not-yet-updated service meets once a newer release has
//! migrated it; every migration being additive (docs/release.md), such a database serves this
//! release as it is. So the comparison is made here: this release's migrations that are not
//! recorded are pending, recorded ones it does not know are a newer release's and are accepted.

use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    TransactionTrait,
};
use sea_orm_migration::{MigratorTrait, SchemaManager, seaql_migrations};

/// This release's migrations compared with those a database records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// This release's migrations the database does not record, in the order they apply.
    pub pending: Vec<String>,
    /// Recorded migrations this release does not know: a newer release's.
    pub unknown: Vec<String>,
}

/// What applying found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The migrations applied, in order.
    pub applied: Vec<String>,
    /// Recorded migrations this release does not know (left alone).
    pub unknown: Vec<String>,
}

/// The names of this release's migrations, in the order they apply.
pub fn known() -> Vec<String> {
    db_schema::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// `known` (in order) against `recorded`.
pub fn compare(known: &[String], recorded: &[String]) -> SchemaStatus {
    SchemaStatus {
        pending: known
            .iter()
            .filter(|k| !recorded.contains(k))
            .cloned()
            .collect(),
        unknown: recorded
            .iter()
            .filter(|r| !known.contains(r))
            .cloned()
            .collect(),
    }
}

/// The migrations `conn`'s database records, without creating the table that records them
/// (a database nothing has migrated records none).
async fn recorded(conn: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let table = db_schema::Migrator::migration_table_name().to_string();
    if !SchemaManager::new(conn).has_table(&table).await? {
        return Ok(Vec::new());
    }
    let mut versions: Vec<String> = seaql_migrations::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    versions.sort();
    Ok(versions)
}

/// Reads the database's status; changes nothing.
pub(super) async fn status(conn: &DatabaseConnection) -> Result<SchemaStatus, DbErr> {
    Ok(compare(&known(), &recorded(conn).await?))
}

/// Applies this release's pending migrations in order, each recorded as sea-orm-migration
/// records it (in the same transaction where the backend has transactional DDL). The caller
/// holds the migration lock.
pub(super) async fn apply_pending(conn: &DatabaseConnection) -> Result<MigrationReport, DbErr> {
    db_schema::Migrator::install(conn).await?;
    let status = status(conn).await?;
    let backend = conn.get_database_backend();
    let mut applied = Vec::new();
    for migration in db_schema::Migrator::migrations() {
        let name = migration.name().to_owned();
        if !status.pending.contains(&name) {
            continue;
        }
        // sea-orm-migration's default: a transaction where DDL is transactional.
        if migration
            .use_transaction()
            .unwrap_or(backend == DbBackend::Postgres)
        {
            let txn = conn.begin().await?;
            migration.up(&SchemaManager::new(&txn)).await?;
            record(&txn, &name).await?;
            txn.commit().await?;
        } else {
            migration.up(&SchemaManager::new(conn)).await?;
            record(conn, &name).await?;
        }
        tracing::info!(migration = %name, "migration applied");
        applied.push(name);
    }
    Ok(MigrationReport {
        applied,
        unknown: status.unknown,
    })
}

/// The row sea-orm-migration writes for an applied migration: its name and the Unix time.
async fn record<C: ConnectionTrait>(conn: &C, name: &str) -> Result<(), DbErr> {
    let applied_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    seaql_migrations::Entity::insert(seaql_migrations::ActiveModel {
        version: Set(name.to_owned()),
        applied_at: Set(applied_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The command that applies pending migrations: this binary's `migrate`.
pub fn migrate_command() -> String {
    let program = std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "<binary>".into());
    format!("{program} migrate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pending_keeps_this_releases_order_and_unknown_ones_are_reported_not_refused() {
        let known = names(&["m0001_a", "m0002_b", "m0003_c"]);
        let status = compare(&known, &names(&["m0001_a", "m0003_c", "m0099_future"]));
        assert_eq!(status.pending, names(&["m0002_b"]));
        assert_eq!(status.unknown, names(&["m0099_future"]));
        assert_eq!(compare(&known, &[]).pending, known);
        assert_eq!(compare(&known, &known), SchemaStatus::default());
    }

    #[test]
    fn this_release_knows_its_migrations_in_order() {
        let known = known();
        assert!(known.first().is_some_and(|m| m.starts_with("m0001_")));
        let mut sorted = known.clone();
        sorted.sort();
        assert_eq!(
            known, sorted,
            "migration names sort in the order they apply"
        );
    }
}
