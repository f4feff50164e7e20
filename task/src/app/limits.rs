//! What one user may do: own at most a quota of tasks, and write at most so many times a
//! second. Both are read from the shared database, so they hold across instances.

use crate::{
    app::{State, error::TaskError},
    domain::Caller,
    storage::{
        tasks::Tasks,
        write_rate::{WINDOW, WriteRate},
    },
};

impl State {
    /// Counts a write (create, update, delete) of `caller`; past the per-second limit, an
    /// error that says when the window ends.
    pub async fn admit_write(&self, caller: Caller) -> Result<(), TaskError> {
        if self.limits.writes_per_sec == 0 {
            return Ok(());
        }
        let now = platform::db::now();
        let window = WriteRate::new(&self.db).count(caller, now).await?;
        if window.writes <= i64::from(self.limits.writes_per_sec) {
            return Ok(());
        }
        let left = (window.started_at + WINDOW - now).num_milliseconds().max(0);
        Err(TaskError::RateLimited {
            per_sec: self.limits.writes_per_sec,
            retry_after_secs: u64::try_from(left).unwrap_or(0).div_ceil(1000).max(1),
        })
    }

    /// Whether `caller` may create another task. Counts only up to the quota, so the check
    /// costs the same for a user far over it. Concurrent creates of one user can each pass
    /// before either inserts: the write rate bounds that overshoot.
    pub async fn check_quota(&self, caller: Caller) -> Result<(), TaskError> {
        let quota = self.limits.task_quota;
        if quota == 0 {
            return Ok(());
        }
        if Tasks::new(&self.db).count_up_to(caller, quota).await? >= quota {
            Err(TaskError::QuotaReached(quota))
        } else {
            Ok(())
        }
    }
}
