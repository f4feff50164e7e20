//! The task operations. Every one is on behalf of a [`Caller`], who only ever sees and
//! changes their own tasks: someone else's is 403, a missing one 404.

use crate::{
    app::{State, error::TaskError},
    domain::{self, Caller, IfMatchVersions, ListFilter, NewTask, Page, Task, TaskPatch},
    storage::tasks::Tasks,
};

impl State {
    fn tasks(&self) -> Tasks<'_> {
        Tasks::new(&self.db)
    }

    pub async fn create_task(&self, caller: Caller, new: NewTask) -> Result<Task, TaskError> {
        self.admit_write(caller).await?;
        let quota = self.limits.task_quota;
        let task = self
            .tasks()
            .create(caller, new, quota)
            .await?
            .ok_or(TaskError::QuotaReached(quota))?;
        tracing::debug!(task_id = task.id, user_id = caller.user_id, "task created");
        Ok(task)
    }

    /// One page of the caller's tasks, newest first, and how many match (up to a cap).
    pub async fn list_tasks(&self, caller: Caller, filter: ListFilter) -> Result<Page, TaskError> {
        Ok(self.tasks().list(caller, filter).await?)
    }

    pub async fn get_task(&self, caller: Caller, id: i64) -> Result<Task, TaskError> {
        let task = self
            .tasks()
            .find(id)
            .await?
            .ok_or(TaskError::NotFound(id))?;
        if domain::owned_by(task.user_id, caller.user_id) {
            Ok(task)
        } else {
            Err(TaskError::Forbidden)
        }
    }

    /// Applies `patch`; with `expected`, only while the task is at one of those versions
    /// (checked in the same statement that writes).
    pub async fn update_task(
        &self,
        caller: Caller,
        id: i64,
        patch: TaskPatch,
        expected: Option<IfMatchVersions>,
    ) -> Result<Task, TaskError> {
        self.admit_write(caller).await?;
        let current = self.get_task(caller, id).await?;
        if patch.is_empty() {
            // Nothing to write: the precondition is checked against what we just read.
            return match expected {
                Some(e) if !e.admits(current.version) => Err(TaskError::VersionMismatch(id)),
                _ => Ok(current),
            };
        }
        match self
            .tasks()
            .update(caller, id, patch, expected.as_ref())
            .await?
        {
            Some(task) => Ok(task),
            None => Err(self.why_not_written(caller, id).await),
        }
    }

    pub async fn delete_task(
        &self,
        caller: Caller,
        id: i64,
        expected: Option<IfMatchVersions>,
    ) -> Result<(), TaskError> {
        self.admit_write(caller).await?;
        self.get_task(caller, id).await?;
        if self.tasks().delete(caller, id, expected.as_ref()).await? {
            Ok(())
        } else {
            Err(self.why_not_written(caller, id).await)
        }
    }

    /// A conditional write matched no row: the task is gone (a racing delete won) or it is
    /// at another version than the caller expected.
    async fn why_not_written(&self, caller: Caller, id: i64) -> TaskError {
        match self.get_task(caller, id).await {
            Ok(_) => TaskError::VersionMismatch(id),
            Err(e) => e,
        }
    }
}
