//! bcrypt, always on the blocking pool: a hash at cost 10 takes tens of milliseconds of CPU,
//! which would stall every request sharing the async worker.
//!
//! The CPU it may take is bounded, as a resource: `HASH_CONCURRENCY` hashes or verifications
//! run at once and at most `HASH_QUEUE` requests wait for one. A request past that is told
//! to come back (503 with `Retry-After`) at once, so a flood of registrations or logins
//! gets refusals, not a queue whose wait grows with the flood and delays everyone's login.
//! A slot is held until bcrypt finishes, even when the client has gone.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::{OnceCell, Semaphore, TryAcquireError};

use crate::{app::error::AuthError, config::AuthLimits, domain::Password};

#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    /// Verified against when the user does not exist, so that an unknown username costs the
    /// same time as a wrong password. Made on first need, not at start-up: one hash at cost 10
    /// is most of a cold start's time (docs/benchmarks.md, "Start-up").
    dummy_hash: Arc<OnceCell<String>>,
    pool: Arc<Pool>,
}

/// The hashing slots and the queue in front of them.
struct Pool {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// A place in the queue, given up when dropped (also when the request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    pub fn new(cost: u32, limits: &AuthLimits) -> Self {
        Self {
            cost,
            dummy_hash: Arc::default(),
            pool: Arc::new(Pool {
                slots: Arc::new(Semaphore::new(limits.hash_concurrency.max(1))),
                waiting: AtomicUsize::new(0),
                queue: limits.hash_queue,
            }),
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let plain = password.expose().to_owned();
        let cost = self.cost;
        // `$2b$` is what the contract stores.
        self.pool
            .run(move || {
                bcrypt::hash_with_result(plain, cost)
                    .map(|h| h.format_for_version(bcrypt::Version::TwoB))
            })
            .await
    }

    /// True only when `hash` exists and matches. Takes one bcrypt verification either way.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AuthError> {
        let plain = password.to_owned();
        let (target, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash().await?.to_owned(), false),
        };
        let matched = self
            .pool
            .run(move || bcrypt::verify(plain, &target))
            .await?;
        Ok(real && matched)
    }

    async fn dummy_hash(&self) -> Result<&str, AuthError> {
        let cost = self.cost;
        self.dummy_hash
            .get_or_try_init(|| {
                self.pool
                    .run(move || bcrypt::hash("not-a-real-password", cost))
            })
            .await
            .map(String::as_str)
    }
}

impl Pool {
    /// Runs `f` in a slot: at once if one is free, after a wait if the queue has room, else
    /// [`AuthError::Busy`] without waiting.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let closed = |e| AuthError::Internal(format!("bcrypt slots: {e}"));
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(TryAcquireError::Closed) => {
                return Err(AuthError::Internal("bcrypt slots closed".into()));
            }
            Err(TryAcquireError::NoPermits) => {
                let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
                let _place = Waiting(&self.waiting);
                if ahead >= self.queue {
                    return Err(AuthError::Busy);
                }
                self.slots.clone().acquire_owned().await.map_err(closed)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            f()
        })
        .await
        .map_err(|e| AuthError::Internal(format!("bcrypt task: {e}")))?
        .map_err(|e| AuthError::Internal(format!("bcrypt: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(concurrency: usize, queue: usize) -> Hasher {
        Hasher::new(
            4,
            &AuthLimits {
                hash_concurrency: concurrency,
                hash_queue: queue,
                ..AuthLimits::default()
            },
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_slots_and_the_queue_the_answer_is_busy_at_once() {
        let h = hasher(1, 1);
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        // Occupies the one slot until told to finish.
        let busy = {
            let pool = h.pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = hold_rx.recv();
                    Ok(())
                })
                .await
            })
        };
        started_rx.await.unwrap();
        let password = Password::parse("password1".into()).unwrap();
        // The one queue place.
        let queued = {
            let (h, password) = (h.clone(), password.clone());
            tokio::spawn(async move { h.hash(&password).await })
        };
        while h.pool.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Nothing left: refused without waiting for the slot.
        assert!(matches!(h.hash(&password).await, Err(AuthError::Busy)));
        hold_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert!(
            queued.await.unwrap().unwrap().starts_with("$2b$"),
            "the queued one ran"
        );
        assert_eq!(h.pool.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn without_a_queue_a_free_slot_still_hashes() {
        let h = hasher(1, 0);
        let password = Password::parse("password1".into()).unwrap();
        assert!(h.hash(&password).await.unwrap().starts_with("$2b$"));
        assert_eq!(h.pool.waiting.load(Ordering::SeqCst), 0);
    }
}
