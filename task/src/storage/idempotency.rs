//! The `idempotency_keys` table: one row per (user, key), claimed `in_progress` before the
//! task is created and turned `done`, with the created task kept as JSON, in the same
//! transaction that inserts the task. The unique (user_id, key) index decides which of two
//! concurrent requests owns a key.

use chrono::{DateTime, Utc};
use platform::db::Database;
use sea_orm::{
    ActiveValue::Set,
    QueryFilter,
    entity::prelude::*,
    sea_query::{OnConflict, Query},
};

use crate::{
    domain::{Caller, IdempotencyKey, NewTask, Task},
    storage::tasks,
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub request_hash: String,
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub response_body: Option<String>,
    pub created_at: DateTimeUtc,
    /// The task the request created, once done; its content leaves `response_body` when
    /// the task is deleted.
    pub task_id: Option<i64>,
}

/// What a keyed create came to ([`IdempotencyKeys::create_task`]).
#[derive(Debug)]
pub enum KeyedCreate {
    Created(Task),
    /// The owner has as many tasks as the quota allows.
    OverQuota,
    /// The claim was taken over after its lease ended: the other request answers for the key.
    ClaimLost,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// Proof of owning a key's row: its id and the instant it was claimed. A later take-over
/// (of an abandoned claim) changes the instant, so a stale owner can no longer complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    id: i64,
    claimed_at: DateTime<Utc>,
}

/// A key's row as someone else left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub claim: Claim,
    pub request_hash: String,
    pub claimed_at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// What the request that owns a key has come to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still in progress (or abandoned).
    Pending,
    /// It created this task.
    Created(Task),
    /// It created the task with this id, since deleted: its content is no longer kept.
    Deleted(i64),
}

impl TryFrom<Model> for Record {
    type Error = DbErr;

    fn try_from(m: Model) -> Result<Self, DbErr> {
        let outcome = match (m.status.as_str(), m.response_body, m.task_id) {
            (DONE, Some(body), _) => Outcome::Created(
                serde_json::from_str::<tasks::Model>(&body)
                    .map_err(|e| DbErr::Json(e.to_string()))?
                    .try_into()?,
            ),
            (DONE, None, Some(id)) => Outcome::Deleted(id),
            _ => Outcome::Pending,
        };
        Ok(Self {
            claim: Claim {
                id: m.id,
                claimed_at: m.created_at,
            },
            request_hash: m.request_hash,
            claimed_at: m.created_at,
            outcome,
        })
    }
}

/// Removes the deleted task `task_id` from the responses stored for `owner`'s keys, on `c`
/// (the transaction that deletes it). The key stays `done`, so a retry still creates
/// nothing; it is answered that the task is gone.
pub(crate) async fn scrub_task(
    c: &impl ConnectionTrait,
    owner: Caller,
    task_id: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::ResponseBody, Expr::value(Option::<String>::None))
        .filter(Column::TaskId.eq(task_id))
        .filter(Column::UserId.eq(owner.user_id))
        .exec(c)
        .await?;
    Ok(())
}

pub struct IdempotencyKeys<'a> {
    db: &'a Database,
}

impl<'a> IdempotencyKeys<'a> {
    pub fn new(db: &'a Database) -> Self {
        Self { db }
    }

    /// Inserts the key's row as `in_progress`; `None` when the user already has one.
    pub async fn claim(
        &self,
        owner: Caller,
        key: &IdempotencyKey,
        request_hash: &str,
    ) -> Result<Option<Claim>, DbErr> {
        let claimed_at = platform::db::now();
        let row = ActiveModel {
            user_id: Set(owner.user_id),
            key: Set(key.as_str().to_owned()),
            request_hash: Set(request_hash.to_owned()),
            status: Set(IN_PROGRESS.to_owned()),
            response_body: Set(None),
            created_at: Set(claimed_at),
            task_id: Set(None),
            ..Default::default()
        };
        let inserted = self
            .db
            .run(|c| async move {
                Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([Column::UserId, Column::Key])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec(&c)
                    .await
            })
            .await;
        match inserted {
            Ok(r) => Ok(Some(Claim {
                id: r.last_insert_id,
                claimed_at,
            })),
            Err(DbErr::RecordNotInserted) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn find(&self, owner: Caller, key: &IdempotencyKey) -> Result<Option<Record>, DbErr> {
        let key = key.as_str();
        self.db
            .run(|c| async move {
                Entity::find()
                    .filter(Column::UserId.eq(owner.user_id))
                    .filter(Column::Key.eq(key))
                    .one(&c)
                    .await
            })
            .await?
            .map(Record::try_from)
            .transpose()
    }

    /// Takes over a row that expired or whose owner gave up, if nobody else did first: it
    /// becomes a fresh `in_progress` claim for `request_hash`.
    pub async fn take_over(
        &self,
        previous: Claim,
        request_hash: &str,
    ) -> Result<Option<Claim>, DbErr> {
        let claimed_at = platform::db::now();
        let update = Entity::update_many()
            .col_expr(Column::RequestHash, Expr::value(request_hash))
            .col_expr(Column::Status, Expr::value(IN_PROGRESS))
            .col_expr(Column::ResponseBody, Expr::value(Option::<String>::None))
            .col_expr(Column::TaskId, Expr::value(Option::<i64>::None))
            .col_expr(Column::CreatedAt, Expr::value(claimed_at))
            .filter(Column::Id.eq(previous.id))
            .filter(Column::CreatedAt.eq(previous.claimed_at));
        let result = self
            .db
            .run(|c| async move { update.exec(&c).await })
            .await?;
        Ok((result.rows_affected == 1).then_some(Claim {
            id: previous.id,
            claimed_at,
        }))
    }

    /// In one transaction: creates the task (unless `owner` has reached `quota`, 0: none;
    /// [`tasks::insert`]) and records it as the key's response. Nothing is created when the
    /// claim is no longer ours or the quota is reached.
    pub async fn create_task(
        &self,
        claim: Claim,
        owner: Caller,
        new: NewTask,
        quota: u64,
    ) -> Result<KeyedCreate, DbErr> {
        self.db
            .transaction(|txn| async move {
                let Some(task) = tasks::insert(&txn, owner, new, quota).await? else {
                    txn.rollback().await?;
                    return Ok(KeyedCreate::OverQuota);
                };
                let body = serde_json::to_string(&task).map_err(|e| DbErr::Json(e.to_string()))?;
                let done = Entity::update_many()
                    .col_expr(Column::Status, Expr::value(DONE))
                    .col_expr(Column::ResponseBody, Expr::value(body))
                    .col_expr(Column::TaskId, Expr::value(task.id))
                    .filter(Column::Id.eq(claim.id))
                    .filter(Column::CreatedAt.eq(claim.claimed_at))
                    .filter(Column::Status.eq(IN_PROGRESS))
                    .exec(&txn)
                    .await?;
                if done.rows_affected == 1 {
                    txn.commit().await?;
                    Ok(KeyedCreate::Created(task.try_into()?))
                } else {
                    txn.rollback().await?;
                    Ok(KeyedCreate::ClaimLost)
                }
            })
            .await
    }

    /// Gives a claim up after a failure, so that a retry can proceed at once.
    pub async fn release(&self, claim: Claim) -> Result<(), DbErr> {
        self.db
            .run(|c| async move {
                Entity::delete_many()
                    .filter(Column::Id.eq(claim.id))
                    .filter(Column::CreatedAt.eq(claim.claimed_at))
                    .filter(Column::Status.eq(IN_PROGRESS))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Deletes at most `limit` rows created before `cutoff`; how many went.
    pub async fn sweep(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, DbErr> {
        let expired = Query::select()
            .column(Column::Id)
            .from(Entity)
            .and_where(Column::CreatedAt.lt(cutoff))
            .limit(limit)
            .to_owned();
        let result = self
            .db
            .run(|c| async move {
                Entity::delete_many()
                    .filter(Column::Id.in_subquery(expired))
                    .exec(&c)
                    .await
            })
            .await?;
        Ok(result.rows_affected)
    }
}
