//! Whether a verified token has been ended at auth (logged out, issued before a password
//! change or logout-all, or of a deleted user), without asking auth: the task service
//! reads the revocation state from the shared database and trusts what it read for `ttl`.
//!
//! The state is cached per user: a hit costs a map lookup and no query; a miss (first
//! request of a user, or the entry older than `ttl`) costs one query. An entry is dated
//! from *before* its query started, so a revocation committed at auth is seen here at
//! most `ttl` later. Only users with a validly signed token get an entry, and the map
//! holds at most `max_users` of them: a full map first drops its expired entries, then,
//! if still full, everything (costing a query per user, never a stale answer).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use token_contract::{
    jwt::{Claims, TokenError},
    revocation_rule::{self, UserTokens},
};

use crate::{
    app::{State, error::TaskError},
    storage::user_tokens::UserTokenRecords,
};

/// Logged-out `jti`s past their token's expiry by more than this are not loaded: a token
/// that old is refused as expired anyway (verifiers allow seconds of leeway, not minutes).
const EXPIRED_MARGIN: TimeDelta = TimeDelta::seconds(120);

pub struct RevocationCache {
    ttl: Duration,
    max_users: usize,
    /// `None`: the user does not exist.
    users: Mutex<HashMap<i64, (Instant, Option<UserTokens>)>>,
}

impl RevocationCache {
    pub fn new(ttl: Duration, max_users: usize) -> Self {
        Self {
            ttl,
            max_users: max_users.max(1),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(is revoked)` from a fresh entry; `None` on a miss.
    fn lookup(&self, claims: &Claims) -> Option<bool> {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let (read_at, user) = users.get(&claims.user_id)?;
        (read_at.elapsed() < self.ttl)
            .then(|| revocation_rule::is_revoked(user.as_ref(), claims.iat, &claims.jti))
    }

    fn store(&self, user_id: i64, read_at: Instant, user: Option<UserTokens>) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.len() >= self.max_users && !users.contains_key(&user_id) {
            let ttl = self.ttl;
            users.retain(|_, (at, _)| at.elapsed() < ttl);
            if users.len() >= self.max_users {
                users.clear();
            }
        }
        users.insert(user_id, (read_at, user));
    }

    pub fn len(&self) -> usize {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    /// `Err(Revoked)` when the token has been ended, as of at most `ttl` ago.
    pub async fn check_revocation(&self, claims: &Claims) -> Result<(), TaskError> {
        let revoked = match self.revocation.lookup(claims) {
            Some(revoked) => revoked,
            None => {
                let read_at = Instant::now();
                let user = UserTokenRecords::new(&self.db)
                    .user_tokens(claims.user_id, platform::db::now() - EXPIRED_MARGIN)
                    .await?;
                let revoked = revocation_rule::is_revoked(user.as_ref(), claims.iat, &claims.jti);
                self.revocation.store(claims.user_id, read_at, user);
                revoked
            }
        };
        if revoked {
            Err(TokenError::Revoked.into())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user_id: i64, iat: i64, jti: &str) -> Claims {
        Claims {
            sub: user_id.to_string(),
            user_id,
            username: "u".into(),
            email: "u@x.io".into(),
            role: "user".into(),
            iat,
            exp: iat + 3600,
            iss: "i".into(),
            aud: "a".into(),
            jti: jti.into(),
        }
    }

    #[test]
    fn fresh_entries_answer_stale_ones_miss() {
        let cache = RevocationCache::new(Duration::from_secs(60), 10);
        assert_eq!(cache.lookup(&claims(1, 100, "a")), None);
        let mut user = UserTokens::default();
        user.revoked_jtis.insert("gone".into());
        cache.store(1, Instant::now(), Some(user));
        cache.store(2, Instant::now(), None);
        assert_eq!(cache.lookup(&claims(1, 100, "a")), Some(false));
        assert_eq!(cache.lookup(&claims(1, 100, "gone")), Some(true));
        assert_eq!(
            cache.lookup(&claims(2, 100, "a")),
            Some(true),
            "no such user"
        );
        let old = Instant::now() - Duration::from_secs(61);
        cache.store(3, old, Some(UserTokens::default()));
        assert_eq!(
            cache.lookup(&claims(3, 100, "a")),
            None,
            "older than the TTL"
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let cache = RevocationCache::new(Duration::from_secs(60), 3);
        let old = Instant::now() - Duration::from_secs(61);
        cache.store(1, old, None);
        cache.store(2, Instant::now(), None);
        cache.store(3, Instant::now(), None);
        cache.store(4, Instant::now(), None);
        assert_eq!(cache.len(), 3, "the expired entry made room");
        for id in 5..100 {
            cache.store(id, Instant::now(), None);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.lookup(&claims(99, 1, "a")), Some(true));
    }
}
