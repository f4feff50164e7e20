//! The `tasks` table and the queries the task service makes of it. Rows leave this module
//! as [`domain::Task`]s.

use platform::db::Database;
use sea_orm::{
    ActiveValue::Set, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    entity::prelude::*,
};

use crate::domain::{Caller, ListFilter, NewTask, Priority, Status, Task, TaskPatch};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub status: String,
    pub priority: String,
    pub due_date: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for Task {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            title: m.title,
            description: m.description,
            // The table's check constraints admit only known values.
            status: Status::from_db(&m.status).unwrap_or_default(),
            priority: Priority::from_db(&m.priority).unwrap_or_default(),
            due_date: m.due_date,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub struct Tasks<'a> {
    db: &'a Database,
}

impl<'a> Tasks<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    pub async fn create(&self, owner: Caller, new: NewTask) -> Result<Task, DbErr> {
        let now = platform::db::now();
        let model = ActiveModel {
            user_id: Set(owner.user_id),
            title: Set(new.title.into_inner()),
            description: Set(new.description.map(|d| d.into_inner())),
            status: Set(new.status.as_str().to_owned()),
            priority: Set(new.priority.as_str().to_owned()),
            due_date: Set(new.due_date),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let model = &model;
        Ok(self
            .db
            .run(|c| async move { model.clone().insert(&c).await })
            .await?
            .into())
    }

    /// One page of the caller's tasks matching `filter`, newest first, and the number of
    /// all matches.
    pub async fn list(&self, owner: Caller, filter: ListFilter) -> Result<(Vec<Task>, u64), DbErr> {
        let mut cond = Condition::all().add(Column::UserId.eq(owner.user_id));
        if let Some(s) = filter.status {
            cond = cond.add(Column::Status.eq(s.as_str()));
        }
        if let Some(p) = filter.priority {
            cond = cond.add(Column::Priority.eq(p.as_str()));
        }
        let cond = &cond;
        let total = self
            .db
            .run(|c| async move { Entity::find().filter(cond.clone()).count(&c).await })
            .await?;
        let page = self
            .db
            .run(|c| async move {
                Entity::find()
                    .filter(cond.clone())
                    .order_by_desc(Column::CreatedAt)
                    .order_by_desc(Column::Id)
                    .limit(filter.limit)
                    .offset(filter.offset)
                    .all(&c)
                    .await
            })
            .await?;
        Ok((page.into_iter().map(Task::from).collect(), total))
    }

    pub async fn find(&self, id: i64) -> Result<Option<Task>, DbErr> {
        Ok(self
            .db
            .run(|c| async move { Entity::find_by_id(id).one(&c).await })
            .await?
            .map(Task::from))
    }

    /// Applies `patch` to the task `id` if `owner` still owns it, in one statement, and
    /// returns the row as written; `None` when it is gone (a racing delete).
    pub async fn update(
        &self,
        owner: Caller,
        id: i64,
        patch: TaskPatch,
    ) -> Result<Option<Task>, DbErr> {
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(platform::db::now()))
            .filter(Column::Id.eq(id))
            .filter(Column::UserId.eq(owner.user_id));
        if let Some(t) = patch.title {
            update = update.col_expr(Column::Title, Expr::value(t.into_inner()));
        }
        if let Some(d) = patch.description {
            update = update.col_expr(Column::Description, Expr::value(d.map(|d| d.into_inner())));
        }
        if let Some(s) = patch.status {
            update = update.col_expr(Column::Status, Expr::value(s.as_str()));
        }
        if let Some(p) = patch.priority {
            update = update.col_expr(Column::Priority, Expr::value(p.as_str()));
        }
        if let Some(d) = patch.due_date {
            update = update.col_expr(Column::DueDate, Expr::value(d));
        }
        let update = &update;
        let rows = self
            .db
            .run(|c| async move { update.clone().exec_with_returning(&c).await })
            .await?;
        Ok(rows.into_iter().next().map(Task::from))
    }

    /// Deletes the task `id` if `owner` owns it; false when there was none to delete.
    pub async fn delete(&self, owner: Caller, id: i64) -> Result<bool, DbErr> {
        let result = self
            .db
            .run(|c| async move {
                Entity::delete_many()
                    .filter(Column::Id.eq(id))
                    .filter(Column::UserId.eq(owner.user_id))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(result.rows_affected > 0)
    }
}
