//! The database held up or refusing, against the real binaries: a statement past
//! `DB_STATEMENT_TIMEOUT_MS` is a 503 with `Retry-After` within the deadline (plus one second)
//! and the next request after the cause is gone succeeds; readiness says "slow", not
//! "unreachable"; and an outage writes one log line per request plus a bounded summary.

use std::{
    io::BufRead,
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use testkit::{
    api::{Api, assert_envelope},
    db::{Backend, TestDb},
    fault_proxy::FaultProxy,
    load::Load,
    process::{ServiceProcess, env, workspace_binary},
};

/// The deadline the services run with here: short, so the tests are.
const DEADLINE_MS: u64 = 1000;

/// What the contract allows past the deadline before the 503 arrives.
const ALLOWANCE: Duration = Duration::from_millis(DEADLINE_MS + 1000);

/// auth and task as processes on `db`, with the short deadline; task's log goes to `log`.
struct Stack {
    _auth: ServiceProcess,
    _task: ServiceProcess,
    tasks: Api,
    token: String,
}

async fn start(db: &TestDb, log: std::fs::File) -> Stack {
    start_with(db, log, &[]).await
}

/// [`start`], with `task_env` added to task's environment.
async fn start_with(db: &TestDb, log: std::fs::File, task_env: &[(&str, &str)]) -> Stack {
    let deadline = DEADLINE_MS.to_string();
    let key = auth::app::signing_keys::generate_pem();
    let auth = ServiceProcess::start(
        &workspace_binary("auth"),
        &env(&[
            ("DATABASE_URL", &db.url),
            ("JWT_SIGNING_KEY", &key),
            ("BCRYPT_COST", "4"),
            ("DB_STATEMENT_TIMEOUT_MS", &deadline),
        ]),
        "/auth/ready",
    )
    .await;
    let mut task_vars = env(&[
        ("DATABASE_URL", &db.url),
        ("AUTH_SERVICE_URL", &auth.base),
        ("DB_STATEMENT_TIMEOUT_MS", &deadline),
    ]);
    task_vars.extend(env(task_env));
    let mut task = ServiceProcess::spawn_logging_to(&workspace_binary("task"), &task_vars, log);
    task.wait_healthy("/tasks/ready").await;
    let (token, _) = Api::new(auth.base.clone()).user("deadline_user").await;
    let tasks = Api::new(task.base.clone());
    let (status, body) = tasks
        .post("/tasks", Some(&token), json!({"title": "before the lock"}))
        .await;
    assert_eq!(status, 201, "{body}");
    Stack {
        _auth: auth,
        _task: task,
        tasks,
        token,
    }
}

/// One request: its status, its `Retry-After`, its body and how long it took.
async fn timed(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let mut req = api.http.request(method, api.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("an answer");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, retry_after, body, started.elapsed())
}

fn assert_deadline_503(status: u16, retry_after: Option<String>, body: &Value, took: Duration) {
    assert_eq!(status, 503, "{body}");
    assert_envelope(body, "Service Unavailable");
    assert_eq!(retry_after.as_deref(), Some("1"), "Retry-After");
    assert!(
        took <= ALLOWANCE,
        "503 after {took:?}, past the deadline plus one second"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn a_table_lock_past_the_deadline_is_503_then_200_as_soon_as_it_is_released() {
    let db = TestDb::new(Backend::Postgres).await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let s = start(&db, log.reopen().unwrap()).await;
    let (status, _, body, _) =
        timed(&s.tasks, reqwest::Method::GET, "/tasks", &s.token, None).await;
    assert_eq!(status, 200, "{body}");

    let admin = db.connect().await;
    let lock = admin.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let locked_at = Instant::now();
    // Every request while the lock is held (5 s, five deadlines) is a prompt 503.
    let mut answered = 0;
    while locked_at.elapsed() < Duration::from_secs(5) {
        let (status, retry_after, body, took) =
            timed(&s.tasks, reqwest::Method::GET, "/tasks", &s.token, None).await;
        assert_deadline_503(status, retry_after, &body, took);
        answered += 1;
    }
    assert!(answered >= 2, "{answered} requests in 5 s");
    // Readiness tells a slow database from an unreachable one.
    let (status, ready) = s.tasks.get("/tasks/ready", None).await;
    assert_eq!(status, 503, "{ready}");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("slow"), "{message}");
    assert!(!message.contains("unreachable"), "{message}");

    lock.rollback().await.unwrap();
    // At once, and on every pooled connection (the cancelled ones included).
    for _ in 0..10 {
        let (status, _, body, _) =
            timed(&s.tasks, reqwest::Method::GET, "/tasks", &s.token, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 1, "{body}");
    }
    drop(s);
}

/// SQLite has no statement timeout: a writer waits for a lock held elsewhere until its busy
/// timeout, which is the deadline. Three hundred writes against a held lock: each a prompt
/// 503, and the log holds one line per request plus at most a few summary lines, one of
/// which counts the failures.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_is_503_within_the_deadline_and_logs_one_line_per_request() {
    const REQUESTS: usize = 300;
    let db = TestDb::new(Backend::Sqlite).await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let s = start(&db, log.reopen().unwrap()).await;
    let lines_before = read_log(log.path()).len();

    let holder = db.connect().await;
    holder
        .execute_unprepared("BEGIN EXCLUSIVE")
        .await
        .expect("take SQLite's write lock");
    let started = Instant::now();
    let mut results = Vec::new();
    for first in (0..REQUESTS).step_by(50) {
        let batch = (first..REQUESTS.min(first + 50)).map(|i| {
            let (api, token) = (s.tasks.clone(), s.token.clone());
            tokio::spawn(async move {
                let body = json!({"title": format!("during the outage {i}")});
                timed(&api, reqwest::Method::POST, "/tasks", &token, Some(body)).await
            })
        });
        for handle in batch.collect::<Vec<_>>() {
            results.push(handle.await.unwrap());
        }
    }
    for (status, retry_after, body, took) in results {
        assert_deadline_503(status, retry_after, &body, took);
    }
    // A summary comes at the end of its interval: wait for those that count every failure
    // (bounded: the requests took less than an interval, so two intervals at most).
    let summary_due = started + 2 * platform::db::outage::INTERVAL + Duration::from_secs(5);
    let summarised = loop {
        let failed: u64 = read_log(log.path())
            .iter()
            .filter(|l| message(l).contains("requests failed in the last"))
            .filter_map(|l| l["failed"].as_u64())
            .sum();
        if failed >= REQUESTS as u64 - 1 || Instant::now() > summary_due {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    holder.execute_unprepared("ROLLBACK").await.unwrap();
    let (status, _, body, _) = timed(
        &s.tasks,
        reqwest::Method::POST,
        "/tasks",
        &s.token,
        Some(json!({"title": "after"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let lines = read_log(log.path());
    let outage = &lines[lines_before..];
    let access = outage
        .iter()
        .filter(|l| message(l) == "request completed" && l["status"] == 503)
        .count();
    assert_eq!(access, REQUESTS, "one access line per failed request");
    // The first failure is logged with its cause; the rest are counted in the summary.
    assert_eq!(summarised, REQUESTS as u64 - 1, "the summary's count");
    let other: Vec<&str> = outage
        .iter()
        .map(message)
        .filter(|m| *m != "request completed")
        .collect();
    assert!(
        other.len() <= 4,
        "{} lines besides the access lines: {other:#?}",
        other.len()
    );
    drop(s);
}

/// A request's database operations share one deadline, whatever the settings make of a
/// create: with the per-user write rate off too, rounds of fifty creates at once against a
/// held SQLite lock (more than the pool has connections, so they also queue for one) are
/// each a prompt 503.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_write_rate_off_an_outage_is_still_503_within_one_deadline() {
    let db = TestDb::new(Backend::Sqlite).await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let s = start_with(
        &db,
        log.reopen().unwrap(),
        &[("TASK_WRITES_PER_USER_PER_SEC", "0")],
    )
    .await;
    let holder = db.connect().await;
    holder
        .execute_unprepared("BEGIN EXCLUSIVE")
        .await
        .expect("take SQLite's write lock");
    for round in 0..3 {
        let creates: Vec<_> = (0..50)
            .map(|i| {
                let (api, token) = (s.tasks.clone(), s.token.clone());
                tokio::spawn(async move {
                    let body = json!({"title": format!("during the outage {round}.{i}")});
                    timed(&api, reqwest::Method::POST, "/tasks", &token, Some(body)).await
                })
            })
            .collect();
        for create in creates {
            let (status, retry_after, body, took) = create.await.unwrap();
            assert_deadline_503(status, retry_after, &body, took);
        }
    }
    holder.execute_unprepared("ROLLBACK").await.unwrap();
    drop(s);
}

fn read_log(path: &std::path::Path) -> Vec<Value> {
    let file = std::fs::File::open(path).expect("log file");
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|_| json!({"message": l})))
        .collect()
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The fault matrix: each fault under steady load with keyed writes (four clients looping a
// keyed POST /tasks and a GET /tasks?limit=5), held, then cleared. For every fault: no 500,
// no reset or hung request; Retry-After on every 503 (and on a 409 for a key still being
// processed); at most one warning or error line per failed request plus a few summaries,
// and every 5xx access line carrying its cause; every request sent from RECOVERY after the
// fault cleared answered; every acknowledged write present, and no key with two tasks.
// Faults: docs/faults.md.
// ---------------------------------------------------------------------------------------

/// Load before the fault, for a baseline of pooled (and parked) sessions.
const WARM: Duration = Duration::from_millis(1500);
/// How long a fault is held.
const HELD: Duration = Duration::from_secs(4);
/// How soon after a fault clears the service must answer every request again.
const RECOVERY: Duration = Duration::from_secs(5);
/// How long the load goes on after RECOVERY, every request of it to be answered.
const CHECK: Duration = Duration::from_secs(2);
/// Warning and error lines allowed beyond one per failed request: the outage's first line,
/// its summaries, the circuit's opening and closing.
const SUMMARY_LINES: usize = 10;
const CLIENTS: usize = 4;

/// Where the services' database connections go.
enum Route {
    /// Through a fault proxy to a database the test creates on TEST_DATABASE_URL's server,
    /// as a role of its own (so that its CONNECTION LIMIT binds: a superuser's does not).
    SharedServer,
    /// Straight to a server the test owns ([`PgInstance`]), which it may restart.
    OwnInstance,
}

struct Scenario {
    name: &'static str,
    /// Kept for its Drop (the database is dropped with it).
    db: Option<TestDb>,
    instance: Option<testkit::pg_instance::PgInstance>,
    /// The database's name and its owner's role, for SQL faults.
    db_name: String,
    role: String,
    admin_url: String,
    owner_url: String,
    db_proxy: Option<FaultProxy>,
    auth_proxy: FaultProxy,
    auth: Option<ServiceProcess>,
    auth_env: Vec<(String, String)>,
    _task: ServiceProcess,
    task_log: tempfile::NamedTempFile,
    load: Option<Load>,
    cleared: Option<Duration>,
}

impl Scenario {
    async fn start(name: &'static str, route: Route) -> Self {
        let role = format!("tm_role_{}", uuid_suffix());
        let (db, instance, db_name, admin_url, service_url) = match route {
            Route::SharedServer => {
                let db = TestDb::new(Backend::Postgres).await;
                let db_name = db.name.clone().expect("a PostgreSQL database");
                db.admin(&format!("CREATE ROLE {role} LOGIN")).await;
                db.admin(&format!("ALTER DATABASE {db_name} OWNER TO {role}"))
                    .await;
                let admin = testkit::db::postgres_admin_url().expect("TEST_DATABASE_URL");
                let mut url = url::Url::parse(&db.url).expect("database URL");
                url.set_username(&role).expect("a user");
                let service_url = url.to_string();
                (Some(db), None, db_name, admin, service_url)
            }
            Route::OwnInstance => {
                let instance = testkit::pg_instance::PgInstance::start();
                let admin = instance.url("postgres");
                sql(&admin, &format!("CREATE ROLE {role} LOGIN")).await;
                sql(&admin, &format!("CREATE DATABASE tm OWNER {role}")).await;
                let service_url = instance
                    .url("tm")
                    .replacen("postgres@", &format!("{role}@"), 1);
                (None, Some(instance), "tm".to_owned(), admin, service_url)
            }
        };
        let owner_url = testkit::db::replace_db_name(&admin_url, &db_name);
        let db_proxy = match &instance {
            None => {
                let parsed = url::Url::parse(&service_url).expect("database URL");
                let upstream = format!(
                    "{}:{}",
                    parsed.host_str().expect("a host"),
                    parsed.port().unwrap_or(5432)
                );
                Some(FaultProxy::start(&upstream).await)
            }
            Some(_) => None,
        };
        let service_url = match &db_proxy {
            Some(p) => p.url_for(&service_url),
            None => service_url,
        };
        let deadline = DEADLINE_MS.to_string();
        let key = auth::app::signing_keys::generate_pem();
        let auth_port = testkit::free_port().to_string();
        let auth_env = env(&[
            ("PORT", &auth_port),
            ("DATABASE_URL", &service_url),
            ("JWT_SIGNING_KEY", &key),
            ("BCRYPT_COST", "4"),
            ("DB_STATEMENT_TIMEOUT_MS", &deadline),
        ]);
        let auth = ServiceProcess::start(&workspace_binary("auth"), &auth_env, "/auth/ready").await;
        let auth_proxy = FaultProxy::start(&format!("127.0.0.1:{auth_port}")).await;
        let task_log = tempfile::NamedTempFile::new().expect("log file");
        let mut task = ServiceProcess::spawn_logging_to(
            &workspace_binary("task"),
            &env(&[
                ("DATABASE_URL", &service_url),
                (
                    "AUTH_SERVICE_URL",
                    &format!("http://127.0.0.1:{}", auth_proxy.port),
                ),
                ("DB_STATEMENT_TIMEOUT_MS", &deadline),
                // The load is one user's: its writes outrun the per-user write rate.
                ("TASK_WRITES_PER_USER_PER_SEC", "0"),
            ]),
            task_log.reopen().expect("log file"),
        );
        task.wait_healthy("/tasks/ready").await;
        let (token, _) = Api::new(auth.base.clone()).user("matrix_user").await;
        let load = Load::start(&task.base, &token, CLIENTS, name);
        tokio::time::sleep(WARM).await;
        Self {
            name,
            db,
            instance,
            db_name,
            role,
            admin_url,
            owner_url,
            db_proxy,
            auth_proxy,
            auth: Some(auth),
            auth_env,
            _task: task,
            task_log,
            load: Some(load),
            cleared: None,
        }
    }

    fn db_proxy(&self) -> &FaultProxy {
        self.db_proxy.as_ref().expect("a route through the proxy")
    }

    /// SQL on the server's maintenance database, as a superuser.
    async fn admin(&self, statement: &str) {
        sql(&self.admin_url, statement).await;
    }

    /// Ends every session of the services (of the test's role).
    async fn terminate_sessions(&self) {
        self.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
            self.role
        ))
        .await;
    }

    async fn hold(&self) {
        tokio::time::sleep(HELD).await;
    }

    /// Marks the fault cleared (now).
    fn cleared(&mut self) {
        self.cleared = Some(self.load.as_ref().expect("load running").elapsed());
    }

    /// Lets the load run through RECOVERY and CHECK, stops it, and checks everything the
    /// matrix promises; prints the figures first.
    async fn check(mut self) -> Vec<Value> {
        if self.cleared.is_none() {
            self.cleared();
        }
        let cleared = self.cleared.expect("cleared");
        tokio::time::sleep(RECOVERY + CHECK).await;
        let (outcomes, acked) = self.load.take().expect("load running").finish().await;
        // Give the log writer a moment to flush the last lines.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lines = read_log(self.task_log.path());
        let rows = task_rows(&self.owner_url).await;

        let count =
            |f: &dyn Fn(&testkit::load::Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let status = |o: &testkit::load::Outcome, s: u16| o.answer.as_ref().is_ok_and(|x| *x == s);
        let failed_5xx = count(&|o| o.answer.as_ref().is_ok_and(|s| *s >= 500));
        let s500 = count(&|o| status(o, 500));
        let s503 = count(&|o| status(o, 503));
        let s409 = count(&|o| status(o, 409));
        let transport: Vec<&String> = outcomes
            .iter()
            .filter_map(|o| o.answer.as_ref().err())
            .collect();
        let without_retry_after =
            count(&|o| (status(o, 503) || status(o, 409)) && o.retry_after.is_none());
        let late: Vec<String> = outcomes
            .iter()
            .filter(|o| o.sent >= cleared + RECOVERY && !o.ok())
            .map(|o| format!("{} at {:?}: {:?}", o.method, o.sent, o.answer))
            .collect();
        let writes_after = outcomes
            .iter()
            .filter(|o| o.sent >= cleared + RECOVERY && o.method == "POST" && o.ok())
            .count();
        let last_failure = outcomes.iter().filter(|o| !o.ok()).map(|o| o.sent).max();
        let warn_error: Vec<&Value> = lines
            .iter()
            .filter(|l| matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
            .collect();
        let not_access: Vec<&str> = warn_error
            .iter()
            .map(|l| message(l))
            .filter(|m| *m != "request completed")
            .collect();
        let access_5xx_without_cause = lines
            .iter()
            .filter(|l| {
                message(l) == "request completed" && l["status"].as_u64().is_some_and(|s| s >= 500)
            })
            .filter(|l| l["cause"].as_str().is_none_or(str::is_empty))
            .count();
        let by_id: std::collections::HashMap<i64, &str> = rows
            .iter()
            .map(|(id, title)| (*id, title.as_str()))
            .collect();
        let lost: Vec<&str> = acked
            .iter()
            .filter(|a| by_id.get(&a.id) != Some(&a.key.as_str()))
            .map(|a| a.key.as_str())
            .collect();
        let mut per_title = std::collections::HashMap::<&str, usize>::new();
        for (_, title) in &rows {
            *per_title.entry(title.as_str()).or_default() += 1;
        }
        let doubled: Vec<&&str> = per_title
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(t, _)| t)
            .collect();

        eprintln!(
            "FAULT {}: {} requests, {} acknowledged writes ({} after recovery); 500: {s500}, \
             503: {s503}, 409: {s409}, transport errors: {}, 503/409 without Retry-After: \
             {without_retry_after}; last failure {:?} after the fault cleared; task log: {} \
             warn/error lines ({} not access lines: {:?}), 5xx access lines without a cause: \
             {access_5xx_without_cause}; lost writes: {}, keys with two tasks: {}",
            self.name,
            outcomes.len(),
            acked.len(),
            writes_after,
            transport.len(),
            last_failure.map(|t| t.saturating_sub(cleared)),
            warn_error.len(),
            not_access.len(),
            not_access.iter().collect::<std::collections::BTreeSet<_>>(),
            lost.len(),
            doubled.len(),
        );
        let name = self.name;
        self.stop().await;

        assert_eq!(s500, 0, "{name}: 500s");
        assert!(
            transport.is_empty(),
            "{name}: resets or hangs: {transport:?}"
        );
        assert_eq!(
            without_retry_after, 0,
            "{name}: 503/409 without Retry-After"
        );
        assert!(
            warn_error.len() <= failed_5xx + SUMMARY_LINES,
            "{name}: {} warn/error lines for {failed_5xx} failed requests: {not_access:?}",
            warn_error.len()
        );
        assert_eq!(
            access_5xx_without_cause, 0,
            "{name}: 5xx access lines without a cause"
        );
        assert!(
            late.is_empty(),
            "{name}: failures {RECOVERY:?} after the fault cleared: {late:?}"
        );
        assert!(
            writes_after > 0,
            "{name}: no write acknowledged after recovery"
        );
        assert!(
            lost.is_empty(),
            "{name}: acknowledged writes missing: {lost:?}"
        );
        assert!(
            doubled.is_empty(),
            "{name}: keys with two tasks: {doubled:?}"
        );
        lines
    }

    /// Stops the services and drops the database and the role.
    async fn stop(mut self) {
        self.auth.take();
        drop(self._task);
        if let Some(db) = self.db.take() {
            drop(db);
            sql(
                &self.admin_url,
                &format!("DROP ROLE IF EXISTS {}", self.role),
            )
            .await;
        }
        drop(self.instance.take());
    }
}

/// Runs one statement on `url` (a fresh connection each time: the fault may have ended the
/// last one).
async fn sql(url: &str, statement: &str) {
    let conn = sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect for `{statement}`: {e}"));
    conn.execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("`{statement}`: {e}"));
    let _ = conn.close().await;
}

/// Every task's id and title.
async fn task_rows(url: &str) -> Vec<(i64, String)> {
    let conn = sea_orm::Database::connect(url)
        .await
        .expect("connect to check");
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id, title FROM tasks",
        ))
        .await
        .expect("read tasks");
    let _ = conn.close().await;
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index::<i64>(0).expect("id"),
                r.try_get_by_index::<String>(1).expect("title"),
            )
        })
        .collect()
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_database_refuses_new_sessions() {
    let mut s = Scenario::start("allow_connections", Route::SharedServer).await;
    s.admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        s.db_name
    ))
    .await;
    s.terminate_sessions().await;
    s.hold().await;
    s.admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        s.db_name
    ))
    .await;
    s.cleared();
    let lines = s.check().await;
    // The access line of a request refused at connect names the server's reason.
    assert!(
        lines
            .iter()
            .any(|l| message(l) == "request completed" && l["sqlstate"] == "55000"),
        "no access line carries SQLSTATE 55000"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_pool_left_on_a_read_only_server() {
    let mut s = Scenario::start("read_only", Route::SharedServer).await;
    s.admin(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        s.db_name
    ))
    .await;
    s.terminate_sessions().await;
    s.hold().await;
    // As when a writer answers at the name again: the sessions opened meanwhile stay
    // read-only, nothing ends them.
    s.admin(&format!(
        "ALTER DATABASE {} RESET default_transaction_read_only",
        s.db_name
    ))
    .await;
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_sessions_terminated_three_times() {
    let mut s = Scenario::start("terminated", Route::SharedServer).await;
    for _ in 0..3 {
        s.terminate_sessions().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_role_out_of_connection_slots() {
    let mut s = Scenario::start("connection_limit", Route::SharedServer).await;
    s.admin(&format!("ALTER ROLE {} CONNECTION LIMIT 0", s.role))
        .await;
    s.terminate_sessions().await;
    s.hold().await;
    s.admin(&format!("ALTER ROLE {} CONNECTION LIMIT -1", s.role))
        .await;
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_server_down_connections_refused_and_reset() {
    let mut s = Scenario::start("refused_reset", Route::SharedServer).await;
    s.db_proxy().refuse(true);
    s.db_proxy().reset_all();
    s.hold().await;
    s.db_proxy().refuse(false);
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_partition_nothing_answers() {
    let mut s = Scenario::start("partition", Route::SharedServer).await;
    s.db_proxy().partition(true);
    s.hold().await;
    s.db_proxy().partition(false);
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_latency_to_the_database() {
    let mut s = Scenario::start("latency", Route::SharedServer).await;
    // Under the deadline per round trip, past it for an operation of several.
    s.db_proxy().latency(Duration::from_millis(300));
    s.hold().await;
    s.db_proxy().latency(Duration::ZERO);
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_database_server_restarted() {
    let s = Scenario::start("restart", Route::OwnInstance).await;
    s.instance.as_ref().expect("own instance").restart();
    let mut s = s;
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_auth_down() {
    let mut s = Scenario::start("auth_down", Route::SharedServer).await;
    s.auth.take();
    s.hold().await;
    s.auth =
        Some(ServiceProcess::start(&workspace_binary("auth"), &s.auth_env, "/auth/ready").await);
    s.cleared();
    s.check().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn fault_auth_slow() {
    let mut s = Scenario::start("auth_slow", Route::SharedServer).await;
    s.auth_proxy.latency(Duration::from_secs(3));
    s.hold().await;
    s.auth_proxy.latency(Duration::ZERO);
    s.cleared();
    s.check().await;
}
