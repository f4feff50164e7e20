//! The task API's operations. Each handler gets a verified [`Caller`], parses its input
//! into domain types, calls one application operation and shapes the response.

use std::sync::Arc;

use platform::{
    ApiError, Errors, FieldError,
    http::header::{LowercaseHeaders, SentHeader},
    http::health::HealthResponse,
    http::json::Json as SerdeJson,
    status::{
        BAD_REQUEST, BEARER, CONFLICT, FORBIDDEN, GONE, JSON_BODY, NOT_FOUND, PRECONDITION_FAILED,
        TOO_MANY_REQUESTS, UNAVAILABLE, UNPROCESSABLE,
    },
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
    types::ToJSON,
};

use crate::{
    app::State,
    domain::{self, IdempotencyKey, ListFilter, NewTask, PageStart, Task as DomainTask, TaskPatch},
    http::{
        caller::Caller,
        etag,
        path::TaskId,
        schema::{
            CreateTaskRequest, Message, Priority, ReadyResponse, Status, Task, TaskBody, TaskList,
            TaskWithMessage, UpdateTaskRequest,
        },
    },
};

#[derive(Tags)]
enum Tag {
    /// The caller's own tasks
    Tasks,
    /// Liveness and readiness probes
    Health,
}

#[derive(ApiResponse)]
pub enum TaskCreated {
    /// The task was created; for a retried `Idempotency-Key`, the original answer again.
    #[oai(status = 201)]
    Created(
        SerdeJson<TaskWithMessage>,
        /// The task's current version, for `If-Match` and `If-None-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum TaskFound {
    /// The task.
    #[oai(status = 200)]
    Ok(
        SerdeJson<TaskBody>,
        /// The task's current version, for `If-Match` and `If-None-Match`.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-None-Match` names the task's current version: it has not changed. No body.
    #[oai(status = 304)]
    NotModified(
        /// The task's current version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum TaskListed {
    /// A page of the caller's tasks.
    #[oai(status = 200)]
    Ok(
        SerdeJson<TaskList>,
        /// `<…>; rel="next"`: the next page (the request with `cursor` set to
        /// `next_cursor`); absent on the last page.
        #[oai(header = "Link")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum TaskUpdated {
    /// The task as updated.
    #[oai(status = 200)]
    Ok(
        SerdeJson<TaskWithMessage>,
        /// The task's new version, for `If-Match` and `If-None-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

pub struct TaskApi;

/// An operation's result: on failure, the envelope with the statuses `S` documented.
type Result<T, const S: u16> = std::result::Result<T, Errors<S>>;

#[OpenApi]
impl TaskApi {
    /// Create a task
    ///
    /// With an `Idempotency-Key`, a retry of the same request (same key, same body) within
    /// 24 hours answers the original response and creates nothing; if that task has since
    /// been deleted, 410. A user owns at most `TASK_QUOTA_PER_USER` tasks (past it 403) and
    /// writes at most `TASK_WRITES_PER_USER_PER_SEC` times a second (past it 429).
    #[oai(
        path = "/tasks",
        method = "post",
        operation_id = "createTask",
        tag = "Tag::Tasks"
    )]
    async fn create(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        body: Json<CreateTaskRequest>,
        /// 1–255 visible ASCII characters naming this request, so that it can be retried
        /// safely: the same key with another body is 422, and while the first request with
        /// the key is still being processed a duplicate is 409. Keys are per user. Any
        /// other value (non-ASCII bytes included) is 400, never ignored.
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 255, pattern = r"^[!-~]+$")
        )]
        idempotency_key: SentHeader,
    ) -> Result<
        LowercaseHeaders<TaskCreated>,
        { BEARER | JSON_BODY | FORBIDDEN | CONFLICT | GONE | UNPROCESSABLE | TOO_MANY_REQUESTS },
    > {
        let key = match idempotency_key {
            SentHeader::Absent => None,
            SentHeader::Unreadable => Some(Err(IdempotencyKey::RULE)),
            SentHeader::Text(k) => Some(IdempotencyKey::parse(&k)),
        }
        .transpose()
        .map_err(|reason| ApiError::validation(vec![FieldError::new("Idempotency-Key", reason)]))?;
        // The request as understood, serialised canonically (keys sorted): what a retry
        // must repeat.
        let request = body.0.to_json_string();
        let new = NewTask::try_from(body.0).map_err(ApiError::validation)?;
        let task = match key {
            Some(key) => state
                .create_task_once(caller.0, new, key, &request)
                .await?
                .into_task(),
            None => state.create_task(caller.0, new).await?,
        };
        Ok(LowercaseHeaders(TaskCreated::Created(
            SerdeJson(TaskWithMessage {
                message: "Task created successfully".into(),
                task: task.clone().into(),
            }),
            etag::of(&task),
        )))
    }

    /// List the caller's tasks, newest first
    ///
    /// A page costs the same however many tasks the caller has: continue with the page's
    /// `next_cursor` (also in the `Link` header). `total` counts matches up to 1000
    /// (`total_capped` says when there are more).
    #[oai(
        path = "/tasks",
        method = "get",
        operation_id = "listTasks",
        tag = "Tag::Tasks"
    )]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        /// Only tasks with this status.
        status: Query<Option<Status>>,
        /// Only tasks with this priority.
        priority: Query<Option<Priority>>,
        /// Page size: default 100; more than 500 counts as 500.
        #[oai(validator(minimum(value = "1")))]
        limit: Query<Option<i64>>,
        /// Start right after the page that answered this `next_cursor` (opaque).
        cursor: Query<Option<String>>,
        /// Tasks to skip, at most 10000 (deeper: `cursor`); not with `cursor`.
        #[oai(validator(minimum(value = "0")))]
        offset: Query<Option<i64>>,
    ) -> Result<LowercaseHeaders<TaskListed>, { BEARER | BAD_REQUEST }> {
        // The validators have refused negative numbers; a sign that slips through is 0.
        let unsigned = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or(0));
        let mut invalid = platform::http::input::Invalid::default();
        let limit = invalid.check("limit", domain::parse_limit(unsigned(limit.0)));
        let start = match (cursor.0.as_deref(), unsigned(offset.0)) {
            (Some(_), Some(_)) => invalid.check("offset", Err("must not be given with `cursor`")),
            (Some(c), None) => invalid
                .check("cursor", domain::Cursor::parse(c))
                .map(PageStart::After),
            (None, n) => invalid
                .check("offset", domain::parse_offset(n))
                .map(PageStart::Offset),
        };
        let (limit, start) = invalid
            .finish(limit.zip(start))
            .map_err(ApiError::validation)?;
        let filter = ListFilter {
            status: status.0.map(Into::into),
            priority: priority.0.map(Into::into),
            limit,
            start,
        };
        let page = state.list_tasks(caller.0, filter).await?;
        let next_cursor = page.next.map(|c| c.encode());
        let link = next_cursor.as_deref().map(|c| next_link(c, &filter));
        let tasks: Vec<Task> = page.tasks.into_iter().map(Task::from).collect();
        Ok(LowercaseHeaders(TaskListed::Ok(
            SerdeJson(TaskList {
                count: tasks.len() as u64,
                tasks,
                total: page.total,
                total_capped: page.total_capped,
                next_cursor,
            }),
            link,
        )))
    }

    /// Get one of the caller's tasks
    #[oai(
        path = "/tasks/:id",
        method = "get",
        operation_id = "getTask",
        tag = "Tag::Tasks"
    )]
    async fn get(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<TaskId>,
        /// ETags of versions the caller has: if one is current, 304 without a body. A value
        /// that cannot be read (non-ASCII bytes) names no version.
        #[oai(name = "If-None-Match")]
        if_none_match: SentHeader,
    ) -> Result<LowercaseHeaders<TaskFound>, { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND }> {
        let task = state.get_task(caller.0, id.0.get()?).await?;
        let tag = etag::of(&task);
        if etag::none_match_hits(&task, &if_none_match) {
            return Ok(LowercaseHeaders(TaskFound::NotModified(tag)));
        }
        Ok(LowercaseHeaders(TaskFound::Ok(
            SerdeJson(TaskBody { task: task.into() }),
            tag,
        )))
    }

    /// Update any subset of a task's fields
    #[oai(
        path = "/tasks/:id",
        method = "put",
        operation_id = "updateTask",
        tag = "Tag::Tasks"
    )]
    async fn update(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<TaskId>,
        body: Json<UpdateTaskRequest>,
        /// Update only if the task is still at this version (its ETag); else 412. A value
        /// that cannot be read (non-ASCII bytes) matches no version.
        #[oai(name = "If-Match")]
        if_match: SentHeader,
    ) -> Result<
        LowercaseHeaders<TaskUpdated>,
        { BEARER | JSON_BODY | FORBIDDEN | NOT_FOUND | PRECONDITION_FAILED | TOO_MANY_REQUESTS },
    > {
        let id = id.0.get()?;
        let patch = TaskPatch::try_from(body.0).map_err(ApiError::validation)?;
        let expected = etag::if_match(id, &if_match);
        let task = state.update_task(caller.0, id, patch, expected).await?;
        Ok(updated(task))
    }

    /// Delete a task
    #[oai(
        path = "/tasks/:id",
        method = "delete",
        operation_id = "deleteTask",
        tag = "Tag::Tasks"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<TaskId>,
        /// Delete only if the task is still at this version (its ETag); else 412. A value
        /// that cannot be read (non-ASCII bytes) matches no version.
        #[oai(name = "If-Match")]
        if_match: SentHeader,
    ) -> Result<
        Json<Message>,
        { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND | PRECONDITION_FAILED | TOO_MANY_REQUESTS },
    > {
        let id = id.0.get()?;
        let expected = etag::if_match(id, &if_match);
        state.delete_task(caller.0, id, expected).await?;
        Ok(Json(Message {
            message: "Task deleted successfully".into(),
        }))
    }

    /// Liveness: the process answers. No database call.
    #[oai(
        path = "/tasks/health",
        method = "get",
        operation_id = "taskHealth",
        tag = "Tag::Health"
    )]
    async fn health(&self) -> Json<HealthResponse> {
        Json(HealthResponse::healthy("task-service"))
    }

    /// Readiness: the database answers, in time (a 503 names which: unreachable or slow),
    /// and verification keys are loaded.
    #[oai(
        path = "/tasks/ready",
        method = "get",
        operation_id = "taskReady",
        tag = "Tag::Health"
    )]
    async fn ready(&self, state: Data<&Arc<State>>) -> Result<Json<ReadyResponse>, UNAVAILABLE> {
        if !state.keys.has_keys() {
            return Err(ApiError::unavailable("Token verification keys are not loaded").into());
        }
        if let Some(problem) = state.db.readiness().await.problem() {
            return Err(ApiError::unavailable(problem).into());
        }
        Ok(Json(ReadyResponse {
            status: "ready".into(),
            database: "ok".into(),
            keys: "ok".into(),
        }))
    }
}

/// The `Link` header of a page that has a next one: the same list from the next cursor.
fn next_link(cursor: &str, filter: &ListFilter) -> String {
    let mut query = format!("cursor={cursor}&limit={}", filter.limit);
    if let Some(s) = filter.status {
        query.push_str(&format!("&status={}", s.as_str()));
    }
    if let Some(p) = filter.priority {
        query.push_str(&format!("&priority={}", p.as_str()));
    }
    format!("</tasks?{query}>; rel=\"next\"")
}

fn updated(task: DomainTask) -> LowercaseHeaders<TaskUpdated> {
    LowercaseHeaders(TaskUpdated::Ok(
        SerdeJson(TaskWithMessage {
            message: "Task updated successfully".into(),
            task: task.clone().into(),
        }),
        etag::of(&task),
    ))
}
