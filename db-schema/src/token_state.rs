//! The one statement both services ask about a presented token: the user's cut-off and
//! generation, and whether this `jti` was logged out, by primary key on both tables. Its
//! cost does not depend on how many tokens the user has logged out.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sea_orm_migration::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use token_contract::revocation_rule::TokenState;

use crate::{RevokedTokens, Users, UsersCutoff, UsersGeneration};

const LOGGED_OUT: &str = "logged_out";

/// The statement, for `user_id`'s token `jti`: one row when the user exists, none when not.
pub fn select(user_id: i64, jti: &str) -> SelectStatement {
    let logged_out = Query::select()
        .expr(Expr::val(1))
        .from(RevokedTokens::Table)
        .and_where(Expr::col((RevokedTokens::Table, RevokedTokens::Jti)).eq(jti))
        .to_owned();
    Query::select()
        .column((Users::Table, UsersCutoff::TokensValidAfter))
        .column((Users::Table, UsersGeneration::TokenGeneration))
        .expr_as(Expr::exists(logged_out), Alias::new(LOGGED_OUT))
        .from(Users::Table)
        .and_where(Expr::col((Users::Table, Users::Id)).eq(user_id))
        .to_owned()
}

/// [`select`] built for `backend`.
pub fn statement(backend: DbBackend, user_id: i64, jti: &str) -> Statement {
    backend.build(&select(user_id, jti))
}

/// `None` when the user does not exist; else what decides whether the token is revoked.
pub async fn read<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    jti: &str,
) -> Result<Option<TokenState>, DbErr> {
    let stmt = statement(conn.get_database_backend(), user_id, jti);
    let Some(row) = conn.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    Ok(Some(TokenState {
        valid_after: row.try_get("", "tokens_valid_after")?,
        generation: row.try_get("", "token_generation")?,
        logged_out: row.try_get("", LOGGED_OUT)?,
    }))
}
