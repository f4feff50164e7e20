//! The index `GET /tasks` reads: a user's tasks in list order (newest first, id breaking
//! ties). The page is the first rows of it, and the total a count of its `user_id` prefix,
//! so neither reads nor sorts the user's other tasks. It replaces the `user_id` index of
//! m0002, which is its prefix (the foreign key's cascades use this one as well).

use sea_orm_migration::prelude::*;

use super::Tasks;

const INDEX: &str = "idx_tasks_user_created";
const REPLACED: &str = "idx_tasks_user_id";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = Index::create()
            .name(INDEX)
            .table(Tasks::Table)
            .col(Tasks::UserId)
            .col((Tasks::CreatedAt, IndexOrder::Desc))
            .col((Tasks::Id, IndexOrder::Desc))
            .to_owned();
        replace(manager, index, REPLACED).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = Index::create()
            .name(REPLACED)
            .table(Tasks::Table)
            .col(Tasks::UserId)
            .to_owned();
        replace(manager, index, INDEX).await
    }
}

/// Creates `index` (unless it exists), then drops the index `old` (if it exists).
async fn replace(
    manager: &SchemaManager<'_>,
    mut index: IndexCreateStatement,
    old: &str,
) -> Result<(), DbErr> {
    manager
        .create_index(index.if_not_exists().to_owned())
        .await?;
    manager
        .drop_index(
            Index::drop()
                .if_exists()
                .name(old)
                .table(Tasks::Table)
                .to_owned(),
        )
        .await
}
