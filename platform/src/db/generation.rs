//! The pool operations run on: one generation of it (sea-orm's pool and, on PostgreSQL,
//! the parking lot in front of it), and the rotation that replaces it when the database's
//! credentials change.

use std::{
    future::Future,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::OwnedSemaphorePermit;

use super::{
    classify::{is_auth_rejection, is_session_terminated},
    connect::{ACQUIRE_TIMEOUT, DbError, open_pool, resolve_url},
    parked::{Session, Sessions},
};
use crate::process::{config::DatabaseSettings, secrets::Secrets};

/// One generation of the pool (credential rotation makes a new one): sea-orm's handle and,
/// on PostgreSQL, the parking lot in front of it.
#[derive(Clone)]
pub(super) struct PoolGeneration {
    pub(super) orm: DatabaseConnection,
    pub(super) sessions: Option<Arc<Sessions>>,
}

impl PoolGeneration {
    pub(super) fn new(orm: DatabaseConnection, permits: u32) -> Self {
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
    pub(super) async fn admit_pool_user(&self) -> Result<Option<OwnedSemaphorePermit>, DbErr> {
        match &self.sessions {
            Some(s) => Ok(Some(s.admit_pool_user().await?)),
            None => Ok(None),
        }
    }

    /// Closes the pool. Parked connections are checked out, and sqlx's close waits for
    /// every checked-out connection: they go back first.
    pub(super) async fn close(self) -> Result<(), DbErr> {
        if let Some(s) = &self.sessions {
            s.unpark_all();
        }
        self.orm.close().await
    }

    /// A connection for one operation: a parked PostgreSQL session, or sea-orm's pool.
    pub(super) async fn conn(&self) -> Result<Link, DbErr> {
        match &self.sessions {
            Some(s) => Ok(Link::Session(s.session().await?)),
            None => Ok(Link::Pool(self.orm.clone())),
        }
    }
}

/// What an operation's statements go to.
pub(super) enum Link {
    Pool(DatabaseConnection),
    Session(Session),
}

/// The pool handed out now, and the credential rotation that replaces it: with
/// `DB_SECRET`, the first step that sees PostgreSQL reject the login re-reads the secret,
/// swaps in a new pool and tries once more.
pub(super) struct Pools {
    conn: RwLock<PoolGeneration>,
    generation: AtomicU64,
    refresh: tokio::sync::Mutex<()>,
    pub(super) settings: DatabaseSettings,
    secrets: Option<Secrets>,
}

impl Pools {
    pub(super) fn new(
        conn: DatabaseConnection,
        settings: DatabaseSettings,
        secrets: Option<Secrets>,
    ) -> Self {
        Self {
            conn: RwLock::new(PoolGeneration::new(conn, settings.pool_max)),
            generation: AtomicU64::new(0),
            refresh: tokio::sync::Mutex::new(()),
            settings,
            secrets,
        }
    }

    pub(super) fn current(&self) -> (PoolGeneration, u64) {
        let guard = self.conn.read().unwrap_or_else(|p| p.into_inner());
        (guard.clone(), self.generation.load(Ordering::Acquire))
    }

    /// A connection for one operation, from the current pool (see [`Pools::with_rotation`]).
    pub(super) async fn link(&self) -> Result<Link, DbErr> {
        self.with_rotation(|pool| async move { pool.conn().await })
            .await
    }

    /// How many connections the pool holds at most.
    pub(super) fn pool_max(&self) -> u32 {
        self.settings.pool_max
    }

    /// Runs `op`, a step that sends nothing of the caller's (getting a connection, BEGIN, a
    /// ping), on the current pool; if the database refuses our credentials and they come
    /// from a secret, re-reads it, reconnects and runs `op` once more.
    pub(super) async fn with_rotation<T, F, Fut>(&self, op: F) -> Result<T, DbErr>
    where
        F: Fn(PoolGeneration) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let (conn, generation) = self.current();
        let mut result = op(conn.clone()).await;
        // Pooled connections are not pinged when busy (see connect::PING_IF_IDLE_FOR), so after a
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
                // Boxed: rare, and opening a pool is a large future.
                if let Err(refresh_err) = Box::pin(self.refresh(generation)).await {
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
        let fresh = PoolGeneration::new(
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
}
