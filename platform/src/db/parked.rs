//! PostgreSQL connections kept checked out of sqlx's pool between statements.
//!
//! sqlx tests every connection given back to its pool with a round trip to the server (a
//! `Sync` answered by `ReadyForQuery`), and sqlx 0.9 has no setting to skip it. sea-orm
//! checks a connection out for each statement and gives it back after, so every statement
//! cost two round trips and its connection was held for both. Parking saves one of them and
//! measurably less task CPU per request: docs/benchmarks.md, "Parked connections".
//!
//! Here a connection whose statements all ran to completion is parked instead of given back,
//! and the next statement takes it from the parking lot. What sqlx's test is for stays
//! covered:
//! - a connection whose statement did not finish (an I/O or protocol error, or a request
//!   cancelled mid-statement) is never parked: it is dropped, so sqlx tests it and closes it
//!   if it is broken;
//! - a connection on a server that refused a statement as read-only or starting up
//!   ([`super::classify::discards_session`]) is closed: sqlx's test would pass it;
//! - a connection parked longer than [`PARKED_AT_MOST`] is handed back to sqlx instead of
//!   used (sqlx then pings it before its next use), as is one held longer than
//!   [`HELD_AT_MOST`], so sqlx's idle timeout and maximum lifetime still apply.
//!
//! Parked connections count against the pool's size without sqlx knowing they are free, so
//! every use of the pool goes through one gate of `pool_max` permits first; a caller that
//! needs sqlx's own checkout (a transaction through sea-orm) hands a parked connection back
//! before taking one ([`Sessions::admit_pool_user`]).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{
    ConnAcquireErr, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    sqlx::{self, PgPool, Postgres, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::classify::{discards_session, unavailable_sqlstate};

/// A parked connection idle this long goes back to sqlx, which pings it before reuse.
pub const PARKED_AT_MOST: Duration = Duration::from_secs(10);

/// A connection is handed back to sqlx after this long out of its pool, so that sqlx's
/// lifetime and idle limits (and its accounting) keep applying under constant load.
pub const HELD_AT_MOST: Duration = Duration::from_secs(60);

struct Parked {
    conn: PoolConnection<Postgres>,
    /// When it left sqlx's pool.
    taken: Instant,
    /// When its last statement finished.
    idle_since: Instant,
}

/// The gate and the parking lot in front of one sqlx pool.
pub struct Sessions {
    pool: PgPool,
    gate: Arc<Semaphore>,
    parked: Mutex<Vec<Parked>>,
    acquire_timeout: Duration,
}

impl Sessions {
    pub fn new(pool: PgPool, permits: u32, acquire_timeout: Duration) -> Self {
        Self {
            pool,
            gate: Arc::new(Semaphore::new(permits.max(1) as usize)),
            parked: Mutex::new(Vec::new()),
            acquire_timeout,
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, DbErr> {
        match tokio::time::timeout(self.acquire_timeout, self.gate.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)),
            Err(_elapsed) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        }
    }

    /// The most recently parked connection still fit to use; unfit ones go back to sqlx.
    fn unpark(&self) -> Option<Parked> {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(p) = parked.pop() {
            if p.idle_since.elapsed() < PARKED_AT_MOST && p.taken.elapsed() < HELD_AT_MOST {
                return Some(p);
            }
            // Dropped: sqlx tests it and takes it back (or closes it).
        }
        None
    }

    /// A connection for a run of statements: a parked one, or a new checkout from sqlx.
    pub async fn session(self: &Arc<Self>) -> Result<Session, DbErr> {
        let permit = self.permit().await?;
        let (conn, taken) = match self.unpark() {
            Some(p) => (p.conn, p.taken),
            None => {
                // With the permit held, the pool has room: every other checkout of ours
                // holds a permit too, and nothing is parked.
                // Boxed: sqlx's checkout future (large: it may open a connection) would
                // otherwise be part of every request's future, also while it only waits for a
                // permit above (docs/benchmarks.md, "Memory").
                let conn = Box::pin(self.pool.acquire()).await.map_err(acquire_error)?;
                (conn, Instant::now())
            }
        };
        Ok(Session {
            sessions: self.clone(),
            conn: Some(conn),
            taken,
            clean: true,
            _permit: permit,
        })
    }

    /// For a use of the pool that checks out from sqlx directly (sea-orm's transactions,
    /// readiness pings): waits for a permit and hands one parked connection back to sqlx so
    /// that its checkout cannot wait on a connection parked here. Hold the permit until done.
    pub async fn admit_pool_user(&self) -> Result<OwnedSemaphorePermit, DbErr> {
        let permit = self.permit().await?;
        drop(self.unpark());
        Ok(permit)
    }

    /// How many connections are parked right now.
    pub fn parked(&self) -> usize {
        self.parked.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Hands every parked connection back to sqlx (before closing the pool).
    pub fn unpark_all(&self) {
        let parked = std::mem::take(&mut *self.parked.lock().unwrap_or_else(|p| p.into_inner()));
        drop(parked);
    }

    fn park(&self, conn: PoolConnection<Postgres>, taken: Instant) {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        parked.push(Parked {
            conn,
            taken,
            idle_since: Instant::now(),
        });
    }
}

/// One checked-out connection. Dropped after a run of statements that all completed, it is
/// parked for the next operation; dropped otherwise (a statement cut off by a cancelled
/// request, a broken connection), it goes back to sqlx, which tests it.
pub struct Session {
    sessions: Arc<Sessions>,
    conn: Option<PoolConnection<Postgres>>,
    taken: Instant,
    /// False while a statement is on the wire and once one ended in something other than a
    /// result or a database error.
    clean: bool,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.clean
        {
            self.sessions.park(conn, self.taken);
        }
    }
}

/// One statement, in the four shapes sea-orm's [`ConnectionTrait`] sends; owned, so that the
/// pool can take it as it is and a session can send it again.
pub enum Request<'s> {
    Execute(Statement),
    Unprepared(&'s str),
    One(Statement),
    All(Statement),
}

pub enum Response {
    Executed(ExecResult),
    One(Option<QueryResult>),
    All(Vec<QueryResult>),
}

impl Session {
    /// Sends one statement, and notes whether the connection is still in a known state.
    pub async fn send(&mut self, request: &Request<'_>) -> Result<Response, DbErr> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(exec_error(sqlx::Error::PoolClosed));
        };
        let was_clean = std::mem::replace(&mut self.clean, false);
        let result = match request {
            Request::Execute(stmt) => query(stmt)
                .execute(&mut **conn)
                .await
                .map(|r| Response::Executed(r.into())),
            Request::Unprepared(sql) => {
                use sqlx::Executor;
                conn.execute(sqlx::AssertSqlSafe(String::from(*sql)))
                    .await
                    .map(|r| Response::Executed(r.into()))
            }
            Request::One(stmt) => query(stmt)
                .fetch_optional(&mut **conn)
                .await
                .map(|row| Response::One(row.map(QueryResult::from))),
            Request::All(stmt) => query(stmt)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| Response::All(rows.into_iter().map(QueryResult::from).collect())),
        };
        // A database error (a constraint, a bad value) leaves the session usable (sqlx reads
        // on to ReadyForQuery before the next statement). Anything else may have left it
        // mid-protocol, or gone.
        let usable = match &result {
            Ok(_) | Err(sqlx::Error::RowNotFound) => true,
            // Except those that say the session or the database is gone or refusing.
            Err(sqlx::Error::Database(d)) => {
                let code = d.code();
                if code.as_deref().is_some_and(discards_session) {
                    // Not even back to sqlx, whose test it would pass: closed.
                    conn.close_on_drop();
                } else if code
                    .as_deref()
                    .is_some_and(|c| matches!(c, "57P01" | "57P02"))
                {
                    // Ended by the server: sqlx's test could only fail (and log that it did).
                    conn.close_on_drop();
                }
                !code.is_some_and(|c| unavailable_sqlstate(&c))
            }
            Err(sqlx::Error::Io(_)) => {
                // The socket failed: nothing left to test.
                conn.close_on_drop();
                false
            }
            Err(_) => false,
        };
        self.clean = was_clean && usable;
        result.map_err(|e| match request {
            Request::Execute(_) | Request::Unprepared(_) => exec_error(e),
            Request::One(_) | Request::All(_) => query_error(e),
        })
    }
}

fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

// The same mapping sea-orm applies to sqlx's errors, so callers classify them alike.
fn exec_error(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_error(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

fn acquire_error(e: sqlx::Error) -> DbErr {
    match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
    }
}
