//! The database handle both services share: a bounded pool on SQLite or PostgreSQL,
//! migrations at start-up, and credential rotation without a restart.
//!
//! With `DB_SECRET`, credentials come from Secrets Manager. When rotation changes the
//! password, connections already open keep working but new ones are refused; the first
//! operation that sees PostgreSQL reject the login re-reads the secret, swaps in a new pool
//! and retries once.
//!
//! While the database is unreachable, calls fail at once instead of each waiting out the
//! pool's acquire timeout ([`crate::circuit`]); readiness answers within [`PING_TIMEOUT`].
//!
//! Every statement has a deadline (`DB_STATEMENT_TIMEOUT_MS`): PostgreSQL cancels it
//! (`statement_timeout`, SQLSTATE 57014), SQLite gives up waiting for a lock (its busy
//! timeout), and the caller stops waiting for the whole operation [`CLIENT_MARGIN`] later, so
//! a dead network or a stuck driver is bounded too. A deadline passed is
//! [`is_deadline_exceeded`], which [`is_unavailable`] includes (a 503), but it does not open
//! the circuit: a slow database is not an unreachable one, and it answers again as soon as
//! whatever held it is gone.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, SqlErr, Statement, sqlx,
};
use sea_orm_migration::MigratorTrait;

use crate::{
    circuit::{Admit, Circuit},
    config::{DatabaseSettings, DbSource},
    redact::mask_credentials,
    secrets::{Secrets, SecretsError},
    sessions::{Session, Sessions},
};
use tokio::sync::OwnedSemaphorePermit;

/// How long readiness waits for the database, so that `/ready` answers within a second.
pub const PING_TIMEOUT: Duration = Duration::from_millis(800);

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// How long a call waits for a pooled connection (or to open one) before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than the statement deadline the caller waits for an operation: long
/// enough for PostgreSQL's own cancellation (a clean error, a reusable connection) to arrive
/// first, short enough that nobody notices the difference.
pub const CLIENT_MARGIN: Duration = Duration::from_millis(250);

/// How far back readiness looks for operations that passed their deadline.
pub const SLOW_WINDOW: Duration = Duration::from_secs(10);

/// Deadline misses remembered for readiness at most (a bound on memory in a long stall).
const MISSES_KEPT: usize = 10_000;

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

/// One generation of the pool (credential rotation makes a new one): sea-orm's handle and,
/// on PostgreSQL, the parking lot in front of it.
#[derive(Clone)]
struct Pool {
    orm: DatabaseConnection,
    sessions: Option<Arc<Sessions>>,
}

impl Pool {
    fn new(orm: DatabaseConnection, permits: u32) -> Self {
        let sessions = (orm.get_database_backend() == DbBackend::Postgres).then(|| {
            Arc::new(Sessions::new(
                orm.get_postgres_connection_pool().clone(),
                permits,
                ACQUIRE_TIMEOUT,
            ))
        });
        Self { orm, sessions }
    }

    /// For a use of sea-orm's pool itself: on PostgreSQL, the permit that keeps it from
    /// waiting on a parked connection ([`Sessions::admit_pool_user`]); hold it until done.
    async fn admit_pool_user(&self) -> Result<Option<OwnedSemaphorePermit>, DbErr> {
        match &self.sessions {
            Some(s) => Ok(Some(s.admit_pool_user().await?)),
            None => Ok(None),
        }
    }

    /// Closes the pool. Parked connections are checked out, and sqlx's close waits for
    /// every checked-out connection: they go back first.
    async fn close(self) -> Result<(), DbErr> {
        if let Some(s) = &self.sessions {
            s.unpark_all();
        }
        self.orm.close().await
    }

    /// A connection for one operation: a parked PostgreSQL session, or sea-orm's pool.
    async fn conn(&self) -> Result<Conn, DbErr> {
        match &self.sessions {
            Some(s) => Ok(Conn::Session(Arc::new(s.session().await?))),
            None => Ok(Conn::Pool(self.orm.clone())),
        }
    }
}

/// What a database operation runs its statements on (sea-orm's [`ConnectionTrait`]): on
/// PostgreSQL one checked-out session for the whole operation ([`crate::sessions`]), on
/// SQLite the pool.
#[derive(Clone)]
pub enum Conn {
    Pool(DatabaseConnection),
    Session(Arc<Session>),
}

impl Conn {
    /// Gives a session back for the next operation (see [`Session::finish`]).
    fn finish(self) {
        if let Conn::Session(s) = self
            && let Ok(s) = Arc::try_unwrap(s)
        {
            s.finish();
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Pool(c) => c.get_database_backend(),
            Conn::Session(s) => s.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Pool(c) => c.execute_raw(stmt).await,
            Conn::Session(s) => s.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Conn::Pool(c) => c.execute_unprepared(sql).await,
            Conn::Session(s) => s.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Conn::Pool(c) => c.query_one_raw(stmt).await,
            Conn::Session(s) => s.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Conn::Pool(c) => c.query_all_raw(stmt).await,
            Conn::Session(s) => s.query_all_raw(stmt).await,
        }
    }
}

pub struct Database {
    conn: RwLock<Pool>,
    generation: AtomicU64,
    refresh: tokio::sync::Mutex<()>,
    settings: DatabaseSettings,
    secrets: Option<Secrets>,
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
    /// Connects (reading the secret if configured) and runs pending migrations.
    pub async fn connect(
        settings: DatabaseSettings,
        secrets: Option<Secrets>,
    ) -> Result<Self, DbError> {
        let url = resolve_url(&settings.source, secrets.as_ref()).await?;
        probe_server(&url).await?;
        migrate(&url).await?;
        let conn = open_pool(&url, settings.pool_max, Some(settings.statement_timeout)).await?;
        Ok(Self::with_pool(conn, settings, secrets))
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
            conn: RwLock::new(Pool::new(conn, settings.pool_max)),
            generation: AtomicU64::new(0),
            refresh: tokio::sync::Mutex::new(()),
            settings,
            secrets,
            circuit: Circuit::default(),
            misses: Mutex::new(VecDeque::new()),
        }
    }

    fn current(&self) -> (Pool, u64) {
        let guard = self.conn.read().unwrap_or_else(|p| p.into_inner());
        (guard.clone(), self.generation.load(Ordering::Acquire))
    }

    /// Runs `op` on one connection, or fails at once with [`ConnAcquireErr::Timeout`] (which
    /// [`is_unavailable`]) while the database is known to be unreachable.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let op = &op;
        self.guarded(move |pool| async move {
            let conn = pool.conn().await?;
            let result = op(conn.clone()).await;
            conn.finish();
            result
        })
        .await
    }

    /// Runs `op` on sea-orm's pool itself, for what needs more than [`ConnectionTrait`]
    /// (a transaction). Same guards as [`Database::run`].
    pub async fn run_on_pool<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let op = &op;
        self.guarded(move |pool| async move {
            let _permit = pool.admit_pool_user().await?;
            op(pool.orm.clone()).await
        })
        .await
    }

    async fn guarded<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: Fn(Pool) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let refused = || Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        match self.circuit.admit(Instant::now()) {
            Admit::Go => {}
            // A ping bounds the trial's wait by PING_TIMEOUT, not the acquire timeout.
            Admit::Trial if self.ping().await => {}
            Admit::Trial | Admit::Refuse => return refused(),
        }
        // Dropping the operation at the deadline drops its connection unfinished, which
        // sqlx then tests (and closes if need be) instead of handing it out again.
        let deadline = self.settings.statement_timeout + CLIENT_MARGIN;
        let result = match tokio::time::timeout(deadline, self.run_with_rotation(op)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(no_answer_in_time()),
        };
        match &result {
            Err(e) if is_deadline_exceeded(e) => self.note_miss(Instant::now()),
            Err(e) if is_unavailable(e) => self.circuit.record(false, Instant::now()),
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

    /// Runs `op`; if the database refuses our credentials and they come from a secret,
    /// re-reads it, reconnects and runs `op` once more.
    async fn run_with_rotation<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: Fn(Pool) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let (conn, generation) = self.current();
        let mut result = op(conn.clone()).await;
        // Pooled connections are not pinged when busy (see PING_IF_IDLE_FOR), so after a
        // restart, a failover or sessions cut by a rotation the pool may hand out ones the
        // server has closed. Their statement never ran: each is discarded and the next tried,
        // at most once per pooled connection.
        let mut retries = self.settings.pool_max;
        while retries > 0 && matches!(&result, Err(e) if is_session_terminated(e)) {
            retries -= 1;
            result = op(conn.clone()).await;
        }
        match result {
            Err(e) if self.secrets.is_some() && is_auth_rejection(&e) => {
                tracing::warn!("database rejected the credentials; re-reading the secret");
                if let Err(refresh_err) = self.refresh(generation).await {
                    tracing::error!(error = %refresh_err, "credential refresh failed");
                    return Err(e);
                }
                let (conn, _) = self.current();
                op(conn).await
            }
            other => other,
        }
    }

    /// Replaces the pool with one built from freshly read credentials, unless another task
    /// already did so since `seen_generation`.
    async fn refresh(&self, seen_generation: u64) -> Result<(), DbError> {
        let _guard = self.refresh.lock().await;
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return Ok(());
        }
        let url = resolve_url(&self.settings.source, self.secrets.as_ref()).await?;
        let fresh = Pool::new(
            open_pool(
                &url,
                self.settings.pool_max,
                Some(self.settings.statement_timeout),
            )
            .await?,
            self.settings.pool_max,
        );
        let old = {
            let mut guard = self.conn.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *guard, fresh)
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!("database pool rebuilt with rotated credentials");
        tokio::spawn(async move {
            let _ = old.close().await;
        });
        Ok(())
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
                    deadline: self.settings.statement_timeout,
                },
            },
            other => other,
        }
    }

    async fn ping_outcome(&self) -> Readiness {
        let ping = self.run_with_rotation(|pool| async move {
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

    /// PostgreSQL connections parked between operations ([`crate::sessions`]); 0 on SQLite.
    pub fn parked_sessions(&self) -> usize {
        self.current().0.sessions.map_or(0, |s| s.parked())
    }

    pub async fn close(&self) {
        let (pool, _) = self.current();
        if let Err(e) = pool.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
    }
}

async fn resolve_url(source: &DbSource, secrets: Option<&Secrets>) -> Result<String, DbError> {
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
async fn probe_server(url: &str) -> Result<(), DbError> {
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

/// `statement_timeout`: the deadline of one statement (`None` for migrations, which may
/// legitimately wait for another instance's, or take long on a big table).
fn pool_options(url: &str, max: u32, statement_timeout: Option<Duration>) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    if let Some(timeout) = statement_timeout {
        // PostgreSQL: a start-up parameter of every connection, so no extra round trip and
        // no session that escapes it (parked ones included).
        opts.statement_timeout(timeout);
        // SQLite has no statement timeout; what makes a statement wait is a lock held by
        // another connection or process, and the busy timeout bounds that wait.
        opts.map_sqlx_sqlite_opts(move |o| o.busy_timeout(timeout));
    }
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

async fn open_pool(
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

async fn migrate(url: &str) -> Result<(), DbError> {
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
        let migrated = db_schema::Migrator::up(&conn, None).await;
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

/// The current time at the precision both backends keep (PostgreSQL stores microseconds),
/// so a row reads back exactly as it was written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate(chrono::Utc::now())
}

pub fn truncate(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

fn sqlx_error(e: &DbErr) -> Option<&sqlx::Error> {
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
fn is_session_terminated(e: &DbErr) -> bool {
    matches!(sqlx_error(e), Some(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("57P01" | "57P02")))
}

/// What the caller gets when an operation did not finish within its deadline plus
/// [`CLIENT_MARGIN`]: the server never said why (a dead network, a lost cancel).
fn no_answer_in_time() -> DbErr {
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
pub(crate) fn unavailable_sqlstate(code: &str) -> bool {
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
