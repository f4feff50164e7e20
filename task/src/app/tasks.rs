//! The task operations. Every one is on behalf of a [`Caller`], who only ever sees and
//! changes their own tasks: someone else's is 403, a missing one 404.

use crate::{
    app::{State, error::TaskError},
    domain::{self, Caller, ListFilter, NewTask, Task, TaskPatch},
    storage::tasks::Tasks,
};

impl State {
    fn tasks(&self) -> Tasks<'_> {
        Tasks::new(&self.db)
    }

    pub async fn create_task(&self, caller: Caller, new: NewTask) -> Result<Task, TaskError> {
        let task = self.tasks().create(caller, new).await?;
        tracing::debug!(task_id = task.id, user_id = caller.user_id, "task created");
        Ok(task)
    }

    /// One page of the caller's tasks, newest first, and how many match in all.
    pub async fn list_tasks(
        &self,
        caller: Caller,
        filter: ListFilter,
    ) -> Result<(Vec<Task>, u64), TaskError> {
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

    pub async fn update_task(
        &self,
        caller: Caller,
        id: i64,
        patch: TaskPatch,
    ) -> Result<Task, TaskError> {
        let current = self.get_task(caller, id).await?;
        if patch.is_empty() {
            return Ok(current);
        }
        // Gone between the check and the write: a racing delete won.
        self.tasks()
            .update(caller, id, patch)
            .await?
            .ok_or(TaskError::NotFound(id))
    }

    pub async fn delete_task(&self, caller: Caller, id: i64) -> Result<(), TaskError> {
        self.get_task(caller, id).await?;
        if self.tasks().delete(caller, id).await? {
            Ok(())
        } else {
            Err(TaskError::NotFound(id))
        }
    }
}
