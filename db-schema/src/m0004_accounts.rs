//! Revoking tokens before they expire (see `token_contract::revocation_rule`): a per-user cut-off that
//! ends every token issued before it (password change, logout-all), and the `jti`s of
//! single tokens logged out, kept until they would have expired anyway.

use sea_orm_migration::prelude::*;

use super::{RevokedTokens, Users, UsersCutoff, create_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(UsersCutoff::TokensValidAfter)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevokedTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RevokedTokens::Jti)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RevokedTokens::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RevokedTokens::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // A deleted user's rows go with them: their tokens are revoked anyway.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_revoked_tokens_user")
                            .from(RevokedTokens::Table, RevokedTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            RevokedTokens::Table,
            [
                // The task service reads one user's rows at a time.
                ("idx_revoked_tokens_user_id", RevokedTokens::UserId),
                // The sweep deletes the expired ones.
                ("idx_revoked_tokens_expires_at", RevokedTokens::ExpiresAt),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RevokedTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(UsersCutoff::TokensValidAfter)
                    .to_owned(),
            )
            .await
    }
}
