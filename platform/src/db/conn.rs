//! What a database operation sends its statements through: one connection for the whole
//! operation, replaced when the server ended it before a statement ran.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use super::{
    classify::is_session_terminated,
    generation::{Link, Pools},
    parked::{Request, Response},
};

/// What a database operation runs its statements on (sea-orm's [`ConnectionTrait`]): on
/// PostgreSQL one checked-out session for the whole operation ([`crate::db::parked`]), on
/// SQLite the pool.
///
/// A session the server ended before a statement ran (SQLSTATE 57P01/57P02: a restart, a
/// failover, a credential rotation cutting sessions) is replaced and that statement sent
/// again, at most once per pooled connection. The retry is per statement: the operation's
/// earlier statements, which did run, are not run twice, and the operation itself can be an
/// `FnOnce` that owns what it sends.
pub struct Conn<'a> {
    pools: &'a Pools,
    backend: DbBackend,
    link: tokio::sync::Mutex<Option<Link>>,
}

impl<'a> Conn<'a> {
    pub(super) fn new(pools: &'a Pools, link: Link) -> Self {
        let backend = match &link {
            Link::Pool(c) => c.get_database_backend(),
            Link::Session(_) => DbBackend::Postgres,
        };
        Self {
            pools,
            backend,
            link: tokio::sync::Mutex::new(Some(link)),
        }
    }

    async fn send(&self, request: Request<'_>) -> Result<Response, DbErr> {
        let mut link = self.link.lock().await;
        let mut replacements = self.pools.pool_max();
        loop {
            let current = match link.as_mut() {
                Some(current) => current,
                // Boxed: a replacement is rare, and its future (a checkout that may open a
                // connection) would otherwise sit inline in every statement's future.
                None => link.insert(Box::pin(self.pools.link()).await?),
            };
            let result = match current {
                Link::Session(s) => s.send(&request).await,
                // SQLite: the pool, whose statements are never ended by a server.
                Link::Pool(c) => return send_to_pool(c, request).await,
            };
            match result {
                Err(e) if replacements > 0 && is_session_terminated(&e) => {
                    replacements -= 1;
                    // Dropped unclean, so sqlx closes it and its permit is free for the next.
                    *link = None;
                }
                other => return other,
            }
        }
    }
}

async fn send_to_pool(c: &DatabaseConnection, request: Request<'_>) -> Result<Response, DbErr> {
    Ok(match request {
        Request::Execute(stmt) => Response::Executed(c.execute_raw(stmt).await?),
        Request::Unprepared(sql) => Response::Executed(c.execute_unprepared(sql).await?),
        Request::One(stmt) => Response::One(c.query_one_raw(stmt).await?),
        Request::All(stmt) => Response::All(c.query_all_raw(stmt).await?),
    })
}

/// A response that does not match its request: a bug here, reported as an error rather than
/// a panic on the request path.
fn mismatch() -> DbErr {
    DbErr::Custom("the database link answered a different kind of statement".into())
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.send(Request::Execute(stmt)).await? {
            Response::Executed(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self.send(Request::Unprepared(sql)).await? {
            Response::Executed(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.send(Request::One(stmt)).await? {
            Response::One(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.send(Request::All(stmt)).await? {
            Response::All(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }
}
