//! What one user may do: write at most so many times a second, counted in the shared
//! database, so it holds across instances. (The task quota is checked by the insert itself:
//! `storage::tasks::insert`.)

use crate::{
    app::{State, error::TaskError},
    domain::Caller,
    storage::write_rate::{WINDOW, WriteRate},
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
        // A concurrent write may have opened the window just after `now` was read: what is
        // left of it is never more than the window.
        let left = (window.started_at + WINDOW - now)
            .num_milliseconds()
            .clamp(0, WINDOW.num_milliseconds());
        Err(TaskError::RateLimited {
            per_sec: self.limits.writes_per_sec,
            retry_after_secs: u64::try_from(left).unwrap_or(0).div_ceil(1000).max(1),
        })
    }
}
