//! A real browser: headless Chromium on the local stack (`task-management`, as `cargo run`
//! starts it), through its router.
//!
//! - Swagger UI's pre-filled examples alone, sent with "Try it out" and "Execute" and no
//!   editing, register (201), log in (200) and, once the token is pasted into "Authorize",
//!   create a task (201) (screenshots: target/defaults-register.png, defaults-login.png,
//!   defaults-create-task.png).
//! - The task service's page and its Authorize dialog say where a token comes from and how to
//!   paste it; "Try it out" on GET /tasks lists the user's tasks and no one else's
//!   (screenshots: target/task-docs.png, target/task-authorize.png).
//!
//! Needs Debian's chromium and `npm ci --prefix tests/browser` (both done by `.ci/setup.sh`).

use std::{path::PathBuf, process::Command};

use serde_json::{Value, json};
use testkit::{
    db::{Backend, TestDb},
    process::ServiceProcess,
};

/// The local stack on a fresh SQLite database.
async fn stack() -> (TestDb, ServiceProcess) {
    assert!(
        root()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "run `npm ci --prefix tests/browser` (or bash .ci/setup.sh) first"
    );
    let db = TestDb::new(Backend::Sqlite).await;
    let exe = testkit::process::workspace_binary("task-management");
    let vars = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("BCRYPT_COST".to_owned(), "4".to_owned()),
    ];
    let stack = ServiceProcess::start(&exe, &vars, "/tasks/ready").await;
    (db, stack)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/browser/<script>` with `args`, screenshots into target/: its JSON line.
fn browse(script: &str, args: &[&str], failure_shot: &str) -> Value {
    std::fs::create_dir_all(root().join("target")).expect("create target/");
    let out = Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .args(args)
        .env("SCREENSHOT", root().join("target").join(failure_shot))
        .env("SHOTS", root().join("target"))
        .output()
        .expect("node is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and `npm ci --prefix tests/browser` (bash .ci/setup.sh installs both): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn swagger_ui_defaults_alone_register_log_in_and_create_a_task() {
    let (_db, stack) = stack().await;
    let result = browse("defaults.mjs", &[&stack.base], "swagger-defaults.png");
    assert_eq!(result["register"]["status"], 201, "{result}");
    assert_eq!(result["login"]["status"], 200, "{result}");
    assert_eq!(result["create"]["status"], 201, "{result}");
    // What was sent is what the OpenAPI examples say, and what was created is that.
    assert_eq!(
        result["register"]["sent"],
        json!({"username": "alice", "email": "alice@example.com", "password": "correct-horse-battery"})
    );
    let task = &result["create"]["body"]["task"];
    assert_eq!(task["title"], "Write the report", "{result}");
    let due = task["due_date"]
        .as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok());
    assert_eq!(
        due.map(|d| d.timestamp()),
        Some(1_896_109_200),
        "due 2030-01-31T17:00:00Z: {result}"
    );

    // The task is there for the token the browser got.
    let token = result["token"].as_str().expect("the login's token");
    let (status, listed) = testkit::api::Api::new(stack.base.clone())
        .get("/tasks", Some(token))
        .await;
    assert_eq!((status, &listed["total"]), (200, &json!(1)), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and `npm ci --prefix tests/browser` (bash .ci/setup.sh installs both): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn swagger_ui_try_it_out_lists_the_users_tasks() {
    let (_db, stack) = stack().await;

    let http = testkit::http();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = http.post(format!("{}{path}", stack.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(
        post(
            "/auth/register",
            None,
            json!({"username": "browser", "email": "b@x.io", "password": "password1"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let login: Value = post(
        "/auth/login",
        None,
        json!({"username": "browser", "password": "password1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    for title in ["Buy milk", "Book flights"] {
        assert_eq!(
            post("/tasks", Some(&token), json!({"title": title}))
                .await
                .unwrap()
                .status(),
            201
        );
    }
    // Someone else's task must not show up.
    post(
        "/auth/register",
        None,
        json!({"username": "other", "email": "o@x.io", "password": "password1"}),
    )
    .await
    .unwrap();
    let other: Value = post(
        "/auth/login",
        None,
        json!({"username": "other", "password": "password1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    post(
        "/tasks",
        Some(other["token"].as_str().unwrap()),
        json!({"title": "Not yours"}),
    )
    .await
    .unwrap();

    let docs = format!("{}/tasks/docs", stack.base);
    let result = browse(
        "swagger.mjs",
        &[&docs, &token, "Buy milk", "Book flights"],
        "swagger-try-it-out.png",
    );
    assert_eq!(result["status"], 200);
    assert_eq!(result["total"], 2);
}
