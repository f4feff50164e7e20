//! The `tasks` table and the queries the task service makes of it. Rows leave this module
//! as [`domain::Task`]s.

use platform::db::Database;
use sea_orm::{
    Condition, DbBackend, Iterable, QueryFilter, QueryOrder, QuerySelect, Statement,
    entity::prelude::*,
    sea_query::{ExprTrait, Order, Query, QueryStatementBuilder, SelectStatement},
};

use crate::{
    domain::{
        Caller, Cursor, IfMatchVersions, ListFilter, NewTask, Page, PageStart, Priority, Status,
        TOTAL_CAP, Task, TaskPatch,
    },
    storage::idempotency,
};

/// Also (de)serialised: an idempotency key's row keeps the task it created as JSON, which the
/// releases before and after this one must read too (docs/release.md, "Stored formats"):
/// unknown fields are ignored (never `deny_unknown_fields`), and a field added later is an
/// `Option` or `#[serde(default)]`, since rows stored before it lack it.
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

/// The class of the PostgreSQL advisory locks under which one user's quota-bound creates
/// run one at a time (the two-key form, whose keys never meet the one-key migration lock's).
const QUOTA_LOCK_CLASS: i32 = 0x7461_736b;

/// Inserts a new task (version 1) for `owner` on `c`, unless `quota` (0: none) is set and
/// `owner` already has that many tasks: then `None`, and nothing is inserted.
///
/// The count (of at most `quota` index entries) and the insert are one statement, so a
/// create counts every task committed before it. On SQLite that is enough: a writing
/// statement holds the one write lock from its start. On PostgreSQL concurrent statements
/// do not see each other's uncommitted rows, so with a quota `c` must be a transaction, in
/// which a per-user lock is taken first and held until it ends.
pub(crate) async fn insert(
    c: &impl ConnectionTrait,
    owner: Caller,
    new: NewTask,
    quota: u64,
) -> Result<Option<Model>, DbErr> {
    let now = platform::db::now();
    let mut values = Query::select();
    values.exprs([
        Expr::value(owner.user_id),
        Expr::value(new.title.into_inner()),
        Expr::value(new.description.map(|d| d.into_inner())),
        Expr::value(new.status.as_str()),
        Expr::value(new.priority.as_str()),
        Expr::value(new.due_date),
        Expr::value(now),
        Expr::value(now),
        Expr::value(1_i64),
    ]);
    if quota > 0 {
        if c.get_database_backend() == DbBackend::Postgres {
            c.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, CAST($2 % 2147483648 AS integer))",
                [QUOTA_LOCK_CLASS.into(), owner.user_id.into()],
            ))
            .await?;
        }
        let owned = Condition::all().add(Column::UserId.eq(owner.user_id));
        let counted = capped_count(owned, quota).into_sub_query_statement();
        values.and_where(
            Expr::SubQuery(None, Box::new(counted))
                .lt(Expr::value(i64::try_from(quota).unwrap_or(i64::MAX))),
        );
    }
    let insert = Query::insert()
        .into_table(Entity)
        .columns([
            Column::UserId,
            Column::Title,
            Column::Description,
            Column::Status,
            Column::Priority,
            Column::DueDate,
            Column::CreatedAt,
            Column::UpdatedAt,
            Column::Version,
        ])
        .select_from(values)
        .map_err(|e| DbErr::Custom(format!("task insert: {e}")))?
        .returning(Query::returning().columns(Column::iter()))
        .to_owned();
    c.query_one(&insert)
        .await?
        .as_ref()
        .map(model_at)
        .transpose()
}

/// A row of a page with the number of matches (the column after the model's).
struct Counted(Model, i64);

impl sea_orm::FromQueryResult for Counted {
    fn from_query_result(row: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        Ok(Self(model_at(row)?, row.try_get_by_index(COLUMNS)?))
    }
}

fn matching(owner: Caller, filter: &ListFilter) -> Condition {
    let mut cond = Condition::all().add(Column::UserId.eq(owner.user_id));
    if let Some(s) = filter.status {
        cond = cond.add(Column::Status.eq(s.as_str()));
    }
    if let Some(p) = filter.priority {
        cond = cond.add(Column::Priority.eq(p.as_str()));
    }
    cond
}

/// The matches up to `cap`, counted: read in list order, so that it is the
/// `(user_id, created_at, id)` index PostgreSQL walks, for its generic plan too (without
/// the order, a generic plan counts by scanning the table).
fn capped_count(matching: Condition, cap: u64) -> SelectStatement {
    let capped = Query::select()
        .expr(Expr::val(1))
        .from(Entity)
        .cond_where(matching)
        .order_by(Column::CreatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(cap)
        .to_owned();
    Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(capped, "capped")
        .to_owned()
}

/// The statement of a list page: one more row than `filter.limit` (to tell whether another
/// page follows), each carrying the capped count as a scalar subquery (one statement; the
/// count reads only index entries). A cursor page starts with a row comparison on the
/// index's columns, so it costs what the first page costs however deep it is. Every
/// variant's generic plan on PostgreSQL is the index one (tests/lists.rs), so a plan cached
/// from a heavy user's executions serves a light user as well.
pub fn list_query(owner: Caller, filter: &ListFilter) -> Select<Entity> {
    let mut page = matching(owner, filter);
    let mut offset = 0;
    match filter.start {
        PageStart::Offset(n) => offset = n,
        PageStart::After(cursor) => {
            page = page.add(
                Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]).lt(Expr::tuple(
                    [Expr::value(cursor.created_at), Expr::value(cursor.id)],
                )),
            );
        }
    }
    let mut select = Entity::find()
        .filter(page)
        .expr_as(
            Expr::SubQuery(
                None,
                Box::new(
                    capped_count(matching(owner, filter), TOTAL_CAP + 1).into_sub_query_statement(),
                ),
            ),
            "total_count",
        )
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(filter.limit + 1);
    if offset > 0 {
        select = select.offset(offset);
    }
    select
}

pub struct Tasks<'a> {
    db: &'a Database,
}

impl<'a> Tasks<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Creates a task for `owner`, unless `quota` (0: none) is set and `owner` already has
    /// that many (`None`), counted and inserted as one step ([`insert`]).
    pub async fn create(
        &self,
        owner: Caller,
        new: NewTask,
        quota: u64,
    ) -> Result<Option<Task>, DbErr> {
        let inserted = if quota == 0 {
            self.db
                .run(|c| async move { insert(&c, owner, new, 0).await })
                .await?
        } else {
            self.db
                .transaction(|txn| async move {
                    let inserted = insert(&txn, owner, new, quota).await?;
                    txn.commit().await?;
                    Ok(inserted)
                })
                .await?
        };
        inserted.map(Task::try_from).transpose()
    }

    /// One page of the caller's tasks matching `filter`, newest first, with the number of
    /// matches up to [`TOTAL_CAP`] (docs/benchmarks.md, "Lists at scale").
    pub async fn list(&self, owner: Caller, filter: ListFilter) -> Result<Page, DbErr> {
        let (mut rows, counted) = self
            .db
            .run(|c| async move {
                let rows = list_query(owner, &filter)
                    .into_model::<Counted>()
                    .all(&c)
                    .await?;
                // Only a page with no rows has no total riding on it; an empty first page
                // is an empty list.
                let counted = match rows.first() {
                    Some(Counted(_, n)) => *n,
                    None if filter.start == PageStart::Offset(0) => 0,
                    None => {
                        let count = capped_count(matching(owner, &filter), TOTAL_CAP + 1);
                        match c.query_one(&count).await? {
                            Some(row) => row.try_get_by_index::<i64>(0)?,
                            None => 0,
                        }
                    }
                };
                Ok((rows, counted))
            })
            .await?;
        let more = rows.len() as u64 > filter.limit;
        rows.truncate(usize::try_from(filter.limit).unwrap_or(usize::MAX));
        let tasks = rows
            .into_iter()
            .map(|Counted(m, _)| Task::try_from(m))
            .collect::<Result<Vec<_>, _>>()?;
        let counted = u64::try_from(counted).unwrap_or_default();
        Ok(Page {
            next: tasks.last().filter(|_| more).map(Cursor::after),
            total: Ord::min(counted, TOTAL_CAP),
            total_capped: counted > TOTAL_CAP,
            tasks,
        })
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
    /// those), and in the same transaction removes it from the responses stored for
    /// idempotency keys; false when no row qualified.
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
        self.db
            .transaction(|txn| async move {
                let deleted = delete.exec(&txn).await?.rows_affected > 0;
                if deleted {
                    idempotency::scrub_task(&txn, owner, id).await?;
                }
                txn.commit().await?;
                Ok(deleted)
            })
            .await
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
