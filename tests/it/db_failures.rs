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
    let mut task = ServiceProcess::spawn_logging_to(
        &workspace_binary("task"),
        &env(&[
            ("DATABASE_URL", &db.url),
            ("AUTH_SERVICE_URL", &auth.base),
            ("DB_STATEMENT_TIMEOUT_MS", &deadline),
        ]),
        log,
    );
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
