//! The `tasks` table and the queries the task service makes of it. Rows leave this module
//! as [`domain::Task`]s.

use platform::db::Database;
use sea_orm::{
    ActiveValue::Set,
    Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    entity::prelude::*,
    sea_query::{ExprTrait, Query, QueryStatementBuilder},
};

use crate::domain::{
    Caller, IfMatchVersions, ListFilter, NewTask, Priority, Status, Task, TaskPatch,
};

/// Also (de)serialised: an idempotency key's row keeps the task it created as JSON.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
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
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A row whose status or priority is none of the known values is corrupt: a genuine bug
/// (the table's check constraints admit only known values), so an error, never a default.
impl TryFrom<Model> for Task {
    type Error = DbErr;

    fn try_from(m: Model) -> Result<Self, DbErr> {
        let corrupt = |column: &str, value: &str| {
            DbErr::Type(format!("tasks row {}: unknown {column} {value:?}", m.id))
        };
        Ok(Self {
            status: Status::from_db(&m.status).ok_or_else(|| corrupt("status", &m.status))?,
            priority: Priority::from_db(&m.priority)
                .ok_or_else(|| corrupt("priority", &m.priority))?,
            id: m.id,
            user_id: m.user_id,
            title: m.title,
            description: m.description,
            due_date: m.due_date,
            created_at: m.created_at,
            updated_at: m.updated_at,
            version: m.version,
        })
    }
}

/// The columns of a `tasks` row, in the order `Entity::find()` selects them (`Column::iter()`,
/// the fields' order; a unit test holds the two together).
const COLUMNS: usize = 10;

/// Decodes a selected `tasks` row by position. sea-orm's derived decoder looks every column
/// up by name in every row; on the read path that was measurable (docs/benchmarks.md,
/// "Row decoding").
fn model_at(row: &QueryResult) -> Result<Model, DbErr> {
    Ok(Model {
        id: row.try_get_by_index(0)?,
        user_id: row.try_get_by_index(1)?,
        title: row.try_get_by_index(2)?,
        description: row.try_get_by_index(3)?,
        status: row.try_get_by_index(4)?,
        priority: row.try_get_by_index(5)?,
        due_date: row.try_get_by_index(6)?,
        created_at: row.try_get_by_index(7)?,
        updated_at: row.try_get_by_index(8)?,
        version: row.try_get_by_index(9)?,
    })
}

/// A whole `tasks` row, decoded by position ([`model_at`]).
struct ByPosition(Model);

impl sea_orm::FromQueryResult for ByPosition {
    fn from_query_result(row: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        model_at(row).map(Self)
    }
}

/// Inserts a new task (version 1) on `c`, which may be a transaction.
pub(crate) async fn insert(
    c: &impl ConnectionTrait,
    owner: Caller,
    new: NewTask,
) -> Result<Model, DbErr> {
    let now = platform::db::now();
    ActiveModel {
        user_id: Set(owner.user_id),
        title: Set(new.title.into_inner()),
        description: Set(new.description.map(|d| d.into_inner())),
        status: Set(new.status.as_str().to_owned()),
        priority: Set(new.priority.as_str().to_owned()),
        due_date: Set(new.due_date),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(c)
    .await
}

pub struct Tasks<'a> {
    db: &'a Database,
}

impl<'a> Tasks<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    pub async fn create(&self, owner: Caller, new: NewTask) -> Result<Task, DbErr> {
        self.db
            .run(|c| async move { insert(&c, owner, new).await })
            .await?
            .try_into()
    }

    /// One page of the caller's tasks matching `filter`, newest first, and the number of
    /// all matches: one statement, the total riding on each row as a scalar subquery (counted
    /// once, from the `(user_id, created_at, id)` index, while the page reads only its own
    /// rows from it; `COUNT(*) OVER ()` read and sorted every match: 11k against 21k
    /// statements/s in pgbench). Only a page past the end (no rows, so no total) costs a
    /// second, counting statement.
    pub async fn list(&self, owner: Caller, filter: ListFilter) -> Result<(Vec<Task>, u64), DbErr> {
        /// A row of the page with the number of all matches (the column after the model's).
        struct Counted(Model, i64);
        impl sea_orm::FromQueryResult for Counted {
            fn from_query_result(row: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
                Ok(Self(model_at(row)?, row.try_get_by_index(COLUMNS)?))
            }
        }
        let mut cond = Condition::all().add(Column::UserId.eq(owner.user_id));
        if let Some(s) = filter.status {
            cond = cond.add(Column::Status.eq(s.as_str()));
        }
        if let Some(p) = filter.priority {
            cond = cond.add(Column::Priority.eq(p.as_str()));
        }
        let total = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Entity)
            .cond_where(cond.clone())
            .to_owned();
        let counted_page = Entity::find()
            .filter(cond.clone())
            .expr_as(
                Expr::SubQuery(None, Box::new(total.into_sub_query_statement())),
                "total_count",
            )
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(filter.limit)
            .offset(filter.offset)
            .into_model::<Counted>();
        let page = self
            .db
            .run(|c| async move { counted_page.all(&c).await })
            .await?;
        let total = match page.first() {
            Some(Counted(_, total)) => u64::try_from(*total).unwrap_or_default(),
            None if filter.offset == 0 => 0,
            None => {
                self.db
                    .run(|c| async move { Entity::find().filter(cond).count(&c).await })
                    .await?
            }
        };
        Ok((
            page.into_iter()
                .map(|Counted(m, _)| m.try_into())
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    pub async fn find(&self, id: i64) -> Result<Option<Task>, DbErr> {
        self.db
            .run(|c| async move {
                Entity::find_by_id(id)
                    .into_model::<ByPosition>()
                    .one(&c)
                    .await
            })
            .await?
            .map(|ByPosition(m)| Task::try_from(m))
            .transpose()
    }

    /// Applies `patch` to the task `id` if `owner` still owns it (and, with `expected`, its
    /// version is one of those), bumping its version, in one statement; returns the row as
    /// written, `None` when no row qualified (gone, or another version).
    pub async fn update(
        &self,
        owner: Caller,
        id: i64,
        patch: TaskPatch,
        expected: Option<&IfMatchVersions>,
    ) -> Result<Option<Task>, DbErr> {
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(platform::db::now()))
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .filter(Column::Id.eq(id))
            .filter(Column::UserId.eq(owner.user_id));
        if let Some(IfMatchVersions(versions)) = expected {
            update = update.filter(Column::Version.is_in(versions.iter().copied()));
        }
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
        let rows = self
            .db
            .run(|c| async move { update.exec_with_returning(&c).await })
            .await?;
        rows.into_iter().next().map(Task::try_from).transpose()
    }

    /// Deletes the task `id` if `owner` owns it (and, with `expected`, its version is one of
    /// those); false when no row qualified.
    pub async fn delete(
        &self,
        owner: Caller,
        id: i64,
        expected: Option<&IfMatchVersions>,
    ) -> Result<bool, DbErr> {
        let mut delete = Entity::delete_many()
            .filter(Column::Id.eq(id))
            .filter(Column::UserId.eq(owner.user_id));
        if let Some(IfMatchVersions(versions)) = expected {
            delete = delete.filter(Column::Version.is_in(versions.iter().copied()));
        }
        let result = self
            .db
            .run(|c| async move { delete.exec(&c).await })
            .await?;
        Ok(result.rows_affected > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_decoded_in_the_order_they_are_selected() {
        use sea_orm::Iterable;
        let selected: Vec<String> = Column::iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(
            selected,
            [
                "id",
                "user_id",
                "title",
                "description",
                "status",
                "priority",
                "due_date",
                "created_at",
                "updated_at",
                "version"
            ]
        );
        assert_eq!(selected.len(), COLUMNS);
    }

    fn row(status: &str, priority: &str) -> Model {
        let at = DateTimeUtc::default();
        Model {
            id: 7,
            user_id: 1,
            title: "t".into(),
            description: None,
            status: status.into(),
            priority: priority.into(),
            due_date: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn a_row_with_an_unknown_status_or_priority_is_an_error_not_a_default() {
        assert!(Task::try_from(row("completed", "high")).is_ok());
        for (status, priority) in [("done", "high"), ("completed", "urgent")] {
            let err = Task::try_from(row(status, priority)).unwrap_err();
            assert!(matches!(err, DbErr::Type(_)), "{err}");
            assert!(err.to_string().contains("tasks row 7"), "{err}");
        }
    }
}
