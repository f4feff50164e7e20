//! The account queries on the `users` table: one user by id, a token's state, and the writes
//! that change a password, revoke all of a user's tokens, or delete the user. Rows leave as domain values.

use chrono::{DateTime, Utc};
use platform::db::{self, Database};
use sea_orm::{Condition, QueryFilter, QuerySelect, entity::prelude::*, sea_query::Expr};
use token_contract::revocation_rule::TokenState;

use crate::{
    domain::TokenEpoch,
    storage::users::{Column, Entity, StoredCredentials},
};

pub struct Accounts<'a> {
    db: &'a Database,
}

/// The epoch a compare-and-set expects to replace (a cut-off of `None` is "never set").
fn epoch_is(expected: TokenEpoch) -> Condition {
    let cutoff = match expected.valid_after {
        Some(t) => Column::TokensValidAfter.eq(t),
        None => Column::TokensValidAfter.is_null(),
    };
    Condition::all()
        .add(cutoff)
        .add(Column::TokenGeneration.eq(expected.generation))
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

    /// `Some(epoch)` when the user exists.
    pub async fn epoch(&self, id: i64) -> Result<Option<TokenEpoch>, DbErr> {
        let found = self
            .db
            .run(|c| async move {
                Entity::find_by_id(id)
                    .select_only()
                    .column(Column::TokensValidAfter)
                    .column(Column::TokenGeneration)
                    .into_tuple::<(Option<DateTime<Utc>>, i64)>()
                    .one(&c)
                    .await
            })
            .await?;
        Ok(found.map(|(valid_after, generation)| TokenEpoch {
            valid_after,
            generation,
        }))
    }

    /// What decides whether a token of user `id` with `jti` is still good, in one statement
    /// (every authenticated auth request asks): `None` when the user does not exist.
    pub async fn token_state(&self, id: i64, jti: &str) -> Result<Option<TokenState>, DbErr> {
        self.db
            .run(|c| async move { db_schema::token_state::read(&c, id, jti).await })
            .await
    }

    /// Moves the user's epoch from `expected` to `next`, and sets a new password hash with
    /// it when given: false when the epoch moved meanwhile (or the user is gone), so the
    /// caller re-reads and tries again.
    pub async fn replace_epoch(
        &self,
        id: i64,
        expected: TokenEpoch,
        next: TokenEpoch,
        password_hash: Option<&str>,
    ) -> Result<bool, DbErr> {
        let now = db::now();
        let updated = self
            .db
            .run(|c| async move {
                let mut update = Entity::update_many()
                    .col_expr(Column::TokensValidAfter, Expr::value(next.valid_after))
                    .col_expr(Column::TokenGeneration, Expr::value(next.generation))
                    .col_expr(Column::UpdatedAt, Expr::value(now));
                if let Some(hash) = password_hash {
                    update = update.col_expr(Column::PasswordHash, Expr::value(hash));
                }
                update
                    .filter(Column::Id.eq(id))
                    .filter(epoch_is(expected))
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
