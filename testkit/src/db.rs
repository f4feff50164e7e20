//! One database per test: a temporary SQLite file always, and a freshly created PostgreSQL
//! database when `TEST_DATABASE_URL` points at a server.

use sea_orm::{ConnectionTrait, Database};

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
                let conn = Database::connect(&admin)
                    .await
                    .expect("connect TEST_DATABASE_URL");
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
        let conn = Database::connect(&admin).await.expect("connect admin");
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
