//! Usernames and emails unique regardless of case, and the failed-login counters every
//! instance shares.

use sea_orm_migration::prelude::*;

use super::LoginThrottle;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Expression indexes are written alike in PostgreSQL and SQLite. An existing
        // database holding `Alice` and `alice` fails here: merge those accounts first.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_users_username_folded ON users (lower(username))",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_users_email_folded ON users (lower(email))",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LoginThrottle::Scope)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottle::Key)
                            .string_len(120)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
                    .col(
                        ColumnDef::new(LoginThrottle::WindowStartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(LoginThrottle::Scope)
                            .col(LoginThrottle::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_login_throttle_window")
                    .table(LoginThrottle::Table)
                    .col(LoginThrottle::WindowStartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_users_email_folded")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_users_username_folded")
            .await?;
        Ok(())
    }
}
