//! A failure repeated across requests, logged once per interval with a count.
//!
//! In an outage every request fails the same way, and a line (or three) per request fills the
//! disk under load (docs/benchmarks.md, "Outage logging"). Each request's access line carries
//! its cause; this adds the outage's course: one line when it starts (with the first cause),
//! then one summary per [`INTERVAL`] while it goes on: "database unavailable: 12345 requests
//! failed in the last 10 s". An outage of any length writes one line per request plus one
//! per interval.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// How often a continuing failure is summarised.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// One kind of failure, e.g. [`DATABASE`].
pub struct Repeated {
    what: &'static str,
    /// Failures since the last line about them.
    count: AtomicU64,
    /// Whether a summary task is running (the failure is ongoing).
    ongoing: Mutex<bool>,
}

/// A request failed because the database was unavailable (unreachable, refusing, or past
/// its deadline).
pub static DATABASE: Repeated = Repeated::new("database unavailable");

impl Repeated {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            count: AtomicU64::new(0),
            ongoing: Mutex::new(false),
        }
    }

    /// Notes one failed request. The first of an outage is logged with its cause; later ones
    /// are counted into the next summary.
    pub fn record(&'static self, cause: &crate::process::cause::Cause) {
        let mut ongoing = self.ongoing.lock().unwrap_or_else(|p| p.into_inner());
        if *ongoing {
            self.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to summarise on (not in a service): a line each.
            tracing::warn!(
                kind = cause.kind,
                sqlstate = cause.sqlstate.as_deref(),
                cause = cause.message.as_str(),
                "{}",
                self.what
            );
            return;
        };
        *ongoing = true;
        tracing::warn!(
            kind = cause.kind,
            sqlstate = cause.sqlstate.as_deref(),
            cause = cause.message.as_str(),
            "{}; further failures are summarised every {} s",
            self.what,
            INTERVAL.as_secs()
        );
        runtime.spawn(self.summarise());
    }

    /// One line per interval while failures go on; ends after an interval without any.
    async fn summarise(&'static self) {
        loop {
            tokio::time::sleep(INTERVAL).await;
            let mut ongoing = self.ongoing.lock().unwrap_or_else(|p| p.into_inner());
            let failed = self.count.swap(0, Ordering::Relaxed);
            if failed == 0 {
                *ongoing = false;
                tracing::info!(
                    "{}: no failures in the last {} s",
                    self.what,
                    INTERVAL.as_secs()
                );
                return;
            }
            drop(ongoing);
            tracing::warn!(
                failed,
                "{}: {failed} requests failed in the last {} s",
                self.what,
                INTERVAL.as_secs()
            );
        }
    }
}
