//! The `revoked_tokens` table: the `jti`s of tokens logged out one by one, each kept until
//! its token would have expired anyway.

use chrono::{DateTime, Utc};
use platform::db::Database;
use sea_orm::{
    ActiveValue::Set, QueryFilter, QuerySelect, entity::prelude::*, sea_query::OnConflict,
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    pub user_id: i64,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub struct RevokedTokens<'a> {
    db: &'a Database,
}

impl<'a> RevokedTokens<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Records `jti` as ended. Recording it twice (two logouts racing) is no error.
    pub async fn insert(
        &self,
        jti: &str,
        user_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let row = ActiveModel {
            jti: Set(jti.to_owned()),
            user_id: Set(user_id),
            expires_at: Set(expires_at),
        };
        self.db
            .run(|c| async move {
                Entity::insert(row)
                    .on_conflict(OnConflict::column(Column::Jti).do_nothing().to_owned())
                    .exec_without_returning(&c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Deletes at most `limit` rows that expired before `before`: bounded work per call.
    pub async fn sweep(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, DbErr> {
        let deleted = self
            .db
            .run(|c| async move {
                let expired: Vec<String> = Entity::find()
                    .select_only()
                    .column(Column::Jti)
                    .filter(Column::ExpiresAt.lt(before))
                    .limit(limit)
                    .into_tuple()
                    .all(&c)
                    .await?;
                if expired.is_empty() {
                    return Ok(0);
                }
                Entity::delete_many()
                    .filter(Column::Jti.is_in(expired))
                    .exec(&c)
                    .await
                    .map(|r| r.rows_affected)
            })
            .await?;
        Ok(deleted)
    }
}
