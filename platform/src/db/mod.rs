//! The database handle both services share: a bounded pool on SQLite or PostgreSQL,
//! migrations at start-up (applied, or verified as applied: `DB_MIGRATIONS`), and credential
//! rotation without a restart.
//!
//! With `DB_SECRET`, credentials come from Secrets Manager. When rotation changes the
//! password, connections already open keep working but new ones are refused; the first
//! attempt to connect that PostgreSQL rejects re-reads the secret, swaps in a new pool and
//! connects again ([`generation`]).
//!
//! While the database is unreachable, calls fail at once instead of each waiting out the
//! pool's acquire timeout ([`crate::db::circuit`]); readiness answers within [`PING_TIMEOUT`].
//!
//! Every statement has a deadline (`DB_STATEMENT_TIMEOUT_MS`): PostgreSQL cancels it
//! (`statement_timeout`, SQLSTATE 57014), SQLite gives up waiting for a lock (its busy
//! timeout), and the caller stops waiting for the whole operation [`CLIENT_MARGIN`] later, so
//! a dead network or a stuck driver is bounded too. Within a request the deadline is the
//! request's, shared by its operations ([`budget`]). A deadline passed is
//! [`is_deadline_exceeded`], which [`is_unavailable`] includes (a 503), but it does not open
//! the circuit: a slow database is not an unreachable one, and it answers again as soon as
//! whatever held it is gone.
//!
//! Split by concern: [`budget`] shares the deadline among a request's operations, [`connect`] opens pools and runs migrations, [`migrations`] compares this
//! release's migrations with the database's and applies the pending ones, [`generation`] is the pool
//! handed out now and its replacement on rotation, [`conn`] is what an operation sends its
//! statements through, [`parked`] keeps PostgreSQL sessions checked out between operations, [`circuit`] fails fast while the database is down, [`classify`]
//! tells an unavailable database from a bad statement, [`outage`] logs a failure once per
//! interval.

pub mod budget;
pub mod circuit;
pub mod classify;
pub mod conn;
pub mod connect;
pub mod generation;
pub mod migrations;
pub mod outage;
pub mod parked;

use std::{
    collections::VecDeque,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, TransactionTrait};

use crate::process::{
    config::{DatabaseSettings, MigrationMode},
    secrets::Secrets,
};
use circuit::{Admit, Circuit};
use classify::{is_session_discarded, no_answer_in_time, opens_circuit};
use connect::{migrate, open_pool, pool_options, probe_server, resolve_url, verify};
use generation::Pools;

pub use classify::{
    is_auth_rejection, is_deadline_exceeded, is_foreign_key_violation, is_unavailable,
    is_unique_violation,
};
pub use conn::Conn;
pub use connect::DbError;
pub use migrations::MigrationReport;

/// How long readiness waits for the database, so that `/ready` answers within a second.
pub const PING_TIMEOUT: Duration = Duration::from_millis(800);

/// How much longer than the statement deadline the caller waits for an operation: long
/// enough for PostgreSQL's own cancellation (a clean error, a reusable connection) to arrive
/// first, short enough that nobody notices the difference.
pub const CLIENT_MARGIN: Duration = Duration::from_millis(250);

/// How far back readiness looks for operations that passed their deadline.
pub const SLOW_WINDOW: Duration = Duration::from_secs(10);

/// Deadline misses remembered for readiness at most (a bound on memory in a long stall).
const MISSES_KEPT: usize = 10_000;

pub struct Database {
    pools: Pools,
    circuit: Circuit,
    /// When operations passed their deadline recently, oldest first (for readiness).
    misses: Mutex<VecDeque<Instant>>,
}

/// What readiness found ([`Database::readiness`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database answers, but `missed` operations passed their deadline (`deadline`) in
    /// the last [`SLOW_WINDOW`].
    Slow {
        missed: usize,
        deadline: Duration,
    },
    /// No answer within [`PING_TIMEOUT`]: from here, a slow server and an unreachable one
    /// look the same.
    NoAnswer,
    /// The connection or the ping failed.
    Unreachable,
}

impl Readiness {
    /// What `/ready` says when it is not ready (503), in words an operator can act on.
    pub fn problem(&self) -> Option<String> {
        match self {
            Self::Ready => None,
            Self::Slow { missed, deadline } => Some(format!(
                "The database is slow: {missed} operation{} passed the {} ms deadline in the \
                 last {} s (it answers, but not in time)",
                if *missed == 1 { "" } else { "s" },
                deadline.as_millis(),
                SLOW_WINDOW.as_secs()
            )),
            Self::NoAnswer => Some(format!(
                "The database did not answer within {} ms (unreachable, or too slow to tell)",
                PING_TIMEOUT.as_millis()
            )),
            Self::Unreachable => Some("The database is unreachable".into()),
        }
    }
}

impl Database {
    /// Connects (reading the secret if configured) and, as `settings.migrations` says,
    /// applies pending migrations or refuses to start while one is pending.
    pub async fn connect(
        settings: DatabaseSettings,
        secrets: Option<Secrets>,
    ) -> Result<Self, DbError> {
        let url = resolve_url(&settings.source, secrets.as_ref()).await?;
        probe_server(&url).await?;
        let unknown = match settings.migrations {
            MigrationMode::Apply => migrate(&url).await?.unknown,
            MigrationMode::Verify => verify(&url).await?,
        };
        if !unknown.is_empty() {
            // Once per start: a rollback or a service not yet updated runs on a newer schema,
            // which every migration being additive makes safe (docs/release.md).
            tracing::info!(
                migrations = unknown.join(", "),
                "the database has migrations this release does not know (a newer release's); \
                 serving on it"
            );
        }
        let conn = open_pool(&url, settings.pool_max, Some(settings.statement_timeout)).await?;
        Ok(Self::with_pool(conn, settings, secrets))
    }

    /// Applies this release's pending migrations and returns what it did: the release step
    /// (`<binary> migrate`), under the same lock as start-up's.
    pub async fn migrate(
        settings: &DatabaseSettings,
        secrets: Option<&Secrets>,
    ) -> Result<MigrationReport, DbError> {
        let url = resolve_url(&settings.source, secrets).await?;
        probe_server(&url).await?;
        migrate(&url).await
    }

    /// A pool that connects on first use, without migrating: for a database that may not be
    /// reachable yet (and for tests of exactly that).
    pub async fn connect_lazy(
        settings: DatabaseSettings,
        secrets: Option<Secrets>,
    ) -> Result<Self, DbError> {
        let url = resolve_url(&settings.source, secrets.as_ref()).await?;
        let mut opts = pool_options(&url, settings.pool_max, Some(settings.statement_timeout));
        opts.connect_lazy(true);
        let conn = sea_orm::Database::connect(opts)
            .await
            .map_err(DbError::Connect)?;
        Ok(Self::with_pool(conn, settings, secrets))
    }

    fn with_pool(
        conn: DatabaseConnection,
        settings: DatabaseSettings,
        secrets: Option<Secrets>,
    ) -> Self {
        Self {
            pools: Pools::new(conn, settings, secrets),
            circuit: Circuit::default(),
            misses: Mutex::new(VecDeque::new()),
        }
    }

    /// Runs `op` on one connection, or fails at once with a [`DbErr::Conn`] (which
    /// [`is_unavailable`]) while the database is known to be unreachable. `op` runs once: what
    /// is retried is a statement the server never ran ([`Conn`]), and getting the connection.
    pub async fn run<'a, T, F, Fut>(&'a self, op: F) -> Result<T, DbErr>
    where
        F: FnOnce(Conn<'a>) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        self.guarded(async move { op(Conn::new(&self.pools, self.pools.link().await?)).await })
            .await
    }

    /// Runs `op` in a transaction on sea-orm's pool; `op` commits it (dropped, it rolls
    /// back). Same guards as [`Database::run`]; starting the transaction is retried as getting
    /// a connection is, a statement inside it is not (the transaction is gone with its session).
    pub async fn transaction<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: FnOnce(DatabaseTransaction) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        self.guarded(async move {
            let (txn, _permit) = self
                .pools
                .with_rotation(|pool| async move {
                    let permit = pool.admit_pool_user().await?;
                    Ok((pool.orm.begin().await?, permit))
                })
                .await?;
            op(txn).await
        })
        .await
    }

    async fn guarded<T>(&self, op: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let refused = || {
            Err(DbErr::Conn(RuntimeErr::Internal(
                "the database was unreachable a moment ago: failing fast until it answers".into(),
            )))
        };
        match self.circuit.admit(Instant::now()) {
            Admit::Go => {}
            // A ping bounds the trial's wait by PING_TIMEOUT, not the acquire timeout.
            // Boxed: a trial is rare, and a ping's future would otherwise add its size to
            // every operation's.
            Admit::Trial if Box::pin(self.ping()).await => {}
            Admit::Trial | Admit::Refuse => return refused(),
        }
        // Dropping the operation at the deadline drops its connection mid-statement, which
        // sqlx then tests (and closes if need be) instead of handing it out again.
        // Within a request, what its earlier operations left of the deadline.
        let result = match budget::within(self.operation_deadline(), op).await {
            Some(result) => result,
            None => Err(no_answer_in_time()),
        };
        if matches!(&result, Err(e) if is_session_discarded(e)) {
            connect::read_only_seen();
        }
        match &result {
            Err(e) if is_deadline_exceeded(e) => self.note_miss(Instant::now()),
            Err(e) if opens_circuit(e) => self.circuit.record(false, Instant::now()),
            // A session ended, a read-only server: it answers, so the circuit stays as it is.
            Err(e) if is_unavailable(e) => {}
            _ => self.circuit.record(true, Instant::now()),
        }
        result
    }

    fn note_miss(&self, now: Instant) {
        let mut misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if misses.len() >= MISSES_KEPT {
            misses.pop_front();
        }
        misses.push_back(now);
    }

    /// Operations that passed their deadline within the last [`SLOW_WINDOW`].
    fn recent_misses(&self, now: Instant) -> usize {
        let mut misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        while misses
            .front()
            .is_some_and(|t| now.duration_since(*t) > SLOW_WINDOW)
        {
            misses.pop_front();
        }
        misses.len()
    }

    /// Can we run a trivial query right now? Answers within [`PING_TIMEOUT`], and always
    /// asks the database (even with the circuit open): it is how recovery is noticed.
    pub async fn ping(&self) -> bool {
        self.ping_outcome().await == Readiness::Ready
    }

    /// Readiness: the ping, and then whether operations have been passing their deadline.
    pub async fn readiness(&self) -> Readiness {
        match self.ping_outcome().await {
            Readiness::Ready => match self.recent_misses(Instant::now()) {
                0 => Readiness::Ready,
                missed => Readiness::Slow {
                    missed,
                    deadline: self.pools.settings.statement_timeout,
                },
            },
            other => other,
        }
    }

    async fn ping_outcome(&self) -> Readiness {
        let ping = self.pools.with_rotation(|pool| async move {
            let _permit = pool.admit_pool_user().await?;
            pool.orm.ping().await
        });
        let outcome = match tokio::time::timeout(PING_TIMEOUT, ping).await {
            Ok(Ok(())) => Readiness::Ready,
            Ok(Err(_)) => Readiness::Unreachable,
            Err(_elapsed) => Readiness::NoAnswer,
        };
        self.circuit
            .record(outcome == Readiness::Ready, Instant::now());
        outcome
    }

    /// The longest one operation ([`Database::run`], [`Database::transaction`]) waits for the
    /// database before it fails: the statement deadline plus [`CLIENT_MARGIN`].
    pub fn operation_deadline(&self) -> Duration {
        self.pools.settings.statement_timeout + CLIENT_MARGIN
    }

    /// PostgreSQL connections parked between operations ([`crate::db::parked`]); 0 on SQLite.
    pub fn parked_sessions(&self) -> usize {
        self.pools.current().0.sessions.map_or(0, |s| s.parked())
    }

    pub async fn close(&self) {
        let (pool, _) = self.pools.current();
        if let Err(e) = pool.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
    }
}

/// The current time at the precision both backends keep (PostgreSQL stores microseconds),
/// so a row reads back exactly as it was written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate(chrono::Utc::now())
}

pub fn truncate(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
