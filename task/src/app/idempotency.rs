//! `POST /tasks` with an `Idempotency-Key`: the first request with a key creates the task
//! and remembers it; a retry with the same key and body within 24 h gets that task back and
//! creates nothing; the same key with another body is refused, and so is a duplicate that
//! arrives while the first is still being processed.
//!
//! A claim is a lease: an attempt that failed gives its key up at once, and when even that
//! fails (the database it could not reach refuses the release too), the claim lapses after
//! [`State::claim_lease`], the longest an attempt can take. Until then a retry is 409 with
//! `Retry-After` saying when the lease ends; after it, the retry takes the key over. An
//! attempt whose lease was taken over cannot complete (its claim no longer matches), so a
//! key never makes two tasks.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use sha2::{Digest, Sha256};

use crate::{
    app::{State, error::TaskError},
    domain::{Caller, IDEMPOTENCY_TTL, IdempotencyKey, NewTask, Task},
    storage::idempotency::{Claim, IdempotencyKeys, KeyedCreate, Outcome},
};

/// Expired keys are deleted this many per statement, so that no statement holds locks on
/// more rows than that.
pub const SWEEP_BATCH: u64 = 1000;

/// Whether the created task is new or the answer remembered for an earlier request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(Task),
    Replayed(Task),
}

impl Created {
    pub fn into_task(self) -> Task {
        match self {
            Self::New(t) | Self::Replayed(t) => t,
        }
    }
}

impl State {
    fn idempotency_keys(&self) -> IdempotencyKeys<'_> {
        IdempotencyKeys::new(&self.db)
    }

    /// How long a claim holds its key: the two database operations of an attempt (the claim,
    /// then the task and the key's response in one transaction), each bounded by its
    /// deadline. A claim `in_progress` for longer belongs to an attempt that failed or died
    /// (a crash, a lost connection) without releasing it.
    fn claim_lease(&self) -> TimeDelta {
        TimeDelta::from_std(2 * self.db.operation_deadline()).unwrap_or(TimeDelta::seconds(60))
    }

    /// Creates `new` once per `key`: `request` is the request in a canonical form, whose
    /// hash tells a retry from a different request under the same key.
    pub async fn create_task_once(
        &self,
        caller: Caller,
        new: NewTask,
        key: IdempotencyKey,
        request: &str,
    ) -> Result<Created, TaskError> {
        self.admit_write(caller).await?;
        let hash = hex(&Sha256::digest(request.as_bytes()));
        let keys = self.idempotency_keys();
        // A row can vanish (released, swept) or be taken over between our looks: look again,
        // a bounded number of times.
        for _ in 0..3 {
            if let Some(claim) = keys.claim(caller, &key, &hash).await? {
                return self.create_claimed(claim, caller, new).await;
            }
            let Some(found) = keys.find(caller, &key).await? else {
                continue;
            };
            let age = platform::db::now() - found.claimed_at;
            if age < IDEMPOTENCY_TTL {
                if found.request_hash != hash {
                    return Err(TaskError::KeyReused);
                }
                match found.outcome {
                    Outcome::Created(task) => {
                        tracing::info!(
                            task_id = task.id,
                            user_id = caller.user_id,
                            "idempotent create replayed"
                        );
                        return Ok(Created::Replayed(task));
                    }
                    Outcome::Deleted(id) => return Err(TaskError::CreatedThenDeleted(id)),
                    Outcome::Pending => {}
                }
                let lease = self.claim_lease();
                if age < lease {
                    return Err(TaskError::KeyInProgress {
                        retry_after: whole_seconds(lease - age),
                    });
                }
            }
            // Expired, or its lease over while in progress: ours if nobody beats us to it.
            if let Some(claim) = keys.take_over(found.claim, &hash).await? {
                return self.create_claimed(claim, caller, new).await;
            }
        }
        Err(TaskError::KeyInProgress { retry_after: 1 })
    }

    async fn create_claimed(
        &self,
        claim: Claim,
        caller: Caller,
        new: NewTask,
    ) -> Result<Created, TaskError> {
        let keys = self.idempotency_keys();
        let quota = self.limits.task_quota;
        let failed = match keys.create_task(claim, caller, new, quota).await {
            Ok(KeyedCreate::Created(task)) => {
                tracing::info!(task_id = task.id, user_id = caller.user_id, "task created");
                return Ok(Created::New(task));
            }
            // Taken over after our lease ended: the other request answers for the key.
            Ok(KeyedCreate::ClaimLost) => return Err(TaskError::KeyInProgress { retry_after: 1 }),
            Ok(KeyedCreate::OverQuota) => TaskError::QuotaReached(quota),
            Err(e) => TaskError::from(e),
        };
        // While the database is unavailable the release fails for the same cause, which
        // the outage summary already counts: one line per request, not two.
        if let Err(release) = keys.release(claim).await
            && !platform::db::is_unavailable(&release)
        {
            tracing::warn!(error = %release, "could not release an idempotency key");
        }
        Err(failed)
    }

    /// Deletes expired keys in batches of [`SWEEP_BATCH`], at most `max` rows; how many.
    pub async fn sweep_expired_keys(&self, max: u64) -> Result<u64, TaskError> {
        let cutoff = platform::db::now() - IDEMPOTENCY_TTL;
        let mut deleted = 0;
        while deleted < max {
            let n = self
                .idempotency_keys()
                .sweep(cutoff, SWEEP_BATCH.min(max - deleted))
                .await?;
            deleted += n;
            if n < SWEEP_BATCH {
                break;
            }
        }
        Ok(deleted)
    }

    /// Sweeps expired keys every `every`, up to `max` rows a time: `max / every` is the
    /// most keys per second removed, far above what the write rate lets users create.
    pub fn spawn_key_sweeper(
        self: &Arc<Self>,
        every: Duration,
        max: u64,
    ) -> tokio::task::JoinHandle<()> {
        let state = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(s) = state.upgrade() else { return };
                match s.sweep_expired_keys(max).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "expired idempotency keys swept"),
                    // An outage is reported by the requests it fails (one summary line per
                    // interval); the sweep tries again next time.
                    Err(TaskError::Database(e)) if platform::db::is_unavailable(&e) => {
                        tracing::debug!(error = %e, "sweeping expired idempotency keys: database unavailable");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sweeping expired idempotency keys failed")
                    }
                }
            }
        })
    }
}

/// `d` rounded up to whole seconds, at least one (a `Retry-After`).
fn whole_seconds(d: TimeDelta) -> u64 {
    let ms = d.num_milliseconds().max(1) as u64;
    ms.div_ceil(1000)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
