//! The `revoked_tokens` table: the `jti`s of tokens logged out one by one, each kept until
//! its token would have expired anyway.

use chrono::{DateTime, Utc};
use platform::db::Database;
use sea_orm::{
    ActiveValue::Set,
    QueryFilter, QuerySelect,
    entity::prelude::*,
    sea_query::{OnConflict, SimpleExpr},
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

    /// Records `jti` as revoked. Recording it twice (two logouts racing) is no error.
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

    /// How many of `user_id`'s logged-out tokens expire after `now`, counting no further
    /// than `at_most` (so the count reads a bounded number of rows however many there are).
    pub async fn live_for_user(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
        at_most: u64,
    ) -> Result<u64, DbErr> {
        let live: Vec<String> = self
            .db
            .run(|c| async move {
                Entity::find()
                    .select_only()
                    .column(Column::Jti)
                    .filter(Column::UserId.eq(user_id))
                    .filter(Column::ExpiresAt.gt(now))
                    .limit(at_most)
                    .into_tuple()
                    .all(&c)
                    .await
            })
            .await?;
        Ok(live.len() as u64)
    }

    /// Deletes at most `limit` rows of `user_id` (once a new cut-off has revoked all their
    /// tokens anyway): bounded work per call.
    pub async fn delete_for_user(&self, user_id: i64, limit: u64) -> Result<u64, DbErr> {
        self.delete_some(Column::UserId.eq(user_id), limit).await
    }

    /// Deletes at most `limit` rows that expired before `before`: bounded work per call.
    pub async fn sweep(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, DbErr> {
        self.delete_some(Column::ExpiresAt.lt(before), limit).await
    }

    /// Deletes at most `limit` of the rows matching `which`.
    async fn delete_some(&self, which: SimpleExpr, limit: u64) -> Result<u64, DbErr> {
        self.db
            .run(|c| async move {
                let chosen: Vec<String> = Entity::find()
                    .select_only()
                    .column(Column::Jti)
                    .filter(which)
                    .limit(limit)
                    .into_tuple()
                    .all(&c)
                    .await?;
                if chosen.is_empty() {
                    return Ok(0);
                }
                Entity::delete_many()
                    .filter(Column::Jti.is_in(chosen))
                    .exec(&c)
                    .await
                    .map(|r| r.rows_affected)
            })
            .await
    }
}
