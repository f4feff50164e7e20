//! Telling a database that is unavailable (a 503) or too slow from a statement that is
//! wrong (a bug), from the driver's errors. Both the pool and the parked sessions use it.

use std::sync::Arc;

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

use crate::process::cause::Cause;

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

/// The database is unreachable, overloaded, too slow, or refusing writes, as opposed to a
/// bug in a query.
///
/// Where the error happened counts before what it says: any failure to get a session
/// (opening or authenticating one, waiting for one) is the database being unavailable,
/// whatever its SQLSTATE. A server refuses new sessions with codes that mean a bug when a
/// statement gets them (55000 for a database that does not allow connections, say).
pub fn is_unavailable(e: &DbErr) -> bool {
    if is_deadline_exceeded(e) {
        return true;
    }
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        _ => match sqlx_error(e) {
            Some(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            Some(sqlx::Error::Database(d)) => d.code().is_some_and(|c| unavailable_sqlstate(&c)),
            _ => false,
        },
    }
}

/// Whether the failure says the database cannot be reached (the circuit opens), rather than
/// that it is slow (a deadline), that one session ended, or that it answers read-only: in
/// those it still serves what it can, and failing fast would refuse that too.
pub fn opens_circuit(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        _ => {
            is_unavailable(e)
                && !is_deadline_exceeded(e)
                && !is_session_terminated(e)
                && !is_session_discarded(e)
        }
    }
}

/// SQLSTATEs that say the database (or this session with it) is gone or refusing, not that a
/// statement was wrong: connection, authorization, missing database, resources, operator
/// shutdown, and a server that is read-only (25006, read_only_sql_transaction: a standby,
/// or a primary demoted by a failover).
pub(super) fn unavailable_sqlstate(code: &str) -> bool {
    code == READ_ONLY
        || ["08", "28", "3D", "53", "57P"]
            .iter()
            .any(|class| code.starts_with(class))
}

/// read_only_sql_transaction.
const READ_ONLY: &str = "25006";

/// A statement refused with these leaves a session that must not be used again: 25006, it
/// is on a read-only server (after a failover the name points at a writer again, and only a
/// new session reaches it); 57P03, the server is starting or stopping.
pub(super) fn discards_session(code: &str) -> bool {
    code == READ_ONLY || code == "57P03"
}

/// A statement refused as [`discards_session`] says.
pub(super) fn is_session_discarded(e: &DbErr) -> bool {
    sqlstate(e).is_some_and(|code| discards_session(&code))
}

fn sqlstate(e: &DbErr) -> Option<String> {
    match sqlx_error(e) {
        Some(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// What a failed database call says about itself, for the access line of the request it
/// failed: its kind, its SQLSTATE, and the driver's message without the values it may quote.
pub fn cause(e: &DbErr) -> Cause {
    let kind = if is_deadline_exceeded(e) {
        "db_deadline"
    } else if is_unavailable(e) {
        "db_unavailable"
    } else {
        "db_error"
    };
    let message = match sqlx_error(e) {
        Some(sqlx::Error::Database(d)) => d.message().to_owned(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    Cause::new(kind, sqlstate(e), &message)
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub fn is_foreign_key_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server error with `code`, as sqlx reports it.
    #[derive(Debug)]
    struct ServerError(&'static str);

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "server says {}", self.0)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            "invalid input syntax for type integer: \"secret-value\""
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(code: &'static str) -> Arc<sqlx::Error> {
        Arc::new(sqlx::Error::Database(Box::new(ServerError(code))))
    }

    /// Where it happened: getting a session, or a statement on one.
    fn at_connect(code: &'static str) -> DbErr {
        DbErr::Conn(RuntimeErr::SqlxError(server(code)))
    }

    fn in_statement(code: &'static str) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(server(code)))
    }

    #[test]
    fn any_failure_to_get_a_session_is_unavailable_whatever_its_code() {
        // A database not accepting connections, a bad parameter, a missing role or database,
        // out of slots, starting up: all refusals at connect.
        for code in [
            "55000", "22023", "28000", "3D000", "53300", "57P03", "XX000",
        ] {
            assert!(is_unavailable(&at_connect(code)), "{code}");
            assert!(opens_circuit(&at_connect(code)), "{code}");
        }
        let io = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        ))));
        assert!(is_unavailable(&io) && opens_circuit(&io));
        let waited = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert!(is_unavailable(&waited) && opens_circuit(&waited));
    }

    #[test]
    fn a_statement_refused_by_a_read_only_or_starting_server_is_unavailable_and_discards_its_session()
     {
        for code in ["25006", "57P03"] {
            assert!(is_unavailable(&in_statement(code)), "{code}");
            assert!(discards_session(code), "{code}");
            // The server answers: reads may go on, so no failing fast.
            assert!(!opens_circuit(&in_statement(code)), "{code}");
        }
    }

    #[test]
    fn a_terminated_session_is_unavailable_but_does_not_open_the_circuit() {
        for code in ["57P01", "57P02"] {
            assert!(is_unavailable(&in_statement(code)), "{code}");
            assert!(!opens_circuit(&in_statement(code)), "{code}");
            assert!(!discards_session(code), "{code}");
        }
    }

    #[test]
    fn a_statement_that_is_wrong_is_a_bug() {
        for code in ["55000", "22P02", "42P01", "23502"] {
            assert!(!is_unavailable(&in_statement(code)), "{code}");
            assert_eq!(cause(&in_statement(code)).kind, "db_error");
        }
    }

    #[test]
    fn a_deadline_is_unavailable_without_opening_the_circuit() {
        let cancelled = in_statement("57014");
        assert!(is_unavailable(&cancelled) && !opens_circuit(&cancelled));
        assert!(is_unavailable(&no_answer_in_time()) && !opens_circuit(&no_answer_in_time()));
        assert_eq!(cause(&cancelled).kind, "db_deadline");
    }

    #[test]
    fn a_cause_carries_the_sqlstate_and_no_quoted_value() {
        let c = cause(&at_connect("55000"));
        assert_eq!(c.kind, "db_unavailable");
        assert_eq!(c.sqlstate.as_deref(), Some("55000"));
        assert!(!c.message.contains("secret-value"), "{}", c.message);
        assert!(
            c.message.starts_with("invalid input syntax"),
            "{}",
            c.message
        );
    }
}
