//! Whether a verified token has been revoked at auth (logged out, issued for credentials a
//! password change or logout-all revoked, or of a deleted user), without asking auth: the
//! task service reads the revocation state from the shared database and trusts what it read
//! for `ttl`.
//!
//! The state is cached per token (user id and `jti`): a hit costs a map lookup and no query;
//! a miss (first request with a token, or the entry older than `ttl`) costs one statement
//! that reads the user's row and looks the one `jti` up by primary key, so it costs the
//! same whether the user has logged out one token or thousands. Concurrent misses for the
//! same token wait for one query instead of each running it. An entry is dated from
//! *before* its query started, so a revocation committed at auth is seen here at most `ttl`
//! later. Only holders of a validly signed token get an entry, and the map holds at most
//! `max_entries`: a full map first drops its expired entries, then, if still full,
//! everything (costing a query per token, never a stale answer).
//!
//! Hand-written rather than a caching crate's: the entries' age must count from before
//! their query, and the map is a few lines over `tokio`'s `OnceCell`, which already
//! provides the wait-for-one-initialiser behaviour.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use token_contract::{
    jwt::{Claims, TokenError},
    revocation_rule::{self, TokenState},
};
use tokio::sync::OnceCell;

use crate::{
    app::{State, error::TaskError},
    storage::user_tokens::UserTokenRecords,
};

/// One token: its user and `jti`.
type Key = (i64, String);

/// What was read, when the read began; `None`: the user does not exist.
type Read = (Instant, Option<TokenState>);

/// Filled once by the first request that misses; concurrent ones wait on it.
type Slot = Arc<OnceCell<Read>>;

pub struct RevocationCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<Key, Slot>>,
}

impl RevocationCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, read: &Read) -> bool {
        read.0.elapsed() < self.ttl
    }

    /// The slot for `key`: the current one while it is being filled or fresh, else a new
    /// empty one in its place.
    fn slot(&self, key: Key) -> Slot {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = entries.get(&key)
            && slot.get().is_none_or(|read| self.fresh(read))
        {
            return slot.clone();
        }
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, slot| slot.get().is_none_or(|read| self.fresh(read)));
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        let slot = Slot::default();
        entries.insert(key, slot.clone());
        slot
    }

    /// The state of `claims`' token, as of at most `ttl` ago: from the map, or from
    /// `query` (run once for all the concurrent requests that miss on the same token).
    async fn state<F, Fut>(
        &self,
        claims: &Claims,
        query: F,
    ) -> Result<Option<TokenState>, TaskError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<TokenState>, TaskError>>,
    {
        let slot = self.slot((claims.user_id, claims.jti.clone()));
        let (_, state) = slot
            .get_or_try_init(|| async {
                let read_at = Instant::now();
                Ok::<_, TaskError>((read_at, query().await?))
            })
            .await?;
        Ok(state.clone())
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    /// `Err(Revoked)` when the token has been revoked, as of at most `ttl` ago.
    pub async fn check_revocation(&self, claims: &Claims) -> Result<(), TaskError> {
        let state = self
            .revocation
            .state(claims, || async {
                Ok(UserTokenRecords::new(&self.db)
                    .token_state(claims.user_id, &claims.jti)
                    .await?)
            })
            .await?;
        if revocation_rule::is_revoked(state.as_ref(), claims) {
            Err(TokenError::Revoked.into())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn claims(user_id: i64, jti: &str) -> Claims {
        Claims {
            sub: user_id.to_string(),
            user_id,
            username: "u".into(),
            email: "u@x.io".into(),
            role: "user".into(),
            iat: 100,
            exp: 3700,
            iss: "i".into(),
            aud: "a".into(),
            jti: jti.into(),
            generation: Some(0),
        }
    }

    fn live() -> Option<TokenState> {
        Some(TokenState::default())
    }

    /// A query that counts its runs and answers `answer` after a pause (so that concurrent
    /// callers overlap).
    async fn counting(
        runs: &AtomicUsize,
        answer: Option<TokenState>,
    ) -> Result<Option<TokenState>, TaskError> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(answer)
    }

    #[tokio::test]
    async fn fresh_entries_answer_without_a_query_stale_ones_query_again() {
        let cache = RevocationCache::new(Duration::from_millis(200), 10);
        let runs = AtomicUsize::new(0);
        let gone = TokenState {
            logged_out: true,
            ..TokenState::default()
        };
        let a = claims(1, "a");
        assert_eq!(
            cache.state(&a, || counting(&runs, live())).await.unwrap(),
            live()
        );
        assert_eq!(
            cache.state(&a, || counting(&runs, None)).await.unwrap(),
            live()
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the second was a hit");
        // Another token of the same user is its own entry.
        let b = claims(1, "b");
        let got = cache
            .state(&b, || counting(&runs, Some(gone.clone())))
            .await;
        assert_eq!(got.unwrap(), Some(gone));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            cache.state(&a, || counting(&runs, None)).await.unwrap(),
            None
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "older than the TTL: read again"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_for_one_token_share_one_query() {
        let cache = Arc::new(RevocationCache::new(Duration::from_secs(60), 10));
        let runs = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    cache
                        .state(&claims(7, "same"), || counting(&runs, live()))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), live());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_query_is_not_remembered() {
        let cache = RevocationCache::new(Duration::from_secs(60), 10);
        let a = claims(1, "a");
        let failed = cache.state(&a, || async { Err(TaskError::NoKeys) }).await;
        assert!(failed.is_err());
        let runs = AtomicUsize::new(0);
        assert_eq!(
            cache.state(&a, || counting(&runs, live())).await.unwrap(),
            live()
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_map_stays_bounded() {
        let cache = RevocationCache::new(Duration::from_millis(100), 3);
        cache
            .state(&claims(1, "a"), || async { Ok(None) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        for id in 2..5 {
            cache
                .state(&claims(id, "a"), || async { Ok(None) })
                .await
                .unwrap();
        }
        assert_eq!(cache.len(), 3, "the expired entry made room");
        for id in 5..100 {
            cache
                .state(&claims(id, "a"), || async { Ok(None) })
                .await
                .unwrap();
            assert!(cache.len() <= 3);
        }
    }
}
