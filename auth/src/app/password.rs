//! bcrypt, always on the blocking pool: a hash at cost 10 takes tens of milliseconds of CPU,
//! which would stall every request sharing the async worker.
//!
//! At most two hashes per core run at once; the rest queue (asynchronously) for a permit, so
//! a burst of logins cannot spawn hundreds of CPU-bound threads.

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::{app::error::AuthError, domain::Password};

#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    /// Verified against when the user does not exist, so that an unknown username costs the
    /// same time as a wrong password. Made on first need, not at start-up: one hash at cost 10
    /// is most of a cold start's time (docs/benchmarks.md, "Start-up").
    dummy_hash: Arc<OnceCell<String>>,
    permits: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(cost: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            cost,
            dummy_hash: Arc::default(),
            permits: Arc::new(Semaphore::new(cores * 2)),
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let plain = password.expose().to_owned();
        let cost = self.cost;
        // `$2b$` is what the contract stores.
        blocking(&self.permits, move || {
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
        let matched = blocking(&self.permits, move || bcrypt::verify(plain, &target)).await?;
        Ok(real && matched)
    }

    async fn dummy_hash(&self) -> Result<&str, AuthError> {
        let cost = self.cost;
        self.dummy_hash
            .get_or_try_init(|| {
                blocking(&self.permits, move || {
                    bcrypt::hash("not-a-real-password", cost)
                })
            })
            .await
            .map(String::as_str)
    }
}

async fn blocking<T: Send + 'static>(
    permits: &Semaphore,
    f: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
) -> Result<T, AuthError> {
    let _permit = permits
        .acquire()
        .await
        .map_err(|e| AuthError::Internal(format!("bcrypt permits: {e}")))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Internal(format!("bcrypt task: {e}")))?
        .map_err(|e| AuthError::Internal(format!("bcrypt: {e}")))
}
