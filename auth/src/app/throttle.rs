//! Failed-login and registration throttling, with counters in the shared database so that every instance
//! enforces one budget.
//!
//! Three counters, each over a sliding-start window:
//! - **username at address**: a few wrong passwords for one user from one address block
//!   that pair only — a stranger elsewhere cannot lock the owner out of their own address;
//! - **address**: many failures from one address, across usernames, block the address;
//! - **username from unknown addresses**: many failures for one user from all over block
//!   further guessing from addresses that user has never logged in from, so a distributed
//!   guess stops while the owner, at an address they succeeded from before, gets in.
//!
//! Registrations are counted per address the same way (every registration that gets as far
//! as hashing its password), in their own hourly window.
//!
//! The client address is the socket peer unless `TRUSTED_PROXY_HOPS` says which
//! `X-Forwarded-For` entry the load balancer wrote: a forged header buys nothing.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use platform::db::Database;
use sea_orm::DbErr;

use crate::storage::login_throttle::{Counter, LoginThrottleStore};

/// The limits; `Policy::default()` is what the service runs with.
#[derive(Debug, Clone)]
pub struct Policy {
    pub per_user_at_address: u32,
    pub per_address: u32,
    pub per_user_from_unknown_addresses: u32,
    pub window: Duration,
    /// How long a successful login makes its address "known" for that user.
    pub remember_success: Duration,
    /// Registrations accepted from one address per `register_window`.
    pub register_per_address: u32,
    pub register_window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            per_user_at_address: 5,
            per_address: 20,
            per_user_from_unknown_addresses: 50,
            window: Duration::from_secs(15 * 60),
            remember_success: Duration::from_secs(30 * 24 * 3600),
            register_per_address: 20,
            register_window: Duration::from_secs(3600),
        }
    }
}

const PAIR: &str = "pair";
const ADDRESS: &str = "address";
const USER: &str = "user";
const KNOWN: &str = "known";
const REGISTER: &str = "register";

/// Every this many counted events, a process deletes the counters whose window has passed.
const SWEEP_EVERY: u64 = 64;

/// The keys one attempt is counted under.
struct Keys {
    pair: String,
    address: String,
    user: String,
}

impl Keys {
    fn new(folded_username: &str, addr: Option<IpAddr>) -> Self {
        let address = address_key(addr);
        Self {
            pair: format!("{folded_username}|{address}"),
            user: folded_username.to_owned(),
            address,
        }
    }
}

fn address_key(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

/// A refused registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Seconds until the address's window ends.
    pub retry_after: u64,
    /// The address was refused before and asks again within its window.
    pub told_before: bool,
}

/// How many refused addresses a process remembers (see [`Throttle::admit_registration`]).
const REMEMBERED_REFUSALS: usize = 10_000;

pub struct Throttle {
    policy: Policy,
    events_seen: AtomicU64,
    /// Addresses whose registrations the database refused, and until when: the rest of a
    /// flood is refused from memory, without a query competing with everyone's logins for
    /// the connection pool. Bounded; entries expire with their window.
    refused: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            events_seen: AtomicU64::new(0),
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` while an attempt for `folded_username` from `addr` is refused.
    pub async fn check(
        &self,
        db: &Database,
        folded_username: &str,
        addr: Option<IpAddr>,
    ) -> Result<Option<u64>, DbErr> {
        let k = Keys::new(folded_username, addr);
        let counters = LoginThrottleStore::new(db)
            .read(&[
                (PAIR, &k.pair),
                (ADDRESS, &k.address),
                (USER, &k.user),
                (KNOWN, &k.pair),
            ])
            .await?;
        Ok(self.policy.wait(&counters, platform::db::now()))
    }

    pub async fn record_failure(
        &self,
        db: &Database,
        folded_username: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), DbErr> {
        let k = Keys::new(folded_username, addr);
        let now = platform::db::now();
        let store = LoginThrottleStore::new(db);
        store
            .count_failure(
                &[(PAIR, &k.pair), (ADDRESS, &k.address), (USER, &k.user)],
                now,
                now - self.policy.window,
            )
            .await?;
        self.sweep_now_and_then(&store, now).await
    }

    /// Counts one registration from `addr`: `Some` refusal when it is one too many.
    /// Counted before it is judged, so concurrent registrations cannot all pass one check.
    pub async fn admit_registration(
        &self,
        db: &Database,
        addr: Option<IpAddr>,
    ) -> Result<Option<Refusal>, DbErr> {
        let address = address_key(addr);
        if let Some(wait) = self.remembered_refusal(&address) {
            return Ok(Some(Refusal {
                retry_after: wait,
                told_before: true,
            }));
        }
        Ok(self
            .count_registration(db, address)
            .await?
            .map(|retry_after| Refusal {
                retry_after,
                told_before: false,
            }))
    }

    /// [`Throttle::admit_registration`]'s shared count: `Some(seconds to wait)` when over.
    async fn count_registration(
        &self,
        db: &Database,
        address: String,
    ) -> Result<Option<u64>, DbErr> {
        let now = platform::db::now();
        let store = LoginThrottleStore::new(db);
        let key = [(REGISTER, address.as_str())];
        // An address already at its limit is refused with one read, so a flood's refusals
        // cost no writes.
        let limit = self.policy.register_per_address;
        let before = store.read(&key).await?;
        if let Some(wait) = self
            .policy
            .registration_wait(&before, now, limit.saturating_sub(1))
        {
            self.remember_refusal(address, wait);
            return Ok(Some(wait));
        }
        store
            .count_failure(&key, now, now - self.policy.register_window)
            .await?;
        let counted = store.read(&key).await?;
        self.sweep_now_and_then(&store, now).await?;
        let wait = self.policy.registration_wait(&counted, now, limit);
        if let Some(wait) = wait {
            self.remember_refusal(address, wait);
        }
        Ok(wait)
    }

    fn remembered_refusal(&self, address: &str) -> Option<u64> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let left = refused
            .get(address)?
            .checked_duration_since(Instant::now())?;
        Some(left.as_secs().max(1))
    }

    fn remember_refusal(&self, address: String, wait_secs: u64) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() >= REMEMBERED_REFUSALS {
            let now = Instant::now();
            refused.retain(|_, until| *until > now);
            if refused.len() >= REMEMBERED_REFUSALS {
                refused.clear();
            }
        }
        refused.insert(address, Instant::now() + Duration::from_secs(wait_secs));
    }

    async fn sweep_now_and_then(
        &self,
        store: &LoginThrottleStore<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        if !self
            .events_seen
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            return Ok(());
        }
        for scope in [PAIR, ADDRESS, USER] {
            store.sweep(scope, now - self.policy.window).await?;
        }
        store
            .sweep(KNOWN, now - self.policy.remember_success)
            .await?;
        store
            .sweep(REGISTER, now - self.policy.register_window)
            .await?;
        Ok(())
    }

    /// A success forgives the pair's failures and remembers the address as the user's.
    pub async fn record_success(
        &self,
        db: &Database,
        folded_username: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), DbErr> {
        let k = Keys::new(folded_username, addr);
        let store = LoginThrottleStore::new(db);
        store.clear(PAIR, &k.pair).await?;
        store.mark(KNOWN, &k.pair, platform::db::now()).await
    }
}

/// How long until a window that began at `started` and lasts `window` has passed at `now`.
fn until_passed(started: DateTime<Utc>, window: Duration, now: DateTime<Utc>) -> Option<u64> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let until = started + window;
    (until > now).then(|| ((until - now).num_seconds().max(1)) as u64)
}

impl Policy {
    /// The wait a registration must observe when `counters` already hold more than
    /// `allowed` registrations in a window that has not passed.
    fn registration_wait(
        &self,
        counters: &[Counter],
        now: DateTime<Utc>,
        allowed: u32,
    ) -> Option<u64> {
        counters
            .iter()
            .filter(|c| c.scope == REGISTER && c.failures > allowed)
            .filter_map(|c| until_passed(c.window_started_at, self.register_window, now))
            .max()
    }

    /// The longest wait any exhausted counter imposes at `now`, if any.
    fn wait(&self, counters: &[Counter], now: DateTime<Utc>) -> Option<u64> {
        let known = counters.iter().any(|c| c.scope == KNOWN);
        counters
            .iter()
            .filter_map(|c| {
                let max = match c.scope.as_str() {
                    PAIR => self.per_user_at_address,
                    ADDRESS => self.per_address,
                    USER if !known => self.per_user_from_unknown_addresses,
                    _ => return None,
                };
                (c.failures >= max)
                    .then(|| until_passed(c.window_started_at, self.window, now))
                    .flatten()
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(scope: &str, failures: u32, started: DateTime<Utc>) -> Counter {
        Counter {
            scope: scope.into(),
            key: "k".into(),
            failures,
            window_started_at: started,
        }
    }

    #[test]
    fn an_exhausted_counter_blocks_until_its_window_ends() {
        let p = Policy::default();
        let t0 = Utc::now();
        let full = [counter(PAIR, 5, t0)];
        assert_eq!(p.wait(&full, t0), Some(900));
        assert_eq!(p.wait(&full, t0 + chrono::Duration::seconds(899)), Some(1));
        assert_eq!(p.wait(&full, t0 + chrono::Duration::seconds(900)), None);
        assert_eq!(p.wait(&[counter(PAIR, 4, t0)], t0), None);
        assert_eq!(p.wait(&[counter(ADDRESS, 20, t0)], t0), Some(900));
    }

    #[test]
    fn registrations_past_the_limit_wait_for_the_hourly_window() {
        let p = Policy::default();
        let t0 = Utc::now();
        assert_eq!(
            p.registration_wait(&[counter(REGISTER, 20, t0)], t0, 20),
            None
        );
        assert_eq!(
            p.registration_wait(&[counter(REGISTER, 21, t0)], t0, 20),
            Some(3600)
        );
        let later = t0 + chrono::Duration::seconds(3600);
        assert_eq!(
            p.registration_wait(&[counter(REGISTER, 21, t0)], later, 20),
            None
        );
        // Login failures do not count against registrations.
        assert_eq!(
            p.registration_wait(&[counter(ADDRESS, 99, t0)], t0, 20),
            None
        );
    }

    #[test]
    fn a_known_address_is_not_blocked_by_failures_elsewhere() {
        let p = Policy::default();
        let t0 = Utc::now();
        let guessed = counter(USER, 50, t0);
        assert_eq!(p.wait(std::slice::from_ref(&guessed), t0), Some(900));
        assert_eq!(p.wait(&[guessed, counter(KNOWN, 0, t0)], t0), None);
    }
}
