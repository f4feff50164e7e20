//! The `login_throttle` table: failed-login counters shared by every instance, one row per
//! (scope, key), each counting within a window that restarts once it has passed.

use chrono::{DateTime, Utc};
use platform::db::Database;
use sea_orm::{
    ActiveValue::Set,
    Condition, QueryFilter,
    entity::prelude::*,
    sea_query::{Alias, CaseStatement, Expr, ExprTrait, OnConflict},
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub failures: i32,
    pub window_started_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One counter as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub scope: String,
    pub key: String,
    pub failures: u32,
    pub window_started_at: DateTime<Utc>,
}

impl From<Model> for Counter {
    fn from(m: Model) -> Self {
        Self {
            scope: m.scope,
            key: m.key,
            failures: u32::try_from(m.failures).unwrap_or(0),
            window_started_at: m.window_started_at,
        }
    }
}

pub struct LoginThrottleStore<'a> {
    db: &'a Database,
}

impl<'a> LoginThrottleStore<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// The counters for `(scope, key)` pairs, in one query.
    pub async fn read(&self, keys: &[(&str, &str)]) -> Result<Vec<Counter>, DbErr> {
        let cond = keys.iter().fold(Condition::any(), |c, (scope, key)| {
            c.add(
                Condition::all()
                    .add(Column::Scope.eq(*scope))
                    .add(Column::Key.eq(*key)),
            )
        });
        let rows = self
            .db
            .run(|c| async move { Entity::find().filter(cond).all(&c).await })
            .await?;
        Ok(rows.into_iter().map(Counter::from).collect())
    }

    /// Counts one failure against each `(scope, key)`, in one statement: a counter whose
    /// window began before `window_cutoff` starts a new window at `now`.
    pub async fn count_failure(
        &self,
        keys: &[(&str, &str)],
        now: DateTime<Utc>,
        window_cutoff: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let rows: Vec<ActiveModel> = keys
            .iter()
            .map(|(scope, key)| ActiveModel {
                scope: Set((*scope).to_owned()),
                key: Set((*key).to_owned()),
                failures: Set(1),
                window_started_at: Set(now),
            })
            .collect();
        // A counter whose window has passed restarts at this attempt; else it counts on.
        let existing = |c: Column| Expr::col((Entity, c));
        let restart = || existing(Column::WindowStartedAt).lt(window_cutoff);
        let on_conflict = OnConflict::columns([Column::Scope, Column::Key])
            .values([
                (
                    Column::Failures,
                    CaseStatement::new()
                        .case(restart(), 1)
                        .finally(existing(Column::Failures).add(1))
                        .into(),
                ),
                (
                    Column::WindowStartedAt,
                    CaseStatement::new()
                        .case(
                            restart(),
                            Expr::col((Alias::new("excluded"), Column::WindowStartedAt)),
                        )
                        .finally(existing(Column::WindowStartedAt))
                        .into(),
                ),
            ])
            .to_owned();
        let upsert = Entity::insert_many(rows).on_conflict(on_conflict);
        self.db
            .run(|c| async move { upsert.exec_without_returning(&c).await })
            .await?;
        Ok(())
    }

    /// Sets `(scope, key)` to zero failures in a window starting `now` (a remembered success).
    pub async fn mark(&self, scope: &str, key: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
        let row = ActiveModel {
            scope: Set(scope.to_owned()),
            key: Set(key.to_owned()),
            failures: Set(0),
            window_started_at: Set(now),
        };
        let on_conflict = OnConflict::columns([Column::Scope, Column::Key])
            .update_columns([Column::Failures, Column::WindowStartedAt])
            .to_owned();
        let upsert = Entity::insert(row).on_conflict(on_conflict);
        self.db
            .run(|c| async move { upsert.exec_without_returning(&c).await })
            .await?;
        Ok(())
    }

    pub async fn clear(&self, scope: &str, key: &str) -> Result<(), DbErr> {
        self.db
            .run(|c| async move {
                Entity::delete_many()
                    .filter(Column::Scope.eq(scope))
                    .filter(Column::Key.eq(key))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Deletes the counters of `scope` whose window began before `cutoff`.
    pub async fn sweep(&self, scope: &str, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
        let done = self
            .db
            .run(|c| async move {
                Entity::delete_many()
                    .filter(Column::Scope.eq(scope))
                    .filter(Column::WindowStartedAt.lt(cutoff))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(done.rows_affected)
    }
}
