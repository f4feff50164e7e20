//! The schema of the one database both services share: the migrations (`m0001`…`m0010`,
//! whose file names are the names recorded in `seaql_migrations`: never rename one) and the
//! table and column identifiers more than one crate reads (task reads auth's `users` and
//! `revoked_tokens`), with the one statement both services ask about a token
//! (`token_state`). Every migration is additive relative to the release before it, since
//! that release keeps running on the schema (docs/release.md). `platform::db::migrations`
//! applies them: the deployment's `migrate` step, or a service started with
//! `DB_MIGRATIONS=apply`.

use sea_orm_migration::prelude::*;

mod m0001_users;
mod m0002_tasks;
mod m0003_login_throttle;
mod m0004_accounts;
mod m0005_task_versions;
mod m0006_task_list_index;
mod m0007_token_generation;
mod m0009_task_write_rate;
mod m0010_idempotency_task;
pub mod token_state;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_users::Migration),
            Box::new(m0002_tasks::Migration),
            Box::new(m0003_login_throttle::Migration),
            Box::new(m0004_accounts::Migration),
            Box::new(m0005_task_versions::Migration),
            Box::new(m0006_task_list_index::Migration),
            Box::new(m0007_token_generation::Migration),
            Box::new(m0009_task_write_rate::Migration),
            Box::new(m0010_idempotency_task::Migration),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Username,
    Email,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

/// The column m0004 adds to `users`.
#[derive(DeriveIden)]
pub enum UsersCutoff {
    TokensValidAfter,
}

/// The column m0007 adds to `users`.
#[derive(DeriveIden)]
pub enum UsersGeneration {
    TokenGeneration,
}

#[derive(DeriveIden)]
pub enum RevokedTokens {
    Table,
    Jti,
    UserId,
    ExpiresAt,
}

/// Creates the single-column indexes `(name, column)` on `table`, each unless it exists.
async fn create_indexes<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    indexes: impl IntoIterator<Item = (&str, C)>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for (name, col) in indexes {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(table.clone())
                    .col(col)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
pub enum Tasks {
    Table,
    Id,
    UserId,
    Title,
    Description,
    Status,
    Priority,
    DueDate,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
pub enum IdempotencyKeys {
    Table,
    Id,
    UserId,
    Key,
    RequestHash,
    Status,
    ResponseBody,
    CreatedAt,
}

/// The column m0010 adds to `idempotency_keys`.
#[derive(DeriveIden)]
pub enum IdempotencyKeysTask {
    TaskId,
}

#[derive(DeriveIden)]
pub enum TaskWriteRate {
    Table,
    UserId,
    WindowStartedAt,
    Writes,
}

#[derive(DeriveIden)]
pub enum LoginThrottle {
    Table,
    Scope,
    Key,
    Failures,
    WindowStartedAt,
}
