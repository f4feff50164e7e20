//! Failing fast while a dependency is known to be down.
//!
//! Without it, every request waits the whole pool acquire timeout for a database that is not
//! there, and piles up behind the others doing the same. Once a call finds the database
//! unreachable the circuit opens: calls are refused at once, except one per
//! [`RETRY_INTERVAL`], a trial that first checks (briefly) whether it is back, as every
//! readiness check does; the first success closes it.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Closed: go ahead.
    Go,
    /// Open, but this call may find out whether the dependency is back (cheaply, first).
    Trial,
    /// Open: fail now.
    Refuse,
}

#[derive(Debug, Default)]
pub struct Circuit {
    /// `Some(t)`: open, the next trial call is allowed from `t`.
    open: Mutex<Option<Instant>>,
}

impl Circuit {
    /// Whether a call may go ahead now.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match *open {
            None => Admit::Go,
            Some(next_trial) if now >= next_trial => {
                *open = Some(now + RETRY_INTERVAL);
                Admit::Trial
            }
            Some(_) => Admit::Refuse,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// What a call (or a readiness check) learned.
    pub fn record(&self, reachable: bool, now: Instant) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let was_open = open.is_some();
        *open = (!reachable).then_some(now + RETRY_INTERVAL);
        match (was_open, reachable) {
            (false, false) => tracing::warn!("database unreachable: failing fast until it answers"),
            (true, true) => tracing::info!("database reachable again"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_all_but_one_trial_per_interval_and_success_closes() {
        let c = Circuit::default();
        let t0 = Instant::now();
        assert_eq!(c.admit(t0), Admit::Go);
        c.record(false, t0);
        assert!(c.is_open());
        assert_eq!(c.admit(t0), Admit::Refuse);
        assert_eq!(c.admit(t0 + RETRY_INTERVAL / 2), Admit::Refuse);
        // One trial when the interval is over, then refusals again.
        assert_eq!(c.admit(t0 + RETRY_INTERVAL), Admit::Trial);
        assert_eq!(c.admit(t0 + RETRY_INTERVAL), Admit::Refuse);
        c.record(true, t0 + RETRY_INTERVAL);
        assert!(!c.is_open());
        assert_eq!(c.admit(t0 + RETRY_INTERVAL), Admit::Go);
    }
}
