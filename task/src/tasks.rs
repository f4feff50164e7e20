//! The `tasks` table and the queries the task service makes of it.

use platform::db::Database;
use sea_orm::{
    ActiveValue::Set, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    entity::prelude::*,
};

use crate::{
    domain::{self, ListFilter, NewTask, TaskPatch},
    error::TaskError,
    identity::Caller,
};

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

pub struct Tasks<'a> {
    db: &'a Database,
}

impl<'a> Tasks<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    pub async fn create(&self, owner: Caller, new: NewTask) -> Result<Model, TaskError> {
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
            .await?)
    }

    /// One page of the caller's tasks matching `filter`, newest first, and the number of
    /// all matches.
    pub async fn list(
        &self,
        owner: Caller,
        filter: ListFilter,
    ) -> Result<(Vec<Model>, u64), TaskError> {
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
        Ok((page, total))
    }

    /// The task `id` if it exists and belongs to the caller: 404 if it does not exist,
    /// 403 if it is someone else's.
    pub async fn get_owned(&self, caller: Caller, id: i64) -> Result<Model, TaskError> {
        let task = self
            .db
            .run(|c| async move { Entity::find_by_id(id).one(&c).await })
            .await?
            .ok_or(TaskError::NotFound(id))?;
        if domain::owned_by(task.user_id, caller.user_id) {
            Ok(task)
        } else {
            Err(TaskError::Forbidden)
        }
    }

    pub async fn update(&self, task: Model, patch: TaskPatch) -> Result<Model, TaskError> {
        if patch.is_empty() {
            return Ok(task);
        }
        let mut active: ActiveModel = task.into();
        if let Some(t) = patch.title {
            active.title = Set(t.into_inner());
        }
        if let Some(d) = patch.description {
            active.description = Set(d.map(|d| d.into_inner()));
        }
        if let Some(s) = patch.status {
            active.status = Set(s.as_str().to_owned());
        }
        if let Some(p) = patch.priority {
            active.priority = Set(p.as_str().to_owned());
        }
        if let Some(d) = patch.due_date {
            active.due_date = Set(d);
        }
        active.updated_at = Set(platform::db::now());
        let active = &active;
        Ok(self
            .db
            .run(|c| async move { active.clone().update(&c).await })
            .await?)
    }

    pub async fn delete(&self, task: Model) -> Result<(), TaskError> {
        let id = task.id;
        self.db
            .run(|c| async move { Entity::delete_by_id(id).exec(&c).await })
            .await?;
        Ok(())
    }
}
