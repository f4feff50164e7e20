//! One database per test: a temporary SQLite file always, and a freshly created PostgreSQL
//! database when `TEST_DATABASE_URL` points at a server.
//!
//! The database `TEST_DATABASE_URL` names need not exist: it is where the tests connect to
//! create theirs, and the first test to find it missing creates it (through the server's
//! `postgres` maintenance database), so any server the user may create databases on will do.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, sqlx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends this run covers: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    /// For PostgreSQL: the database's name, for the admin to drop.
    pub name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                Self {
                    backend,
                    url,
                    name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("TEST_DATABASE_URL");
                let name = format!("tm_test_{}", uuid::Uuid::new_v4().simple());
                let conn = connect_admin(&admin).await;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let url = replace_db_name(&admin, &name);
                Self {
                    backend,
                    url,
                    name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// Runs SQL as the test's own database owner, for checks the API does not expose.
    pub async fn connect(&self) -> sea_orm::DatabaseConnection {
        Database::connect(&self.url).await.expect("connect test db")
    }

    /// Runs SQL against the server's maintenance database (PostgreSQL only).
    pub async fn admin(&self, sql: &str) {
        let admin = postgres_admin_url().expect("TEST_DATABASE_URL");
        let conn = connect_admin(&admin).await;
        conn.execute_unprepared(sql).await.expect("admin SQL");
        let _ = conn.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(name), Some(admin)) = (self.name.take(), postgres_admin_url()) else {
            return;
        };
        // Drop runs outside any runtime we can borrow: use a private one on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(conn) = Database::connect(&admin).await {
                    let _ = conn
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A connection to the database `url` names, created first if it does not exist yet.
async fn connect_admin(url: &str) -> DatabaseConnection {
    let failed = |e: DbErr| -> ! {
        panic!(
            "cannot connect to TEST_DATABASE_URL ({}): {e}",
            platform::process::redact::mask_credentials(url)
        )
    };
    match Database::connect(url).await {
        Ok(conn) => conn,
        // invalid_catalog_name: the server is there, the database is not (yet).
        Err(e) if sqlstate(&e).as_deref() == Some("3D000") => {
            create_database(url).await;
            Database::connect(url).await.unwrap_or_else(|e| failed(e))
        }
        Err(e) => failed(e),
    }
}

/// Creates the database `url` names, from the server's maintenance database. Test processes
/// start together, so another may create it first: that is success too.
async fn create_database(url: &str) {
    let name =
        database_name(url).unwrap_or_else(|| panic!("TEST_DATABASE_URL names no database: {url}"));
    let mut last = None;
    for maintenance in ["postgres", "template1"] {
        let conn = match Database::connect(replace_db_name(url, maintenance)).await {
            Ok(conn) => conn,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let created = conn
            .execute_unprepared(&format!("CREATE DATABASE {quoted}"))
            .await;
        let _ = conn.close().await;
        match created {
            // duplicate_database, or the catalog's unique index when both ran at once.
            Err(e) if !matches!(sqlstate(&e).as_deref(), Some("42P04" | "23505")) => panic!(
                "TEST_DATABASE_URL's database {name} does not exist and creating it failed \
                 (the role needs CREATEDB): {e}"
            ),
            _ => return,
        }
    }
    panic!(
        "TEST_DATABASE_URL's database {name} does not exist, and neither the postgres nor the \
         template1 database of that server accepts a connection to create it: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    );
}

fn sqlstate(e: &DbErr) -> Option<String> {
    let (DbErr::Conn(sea_orm::RuntimeErr::SqlxError(s))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(s))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(s))) = e
    else {
        return None;
    };
    match s.as_ref() {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// The database a `postgres://…/name?…` URL names.
fn database_name(url: &str) -> Option<&str> {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path = &base[after_scheme..];
    path.find('/')
        .map(|i| &path[i + 1..])
        .filter(|n| !n.is_empty())
}

/// `postgres://u@h:5432/test?x` with the database `name` instead.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_read_from_urls() {
        assert_eq!(
            database_name("postgres://u@h:5432/fresh?sslmode=disable"),
            Some("fresh")
        );
        assert_eq!(database_name("postgres://u@h/fresh"), Some("fresh"));
        assert_eq!(database_name("postgres://u@h:5432/"), None);
        assert_eq!(database_name("postgres://u@h:5432"), None);
    }

    /// Test processes start together: each finds the database missing and tries to create
    /// it; every one must end up connected.
    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
    async fn a_missing_database_is_created_once_by_racing_connections() {
        let server = postgres_admin_url().expect("TEST_DATABASE_URL");
        let name = format!("tm_fresh_{}", uuid::Uuid::new_v4().simple());
        let url = replace_db_name(&server, &name);
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    let conn = connect_admin(&url).await;
                    conn.execute_unprepared("SELECT 1").await.map(|_| ())
                })
            })
            .collect();
        for racer in racers {
            racer.await.expect("no panic").expect("connected");
        }
        let admin = connect_admin(&server).await;
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .expect("drop the created database");
    }
}
