//! Opening the database: the URL (from a Secrets Manager secret if configured), a first
//! probe that explains a refused or unreachable server, the pool, and migrations.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    Statement, sqlx,
};

use crate::process::{
    config::DbSource,
    redact::mask_credentials,
    secrets::{Secrets, SecretsError},
};

use super::{
    classify::sqlx_error,
    migrations::{self, MigrationReport},
};

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// How long a call waits for a pooled connection (or to open one) before giving up.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Secret(#[from] SecretsError),
    #[error("database secret {id} is not an RDS-style JSON secret: {reason}")]
    BadSecret { id: String, reason: String },
    // Driver messages may quote the connection URL, password included.
    #[error("cannot connect to the database: {}", mask_credentials(&.0.to_string()))]
    Connect(DbErr),
    #[error("migrations failed: {}", mask_credentials(&.0.to_string()))]
    Migrate(DbErr),
    #[error(
        "the database lacks migrations this release needs: {}; apply them with `{command}` \
         (the release's migration step), or start with DB_MIGRATIONS=apply",
        missing.join(", ")
    )]
    Pending {
        missing: Vec<String>,
        command: String,
    },
    #[error("cannot connect to the database at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("the database server refused the connection: {0}")]
    Refused(String),
    #[error(
        "the directory {0} for the SQLite database (DATABASE_URL) does not exist: create it, \
         or point DATABASE_URL elsewhere (only ./data is created on its own)"
    )]
    MissingDirectory(String),
}

/// As its (masked) message: the derived form would show the driver's error, URL and all.
impl std::fmt::Debug for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbError({self})")
    }
}

/// The fields of an RDS-managed credentials secret.
#[derive(serde::Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    #[serde(default = "default_pg_port")]
    port: serde_json::Value,
    #[serde(default = "default_db_name")]
    dbname: String,
}

fn default_pg_port() -> serde_json::Value {
    5432.into()
}

fn default_db_name() -> String {
    "postgres".into()
}

fn url_from_secret(id: &str, raw: &str) -> Result<String, DbError> {
    let bad = |reason: String| DbError::BadSecret {
        id: id.to_owned(),
        reason,
    };
    let s: RdsSecret = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
    let port = match &s.port {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(p) => p.clone(),
        other => return Err(bad(format!("port {other} is not a number"))),
    };
    let mut url = url::Url::parse(&format!("postgres://{}:{port}", s.host))
        .map_err(|e| bad(format!("host/port: {e}")))?;
    url.set_username(&s.username)
        .and_then(|()| url.set_password(Some(&s.password)))
        .map_err(|()| bad("cannot encode credentials".into()))?;
    url.set_path(&s.dbname);
    Ok(url.into())
}

pub(super) async fn resolve_url(
    source: &DbSource,
    secrets: Option<&Secrets>,
) -> Result<String, DbError> {
    match source {
        DbSource::Url(url) => Ok(url.clone()),
        DbSource::Secret(id) => {
            let secrets = secrets.ok_or_else(|| DbError::BadSecret {
                id: id.clone(),
                reason: "no Secrets Manager client".into(),
            })?;
            url_from_secret(id, &secrets.get_string(id).await?)
        }
    }
}

/// The directory of an SQLite file must exist; only the default `./data` is created, so a
/// mistyped path is reported instead of silently made (as root, anywhere).
fn ensure_sqlite_dir(url: &str) -> Result<(), DbError> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return Ok(());
    };
    if parent.is_dir() {
        Ok(())
    } else if parent == std::path::Path::new("data") {
        std::fs::create_dir_all(parent).map_err(|e| DbError::Unreachable {
            addr: parent.display().to_string(),
            reason: format!("cannot create the directory: {e}"),
        })
    } else {
        Err(DbError::MissingDirectory(parent.display().to_string()))
    }
}

/// A quick TCP dial of a PostgreSQL server before the pool is built: the pool would only
/// say "timed out" after its acquire timeout, where this says "connection refused" and
/// where, at once.
pub(super) async fn probe_server(url: &str) -> Result<(), DbError> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    if !parsed.scheme().starts_with("postgres") {
        return Ok(());
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Ok(()); // a Unix socket: the driver reports it well enough
    };
    let port = parsed.port().unwrap_or(5432);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let dial = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(ACQUIRE_TIMEOUT, dial).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DbError::Unreachable {
            addr,
            reason: match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                _ => e.to_string(),
            },
        }),
        Err(_) => Err(DbError::Unreachable {
            addr,
            reason: format!("no answer within {} s", ACQUIRE_TIMEOUT.as_secs()),
        }),
    }
}

/// How long after a statement was refused as read-only (or by a server starting or stopping)
/// a session given back to sqlx's pool is checked first: past the few seconds a failover
/// takes, so that every session opened on the read-only server has been seen.
const CHECK_READ_ONLY_FOR: Duration = Duration::from_secs(60);

/// When a statement was last refused as read-only, as milliseconds since [`epoch`] (0:
/// never). Process-wide: the check it enables is cheap and harmless for any pool.
static READ_ONLY_SEEN_AT: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Notes that a statement was refused as read-only (or by a server starting or stopping).
pub(super) fn read_only_seen() {
    let at = epoch().elapsed().as_millis() as u64;
    READ_ONLY_SEEN_AT.store(at.max(1), Ordering::Relaxed);
}

fn read_only_seen_lately() -> bool {
    let at = READ_ONLY_SEEN_AT.load(Ordering::Relaxed);
    at != 0 && epoch().elapsed().as_millis() as u64 <= at + CHECK_READ_ONLY_FOR.as_millis() as u64
}

/// `statement_timeout`: the deadline of one statement (`None` for migrations, which may
/// legitimately wait for another instance's, or take long on a big table).
pub(super) fn pool_options(
    url: &str,
    max: u32,
    statement_timeout: Option<Duration>,
) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    if let Some(timeout) = statement_timeout {
        // PostgreSQL: a start-up parameter of every connection, so no extra round trip and
        // no session that escapes it (parked ones included).
        opts.statement_timeout(timeout);
        // SQLite has no statement timeout; what makes a statement wait is a lock held by
        // another connection or process, and the busy timeout bounds that wait.
        opts.map_sqlx_sqlite_opts(move |o| o.busy_timeout(timeout));
    }
    // Sessions on a read-only server must not be reused once a writer answers again. Those
    // parked are closed where the refusal is seen (crate::db::parked); those that sea-orm's
    // transactions took from sqlx's pool come back through here.
    opts.map_sqlx_postgres_pool_opts(|o| {
        o.after_release(|conn, _meta| {
            Box::pin(async move {
                if !read_only_seen_lately() {
                    return Ok(true);
                }
                let read_only: String =
                    sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                        .fetch_one(conn)
                        .await?;
                Ok(read_only != "on")
            })
        })
    });
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        // sqlx pings a connection on every checkout by default: a round trip per statement,
        // a third of GET /tasks's CPU under load. A connection busy within the last few
        // seconds is alive; only one idle for longer (dropped by a proxy, a failover) is
        // pinged before use.
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        // Statements carry user input (emails, hashes): keep them out of the logs.
        .sqlx_logging(false);
    opts
}

pub(super) async fn open_pool(
    url: &str,
    max: u32,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbError> {
    ensure_sqlite_dir(url)?;
    let conn = match sea_orm::Database::connect(pool_options(url, max, statement_timeout)).await {
        Ok(conn) => conn,
        Err(e) => return Err(explain_connect_error(url, e).await),
    };
    if conn.get_database_backend() == DbBackend::Sqlite {
        // WAL lets the two services (or two processes of one) read while one writes.
        conn.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .map_err(DbError::Connect)?;
    }
    Ok(conn)
}

/// A start-up connection error in the server's own words. sqlx's pool retries a refusal it
/// thinks passes (every connection slot taken, SQLSTATE 53300; the server starting, 57P03)
/// until its acquire timeout and then reports only "pool timed out": one direct connection
/// learns the reason. A server error loses the fields that name PostgreSQL's own source
/// (sqlx prints "at line 948"), and gains the fix where there is one obvious fix.
async fn explain_connect_error(url: &str, e: DbErr) -> DbError {
    use sqlx::Connection;
    let pool_timed_out = matches!(e, DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
        || matches!(sqlx_error(&e), Some(sqlx::Error::PoolTimedOut));
    let direct;
    let server_error = match sqlx_error(&e) {
        Some(sqlx::Error::Database(d)) => Some(d.as_ref()),
        _ if pool_timed_out && url.starts_with("postgres") => {
            direct = tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::PgConnection::connect(url)).await;
            match &direct {
                Ok(Err(sqlx::Error::Database(d))) => Some(d.as_ref()),
                _ => None,
            }
        }
        _ => None,
    };
    match server_error {
        Some(d) => DbError::Refused(server_reason(d, url)),
        None => DbError::Connect(e),
    }
}

/// PostgreSQL's message and SQLSTATE, and what to do about the common ones.
fn server_reason(d: &dyn sqlx::error::DatabaseError, url: &str) -> String {
    let code = d.code().unwrap_or_default();
    let db_name = url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "NAME".into());
    let fix = match code.as_ref() {
        "3D000" => format!(
            ": create it with `createdb {db_name}` (or the SQL `CREATE DATABASE \"{db_name}\";`), \
             or point DATABASE_URL at one that exists"
        ),
        "53300" => ": every connection slot the server (max_connections) or this role \
                    (CONNECTION LIMIT) allows is taken; close idle sessions, or lower \
                    DB_POOL_MAX times the number of instances"
            .to_owned(),
        _ => String::new(),
    };
    mask_credentials(&format!("{} (SQLSTATE {code}){fix}", d.message()))
}

/// A fixed key for the PostgreSQL advisory lock that serialises migrations across
/// instances starting at the same moment.
const MIGRATION_LOCK_KEY: i64 = 0x7461_736b_6d67_6d74; // "taskmgmt"

/// Applies this release's pending migrations, under the advisory lock on PostgreSQL (SQLite
/// serialises writers itself).
pub(super) async fn migrate(url: &str) -> Result<MigrationReport, DbError> {
    // One connection, so the session-level advisory lock and the migrations share a session.
    let conn = open_pool(url, 1, None).await?;
    let result = async {
        let pg = conn.get_database_backend() == DbBackend::Postgres;
        if pg {
            conn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"),
            ))
            .await?;
        }
        let migrated = migrations::apply_pending(&conn).await;
        if pg {
            conn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"),
            ))
            .await?;
        }
        migrated
    }
    .await
    .map_err(DbError::Migrate);
    let _ = conn.close().await;
    result
}

/// Checks, changing nothing, that every migration of this release is applied; returns the
/// recorded ones it does not know (a newer release's).
pub(super) async fn verify(url: &str) -> Result<Vec<String>, DbError> {
    let conn = open_pool(url, 1, None).await?;
    let status = migrations::status(&conn).await.map_err(DbError::Migrate);
    let _ = conn.close().await;
    let status = status?;
    if status.pending.is_empty() {
        Ok(status.unknown)
    } else {
        Err(DbError::Pending {
            missing: status.pending,
            command: migrations::migrate_command(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secret_becomes_an_escaped_url() {
        let url = url_from_secret(
            "db",
            r#"{"username":"app","password":"p@ss/w:rd","host":"db.example","port":5432,"dbname":"tasks","engine":"postgres"}"#,
        )
        .unwrap();
        assert_eq!(url, "postgres://app:p%40ss%2Fw%3Ard@db.example:5432/tasks");
    }

    #[test]
    fn secret_without_password_is_rejected() {
        assert!(url_from_secret("db", r#"{"username":"a","host":"h"}"#).is_err());
    }
}
