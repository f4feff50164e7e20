//! The auth binary as a real process: concurrent start-up on one database, secrets from a
//! real Secrets Manager emulator (with a password rotation), graceful shutdown, the
//! healthcheck subcommand and the production key rule.

use std::{process::Command, time::Duration};

use serde_json::{Value, json};
use testkit::{
    db::{Backend, TestDb, postgres_admin_url},
    moto::Moto,
    process::{ServiceProcess, env},
};

const BIN: &str = env!("CARGO_BIN_EXE_auth");

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    testkit::api::Api::new(base).post(path, None, body).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn two_instances_starting_together_on_postgres_both_come_up() {
    let db = TestDb::new(Backend::Postgres).await;
    let key = auth::app::signing_keys::generate_pem();
    let vars = env(&[
        ("DATABASE_URL", &db.url),
        ("JWT_SIGNING_KEY", &key),
        ("BCRYPT_COST", "4"),
    ]);
    let mut a = ServiceProcess::spawn(BIN, &vars);
    let mut b = ServiceProcess::spawn(BIN, &vars);
    a.wait_healthy("/auth/ready").await;
    b.wait_healthy("/auth/ready").await;
    // Both serve the same data with the same key.
    assert_eq!(
        post(
            &a.base,
            "/auth/register",
            json!({"username": "twin", "email": "t@x.io", "password": "password1"})
        )
        .await
        .0,
        201
    );
    let (status, login) = post(
        &b.base,
        "/auth/login",
        json!({"username": "twin", "password": "password1"}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let conn = db.connect().await;
    use sea_orm::ConnectionTrait;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        {
            use sea_orm_migration::MigratorTrait;
            db_schema::Migrator::migrations().len() as i64
        },
        "each migration applied once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_key_and_database_from_secrets_manager() {
    let moto = Moto::start();
    let pem = auth::app::signing_keys::generate_pem();
    let key_arn = moto.create_secret("task-management/jwt-key", &pem).await;
    let mut vars = moto.env();
    vars.extend(env(&[
        ("JWT_SIGNING_KEY_SECRET", &key_arn),
        ("APP_ENV", "production"),
        ("BCRYPT_COST", "4"),
    ]));
    let db = TestDb::new(if postgres_admin_url().is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    })
    .await;
    if db.backend == Backend::Postgres {
        let name = db.name.clone().unwrap();
        let secret = json!({"username": "postgres", "password": "unused-with-trust", "host": "127.0.0.1",
                            "port": 5432, "dbname": name, "engine": "postgres"});
        let db_arn = moto
            .create_secret("task-management/db", &secret.to_string())
            .await;
        vars.extend(env(&[("DB_SECRET", &db_arn)]));
    } else {
        vars.extend(env(&[("DATABASE_URL", &db.url)]));
    }
    let svc = ServiceProcess::start(BIN, &vars, "/auth/ready").await;
    let jwks: Value = testkit::get_json(&format!("{}/auth/.well-known/jwks.json", svc.base)).await;
    let expected = auth::app::signing_keys::KeyRing::from_material(&pem).unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"],
        expected.kid(),
        "the key served is the one in the secret"
    );
    assert_eq!(
        post(
            &svc.base,
            "/auth/register",
            json!({"username": "smuser", "email": "sm@x.io", "password": "password1"})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        post(
            &svc.base,
            "/auth/login",
            json!({"username": "smuser", "password": "password1"})
        )
        .await
        .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn database_credentials_rotate_without_a_restart() {
    let moto = Moto::start();
    let db = TestDb::new(Backend::Postgres).await;
    let name = db.name.clone().unwrap();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (old_role, new_role) = (
        format!("rot_a_{}", &suffix[..8]),
        format!("rot_b_{}", &suffix[..8]),
    );
    db.admin(&format!(
        "CREATE ROLE {old_role} LOGIN PASSWORD 'old-password'"
    ))
    .await;
    db.admin(&format!(
        "CREATE ROLE {new_role} LOGIN PASSWORD 'new-password'"
    ))
    .await;
    let conn = db.connect().await;
    use sea_orm::ConnectionTrait;
    conn.execute_unprepared(&format!(
        "GRANT ALL ON SCHEMA public TO {old_role}, {new_role}"
    ))
    .await
    .unwrap();

    let secret = |user: &str, password: &str| {
        json!({"username": user, "password": password, "host": "127.0.0.1", "port": 5432, "dbname": name}).to_string()
    };
    let arn = moto
        .create_secret(
            "task-management/db-rotating",
            &secret(&old_role, "old-password"),
        )
        .await;
    let mut vars = moto.env();
    vars.extend(env(&[
        ("DB_SECRET", &arn),
        ("BCRYPT_COST", "4"),
        ("JWT_SIGNING_KEY", &auth::app::signing_keys::generate_pem()),
    ]));
    let svc = ServiceProcess::start(BIN, &vars, "/auth/ready").await;
    assert_eq!(
        post(
            &svc.base,
            "/auth/register",
            json!({"username": "before", "email": "b@x.io", "password": "password1"})
        )
        .await
        .0,
        201
    );

    // Rotate: the new credentials go into the secret, the old login stops working and its
    // sessions are cut, as when RDS rotates the password.
    conn.execute_unprepared(&format!(
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO {new_role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {new_role}"
    ))
    .await
    .unwrap();
    moto.put_secret(&arn, &secret(&new_role, "new-password"))
        .await;
    db.admin(&format!("ALTER ROLE {old_role} NOLOGIN")).await;
    db.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{old_role}'"
    ))
    .await;

    let (status, body) = post(
        &svc.base,
        "/auth/register",
        json!({"username": "after", "email": "a@x.io", "password": "password1"}),
    )
    .await;
    assert_eq!(
        status, 201,
        "service recovered with rotated credentials: {body}"
    );
    assert_eq!(
        post(
            &svc.base,
            "/auth/login",
            json!({"username": "before", "password": "password1"})
        )
        .await
        .0,
        200
    );
    let r = testkit::http()
        .get(format!("{}/auth/ready", svc.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE usename = '{new_role}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.try_get::<i64>("", "n").unwrap() >= 1,
        "the service now connects as the new role"
    );
    drop(svc);
    db.admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    db.admin(&format!("DROP ROLE IF EXISTS {old_role}")).await;
    db.admin(&format!("DROP ROLE IF EXISTS {new_role}")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let db = TestDb::new(Backend::Sqlite).await;
    // A high bcrypt cost keeps each registration busy long enough to be in flight.
    let vars = env(&[
        ("DATABASE_URL", &db.url),
        ("BCRYPT_COST", "13"),
        ("JWT_SIGNING_KEY", &auth::app::signing_keys::generate_pem()),
    ]);
    let mut svc = ServiceProcess::start(BIN, &vars, "/auth/health").await;
    let base = svc.base.clone();
    let requests: Vec<_> = (0..4)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                post(&base, "/auth/register", json!({"username": format!("inflight{i}"), "email": format!("i{i}@x.io"), "password": "password1"})).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    svc.terminate();
    for r in requests {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 201, "in-flight request completed: {body}");
    }
    let status = svc.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status}");
    // Stopped listening.
    assert!(
        testkit::http()
            .get(format!("{base}/auth/health"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_subcommand_reflects_the_service() {
    let db = TestDb::new(Backend::Sqlite).await;
    let svc = ServiceProcess::start(BIN, &env(&[("DATABASE_URL", &db.url)]), "/auth/health").await;
    let ok = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", svc.port.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let dead = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", testkit::free_port().to_string())
        .output()
        .unwrap();
    assert!(!dead.status.success());
    assert!(String::from_utf8_lossy(&dead.stderr).contains("healthcheck failed"));
}

#[test]
fn production_refuses_an_ephemeral_key_and_help_works() {
    let out = Command::new(BIN)
        .env_clear()
        .env("APP_ENV", "production")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("PORT", testkit::free_port().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SIGNING_KEY_SECRET"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["healthcheck", "serve", "openapi"] {
        assert!(text.contains(word), "{text}");
    }
}
