//! The task API's operations. Each handler gets a verified [`Caller`], parses its input
//! into domain types, calls one application operation and shapes the response.

use std::sync::Arc;

use platform::{
    ApiError, Errors,
    health::HealthResponse,
    status::{BAD_REQUEST, BEARER, FORBIDDEN, JSON_BODY, NOT_FOUND, UNAVAILABLE},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    app::State,
    domain::{self, ListFilter, NewTask, TaskPatch},
    http::{
        caller::Caller,
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
    /// The task was created.
    #[oai(status = 201)]
    Created(Json<TaskWithMessage>),
}

pub struct TaskApi;

/// An operation's result: on failure, the envelope with the statuses `S` documented.
type Result<T, const S: u16> = std::result::Result<T, Errors<S>>;

#[OpenApi]
impl TaskApi {
    /// Create a task
    #[oai(path = "/tasks", method = "post", tag = "Tag::Tasks")]
    async fn create(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        body: Json<CreateTaskRequest>,
    ) -> Result<TaskCreated, { BEARER | JSON_BODY }> {
        let new = NewTask::try_from(body.0).map_err(ApiError::validation)?;
        let task = state.create_task(caller.0, new).await?;
        Ok(TaskCreated::Created(Json(TaskWithMessage {
            message: "Task created successfully".into(),
            task: task.into(),
        })))
    }

    /// List the caller's tasks, newest first
    #[oai(path = "/tasks", method = "get", tag = "Tag::Tasks")]
    async fn list(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        /// Only tasks with this status.
        status: Query<Option<Status>>,
        /// Only tasks with this priority.
        priority: Query<Option<Priority>>,
        /// Page size: default 100, at most 500.
        limit: Query<Option<u64>>,
        /// Tasks to skip.
        offset: Query<Option<u64>>,
    ) -> Result<Json<TaskList>, { BEARER | BAD_REQUEST }> {
        let mut invalid = platform::input::Invalid::default();
        let limit = invalid.check("limit", domain::parse_limit(limit.0));
        let offset = invalid.check("offset", domain::parse_offset(offset.0));
        let filter = invalid
            .finish(limit.zip(offset))
            .map_err(ApiError::validation)?;
        let filter = ListFilter {
            status: status.0.map(Into::into),
            priority: priority.0.map(Into::into),
            limit: filter.0,
            offset: filter.1,
        };
        let (page, total) = state.list_tasks(caller.0, filter).await?;
        let tasks: Vec<Task> = page.into_iter().map(Task::from).collect();
        Ok(Json(TaskList {
            count: tasks.len() as u64,
            tasks,
            total,
        }))
    }

    /// Get one of the caller's tasks
    #[oai(path = "/tasks/:id", method = "get", tag = "Tag::Tasks")]
    async fn get(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<i64>,
    ) -> Result<Json<TaskBody>, { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND }> {
        let task = state.get_task(caller.0, id.0).await?;
        Ok(Json(TaskBody { task: task.into() }))
    }

    /// Update any subset of a task's fields
    #[oai(path = "/tasks/:id", method = "put", tag = "Tag::Tasks")]
    async fn update(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<i64>,
        body: Json<UpdateTaskRequest>,
    ) -> Result<Json<TaskWithMessage>, { BEARER | JSON_BODY | FORBIDDEN | NOT_FOUND }> {
        let patch = TaskPatch::try_from(body.0).map_err(ApiError::validation)?;
        let task = state.update_task(caller.0, id.0, patch).await?;
        Ok(Json(TaskWithMessage {
            message: "Task updated successfully".into(),
            task: task.into(),
        }))
    }

    /// Delete a task
    #[oai(path = "/tasks/:id", method = "delete", tag = "Tag::Tasks")]
    async fn delete(
        &self,
        state: Data<&Arc<State>>,
        caller: Caller,
        id: Path<i64>,
    ) -> Result<Json<Message>, { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND }> {
        state.delete_task(caller.0, id.0).await?;
        Ok(Json(Message {
            message: "Task deleted successfully".into(),
        }))
    }

    /// Liveness: the process answers. No database call.
    #[oai(path = "/tasks/health", method = "get", tag = "Tag::Health")]
    async fn health(&self) -> Json<HealthResponse> {
        Json(HealthResponse::healthy("task-service"))
    }

    /// Readiness: the database answers and verification keys are loaded.
    #[oai(path = "/tasks/ready", method = "get", tag = "Tag::Health")]
    async fn ready(&self, state: Data<&Arc<State>>) -> Result<Json<ReadyResponse>, UNAVAILABLE> {
        if !state.keys.has_keys() {
            return Err(ApiError::unavailable("Token verification keys are not loaded").into());
        }
        if !state.db.ping().await {
            return Err(ApiError::unavailable("The database is unreachable").into());
        }
        Ok(Json(ReadyResponse {
            status: "ready".into(),
            database: "ok".into(),
            keys: "ok".into(),
        }))
    }
}
