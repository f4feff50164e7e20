//! The per-user write counters every task instance shares: one row per user who wrote
//! recently, the writes counted in the current one-second window.

use sea_orm_migration::prelude::*;

use super::{TaskWriteRate, Users};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaskWriteRate::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TaskWriteRate::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TaskWriteRate::WindowStartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TaskWriteRate::Writes).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_write_rate_user")
                            .from(TaskWriteRate::Table, TaskWriteRate::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskWriteRate::Table).to_owned())
            .await
    }
}
