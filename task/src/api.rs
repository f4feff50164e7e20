//! The HTTP surface of the task service. Handlers authenticate, parse, delegate and shape
//! the response; ownership and validation rules live in `domain`, storage in `tasks`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use platform::{
    ApiError, Errors,
    health::HealthResponse,
    input::{Optional, Required},
    jwt::BearerToken,
    status::{BAD_REQUEST, BEARER, FORBIDDEN, JSON_BODY, NOT_FOUND, UNAVAILABLE},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    app::State,
    domain::{ListFilter, NewTask, Priority, Status, TaskPatch},
    error::TaskError,
    identity::authenticate,
    tasks::{self, Tasks},
};

#[derive(Tags)]
enum Tag {
    /// The caller's own tasks
    Tasks,
    /// Liveness and readiness probes
    Health,
}

/// A task.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct Task {
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tasks::Model> for Task {
    fn from(m: tasks::Model) -> Self {
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

/// A new task.
#[derive(Object, Debug)]
pub struct CreateTaskRequest {
    /// 1–200 characters.
    pub title: Required<String>,
    /// At most 10 000 characters.
    pub description: Optional<String>,
    /// Default `pending`.
    pub status: Optional<Status>,
    /// Default `medium`.
    pub priority: Optional<Priority>,
    /// RFC 3339, or `YYYY-MM-DD` / `YYYY-MM-DDTHH:MM` as HTML date controls send (UTC).
    pub due_date: Optional<String>,
}

/// Any subset of a task's fields; `null` clears `description` or `due_date`.
#[derive(Object, Debug)]
pub struct UpdateTaskRequest {
    pub title: Optional<String>,
    pub description: Optional<String>,
    pub status: Optional<Status>,
    pub priority: Optional<Priority>,
    pub due_date: Optional<String>,
}

#[derive(Object)]
pub struct TaskWithMessage {
    pub message: String,
    pub task: Task,
}

#[derive(Object)]
pub struct TaskBody {
    pub task: Task,
}

#[derive(Object)]
pub struct TaskList {
    /// This page, newest first.
    pub tasks: Vec<Task>,
    /// Tasks on this page.
    pub count: u64,
    /// All tasks matching the filters.
    pub total: u64,
}

#[derive(Object)]
pub struct Message {
    pub message: String,
}

#[derive(Object)]
pub struct ReadyResponse {
    /// `ready`
    pub status: String,
    /// `ok`
    pub database: String,
    /// `ok`: verification keys are loaded.
    pub keys: String,
}

#[derive(ApiResponse)]
pub enum Created {
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
        auth: BearerToken,
        body: Json<CreateTaskRequest>,
    ) -> Result<Created, { BEARER | JSON_BODY }> {
        let caller = authenticate(&state, &auth).await?;
        let new = NewTask::parse(body.0).map_err(TaskError::Validation)?;
        let task = Tasks::new(&state.db).create(caller, new).await?;
        tracing::info!(task_id = task.id, user_id = caller.user_id, "task created");
        Ok(Created::Created(Json(TaskWithMessage {
            message: "Task created successfully".into(),
            task: task.into(),
        })))
    }

    /// List the caller's tasks, newest first
    #[oai(path = "/tasks", method = "get", tag = "Tag::Tasks")]
    async fn list(
        &self,
        state: Data<&Arc<State>>,
        auth: BearerToken,
        /// Only tasks with this status.
        status: Query<Option<Status>>,
        /// Only tasks with this priority.
        priority: Query<Option<Priority>>,
        /// Page size: default 100, at most 500.
        limit: Query<Option<u64>>,
        /// Tasks to skip.
        offset: Query<Option<u64>>,
    ) -> Result<Json<TaskList>, { BEARER | BAD_REQUEST }> {
        let caller = authenticate(&state, &auth).await?;
        let filter = ListFilter::new(status.0, priority.0, limit.0, offset.0)
            .map_err(TaskError::Validation)?;
        let (page, total) = Tasks::new(&state.db).list(caller, filter).await?;
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
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<Json<TaskBody>, { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND }> {
        let caller = authenticate(&state, &auth).await?;
        let task = Tasks::new(&state.db).get_owned(caller, id.0).await?;
        Ok(Json(TaskBody { task: task.into() }))
    }

    /// Update any subset of a task's fields
    #[oai(path = "/tasks/:id", method = "put", tag = "Tag::Tasks")]
    async fn update(
        &self,
        state: Data<&Arc<State>>,
        auth: BearerToken,
        id: Path<i64>,
        body: Json<UpdateTaskRequest>,
    ) -> Result<Json<TaskWithMessage>, { BEARER | JSON_BODY | FORBIDDEN | NOT_FOUND }> {
        let caller = authenticate(&state, &auth).await?;
        let patch = TaskPatch::parse(body.0).map_err(TaskError::Validation)?;
        let tasks = Tasks::new(&state.db);
        let task = tasks.get_owned(caller, id.0).await?;
        let task = tasks.update(task, patch).await?;
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
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<Json<Message>, { BEARER | BAD_REQUEST | FORBIDDEN | NOT_FOUND }> {
        let caller = authenticate(&state, &auth).await?;
        let tasks = Tasks::new(&state.db);
        let task = tasks.get_owned(caller, id.0).await?;
        tasks.delete(task).await?;
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
