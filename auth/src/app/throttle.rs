//! Failed-login throttling, per username and per client address.
//!
//! A key that fails `max_failures` times within `window` is refused until the window that
//! began with its first failure ends. Counts live in this process: with N instances behind
//! the load balancer an attacker gets at most N times the budget, which still bounds a
//! brute-force attempt to a handful of guesses per minute.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct Limiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    first_failure: Instant,
    failures: u32,
}

/// Past this many tracked keys, expired ones are swept so memory stays bounded.
const SWEEP_AT: usize = 10_000;

impl Limiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` while the key is blocked.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some(e) if e.failures >= self.max_failures => {
                let until = e.first_failure + self.window;
                if until > now {
                    Err((until - now).as_secs().max(1))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, e| now.duration_since(e.first_failure) < window);
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            first_failure: now,
            failures: 0,
        });
        if now.duration_since(entry.first_failure) >= self.window {
            *entry = Entry {
                first_failure: now,
                failures: 0,
            };
        }
        entry.failures += 1;
    }

    pub fn reset(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_then_forgives_on_reset() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("bob").is_ok());
            l.record_failure("bob");
        }
        let wait = l.check("bob").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.check("alice").is_ok());
        l.reset("bob");
        assert!(l.check("bob").is_ok());
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = Limiter::new(1, Duration::from_millis(0));
        l.record_failure("k");
        assert!(l.check("k").is_ok());
    }
}
