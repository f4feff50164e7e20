//! What a database operation runs on: the current generation of the pool and, per
//! operation, one connection from it.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};
use tokio::sync::OwnedSemaphorePermit;

use super::{
    connect::ACQUIRE_TIMEOUT,
    parked::{Session, Sessions},
};

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
    pub(super) async fn conn(&self) -> Result<Conn, DbErr> {
        match &self.sessions {
            Some(s) => Ok(Conn::Session(Arc::new(s.session().await?))),
            None => Ok(Conn::Pool(self.orm.clone())),
        }
    }
}

/// What a database operation runs its statements on (sea-orm's [`ConnectionTrait`]): on
/// PostgreSQL one checked-out session for the whole operation ([`crate::db::parked`]), on
/// SQLite the pool.
#[derive(Clone)]
pub enum Conn {
    Pool(DatabaseConnection),
    Session(Arc<Session>),
}

impl Conn {
    /// Gives a session back for the next operation (see [`Session::finish`]).
    pub(super) fn finish(self) {
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
