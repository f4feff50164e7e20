//! One database deadline per request. The contract promises that no request waits on the
//! database longer than `DB_STATEMENT_TIMEOUT_MS`, and a request may run several operations,
//! each of which alone may wait that long (a create counts a write and then inserts; in an
//! outage both wait). Inside [`one_deadline`] (the request middleware puts every request
//! there) an operation waits at most what the request's earlier operations left; time spent
//! between operations (a bcrypt check, say) is not the database's and is not counted.
//! Outside a request (background work) each operation has its own deadline.

use std::{cell::Cell, future::Future, time::Duration};

tokio::task_local! {
    /// What is left of the request's deadline; `None` until its first operation.
    static LEFT: Cell<Option<Duration>>;
}

/// Runs `request` with one database deadline shared by all of its operations.
pub async fn one_deadline<F: Future>(request: F) -> F::Output {
    LEFT.scope(Cell::new(None), request).await
}

/// Runs one operation for at most `limit`, or what is left of its request's deadline if
/// that is less: `None` when the time ran out (at once, if nothing was left).
pub(crate) async fn within<T>(limit: Duration, op: impl Future<Output = T>) -> Option<T> {
    let allowed = LEFT
        .try_with(|left| left.get().map_or(limit, |l| l.min(limit)))
        .unwrap_or(limit);
    if allowed.is_zero() {
        return None;
    }
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(allowed, op).await.ok();
    // Outside a request there is nothing to keep.
    let _ = LEFT.try_with(|left| left.set(Some(allowed.saturating_sub(started.elapsed()))));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::sleep;

    const LIMIT: Duration = Duration::from_secs(1);

    /// An operation that would take `d`: `true` if it was let finish.
    async fn op(d: Duration) -> bool {
        within(LIMIT, sleep(d)).await.is_some()
    }

    #[tokio::test(start_paused = true)]
    async fn a_requests_operations_share_one_deadline() {
        let most = Duration::from_millis(600);
        let outcomes = one_deadline(async {
            let first = op(most).await;
            // Not the database's time.
            sleep(Duration::from_secs(5)).await;
            // Would fit a deadline of its own, not what the first one left.
            let second = op(most).await;
            // Nothing left: refused without waiting.
            let third = op(Duration::ZERO).await;
            [first, second, third]
        })
        .await;
        assert_eq!(outcomes, [true, false, false]);
        // Another request starts afresh, and outside a request each operation has its own.
        assert!(one_deadline(op(most)).await);
        assert!(op(most).await && op(most).await);
    }
}
