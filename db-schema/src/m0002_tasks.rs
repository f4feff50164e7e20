use sea_orm_migration::prelude::*;

use super::{Tasks, Users, create_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Tasks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Tasks::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Tasks::Description).text().null())
                    .col(
                        ColumnDef::new(Tasks::Status)
                            .string_len(20)
                            .not_null()
                            .default("pending"),
                    )
                    .col(
                        ColumnDef::new(Tasks::Priority)
                            .string_len(10)
                            .not_null()
                            .default("medium"),
                    )
                    .col(
                        ColumnDef::new(Tasks::DueDate)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_user")
                            .from(Tasks::Table, Tasks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(Tasks::Status).is_in(["pending", "in_progress", "completed"]))
                    .check(Expr::col(Tasks::Priority).is_in(["low", "medium", "high"]))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            Tasks::Table,
            [
                ("idx_tasks_user_id", Tasks::UserId),
                ("idx_tasks_status", Tasks::Status),
                ("idx_tasks_due_date", Tasks::DueDate),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
