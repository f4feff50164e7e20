//! What the shared database says about a user's tokens: the `users` row's cut-off (or that
//! the user is gone) and the user's logged-out `jti`s, read in one query. Auth writes these
//! rows; the task service only reads them.

use chrono::{DateTime, Utc};
use db_schema::{RevokedTokens, Users, UsersCutoff};
use platform::db::Database;
use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Expr, ExprTrait, JoinType, Query},
};
use token_contract::revocation_rule::UserTokens;

/// The rows auth keeps about each user's tokens, read-only from here.
pub struct UserTokenRecords<'a> {
    db: &'a Database,
}

impl<'a> UserTokenRecords<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// `None` when the user does not exist; else their cut-off and the `jti`s they logged
    /// out that expire after `expiring_after`.
    pub async fn user_tokens(
        &self,
        user_id: i64,
        expiring_after: DateTime<Utc>,
    ) -> Result<Option<UserTokens>, DbErr> {
        let query = Query::select()
            .column((Users::Table, UsersCutoff::TokensValidAfter))
            .column((RevokedTokens::Table, RevokedTokens::Jti))
            .from(Users::Table)
            .join(
                JoinType::LeftJoin,
                RevokedTokens::Table,
                Expr::col((RevokedTokens::Table, RevokedTokens::UserId))
                    .equals((Users::Table, Users::Id))
                    .and(
                        Expr::col((RevokedTokens::Table, RevokedTokens::ExpiresAt))
                            .gt(expiring_after),
                    ),
            )
            .and_where(Expr::col((Users::Table, Users::Id)).eq(user_id))
            .to_owned();
        let rows = self
            .db
            .run(|c| async move { c.query_all(&query).await })
            .await?;
        let mut found: Option<UserTokens> = None;
        for row in rows {
            let user = found.get_or_insert_default();
            user.valid_after = row.try_get("", "tokens_valid_after")?;
            if let Some(jti) = row.try_get::<Option<String>>("", "jti")? {
                user.revoked_jtis.insert(jti);
            }
        }
        Ok(found)
    }
}
