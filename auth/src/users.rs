//! The `users` table and the queries auth makes of it.

use platform::db::{self, Database};
use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::ExprTrait};

use crate::{domain::Registration, error::AuthError};

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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub struct Users<'a> {
    db: &'a Database,
}

impl<'a> Users<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Inserts a user. A duplicate username or email is a conflict, whether found by the
    /// pre-check or by the unique index when two registrations race.
    pub async fn create(
        &self,
        reg: &Registration,
        password_hash: String,
    ) -> Result<Model, AuthError> {
        let username = reg.username.as_str().to_owned();
        let email = reg.email.as_str().to_owned();
        let (u, e) = (username.as_str(), email.as_str());
        let existing = self
            .db
            .run(|c| async move {
                Entity::find()
                    .filter(Column::Username.eq(u).or(Column::Email.eq(e)))
                    .all(&c)
                    .await
            })
            .await?;
        if existing.iter().any(|u| u.username == username) {
            return Err(AuthError::UsernameTaken);
        }
        if !existing.is_empty() {
            return Err(AuthError::EmailTaken);
        }
        let now = platform::db::now();
        let model = ActiveModel {
            username: Set(username.clone()),
            email: Set(email.clone()),
            password_hash: Set(password_hash),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let model = &model;
        match self
            .db
            .run(|c| async move { model.clone().insert(&c).await })
            .await
        {
            Ok(m) => Ok(m),
            Err(e) if db::is_unique_violation(&e) => {
                // Lost a race: find which one to say which.
                let taken =
                    self.db
                        .run(|c| async move {
                            Entity::find().filter(Column::Username.eq(u)).one(&c).await
                        })
                        .await?;
                Err(if taken.is_some() {
                    AuthError::UsernameTaken
                } else {
                    AuthError::EmailTaken
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_by_username(&self, username: &str) -> Result<Option<Model>, AuthError> {
        Ok(self
            .db
            .run(|c| async move {
                Entity::find()
                    .filter(Column::Username.eq(username))
                    .one(&c)
                    .await
            })
            .await?)
    }
}
