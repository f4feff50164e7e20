//! The account queries on the `users` table: one user by id, and the writes that change
//! a password, end all of a user's tokens, or delete the user. Rows leave as domain values.

use chrono::{DateTime, Utc};
use platform::db::{self, Database};
use sea_orm::{
    QueryFilter, QuerySelect,
    entity::prelude::*,
    sea_query::{Expr, Query},
};

use crate::storage::{
    revoked_tokens,
    users::{Column, Entity, StoredCredentials},
};

pub struct Accounts<'a> {
    db: &'a Database,
}

/// The cut-off a compare-and-set expects to replace: `None` is "never set".
fn cutoff_is(expected: Option<DateTime<Utc>>) -> sea_orm::sea_query::SimpleExpr {
    match expected {
        Some(t) => Column::TokensValidAfter.eq(t),
        None => Column::TokensValidAfter.is_null(),
    }
}

impl<'a> Accounts<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// The user with `id` and their password hash.
    pub async fn by_id(&self, id: i64) -> Result<Option<StoredCredentials>, DbErr> {
        let found = self
            .db
            .run(|c| async move { Entity::find_by_id(id).one(&c).await })
            .await?;
        Ok(found.map(|m| StoredCredentials {
            password_hash: m.password_hash.clone(),
            user: m.into(),
        }))
    }

    /// `Some(cut-off)` when the user exists (the cut-off itself may be unset).
    pub async fn cutoff(&self, id: i64) -> Result<Option<Option<DateTime<Utc>>>, DbErr> {
        self.db
            .run(|c| async move {
                Entity::find_by_id(id)
                    .select_only()
                    .column(Column::TokensValidAfter)
                    .into_tuple::<Option<DateTime<Utc>>>()
                    .one(&c)
                    .await
            })
            .await
    }

    /// What decides whether a token of user `id` with `jti` is still good, in one statement
    /// (every authenticated auth request asks): `None` when the user does not exist, else
    /// their cut-off (which may be unset) and whether that `jti` was logged out.
    pub async fn token_state(
        &self,
        id: i64,
        jti: &str,
    ) -> Result<Option<(Option<DateTime<Utc>>, bool)>, DbErr> {
        self.db
            .run(|c| async move {
                let logged_out = Query::select()
                    .expr(Expr::val(1))
                    .from(revoked_tokens::Entity)
                    .and_where(revoked_tokens::Column::Jti.eq(jti))
                    .to_owned();
                Entity::find_by_id(id)
                    .select_only()
                    .column(Column::TokensValidAfter)
                    .expr_as(Expr::exists(logged_out), "logged_out")
                    .into_tuple::<(Option<DateTime<Utc>>, bool)>()
                    .one(&c)
                    .await
            })
            .await
    }

    /// Moves the user's cut-off from `expected` to `cutoff`, and sets a new password hash
    /// with it when given: false when the cut-off moved meanwhile (or the user is gone),
    /// so the caller re-reads and tries again.
    pub async fn replace_cutoff(
        &self,
        id: i64,
        expected: Option<DateTime<Utc>>,
        cutoff: DateTime<Utc>,
        password_hash: Option<&str>,
    ) -> Result<bool, DbErr> {
        let now = db::now();
        let updated = self
            .db
            .run(|c| async move {
                let mut update = Entity::update_many()
                    .col_expr(Column::TokensValidAfter, Expr::value(cutoff))
                    .col_expr(Column::UpdatedAt, Expr::value(now));
                if let Some(hash) = password_hash {
                    update = update.col_expr(Column::PasswordHash, Expr::value(hash));
                }
                update
                    .filter(Column::Id.eq(id))
                    .filter(cutoff_is(expected))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Deletes the user; the database cascades to their tasks and revoked tokens in the
    /// same statement, so it all goes or nothing does. False when already gone.
    pub async fn delete(&self, id: i64) -> Result<bool, DbErr> {
        let deleted = self
            .db
            .run(|c| async move { Entity::delete_by_id(id).exec(&c).await })
            .await?;
        Ok(deleted.rows_affected == 1)
    }
}
