//! Telling a database that is unavailable (a 503) or too slow from a statement that is
//! wrong (a bug), from the driver's errors. Both the pool and the parked sessions use it.

use std::sync::Arc;

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

pub(super) fn sqlx_error(e: &DbErr) -> Option<&sqlx::Error> {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => Some(s),
        _ => None,
    }
}

/// PostgreSQL's SQLSTATE class 28, "invalid authorization specification": a wrong password
/// (28P01) or a role that may no longer log in (28000).
pub fn is_auth_rejection(e: &DbErr) -> bool {
    matches!(sqlx_error(e), Some(sqlx::Error::Database(d)) if d.code().is_some_and(|c| c.starts_with("28")))
}

/// The server ended the session before (or instead of) running the statement: SQLSTATE
/// 57P01 (terminated by an administrator, as a rotation or failover does) or 57P02 (crash
/// shutdown). Its transaction, if any, did not commit, so the statement may be sent again.
pub(super) fn is_session_terminated(e: &DbErr) -> bool {
    matches!(sqlx_error(e), Some(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("57P01" | "57P02")))
}

/// What the caller gets when an operation did not finish within its deadline plus
/// [`CLIENT_MARGIN`]: the server never said why (a dead network, a lost cancel).
pub(super) fn no_answer_in_time() -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
        std::io::Error::new(std::io::ErrorKind::TimedOut, NoAnswerInTime),
    ))))
}

/// Marks [`no_answer_in_time`]'s error apart from a socket's own timeout (which says the
/// server is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within the statement deadline")]
struct NoAnswerInTime;

/// The operation passed its deadline: PostgreSQL cancelled the statement (SQLSTATE 57014),
/// SQLite stayed locked past its busy timeout (SQLITE_BUSY, or SQLITE_LOCKED, in any of
/// their extended forms), or no answer came in time ([`no_answer_in_time`]).
pub fn is_deadline_exceeded(e: &DbErr) -> bool {
    match sqlx_error(e) {
        Some(sqlx::Error::Io(io)) => io.get_ref().is_some_and(|e| e.is::<NoAnswerInTime>()),
        Some(sqlx::Error::Database(d)) => match d.code().as_deref() {
            Some("57014") => true,
            Some(code) if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            _ => false,
        },
        _ => false,
    }
}

/// The database is unreachable, overloaded or too slow, as opposed to a bug in a query.
pub fn is_unavailable(e: &DbErr) -> bool {
    if is_deadline_exceeded(e) {
        return true;
    }
    match e {
        DbErr::ConnectionAcquire(_) => true,
        _ => match sqlx_error(e) {
            Some(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            Some(sqlx::Error::Database(d)) => d.code().is_some_and(|c| unavailable_sqlstate(&c)),
            _ => matches!(e, DbErr::Conn(_)),
        },
    }
}

/// SQLSTATEs that say the database (or this session with it) is gone or refusing, not that a
/// statement was wrong: connection, authorization, missing database, resources, operator
/// shutdown.
pub(super) fn unavailable_sqlstate(code: &str) -> bool {
    ["08", "28", "3D", "53", "57P"]
        .iter()
        .any(|class| code.starts_with(class))
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub fn is_foreign_key_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
}
