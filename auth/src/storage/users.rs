//! The `users` table and the queries auth makes of it. Rows leave this module as
//! [`domain::User`]s; the password hash only ever leaves with a login lookup, read in the
//! same row as the token epoch a token issued for it carries.

use platform::db::{self, Database};
use sea_orm::{
    ActiveValue::Set,
    QueryFilter,
    entity::prelude::*,
    sea_query::{Expr, ExprTrait, Func},
};

use crate::domain::{Registration, Taken, TokenEpoch, User};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Tokens issued (`iat`) before this are revoked; see `token_contract::revocation_rule`.
    pub tokens_valid_after: Option<DateTimeUtc>,
    /// Tokens carrying a lower `gen` are revoked; see `token_contract::revocation_rule`.
    pub token_generation: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for User {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            username: m.username,
            email: m.email,
            created_at: m.created_at,
            epoch: TokenEpoch {
                valid_after: m.tokens_valid_after,
                generation: m.token_generation,
            },
        }
    }
}

/// A user with the hash their password is checked against.
pub struct StoredCredentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0:?} taken")]
    Taken(Taken),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `lower(column) = value`: the comparison the case-insensitive unique indexes serve.
fn folded_eq(column: Column, folded: String) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(Func::lower(Expr::col(column))).eq(folded)
}

pub struct Users<'a> {
    db: &'a Database,
}

impl<'a> Users<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Inserts a user. A duplicate username or email (in any case) is a conflict, whether
    /// found by the pre-check or by the unique index when two registrations race.
    pub async fn create(
        &self,
        reg: &Registration,
        password_hash: String,
    ) -> Result<User, CreateError> {
        if let Some(taken) = self.taken(reg).await? {
            return Err(CreateError::Taken(taken));
        }
        let now = db::now();
        let model = ActiveModel {
            username: Set(reg.username.as_str().to_owned()),
            email: Set(reg.email.as_str().to_owned()),
            password_hash: Set(password_hash),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        match self.db.run(|c| async move { model.insert(&c).await }).await {
            Ok(m) => Ok(m.into()),
            Err(e) if db::is_unique_violation(&e) => {
                // Lost a race: find which one to say which.
                Err(CreateError::Taken(
                    self.taken(reg).await?.unwrap_or(Taken::Username),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn taken(&self, reg: &Registration) -> Result<Option<Taken>, DbErr> {
        let (username, email) = (reg.username.folded(), reg.email.folded());
        let matching = Entity::find().filter(
            folded_eq(Column::Username, username.clone()).or(folded_eq(Column::Email, email)),
        );
        let existing = self
            .db
            .run(|c| async move { matching.all(&c).await })
            .await?;
        Ok(
            if existing
                .iter()
                .any(|m| m.username.to_ascii_lowercase() == username)
            {
                Some(Taken::Username)
            } else if existing.is_empty() {
                None
            } else {
                Some(Taken::Email)
            },
        )
    }

    /// The user named `folded_username` (compared case-insensitively), with their hash.
    pub async fn credentials(
        &self,
        folded_username: String,
    ) -> Result<Option<StoredCredentials>, DbErr> {
        let named = Entity::find().filter(folded_eq(Column::Username, folded_username));
        let found = self.db.run(|c| async move { named.one(&c).await }).await?;
        Ok(found.map(|m| StoredCredentials {
            password_hash: m.password_hash.clone(),
            user: m.into(),
        }))
    }
}
