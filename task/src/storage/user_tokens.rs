//! What the shared database says about one token: its user's cut-off and generation (or
//! that the user is gone) and whether its `jti` was logged out, read in one statement by
//! primary keys (`db_schema::token_state`, the one auth asks too). Auth writes these rows;
//! the task service only reads them.

use platform::db::Database;
use sea_orm::DbErr;
use token_contract::revocation_rule::TokenState;

/// The rows auth keeps about each user's tokens, read-only from here.
pub struct UserTokenRecords<'a> {
    db: &'a Database,
}

impl<'a> UserTokenRecords<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// `None` when the user does not exist; else the state of their token `jti`.
    pub async fn token_state(&self, user_id: i64, jti: &str) -> Result<Option<TokenState>, DbErr> {
        self.db
            .run(|c| async move { db_schema::token_state::read(&c, user_id, jti).await })
            .await
    }
}
