//! A per-user token generation (see `token_contract::revocation_rule`): a password change or
//! logout-all adds one to it in the same write that changes the hash or the cut-off, and a
//! token carries the generation read with the hash it was issued for. Existing users start
//! at 0, as do the tokens issued before (those without the claim fall back to the cut-off).

use sea_orm_migration::prelude::*;

use super::{Users, UsersGeneration};

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
                        ColumnDef::new(UsersGeneration::TokenGeneration)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(UsersGeneration::TokenGeneration)
                    .to_owned(),
            )
            .await
    }
}
