//! The `task_write_rate` table: each user's task writes in the current one-second window,
//! shared by every instance, counted by one upsert per write.

use chrono::{DateTime, TimeDelta, Utc};
use platform::db::Database;
use sea_orm::{
    ActiveValue::Set,
    entity::prelude::*,
    sea_query::{ExprTrait, OnConflict},
};

use crate::domain::Caller;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_write_rate")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub window_started_at: DateTimeUtc,
    pub writes: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How long one counting window lasts.
pub const WINDOW: TimeDelta = TimeDelta::seconds(1);

/// A user's writes in the window that the last write fell in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub started_at: DateTime<Utc>,
    pub writes: i64,
}

pub struct WriteRate<'a> {
    db: &'a Database,
}

impl<'a> WriteRate<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Counts one write by `owner` at `now`: in the current window, or in a new one when the
    /// last began [`WINDOW`] or more ago. One statement, so concurrent writers on any
    /// instance are each counted once.
    pub async fn count(&self, owner: Caller, now: DateTime<Utc>) -> Result<Window, DbErr> {
        let stale = Expr::col((Entity, Column::WindowStartedAt)).lte(now - WINDOW);
        let writes = Expr::case(stale.clone(), 1)
            .finally(Expr::col((Entity, Column::Writes)).add(1))
            .into();
        let started = Expr::case(stale, now)
            .finally(Expr::col((Entity, Column::WindowStartedAt)))
            .into();
        let upsert = Entity::insert(ActiveModel {
            user_id: Set(owner.user_id),
            window_started_at: Set(now),
            writes: Set(1),
        })
        .on_conflict(
            OnConflict::column(Column::UserId)
                .values([(Column::Writes, writes), (Column::WindowStartedAt, started)])
                .to_owned(),
        );
        let row = self
            .db
            .run(|c| async move { upsert.exec_with_returning(&c).await })
            .await?;
        Ok(Window {
            started_at: row.window_started_at,
            writes: row.writes.into(),
        })
    }
}
